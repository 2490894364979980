//! # pilot-gate
//!
//! Edge gating middleware for pilot launches, as a Cloudflare Worker: sticky deterministic
//! cohorts, gated routes, cross-origin isolation and no-store headers.
//!
//! The crate is split in two:
//! - [`core`] is pure Rust (no `worker`, no clock, no randomness) and holds the logic. Backends
//!   can depend on it to compute the same assignment as the edge, see [`bucket`].
//! - `edge` (wasm32 only) is the thin Workers shell that does the I/O.
//!
//! ```
//! // The same assignment as flagd's `fractional` operator and as the edge:
//! let in_pilot = pilot_gate::bucket::in_rollout("pilot", "visitor-42", 1_000); // 10 %
//! # let _ = in_pilot;
//! ```
#![warn(missing_docs)]

pub mod core;

pub use crate::core::{
    admin, beacon, bucket, cohort, config, cookie, cors, error, gate, identity, ingest, policy,
    record,
};

#[cfg(target_arch = "wasm32")]
mod edge;
