//! Structured log lines (one JSON object each), keyed by request id.

use crate::core::vars::ConfigError;

/// Logs the cause of an error answer: the one line that says what a generic body does not.
pub fn error(request_id: &str, event: &str, detail: &str) {
    worker::console_error!(
        "{}",
        serde_json::json!({"level": "error", "event": event, "request_id": request_id, "detail": detail})
    );
}

/// Logs an invalid config section with its variable.
pub fn config_invalid(request_id: &str, section: &str, e: &ConfigError) {
    worker::console_error!(
        "{}",
        serde_json::json!({
            "level": "error",
            "event": "config_invalid",
            "request_id": request_id,
            "section": section,
            "var": e.var(),
            "detail": e.to_string(),
        })
    );
}
