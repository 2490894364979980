//! What the beacon stores: enriched events, their KV keys, the queue message that carries an
//! accepted request from the producer to the consumer, and the consumer's write plan.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::error::EventsError;
use crate::events::limits::QUEUE_MESSAGE_MAX_BYTES;
use crate::events::schema::Event;
use crate::evidence::unit::{Net, Unit};
use crate::http::problem::ApiError;

/// Prefix of every stored request's key in KV.
pub const REQUEST_KEY_PREFIX: &str = "req:";
/// Largest time that keys can order (year 2286), in ms; later ones sort as this.
const MAX_KEY_TS_MS: u64 = 9_999_999_999_999;
/// Largest KV metadata, serialized (Cloudflare's limit).
pub const KV_METADATA_MAX_BYTES: usize = 1024;

/// An accepted event with what the server adds. No raw IP or User-Agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The validated event.
    #[serde(flatten)]
    pub event: Event,
    /// When the edge accepted it, ms since the epoch.
    pub received_at: u64,
    /// The sender's variant of every flag, evaluated by the server at receipt for a valid
    /// `pg_uid` (empty otherwise).
    #[serde(default)]
    pub flags: BTreeMap<String, String>,
    /// ISO country code from the edge, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub country: Option<String>,
    /// The sender's unit (a salted hash of its signed identity), for a valid `pg_uid`: the
    /// evidence counts its events for the flags whose variants it carries.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unit: Option<Unit>,
    /// The network the request came from (a keyed hash of its /24 or /48, no address): the
    /// evidence counts the event only when it is the net of the unit's first exposure.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub net: Option<Net>,
    /// The request id of the ingest request.
    pub request_id: String,
}

/// One queue message: the events of one accepted request (at most 100; [`QueuedBatch::encode`]
/// keeps it within the queue's message limit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedBatch {
    /// The events, in the order they were sent.
    pub events: Vec<StoredEvent>,
}

impl QueuedBatch {
    /// The message text (JSON, sent as UTF-8 text), or [`EventsError::BatchTooLarge`] when it
    /// would not fit one queue message. The consumer parses exactly this text.
    pub fn encode(&self) -> Result<String, EventsError> {
        // Maps with string keys and plain values always serialize; a failure would be a bug.
        let text = serde_json::to_string(self).map_err(|_| ApiError::Internal)?;
        if text.len() > QUEUE_MESSAGE_MAX_BYTES {
            return Err(EventsError::BatchTooLarge {
                stored_bytes: text.len(),
                limit_bytes: QUEUE_MESSAGE_MAX_BYTES,
            });
        }
        Ok(text)
    }
}

/// The identity of an event across re-sends and redeliveries (reversed `ts`, then `id`): the
/// same event always has the same, and a newer one sorts first.
///
/// ```
/// use pilot_gate_core::events::record::event_ref;
/// assert_eq!(event_ref(1_700_000_000_000, "abc12345"), "ev:8299999999999:abc12345");
/// assert!(event_ref(2, "a") < event_ref(1, "a"), "newer sorts first");
/// ```
pub fn event_ref(ts_ms: u64, id: &str) -> String {
    format!("ev:{:013}:{id}", reversed(ts_ms))
}

/// The KV key of an accepted request's events: reversed `received_at`, then the request id. A
/// pure function of the request, so a redelivery of its message overwrites instead of
/// duplicating, and a listing is newest first.
///
/// ```
/// use pilot_gate_core::events::record::request_key;
/// assert_eq!(request_key(1_700_000_000_000, "r1"), "req:8299999999999:r1");
/// assert!(request_key(2, "b") < request_key(1, "a"), "newer sorts first");
/// ```
pub fn request_key(received_at_ms: u64, request_id: &str) -> String {
    format!(
        "{REQUEST_KEY_PREFIX}{:013}:{request_id}",
        reversed(received_at_ms)
    )
}

fn reversed(ms: u64) -> u64 {
    MAX_KEY_TS_MS - ms.min(MAX_KEY_TS_MS)
}

/// KV metadata stored beside each request's value, so that listings count and filter by name
/// from the list pages alone, without reading values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestMeta {
    /// How many events the value holds.
    pub n: usize,
    /// Its events by name; `None` when they would not fit KV's metadata limit (a listing by
    /// name then reads the value).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub names: Option<BTreeMap<String, usize>>,
}

impl RequestMeta {
    /// The metadata of these events.
    pub fn of(events: &[StoredEvent]) -> Self {
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        for e in events {
            *names.entry(e.event.name.clone()).or_default() += 1;
        }
        // A name is at most 64 bytes of [a-z0-9_.:-] (no escapes), a count at most 3 digits:
        // with quotes, colon and comma, len + 7 bytes each, plus `{"n":100,"names":{}}`.
        let bytes: usize = 24 + names.keys().map(|n| n.len() + 7).sum::<usize>();
        RequestMeta {
            n: events.len(),
            names: (bytes <= KV_METADATA_MAX_BYTES).then_some(names),
        }
    }

    /// How many of its events are named `name` (all of them when `None`); `None` when only
    /// the value can tell.
    pub fn matching(&self, name: Option<&str>) -> Option<usize> {
        match (name, &self.names) {
            (None, _) => Some(self.n),
            (Some(name), Some(names)) => Some(names.get(name).copied().unwrap_or(0)),
            (Some(_), None) => None,
        }
    }
}

/// The consumer's one KV write for one queue message (one accepted request).
#[derive(Debug, Clone, PartialEq)]
pub struct KvWrite {
    /// The key ([`request_key`]).
    pub key: String,
    /// The stored request: a [`QueuedBatch`] as JSON.
    pub value: String,
    /// Metadata for listings.
    pub meta: RequestMeta,
}

/// Why a queue message cannot be stored, ever: it goes to the dead-letter queue at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poison {
    /// The decoder's message.
    pub detail: String,
}

/// What the consumer does with one queue message: its one KV write (none for a message without
/// events), and its events (for the evidence counts).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// At most one write: the request's events together.
    pub write: Option<KvWrite>,
    /// The events, as stored.
    pub events: Vec<StoredEvent>,
}

/// The plan for one queue message (a [`QueuedBatch`] as JSON text). Deterministic: a
/// redelivery yields the same write. Every event of a message comes from one request, so the
/// first event's `received_at` and request id name it.
pub fn plan_writes(message: &str) -> Result<Planned, Poison> {
    let batch: QueuedBatch = serde_json::from_str(message).map_err(|e| Poison {
        detail: e.to_string(),
    })?;
    let write = batch.events.first().map(|first| KvWrite {
        key: request_key(first.received_at, &first.request_id),
        value: message.to_owned(),
        meta: RequestMeta::of(&batch.events),
    });
    Ok(Planned {
        write,
        events: batch.events,
    })
}
