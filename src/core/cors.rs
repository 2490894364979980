//! CORS for the events beacon: an origin allowlist, with the worker's own origin always allowed.

use crate::core::policy::Header;

/// Methods a cross-origin sender may use (preflight answer).
pub const ALLOW_METHODS: &str = "POST, OPTIONS";
/// Request headers a cross-origin sender may use (preflight answer).
pub const ALLOW_HEADERS: &str = "Content-Type, X-Pilot-Signature";
/// How long browsers may cache a preflight answer, in seconds.
pub const PREFLIGHT_MAX_AGE_S: &str = "600";

/// Whether a request with this `Origin` may use the beacon. No `Origin` (server-to-server,
/// same-origin GET) is allowed; `self_origin` is the worker's own origin.
pub fn origin_allowed(origin: Option<&str>, self_origin: &str, allowed: &[String]) -> bool {
    match origin {
        None => true,
        Some(o) => o == self_origin || allowed.iter().any(|a| a == o || a == "*"),
    }
}

/// Headers for a response to an allowed cross-origin request.
pub fn response_headers(origin: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Access-Control-Allow-Origin", origin.to_owned()),
        ("Vary", "Origin, Cookie".to_owned()),
    ]
}

/// Extra headers of a preflight answer.
pub const PREFLIGHT_HEADERS: [Header; 3] = [
    ("Access-Control-Allow-Methods", ALLOW_METHODS),
    ("Access-Control-Allow-Headers", ALLOW_HEADERS),
    ("Access-Control-Max-Age", PREFLIGHT_MAX_AGE_S),
];

/// The origin (`scheme://host[:port]`) of an absolute URL, as browsers send it in `Origin`.
///
/// ```
/// use pilot_gate::cors::origin_of;
/// assert_eq!(origin_of("http://127.0.0.1:8787/api/events?x=1"), "http://127.0.0.1:8787");
/// ```
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}
