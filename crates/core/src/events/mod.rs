//! The events beacon: the event schema and its limits, signatures, the pure steps of
//! `POST /api/events`, what is stored and under which key, the admin listing, and the dead-letter queue.

pub mod config;
pub mod dead_letter;
pub mod delivery;
pub mod error;
pub mod ingest;
pub mod latency;
pub mod limits;
pub mod listing;
pub mod queues;
pub mod reconcile;
pub mod record;
pub mod schema;
pub mod signature;
