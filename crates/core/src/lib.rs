//! # pilot-gate's core
//!
//! The logic of pilot-gate, an edge gating middleware for pilot launches on Cloudflare Workers:
//! sticky deterministic cohorts, gated routes, cross-origin isolation and no-store headers, an
//! events beacon, flags in flagd's format served over OFREP, and a control plane that rolls
//! pilots forward and back on evidence.
//!
//! This crate is pure: no `worker`, `js_sys` or `web_sys`, no clock, no randomness, no async.
//! Time and random bytes are passed in, so everything here is tested natively. The boundary is
//! a crate's: this crate has no `worker` dependency at all, and the two worker crates
//! (`crates/edge`, `crates/control`) are the thin shells that do the I/O.
//!
//! One folder per domain over a shared HTTP vocabulary: [`http`], [`flags`] (the flagd model,
//! evaluation, OFREP), [`gate`] (identity, cohorts), [`events`] (the beacon), [`evidence`]
//! (units, exposures, per-unit tallies, sketches), [`control`] (plans, commands, guards,
//! statistics), [`metrics`], and [`config`], which validates each section. Dependencies point
//! one way: [`hex`], [`http`] and [`vars`] ← [`flags`] ← [`gate`], [`events`] ← [`evidence`] ←
//! [`control`] ← [`config`] and [`metrics`] ← the workers. No circles between folders.
//!
//! Backends can depend on this crate to compute the same assignment as the edge ([`bucket`])
//! and to sign the events they send ([`sign_body`]).
//!
//! ```
//! // The same assignment as flagd's `fractional` operator and as the edge:
//! let in_pilot = pilot_gate_core::bucket::in_rollout("pilot", "visitor-42", 1_000); // 10 %
//! # let _ = in_pilot;
//! ```
#![warn(missing_docs)]

pub mod config;
pub mod control;
pub mod events;
pub mod evidence;
pub mod flags;
pub mod gate;
pub mod hex;
pub mod http;
pub mod metrics;
pub mod vars;

pub use crate::events::signature::sign_body;
pub use crate::gate::bucket;

/// The README's Rust examples, compiled and run as doctests of this crate (`cargo test`), so a
/// renamed crate or function breaks the build, not the reader who copies them.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExamples;
