//! The pure core: no `worker`, `js_sys` or `web_sys`, no clock, no randomness, no async.
//! Time and random bytes are passed in, so everything here is tested natively.

pub mod bucket;
pub mod cohort;
pub mod config;
pub mod cookie;
pub mod error;
pub mod gate;
pub mod identity;
pub mod policy;
