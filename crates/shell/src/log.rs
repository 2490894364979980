//! Structured log lines (one JSON object each), keyed by request id.

use pilot_gate_core::vars::ConfigError;

/// Logs the cause of an error answer: the one line that says what a generic body does not.
pub fn error(request_id: &str, event: &str, detail: &str) {
    line(&[
        ("event", event),
        ("request_id", request_id),
        ("detail", detail),
    ]);
}

/// Logs an invalid config section with its variable.
pub fn config_invalid(request_id: &str, section: &str, e: &ConfigError) {
    line(&[
        ("event", "config_invalid"),
        ("request_id", request_id),
        ("section", section),
        ("var", e.var()),
        ("detail", &e.to_string()),
    ]);
}

/// `{"level":"error", <fields>}` on the error log, each value a JSON string.
fn line(fields: &[(&str, &str)]) {
    let mut out = String::from(r#"{"level":"error""#);
    for (key, value) in fields {
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":");
        // Escaping a string cannot fail.
        out.push_str(&serde_json::to_string(value).unwrap_or_default());
    }
    out.push('}');
    worker::console_error!("{}", out);
}
