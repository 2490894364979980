//! The control plane's rules: flags with rollout plans, the tier ladder as a state machine,
//! the kill switch, the audit log's entries, and the compiler from plans to a pure flagd set.
//! The `RolloutControl` Durable Object (`edge/control.rs`) stores and publishes; it decides
//! nothing.

pub mod api;
pub mod audit;
pub mod automatic;
pub mod command;
pub mod compile;
pub mod error;
pub mod guards;
pub mod import;
pub mod input;
pub mod plan;
pub mod publish;
pub mod report;
pub mod state;
pub mod stats;
pub mod tally;
