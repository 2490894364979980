//! Error enums, one per domain. Each variant maps to exactly one HTTP status in one exhaustive
//! `match`, so a new variant forces a choice. Client-facing JSON never carries internals.

use serde::Serialize;

/// A configuration value that is missing or invalid. The message names the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable or secret is not set.
    Missing {
        /// The variable's name, as in `wrangler.toml` or `.dev.vars`.
        var: &'static str,
    },
    /// A variable is set to a value that does not parse or is out of range.
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// The offending value (secrets are never echoed).
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
}

impl ConfigError {
    /// The variable the error is about.
    pub fn var(&self) -> &'static str {
        match self {
            ConfigError::Missing { var } | ConfigError::Invalid { var, .. } => var,
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Missing { var } => write!(f, "{var}: required but not set"),
            ConfigError::Invalid {
                var,
                value,
                expected,
            } => write!(f, "{var}: expected {expected}, got {value:?}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why the gate answered a request itself with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateError {
    /// No route under `/api/` has this path.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed {
        /// The methods that are allowed, for the `Allow` header.
        allow: &'static str,
    },
    /// The worker's configuration is invalid; the detail is logged, not sent.
    Misconfigured,
    /// The upstream (assets or origin) of a pilot request failed; the detail is logged.
    UpstreamUnavailable,
    /// A bug or an unexpected platform failure; the detail is logged, not sent.
    Internal,
}

impl GateError {
    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            GateError::NotFound => 404,
            GateError::MethodNotAllowed { .. } => 405,
            GateError::Misconfigured | GateError::UpstreamUnavailable => 503,
            GateError::Internal => 500,
        }
    }

    /// The stable machine-readable code sent as `error`.
    pub fn code(&self) -> &'static str {
        match self {
            GateError::NotFound => "not_found",
            GateError::MethodNotAllowed { .. } => "method_not_allowed",
            GateError::Misconfigured | GateError::UpstreamUnavailable => "unavailable",
            GateError::Internal => "internal",
        }
    }

    /// A human-readable detail that is safe to send to any client.
    pub fn detail(&self) -> &'static str {
        match self {
            GateError::NotFound => "no such endpoint",
            GateError::MethodNotAllowed { .. } => "method not allowed on this endpoint",
            GateError::Misconfigured | GateError::UpstreamUnavailable | GateError::Internal => {
                "try again later"
            }
        }
    }

    /// The JSON body of the error response.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code(),
            detail: self.detail().to_owned(),
            index: None,
        }
    }
}

/// The JSON body of every error response: `{"error": code, "detail": ..., "index": i?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// A stable machine-readable code.
    pub error: &'static str,
    /// What was wrong, for humans; never internals.
    pub detail: String,
    /// The index of the offending event in a batch, when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

/// Why `/api/events` rejected a request. The whole request is rejected: nothing is half-accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeaconError {
    /// A method other than POST, OPTIONS, GET or DELETE.
    MethodNotAllowed,
    /// The `Origin` is not in `ALLOWED_ORIGINS` (nor the worker's own).
    OriginNotAllowed,
    /// The client sent more than its share (120 requests / 60 s by default).
    RateLimited {
        /// Seconds until the client may retry.
        retry_after_s: u32,
    },
    /// The `Content-Type` is missing or not JSON / text.
    UnsupportedMediaType,
    /// The body is larger than the limit (by `Content-Length` or counted while streaming).
    BodyTooLarge {
        /// The limit, in bytes.
        limit_bytes: usize,
    },
    /// `X-Pilot-Signature` is missing while required, or does not match the body.
    BadSignature {
        /// Whether the header was missing (rather than wrong).
        missing: bool,
    },
    /// The body is not JSON (or not UTF-8), or not one of the accepted shapes.
    InvalidJson {
        /// The parser's message.
        detail: String,
    },
    /// The body holds no events.
    EmptyBatch,
    /// The body holds more events than the limit.
    TooManyEvents {
        /// The limit.
        limit: usize,
    },
    /// One event breaks the schema.
    InvalidEvent {
        /// Its index in the batch (0 for a single event).
        index: usize,
        /// The field at fault (`event` when the event as a whole is).
        field: String,
        /// What is wrong.
        detail: String,
    },
    /// One event's `props` is larger than the limit, serialized.
    PropsTooLarge {
        /// Its index in the batch.
        index: usize,
        /// The limit, in bytes.
        limit_bytes: usize,
    },
    /// The admin bearer token is missing or wrong.
    Unauthorized,
    /// An admin query parameter is out of range.
    BadQuery {
        /// What is wrong.
        detail: String,
    },
    /// The queue or KV failed; the detail is logged, not sent. The client should retry.
    Unavailable,
}

impl BeaconError {
    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            BeaconError::MethodNotAllowed => 405,
            BeaconError::OriginNotAllowed => 403,
            BeaconError::RateLimited { .. } => 429,
            BeaconError::UnsupportedMediaType => 415,
            BeaconError::BodyTooLarge { .. } | BeaconError::PropsTooLarge { .. } => 413,
            BeaconError::BadSignature { .. } | BeaconError::Unauthorized => 401,
            BeaconError::InvalidJson { .. }
            | BeaconError::EmptyBatch
            | BeaconError::TooManyEvents { .. }
            | BeaconError::InvalidEvent { .. }
            | BeaconError::BadQuery { .. } => 400,
            BeaconError::Unavailable => 503,
        }
    }

    /// Seconds for `Retry-After`, on the statuses that carry it (429, 503).
    pub fn retry_after_s(&self) -> Option<u32> {
        match self {
            BeaconError::RateLimited { retry_after_s } => Some(*retry_after_s),
            BeaconError::Unavailable => Some(5),
            _ => None,
        }
    }

    /// The JSON body: a stable code, a safe detail, and the event index when one is to blame.
    pub fn body(&self) -> ErrorBody {
        let (error, detail, index) = match self {
            BeaconError::MethodNotAllowed => (
                "method_not_allowed",
                "use POST to send events".to_owned(),
                None,
            ),
            BeaconError::OriginNotAllowed => (
                "origin_not_allowed",
                "this origin may not send events".to_owned(),
                None,
            ),
            BeaconError::RateLimited { retry_after_s } => (
                "rate_limited",
                format!("too many requests from this client; retry after {retry_after_s} s"),
                None,
            ),
            BeaconError::UnsupportedMediaType => (
                "unsupported_media_type",
                "Content-Type must be application/json or text/plain".to_owned(),
                None,
            ),
            BeaconError::BodyTooLarge { limit_bytes } => (
                "body_too_large",
                format!("the body must be at most {limit_bytes} bytes"),
                None,
            ),
            BeaconError::BadSignature { missing: true } => (
                "signature_required",
                "X-Pilot-Signature: sha256=<hex> over the body is required".to_owned(),
                None,
            ),
            BeaconError::BadSignature { missing: false } => (
                "bad_signature",
                "X-Pilot-Signature does not match the body".to_owned(),
                None,
            ),
            BeaconError::InvalidJson { detail } => ("invalid_json", detail.clone(), None),
            BeaconError::EmptyBatch => ("empty_batch", "send at least one event".to_owned(), None),
            BeaconError::TooManyEvents { limit } => (
                "too_many_events",
                format!("send at most {limit} events per request"),
                None,
            ),
            BeaconError::InvalidEvent {
                index,
                field,
                detail,
            } => ("invalid_event", format!("{field}: {detail}"), Some(*index)),
            BeaconError::PropsTooLarge { index, limit_bytes } => (
                "props_too_large",
                format!("props must be at most {limit_bytes} bytes serialized"),
                Some(*index),
            ),
            BeaconError::Unauthorized => (
                "unauthorized",
                "Authorization: Bearer <ADMIN_TOKEN> is required".to_owned(),
                None,
            ),
            BeaconError::BadQuery { detail } => ("bad_query", detail.clone(), None),
            BeaconError::Unavailable => ("unavailable", "try again later".to_owned(), None),
        };
        ErrorBody {
            error,
            detail,
            index,
        }
    }
}
