//! The pure steps of `POST /api/events`, in the order of DESIGN.md's table. The edge runs them
//! and does the I/O in between (rate limiter, body stream, queue).

use std::collections::BTreeMap;

use crate::core::beacon::{content_type_ok, parse_batch, verify_signature, Limits};
use crate::core::cohort::{decide, Rollout};
use crate::core::cors;
use crate::core::error::BeaconError;
use crate::core::gate::{self, Action, Outcome};
use crate::core::identity::{hashed_key, Identity, KeySource};
use crate::core::policy::{Coep, RouteClass};
use crate::core::record::{QueuedBatch, StoredEvent};

/// Beacon settings from the config.
#[derive(Debug, Clone, Default)]
pub struct EventsConfig {
    /// Size and count limits.
    pub limits: Limits,
    /// Origins allowed besides the worker's own (`ALLOWED_ORIGINS`).
    pub allowed_origins: Vec<String>,
    /// TTL of stored events, in seconds (`EVENTS_TTL_S`, default 30 days).
    pub ttl_s: u64,
    /// HMAC key of `X-Pilot-Signature` (`INGEST_HMAC_SECRET`).
    pub hmac_secret: Option<Vec<u8>>,
    /// Whether every request must be signed (`INGEST_HMAC_REQUIRED`).
    pub hmac_required: bool,
    /// Bearer token of the admin reads (`ADMIN_TOKEN`); none closes them.
    pub admin_token: Option<String>,
}

/// The rate-limit key of a client: a hash of IP + User-Agent (nothing raw leaves the request).
pub fn rate_limit_key(ip: Option<&str>, user_agent: Option<&str>) -> String {
    hashed_key("rl", &[ip.unwrap_or(""), user_agent.unwrap_or("")])
}

/// Step 4 and the first half of step 5: the `Content-Type`, then a declared `Content-Length`.
pub fn check_headers(
    content_type: Option<&str>,
    content_length: Option<&str>,
    limits: &Limits,
) -> Result<(), BeaconError> {
    if !content_type_ok(content_type) {
        return Err(BeaconError::UnsupportedMediaType);
    }
    let too_large = BeaconError::BodyTooLarge {
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
    /// The rollout in force.
    pub rollout: &'a Rollout,
    /// Country code, when the edge knows it.
    pub country: Option<&'a str>,
    /// The ingest request's id.
    pub request_id: &'a str,
}

/// What to do with an accepted request.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// Enqueue this batch, then answer 202 with its size.
    Enqueue(QueuedBatch),
    /// A known bot: valid, but not counted. Answer 202 with `accepted: 0`.
    IgnoreBot {
        /// How many valid events were ignored.
        events: usize,
    },
}

/// Steps 6 to 8: signature, JSON schema and limits, then enrichment. `body` is the whole body,
/// already bounded by the limit while streaming.
pub fn accept(
    body: &[u8],
    signature: Option<&str>,
    now_ms: u64,
    cfg: &EventsConfig,
    sender: &Sender<'_>,
) -> Result<Accepted, BeaconError> {
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
    let mut cohorts = BTreeMap::new();
    if sender.identity.source == KeySource::UidCookie {
        let cohort = decide(sender.rollout, sender.identity);
        cohorts.insert(sender.rollout.flag.to_owned(), cohort.as_str().to_owned());
    }
    let events = events
        .into_iter()
        .map(|event| StoredEvent {
            event,
            received_at: now_ms,
            cohorts: cohorts.clone(),
            country: sender.country.map(str::to_owned),
            request_id: sender.request_id.to_owned(),
        })
        .collect();
    Ok(Accepted::Enqueue(QueuedBatch { events }))
}

/// The outcome of an `/api/events` request: its JSON (or the error's), the API headers,
/// `Retry-After` / `Allow` where the status needs them, and CORS headers for an allowed origin.
pub fn outcome(
    answer: Result<(u16, serde_json::Value), BeaconError>,
    request_id: String,
    cors_origin: Option<&str>,
) -> Outcome {
    respond(
        answer.map(|(status, body)| Action::Json(status, body)),
        request_id,
        cors_origin,
    )
}

/// The answer to a CORS preflight from an allowed origin: 204 with the allowed methods and
/// headers.
pub fn preflight(request_id: String, origin: &str) -> Outcome {
    let mut out = respond(Ok(Action::NoContent), request_id, Some(origin));
    out.headers.extend(
        cors::PREFLIGHT_HEADERS
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned())),
    );
    out
}

fn respond(
    answer: Result<Action, BeaconError>,
    request_id: String,
    cors_origin: Option<&str>,
) -> Outcome {
    let mut extra: Vec<(&'static str, String)> = Vec::new();
    let action = match answer {
        Ok(action) => action,
        Err(e) => {
            if let Some(s) = e.retry_after_s() {
                extra.push(("Retry-After", s.to_string()));
            }
            if e == BeaconError::MethodNotAllowed {
                extra.push(("Allow", ALLOW.to_owned()));
            }
            let body = serde_json::to_value(e.body())
                .unwrap_or_else(|_| serde_json::json!({"error": "internal"}));
            Action::Json(e.status(), body)
        }
    };
    let mut out = gate::outcome(
        action,
        RouteClass::Api,
        Coep::RequireCorp,
        request_id,
        None,
        Vec::new(),
    );
    if let Some(origin) = cors_origin {
        out.headers.retain(|(k, _)| *k != "Vary");
        out.headers.extend(cors::response_headers(origin));
    }
    out.headers.extend(extra);
    out
}

/// Methods of `/api/events`, for `Allow`.
pub const ALLOW: &str = "POST, OPTIONS, GET, DELETE";
