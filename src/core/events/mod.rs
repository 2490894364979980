//! The events beacon: the event schema and its limits, signatures, the pure steps of
//! `POST /api/events`, what is stored and under which key, and the admin listing.

pub mod config;
pub mod delivery;
pub mod error;
pub mod ingest;
pub mod limits;
pub mod listing;
pub mod record;
pub mod schema;
pub mod signature;
