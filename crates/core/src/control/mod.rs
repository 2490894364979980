//! The control plane's rules: flags with rollout plans, the tier ladder as a state machine,
//! the kill switch, the audit log's entries, the compiler from plans to a pure flagd set, and
//! the guards and their statistics over the evidence. The `RolloutControl` Durable Object
//! (`edge/control/`) stores and publishes, the `FlagEvidence` objects (`edge/evidence/`)
//! count and check; neither decides anything itself.

pub mod api;
pub mod approval;
pub mod audit;
pub mod automatic;
pub mod command;
pub mod compile;
pub mod diff;
pub mod error;
pub mod error_guards;
pub mod fault;
pub mod guardrail;
pub mod guards;
pub mod import;
pub mod input;
pub mod measure;
pub mod notify;
pub mod plan;
pub mod publish;
pub mod report;
pub mod sequential;
pub mod state;
pub mod stats;
pub mod tally;
pub mod verdict;
pub mod watch;
