//! The event schema (v1): parsing and validation of a `POST /api/events` body under limits.
//!
//! A body is one event, an array of events, or `{"events": [...]}`. The whole body is accepted
//! or rejected: the first bad event rejects the request with its index.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::events::error::EventsError;
use crate::events::limits::{Limits, MAX_FUTURE_MS, MAX_PAST_MS};
use crate::hex::hex;

/// An event as a sender writes it (schema v1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventIn {
    #[serde(default)]
    v: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    name: String,
    ts: u64,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    props: Option<Value>,
}

/// A validated event, ready to be enriched and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Schema version, always 1.
    pub v: u8,
    /// Idempotency key: the sender's, or derived from the event's canonical bytes.
    pub id: String,
    /// Event name, `[a-z0-9_.:-]{1,64}`.
    pub name: String,
    /// When the event happened, ms since the Unix epoch.
    pub ts: u64,
    /// The sender's session id, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session: Option<String>,
    /// Free-form properties (an object).
    #[serde(default)]
    pub props: Map<String, Value>,
}

/// Whether a `Content-Type` is accepted: `application/json` or `text/plain` (sendBeacon's
/// default for strings), with any parameters.
pub fn content_type_ok(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json") || essence.eq_ignore_ascii_case("text/plain")
}

/// Parses and validates a whole body under `limits`, with `now_ms` as the current time.
pub fn parse_batch(body: &[u8], now_ms: u64, limits: &Limits) -> Result<Vec<Event>, EventsError> {
    if body.len() > limits.max_body_bytes {
        return Err(EventsError::BodyTooLarge {
            limit_bytes: limits.max_body_bytes,
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| EventsError::InvalidJson {
        detail: "body is not valid UTF-8".to_owned(),
    })?;
    let raws = split_events(text)?;
    if raws.is_empty() {
        return Err(EventsError::EmptyBatch);
    }
    if raws.len() > limits.max_events {
        return Err(EventsError::TooManyEvents {
            limit: limits.max_events,
        });
    }
    raws.iter()
        .enumerate()
        .map(|(index, raw)| parse_event(raw.get(), index, now_ms, limits))
        .collect()
}

/// Splits the body into the raw text of each event, checking the JSON syntax of the whole.
fn split_events(text: &str) -> Result<Vec<&RawValue>, EventsError> {
    let json_err = |e: serde_json::Error| EventsError::InvalidJson {
        detail: e.to_string(),
    };
    let whole: &RawValue = serde_json::from_str(text).map_err(json_err)?;
    let trimmed = whole.get().trim_start();
    if trimmed.starts_with('[') {
        return serde_json::from_str(trimmed).map_err(json_err);
    }
    if !trimmed.starts_with('{') {
        return Err(EventsError::InvalidJson {
            detail: "expected an event object, an array of events or {\"events\": [...]}"
                .to_owned(),
        });
    }
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        events: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Envelope<'a> {
        #[serde(borrow)]
        events: Vec<&'a RawValue>,
    }
    let probe: Probe<'_> = serde_json::from_str(trimmed).map_err(json_err)?;
    if probe.events.is_some() {
        let env: Envelope<'_> = serde_json::from_str(trimmed).map_err(json_err)?;
        Ok(env.events)
    } else {
        Ok(vec![whole])
    }
}

fn parse_event(
    raw: &str,
    index: usize,
    now_ms: u64,
    limits: &Limits,
) -> Result<Event, EventsError> {
    let invalid = |field: &str, detail: String| EventsError::InvalidEvent {
        index,
        field: field.to_owned(),
        detail,
    };
    let de = &mut serde_json::Deserializer::from_str(raw);
    let e: EventIn = serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let detail = err.into_inner().to_string();
        // Duplicate and missing fields have no path of their own: the message names them.
        let named = detail.split('`').nth(1).filter(|_| path == ".");
        let field = named
            .unwrap_or(if path == "." { "event" } else { &path })
            .to_owned();
        invalid(&field, detail)
    })?;
    if e.v.is_some_and(|v| v != 1) {
        return Err(invalid("v", "only schema version 1 is accepted".into()));
    }
    if !valid_name(&e.name) {
        return Err(invalid(
            "name",
            "must be 1..64 characters of [a-z0-9_.:-]".into(),
        ));
    }
    if e.ts.saturating_add(MAX_PAST_MS) < now_ms || e.ts > now_ms.saturating_add(MAX_FUTURE_MS) {
        return Err(invalid(
            "ts",
            "must be ms since the epoch, within 7 days before and 5 minutes after now".into(),
        ));
    }
    if let Some(id) = &e.id {
        if !valid_id(id) {
            return Err(invalid(
                "id",
                "must be 8..128 characters of [A-Za-z0-9_-]".into(),
            ));
        }
    }
    if e.session.as_ref().is_some_and(|s| s.len() > 128) {
        return Err(invalid("session", "must be at most 128 bytes".into()));
    }
    let props = match e.props {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(invalid("props", "must be an object".into())),
    };
    let props_bytes = serde_json::to_vec(&props)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if props_bytes > limits.max_props_bytes {
        return Err(EventsError::PropsTooLarge {
            index,
            limit_bytes: limits.max_props_bytes,
        });
    }
    let mut event = Event {
        v: 1,
        id: e.id.unwrap_or_default(),
        name: e.name,
        ts: e.ts,
        session: e.session,
        props,
    };
    if event.id.is_empty() {
        event.id = derived_id(&event);
    }
    Ok(event)
}

/// The id of an event sent without one: a hash of its canonical bytes (keys sorted), so an
/// identical re-send is the same event.
pub fn derived_id(event: &Event) -> String {
    let canonical = serde_json::to_vec(&(&event.name, event.ts, &event.session, &event.props))
        .unwrap_or_default();
    let digest = Sha256::digest(&canonical);
    format!("h-{}", hex(&digest[..16]))
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b':' | b'-'))
}

fn valid_id(id: &str) -> bool {
    (8..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
