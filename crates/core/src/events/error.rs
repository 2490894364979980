//! Why `/api/events` rejected a request. The whole request is rejected: nothing is
//! half-accepted. Each variant maps to exactly one status in one exhaustive `match`.

use crate::http::problem::{ApiError, Problem};

/// What the events domain rejects; the cross-cutting cases are [`ApiError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsError {
    /// The `Origin` is not in `ALLOWED_ORIGINS` (nor the worker's own).
    OriginNotAllowed,
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
    /// The events, as stored, would not fit one queue message (numbers that serialize longer
    /// than they were sent, such as `1e15`, are the only way past the body limit).
    BatchTooLarge {
        /// The size of the stored batch, in bytes.
        stored_bytes: usize,
        /// The queue message limit, in bytes.
        limit_bytes: usize,
    },
    /// An admin query parameter is out of range.
    BadQuery {
        /// What is wrong.
        detail: String,
    },
    /// A cross-cutting error (rate limited, unauthorized, unavailable, ...).
    Api(ApiError),
}

impl From<ApiError> for EventsError {
    fn from(e: ApiError) -> Self {
        EventsError::Api(e)
    }
}

impl Problem for EventsError {
    fn status(&self) -> u16 {
        match self {
            EventsError::OriginNotAllowed => 403,
            EventsError::UnsupportedMediaType => 415,
            EventsError::BodyTooLarge { .. }
            | EventsError::PropsTooLarge { .. }
            | EventsError::BatchTooLarge { .. } => 413,
            EventsError::BadSignature { .. } => 401,
            EventsError::InvalidJson { .. }
            | EventsError::EmptyBatch
            | EventsError::TooManyEvents { .. }
            | EventsError::InvalidEvent { .. }
            | EventsError::BadQuery { .. } => 400,
            EventsError::Api(e) => e.status(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            EventsError::OriginNotAllowed => "origin_not_allowed",
            EventsError::UnsupportedMediaType => "unsupported_media_type",
            EventsError::BodyTooLarge { .. } => "body_too_large",
            EventsError::BadSignature { missing: true } => "signature_required",
            EventsError::BadSignature { missing: false } => "bad_signature",
            EventsError::InvalidJson { .. } => "invalid_json",
            EventsError::EmptyBatch => "empty_batch",
            EventsError::TooManyEvents { .. } => "too_many_events",
            EventsError::InvalidEvent { .. } => "invalid_event",
            EventsError::PropsTooLarge { .. } => "props_too_large",
            EventsError::BatchTooLarge { .. } => "batch_too_large",
            EventsError::BadQuery { .. } => "bad_query",
            EventsError::Api(e) => e.code(),
        }
    }

    fn detail(&self) -> String {
        match self {
            EventsError::OriginNotAllowed => "this origin may not send events".to_owned(),
            EventsError::UnsupportedMediaType => {
                "Content-Type must be application/json or text/plain".to_owned()
            }
            EventsError::BodyTooLarge { limit_bytes } => {
                format!("the body must be at most {limit_bytes} bytes")
            }
            EventsError::BadSignature { missing: true } => {
                "X-Pilot-Signature: sha256=<hex> over the body is required".to_owned()
            }
            EventsError::BadSignature { missing: false } => {
                "X-Pilot-Signature does not match the body".to_owned()
            }
            EventsError::InvalidJson { detail } | EventsError::BadQuery { detail } => {
                detail.clone()
            }
            EventsError::EmptyBatch => "send at least one event".to_owned(),
            EventsError::TooManyEvents { limit } => {
                format!("send at most {limit} events per request")
            }
            EventsError::InvalidEvent { field, detail, .. } => format!("{field}: {detail}"),
            EventsError::PropsTooLarge { limit_bytes, .. } => {
                format!("props must be at most {limit_bytes} bytes serialized")
            }
            EventsError::BatchTooLarge {
                stored_bytes,
                limit_bytes,
            } => format!(
                "the events take {stored_bytes} bytes as stored, over the queue's {limit_bytes}; \
                 send fewer per request"
            ),
            EventsError::Api(e) => e.detail(),
        }
    }

    fn index(&self) -> Option<usize> {
        match self {
            EventsError::InvalidEvent { index, .. } | EventsError::PropsTooLarge { index, .. } => {
                Some(*index)
            }
            _ => None,
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            EventsError::Api(e) => e.headers(),
            _ => Vec::new(),
        }
    }
}
