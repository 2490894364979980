//! What the beacon stores: enriched events, their KV keys, the queue message that carries an
//! accepted request from the producer to the consumer, and the consumer's write plan.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::events::error::EventsError;
use crate::core::events::limits::QUEUE_MESSAGE_MAX_BYTES;
use crate::core::events::schema::Event;
use crate::core::http::problem::ApiError;

/// Prefix of every event key in KV.
pub const EVENT_KEY_PREFIX: &str = "ev:";
/// Largest `ts` that keys can order (year 2286), in ms; later ones sort as this.
const MAX_KEY_TS_MS: u64 = 9_999_999_999_999;

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

/// The KV key of an event: a pure function of the event (reversed `ts`, then `id`), so a
/// listing is newest first and a redelivery or re-send overwrites instead of duplicating.
///
/// ```
/// use pilot_gate::core::events::record::kv_key;
/// assert_eq!(kv_key(1_700_000_000_000, "abc12345"), "ev:8299999999999:abc12345");
/// assert!(kv_key(2, "a") < kv_key(1, "a"), "newer sorts first");
/// ```
pub fn kv_key(ts_ms: u64, id: &str) -> String {
    format!(
        "{EVENT_KEY_PREFIX}{:013}:{id}",
        MAX_KEY_TS_MS - ts_ms.min(MAX_KEY_TS_MS)
    )
}

/// KV metadata stored beside each event, so listings can filter by name without reading values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    /// The event's name.
    pub name: String,
}

/// One KV write of the consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct KvWrite {
    /// The key ([`kv_key`]).
    pub key: String,
    /// The stored event as JSON.
    pub value: String,
    /// Metadata for listings.
    pub meta: EventMeta,
}

/// Why a queue message cannot be stored, ever: it goes to the dead-letter queue at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poison {
    /// The decoder's message.
    pub detail: String,
}

/// What the consumer does with one queue message: its KV writes, and its events (for the
/// control plane's counts).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// One write per event.
    pub writes: Vec<KvWrite>,
    /// The events, as stored.
    pub events: Vec<StoredEvent>,
}

/// The plan for one queue message (a [`QueuedBatch`] as JSON text). Deterministic: a
/// redelivery yields the same writes.
pub fn plan_writes(message: &str) -> Result<Planned, Poison> {
    let batch: QueuedBatch = serde_json::from_str(message).map_err(|e| Poison {
        detail: e.to_string(),
    })?;
    let writes = batch
        .events
        .iter()
        .map(|e| {
            let value = serde_json::to_string(e).map_err(|err| Poison {
                detail: err.to_string(),
            })?;
            Ok(KvWrite {
                key: kv_key(e.event.ts, &e.event.id),
                value,
                meta: EventMeta {
                    name: e.event.name.clone(),
                },
            })
        })
        .collect::<Result<_, Poison>>()?;
    Ok(Planned {
        writes,
        events: batch.events,
    })
}
