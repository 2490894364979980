//! # pilot-gate's Workers shell
//!
//! The plumbing that both workers (`crates/edge` and `crates/control`) share, and nothing of
//! either's routes: a request's facts ([`request`]), writing the core's outcome as the response
//! in one call into JS ([`respond`]), structured logs ([`log`]), random bytes ([`random`]), the
//! config read once per isolate ([`config`]), and calls to the Durable Objects on their
//! internal routes ([`internal`]), queue messages ([`queue`]), and the stored events' listing
//! ([`events_kv`]). No business rules live here; they are in `pilot_gate_core`.
#![cfg(target_arch = "wasm32")]

pub mod config;
pub mod events_kv;
pub mod internal;
pub mod log;
pub mod queue;
pub mod random;
pub mod request;
pub mod respond;
