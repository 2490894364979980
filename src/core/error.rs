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
    /// A bug or an unexpected platform failure; the detail is logged, not sent.
    Internal,
}

impl GateError {
    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            GateError::NotFound => 404,
            GateError::MethodNotAllowed { .. } => 405,
            GateError::Misconfigured => 503,
            GateError::Internal => 500,
        }
    }

    /// The stable machine-readable code sent as `error`.
    pub fn code(&self) -> &'static str {
        match self {
            GateError::NotFound => "not_found",
            GateError::MethodNotAllowed { .. } => "method_not_allowed",
            GateError::Misconfigured => "unavailable",
            GateError::Internal => "internal",
        }
    }

    /// A human-readable detail that is safe to send to any client.
    pub fn detail(&self) -> &'static str {
        match self {
            GateError::NotFound => "no such endpoint",
            GateError::MethodNotAllowed { .. } => "method not allowed on this endpoint",
            GateError::Misconfigured | GateError::Internal => "try again later",
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
