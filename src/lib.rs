//! # pilot-gate
//!
//! Edge gating middleware for pilot launches, as a Cloudflare Worker: sticky deterministic
//! cohorts, gated routes, cross-origin isolation and no-store headers, and an events beacon.
//!
//! The crate is split in two:
//! - [`core`] is pure Rust (no `worker`, no clock, no randomness; Cargo enforces it) and holds
//!   the logic, one folder per domain over a shared HTTP vocabulary: [`core::http`],
//!   [`core::gate`], [`core::events`], and [`core::config`], which validates each section.
//! - `edge` (wasm32 only) is the thin Workers shell that does the I/O.
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
