//! The pure core: no `worker`, `js_sys` or `web_sys`, no clock, no randomness, no async.
//! Time and random bytes are passed in, so everything here is tested natively.

pub mod admin;
pub mod beacon;
pub mod bucket;
pub mod cohort;
pub mod config;
pub mod cookie;
pub mod cors;
pub mod error;
pub mod gate;
pub mod identity;
pub mod ingest;
pub mod policy;
pub mod record;
