//! # pilot-gate
//!
//! Edge gating middleware for pilot launches, as a Cloudflare Worker: sticky deterministic
//! cohorts, gated routes, cross-origin isolation and no-store headers, an events beacon, flags
//! in flagd's format served over OFREP, and a control plane that rolls pilots forward and back
//! on evidence.
//!
//! The crate is split in two:
//! - [`core`] is pure Rust (no `worker`, no clock, no randomness; Cargo enforces it) and holds
//!   the logic, one folder per domain over a shared HTTP vocabulary: [`core::http`],
//!   [`core::flags`] (the flagd model, evaluation, OFREP), [`core::gate`] (identity, cohorts),
//!   [`core::events`] (the beacon), [`core::evidence`] (units, exposures, per-unit tallies,
//!   sketches), [`core::control`] (plans, commands, guards, statistics), [`core::metrics`], and
//!   [`core::config`], which validates each section.
//! - `edge` (wasm32 only) is the thin Workers shell that does the I/O: the fetch, queue and
//!   Durable Object handlers.
//!
//! Backends can depend on the core to compute the same assignment as the edge ([`bucket`]) and
//! to sign the events they send ([`sign_body`]).
//!
//! ```
//! // The same assignment as flagd's `fractional` operator and as the edge:
//! let in_pilot = pilot_gate::bucket::in_rollout("pilot", "visitor-42", 1_000); // 10 %
//! # let _ = in_pilot;
//! ```
#![warn(missing_docs)]

pub mod core;

pub use crate::core::events::signature::sign_body;
pub use crate::core::gate::bucket;

#[cfg(target_arch = "wasm32")]
mod edge;
