//! The pure core: no `worker`, `js_sys` or `web_sys`, no clock, no randomness, no async.
//! Time and random bytes are passed in, so everything here is tested natively. Cargo enforces
//! it: the Workers crates are wasm32-only dependencies, so the host build refuses them here.
//!
//! Dependencies point one way: [`hex`], [`http`] and [`vars`] ← [`flags`] ← [`gate`],
//! [`events`] ← [`evidence`] ← [`control`] ← [`config`] and [`metrics`] ← the edge shell. No
//! circles between folders.

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
