//! The control plane's errors, each with its status, in one exhaustive match.

use serde_json::{json, Value};

use crate::evidence::metric::FieldError;
use crate::http::problem::Problem;

/// Why the control plane refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    /// The body is not what the route takes (not JSON, a command without its reason).
    BadRequest(String),
    /// A flag definition or plan fails validation: the JSON pointer of the field, and why.
    Invalid {
        /// JSON pointer into the request body (`/plan/ladder/2`).
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Several fields fail validation (a set's `metrics`): each pointer and why.
    InvalidFields(Vec<FieldError>),
    /// No flag has this key.
    FlagNotFound(String),
    /// `If-Match` names a revision that is no longer the flag's: someone changed it first.
    PreconditionFailed {
        /// The flag's current `ETag`.
        current: String,
    },
    /// No request pending with this number (never filed, run, rejected or expired).
    RequestNotFound(u64),
    /// An operator tried to approve their own request.
    OwnRequest,
    /// The state forbids the command; every reason is listed.
    Conflict(Vec<String>),
    /// An `Idempotency-Key` was reused for a different request.
    IdempotencyKeyReused,
    /// The body is over the admin API's limit.
    BodyTooLarge {
        /// The limit, in bytes.
        limit_bytes: usize,
    },
}

impl ControlError {
    /// A validation error at `path`.
    pub fn invalid(path: impl Into<String>, detail: impl Into<String>) -> Self {
        ControlError::Invalid {
            path: path.into(),
            detail: detail.into(),
        }
    }
}

impl ControlError {
    /// Validation errors of several fields (one is reported as [`ControlError::Invalid`]).
    pub fn fields(mut errors: Vec<FieldError>) -> Self {
        match errors.len() {
            1 => {
                let e = errors.remove(0);
                ControlError::invalid(e.path, e.detail)
            }
            _ => ControlError::InvalidFields(errors),
        }
    }
}

impl Problem for ControlError {
    fn status(&self) -> u16 {
        match self {
            ControlError::BadRequest(_) => 400,
            ControlError::FlagNotFound(_) | ControlError::RequestNotFound(_) => 404,
            ControlError::OwnRequest => 403,
            ControlError::Conflict(_) => 409,
            ControlError::BodyTooLarge { .. } => 413,
            ControlError::PreconditionFailed { .. } => 412,
            ControlError::Invalid { .. }
            | ControlError::InvalidFields(_)
            | ControlError::IdempotencyKeyReused => 422,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ControlError::BadRequest(_) => "bad_request",
            ControlError::Invalid { .. } | ControlError::InvalidFields(_) => "invalid_flag",
            ControlError::FlagNotFound(_) => "flag_not_found",
            ControlError::RequestNotFound(_) => "request_not_found",
            ControlError::OwnRequest => "forbidden",
            ControlError::PreconditionFailed { .. } => "precondition_failed",
            ControlError::Conflict(_) => "conflict",
            ControlError::IdempotencyKeyReused => "idempotency_key_reused",
            ControlError::BodyTooLarge { .. } => "body_too_large",
        }
    }

    fn detail(&self) -> String {
        match self {
            ControlError::BadRequest(d) => d.clone(),
            ControlError::Invalid { path, detail } => format!("{path}: {detail}"),
            ControlError::InvalidFields(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.detail))
                .collect::<Vec<_>>()
                .join("; "),
            ControlError::FlagNotFound(key) => format!("no flag {key:?}"),
            ControlError::RequestNotFound(id) => {
                format!("no pending request {id} (run, rejected, expired or never filed)")
            }
            ControlError::OwnRequest => {
                "needs another operator: nobody approves their own request".to_owned()
            }
            ControlError::PreconditionFailed { current } => {
                format!("the flag changed since you read it; it is now {current}")
            }
            ControlError::Conflict(reasons) => reasons.join("; "),
            ControlError::IdempotencyKeyReused => {
                "this Idempotency-Key was used for a different request".to_owned()
            }
            ControlError::BodyTooLarge { limit_bytes } => {
                format!("the body is over {limit_bytes} bytes")
            }
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            ControlError::PreconditionFailed { current } => vec![("ETag", current.clone())],
            _ => Vec::new(),
        }
    }

    fn body(&self) -> Option<Value> {
        let base = json!({"error": self.code(), "detail": self.detail()});
        match self {
            ControlError::Invalid { path, .. } => {
                let mut b = base;
                b["path"] = path.as_str().into();
                Some(b)
            }
            ControlError::InvalidFields(errors) => {
                let mut b = base;
                b["path"] = errors.first().map(|e| e.path.as_str()).into();
                b["errors"] = errors
                    .iter()
                    .map(|e| json!({"path": e.path, "detail": e.detail}))
                    .collect();
                Some(b)
            }
            ControlError::Conflict(reasons) => {
                let mut b = base;
                b["reasons"] = reasons.clone().into();
                Some(b)
            }
            _ => None,
        }
    }
}
