//! The pure steps of `POST /api/events`, in the order of the README's table ("Events beacon").
//! The edge runs them and does the I/O in between (rate limiter, body stream, queue).

use std::collections::BTreeMap;

use crate::events::config::EventsConfig;
use crate::events::error::EventsError;
use crate::events::limits::Limits;
use crate::events::record::{QueuedBatch, StoredEvent};
use crate::events::schema::{content_type_ok, parse_batch};
use crate::events::signature::verify_signature;
use crate::evidence::unit::{Net, Unit};
use crate::gate::cohort::Decider;
use crate::gate::identity::{hashed_key, Identity, KeySource};
use crate::http::cors::CorsPolicy;

/// The path in the evaluation context of a sender's variants.
pub const EVENTS_PATH: &str = "/api/events";

/// What cross-origin senders may use (the preflight answer).
pub const CORS: CorsPolicy = CorsPolicy {
    methods: "POST, OPTIONS",
    headers: "Content-Type, X-Pilot-Signature",
    expose: None,
};

/// The rate-limit key of a sender: its signed identity (a valid `pg_uid`) when it has one, else
/// its IP; never the User-Agent, which the client chooses. Hashed, so nothing raw leaves the
/// request. A sender without either (no IP header, as only a misrouted request can be) shares
/// one key with every other such sender.
pub fn rate_limit_key(identity: &Identity, ip: Option<&str>) -> String {
    match identity.source {
        KeySource::UidCookie => hashed_key("rl-uid", &[&identity.targeting_key]),
        _ => hashed_key("rl-ip", &[ip.unwrap_or("")]),
    }
}

/// Step 4 and the first half of step 5: the `Content-Type`, then a declared `Content-Length`.
pub fn check_headers(
    content_type: Option<&str>,
    content_length: Option<&str>,
    limits: &Limits,
) -> Result<(), EventsError> {
    if !content_type_ok(content_type) {
        return Err(EventsError::UnsupportedMediaType);
    }
    let too_large = EventsError::BodyTooLarge {
        limit_bytes: limits.max_body_bytes,
    };
    match content_length.map(|v| v.trim().parse::<u64>()) {
        Some(Ok(n)) if n > limits.max_body_bytes as u64 => Err(too_large),
        Some(Err(_)) => Err(too_large),
        _ => Ok(()),
    }
}

/// Who sent a request, as far as events record it.
#[derive(Debug, Clone)]
pub struct Sender<'a> {
    /// The sender's identity (resolved without minting cookies).
    pub identity: &'a Identity,
    /// The flags in force, for the sender's variants.
    pub decider: &'a Decider<'a>,
    /// Country code, when the edge knows it.
    pub country: Option<&'a str>,
    /// The ingest request's id.
    pub request_id: &'a str,
    /// The sender's unit, for a signed identity.
    pub unit: Option<Unit>,
    /// The network the request came from.
    pub net: Option<Net>,
}

/// What to do with an accepted request.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// Send this one queue message, then answer 202 with the number of events.
    Enqueue {
        /// The message text: a [`QueuedBatch`] as JSON, within the queue's message limit.
        message: String,
        /// How many events it carries.
        events: usize,
    },
    /// A known bot: valid, but not counted. Answer 202 with `accepted: 0`.
    IgnoreBot {
        /// How many valid events were ignored.
        events: usize,
    },
}

/// Steps 6 to 9 without the I/O: signature, JSON schema and limits, enrichment, and the queue
/// message. `body` is the whole body, already bounded by the limit while streaming.
pub fn accept(
    body: &[u8],
    signature: Option<&str>,
    now_ms: u64,
    cfg: &EventsConfig,
    sender: &Sender<'_>,
) -> Result<Accepted, EventsError> {
    verify_signature(
        cfg.hmac_secret.as_deref(),
        cfg.hmac_required,
        signature,
        body,
    )?;
    let events = parse_batch(body, now_ms, &cfg.limits)?;
    if sender.identity.source == KeySource::Bot {
        return Ok(Accepted::IgnoreBot {
            events: events.len(),
        });
    }
    // Arms come from the server's own evaluation for a signed identity, never from the client.
    let flags = if sender.identity.source == KeySource::UidCookie {
        let mut ctx = sender.decider.context(sender.identity, EVENTS_PATH);
        sender.decider.variants(sender.identity, &mut ctx)
    } else {
        BTreeMap::new()
    };
    let batch = QueuedBatch {
        events: events
            .into_iter()
            .map(|event| StoredEvent {
                event,
                received_at: now_ms,
                flags: flags.clone(),
                country: sender.country.map(str::to_owned),
                unit: sender
                    .unit
                    .filter(|_| sender.identity.source == KeySource::UidCookie),
                net: sender.net,
                request_id: sender.request_id.to_owned(),
            })
            .collect(),
    };
    Ok(Accepted::Enqueue {
        message: batch.encode()?,
        events: batch.events.len(),
    })
}
