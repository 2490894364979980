//! The events beacon's config section, validated on its own: an invalid value disables the
//! beacon (503, the variable named in the log) and never changes gating.

use crate::events::limits::{Limits, MAX_BODY_BYTES, MAX_EVENTS};
use crate::http::cors::allowed_origins;
use crate::vars::{ConfigError, Vars};

/// Default TTL of stored events: 30 days, in seconds.
pub const DEFAULT_EVENTS_TTL_S: u64 = 30 * 24 * 60 * 60;

/// Beacon settings.
#[derive(Debug, Clone)]
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
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            allowed_origins: Vec::new(),
            ttl_s: DEFAULT_EVENTS_TTL_S,
            hmac_secret: None,
            hmac_required: false,
        }
    }
}

impl EventsConfig {
    /// Parses and validates the beacon's variables; the first invalid one is the error.
    pub fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let defaults = Limits::default();
        let hmac_secret = vars.get("INGEST_HMAC_SECRET").map(String::into_bytes);
        let hmac_required = vars.bool("INGEST_HMAC_REQUIRED", false)?;
        if hmac_required && hmac_secret.is_none() {
            return Err(ConfigError::Missing {
                var: "INGEST_HMAC_SECRET",
            });
        }
        let allowed_origins = allowed_origins(vars)?;
        // The largest body and props are bounded by one queue message (see `limits`); the
        // messages below state MAX_BODY_BYTES, and a host test keeps them equal to it.
        let max_bytes = MAX_BODY_BYTES as u64;
        Ok(Self {
            limits: Limits {
                max_body_bytes: vars.uint(
                    "EVENTS_MAX_BODY_BYTES",
                    defaults.max_body_bytes as u64,
                    1..=max_bytes,
                    "an integer from 1 to 65536 (bytes; one queue message holds a batch)",
                )? as usize,
                max_props_bytes: vars.uint(
                    "EVENTS_MAX_PROPS_BYTES",
                    defaults.max_props_bytes as u64,
                    2..=max_bytes,
                    "an integer from 2 to 65536 (bytes)",
                )? as usize,
                max_events: vars.uint(
                    "EVENTS_MAX_BATCH",
                    defaults.max_events as u64,
                    1..=MAX_EVENTS as u64,
                    "an integer from 1 to 100",
                )? as usize,
            },
            allowed_origins,
            // KV refuses expirations under 60 s.
            ttl_s: vars.uint(
                "EVENTS_TTL_S",
                DEFAULT_EVENTS_TTL_S,
                60..=u64::from(u32::MAX),
                "an integer of seconds, at least 60",
            )?,
            hmac_secret,
            hmac_required,
        })
    }
}
