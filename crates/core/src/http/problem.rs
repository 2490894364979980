//! Errors as answers: the [`Problem`] trait that every error type implements, the shared
//! [`ApiError`], and [`reply`], the one function that turns any problem into a status, a JSON
//! body and headers.

use crate::http::auth::Role;

/// What every error type tells the one reply function. Each domain has its own enum for what is
/// specific to it; the cross-cutting cases are [`ApiError`].
pub trait Problem {
    /// The HTTP status; one per variant, in one exhaustive `match`.
    fn status(&self) -> u16;
    /// A stable machine-readable code, sent as `error`.
    fn code(&self) -> &'static str;
    /// What was wrong, for humans, safe to send to any client. [`reply`] replaces it with a
    /// generic text on 5xx.
    fn detail(&self) -> String;
    /// The index of the offending item in a batch, when one is to blame.
    fn index(&self) -> Option<usize> {
        None
    }
    /// Headers the status needs besides the route's policy (`Allow`, `Retry-After`).
    fn headers(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// A protocol's own error body in place of `{"error", "detail"}` (OFREP's), or `Null` for
    /// none at all; `None` keeps the default.
    fn body(&self) -> Option<serde_json::Value> {
        None
    }
}

/// The detail of every 5xx body: the cause goes to the log with the request id, never out.
pub const GENERIC_DETAIL: &str = "try again later";

/// A problem as an answer: status, body, extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// `{"error": code, "detail": ..., "index": i?}`; the detail is generic on 5xx.
    pub body: serde_json::Value,
    /// `Allow`, `Retry-After` and the like.
    pub headers: Vec<(&'static str, String)>,
}

/// The one function that turns a problem into an answer.
///
/// ```
/// use pilot_gate_core::http::problem::{reply, ApiError};
/// let r = reply(&ApiError::RateLimited { retry_after_s: 60 });
/// assert_eq!(r.status, 429);
/// assert_eq!(r.body["error"], "rate_limited");
/// assert_eq!(r.headers, [("Retry-After", "60".to_owned())]);
/// ```
pub fn reply(p: &dyn Problem) -> Reply {
    let status = p.status();
    if let Some(body) = p.body() {
        return Reply {
            status,
            body,
            headers: p.headers(),
        };
    }
    let detail = if status >= 500 {
        GENERIC_DETAIL.to_owned()
    } else {
        p.detail()
    };
    let mut body = serde_json::json!({"error": p.code(), "detail": detail});
    if let Some(i) = p.index() {
        body["index"] = i.into();
    }
    Reply {
        status,
        body,
        headers: p.headers(),
    }
}

/// The cross-cutting errors of every route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No route has this path.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed {
        /// The methods the route table has for the path, for `Allow`.
        allow: String,
    },
    /// The bearer token is missing or wrong.
    Unauthorized {
        /// The name of the secret the token must equal (`ADMIN_TOKEN`).
        token: &'static str,
    },
    /// The operator is known but their role is below the route's.
    Forbidden {
        /// The role the route needs.
        needs: Role,
    },
    /// The client sent more than its share.
    RateLimited {
        /// Seconds until the client may retry.
        retry_after_s: u32,
    },
    /// A platform service (queue, KV, upstream) failed; the detail is logged, not sent.
    Unavailable,
    /// The config section this route needs is invalid; the variable is logged, not sent.
    Misconfigured,
    /// A bug; the detail is logged, not sent.
    Internal,
}

/// `Retry-After` of [`ApiError::Unavailable`], in seconds.
pub const UNAVAILABLE_RETRY_AFTER_S: u32 = 5;
/// `Retry-After` of [`ApiError::Misconfigured`], in seconds: a fixed config needs a deploy.
pub const MISCONFIGURED_RETRY_AFTER_S: u32 = 30;

impl Problem for ApiError {
    fn status(&self) -> u16 {
        match self {
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Unauthorized { .. } => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::RateLimited { .. } => 429,
            ApiError::Unavailable | ApiError::Misconfigured => 503,
            ApiError::Internal => 500,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable | ApiError::Misconfigured => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::NotFound => "no such endpoint".to_owned(),
            ApiError::MethodNotAllowed { allow } => {
                format!("method not allowed on this endpoint; use {allow}")
            }
            ApiError::Unauthorized { token } => {
                format!("Authorization: Bearer <{token}> is required")
            }
            ApiError::Forbidden { needs } => format!("needs {}", needs.as_str()),
            ApiError::RateLimited { retry_after_s } => {
                format!("too many requests from this client; retry after {retry_after_s} s")
            }
            ApiError::Unavailable | ApiError::Misconfigured | ApiError::Internal => {
                GENERIC_DETAIL.to_owned()
            }
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let retry_after = |s: u32| vec![("Retry-After", s.to_string())];
        match self {
            ApiError::MethodNotAllowed { allow } => vec![("Allow", allow.clone())],
            ApiError::RateLimited { retry_after_s } => retry_after(*retry_after_s),
            ApiError::Unavailable => retry_after(UNAVAILABLE_RETRY_AFTER_S),
            ApiError::Misconfigured => retry_after(MISCONFIGURED_RETRY_AFTER_S),
            ApiError::NotFound
            | ApiError::Unauthorized { .. }
            | ApiError::Forbidden { .. }
            | ApiError::Internal => Vec::new(),
        }
    }
}
