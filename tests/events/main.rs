//! Host tests of `core::events`: parsing and validation, the pure ingest steps, the queue
//! message bound, storage keys and the admin listing.

#[path = "../support/mod.rs"]
mod support;

mod ingest;
mod kv_budget;
mod limits;
mod parse;
