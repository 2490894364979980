//! The beacon's limits, and the bounds that keep an accepted request inside one queue message.
//!
//! An accepted request is enqueued as one message (so nothing is half-accepted), and a Queue
//! message must stay under 128 KB. The stored form of an event is its sender's bytes plus what
//! the server adds (a derived id, `received_at`, the sender's flag variants, country, request id), so the largest
//! configurable body leaves room for that on every event of the largest batch:
//! [`MAX_BODY_BYTES`] + [`MAX_EVENTS`] × [`STORED_OVERHEAD_MAX_BYTES`] + the envelope
//! <= [`QUEUE_MESSAGE_MAX_BYTES`], checked at compile time. Numbers that serialize longer than
//! they were sent (`1e15` is stored as `1000000000000000.0`) are the one way past it; the
//! ingest step measures the message and refuses those with 413, never with a 503 on every retry.

/// The Queue's limit on one message, in bytes (Cloudflare documents 128 KB; the smaller
/// reading of it). Messages are sent as UTF-8 text, so this counts their bytes exactly.
pub const QUEUE_MESSAGE_MAX_BYTES: usize = 128_000;
/// The most that the server adds to one event's bytes when it stores it: `"v":1`, a derived
/// `"id"`, `"props":{}`, `received_at`, `flags` (the demo set's), `country`, `request_id`
/// and separators.
/// A host test measures the worst case against this budget.
pub const STORED_OVERHEAD_MAX_BYTES: usize = 512;
/// `{"events":[` and `]}` around the events of a message.
pub const ENVELOPE_BYTES: usize = 13;
/// The most events in one request (`EVENTS_MAX_BATCH` at most).
pub const MAX_EVENTS: usize = 100;
/// The largest `EVENTS_MAX_BODY_BYTES` (and `EVENTS_MAX_PROPS_BYTES`): 64 KiB, which is also
/// what browsers let `sendBeacon` and `keepalive` carry.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const _: () = assert!(
    MAX_BODY_BYTES + MAX_EVENTS * STORED_OVERHEAD_MAX_BYTES + ENVELOPE_BYTES
        <= QUEUE_MESSAGE_MAX_BYTES,
    "a body at the limit must fit one queue message once stored"
);

/// Limits of the beacon, from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted body, in bytes (`EVENTS_MAX_BODY_BYTES`, default 50 KB).
    pub max_body_bytes: usize,
    /// Largest `props` of one event, serialized, in bytes (`EVENTS_MAX_PROPS_BYTES`, 10 KB).
    pub max_props_bytes: usize,
    /// Most events in one request (`EVENTS_MAX_BATCH`, default 100).
    pub max_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 50 * 1024,
            max_props_bytes: 10 * 1024,
            max_events: MAX_EVENTS,
        }
    }
}

/// How far back an event's `ts` may be: 7 days, in ms.
pub const MAX_PAST_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// How far ahead an event's `ts` may be (clock skew): 5 minutes, in ms.
pub const MAX_FUTURE_MS: u64 = 5 * 60 * 1000;
