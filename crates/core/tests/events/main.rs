//! Host tests of `core::events`: parsing and validation, the pure ingest steps, the queue
//! message bound, storage keys, the admin listing and the dead letters.

#[path = "../support/mod.rs"]
mod support;

mod dead_letters;
mod ingest;
mod kv_budget;
mod latency;
mod limits;
mod parse;
mod queues;
mod reconcile;
