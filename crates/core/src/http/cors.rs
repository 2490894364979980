//! CORS: an origin allowlist (the worker's own origin is always allowed), the headers of an
//! answer to an allowed origin, and preflight answers.

use crate::http::outcome::{Action, Outcome};
use crate::http::problem::ApiError;
use crate::vars::{ConfigError, Vars};

/// How long browsers may cache a preflight answer, in seconds.
pub const PREFLIGHT_MAX_AGE_S: &str = "600";

/// What a route allows cross-origin callers (its preflight answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorsPolicy {
    /// `Access-Control-Allow-Methods`.
    pub methods: &'static str,
    /// `Access-Control-Allow-Headers`.
    pub headers: &'static str,
    /// `Access-Control-Expose-Headers`, when the route has any to expose.
    pub expose: Option<&'static str>,
}

/// `ALLOWED_ORIGINS`: the origins, besides the worker's own, that may call CORS routes.
pub fn allowed_origins(vars: &Vars<'_>) -> Result<Vec<String>, ConfigError> {
    vars.get("ALLOWED_ORIGINS")
        .unwrap_or_default()
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .map(|o| {
            if o == "*" || o.starts_with("https://") || o.starts_with("http://") {
                Ok(o)
            } else {
                Err(ConfigError::invalid(
                    "ALLOWED_ORIGINS",
                    &o,
                    "comma-separated origins like https://app.example",
                ))
            }
        })
        .collect()
}

/// Whether a request with this `Origin` may call a CORS route. No `Origin` (server-to-server,
/// same-origin GET) is allowed; `self_origin` is the worker's own.
pub fn origin_allowed(origin: Option<&str>, self_origin: &str, allowed: &[String]) -> bool {
    match origin {
        None => true,
        Some(o) => o == self_origin || allowed.iter().any(|a| a == o || a == "*"),
    }
}

/// Adds the headers of an answer to an allowed cross-origin request.
pub fn allow_origin(out: &mut Outcome, origin: &str, policy: CorsPolicy) {
    out.set_header("Access-Control-Allow-Origin", origin.to_owned());
    out.set_header("Vary", "Origin, Cookie".to_owned());
    if let Some(expose) = policy.expose {
        out.set_header("Access-Control-Expose-Headers", expose.to_owned());
    }
}

/// The answer to a preflight from an allowed origin: 204 with what `policy` allows.
pub fn preflight(request_id: String, origin: &str, policy: CorsPolicy) -> Outcome {
    let mut out = Outcome::api(Ok::<_, ApiError>(Action::NoContent), request_id);
    allow_origin(&mut out, origin, policy);
    out.set_header("Access-Control-Allow-Methods", policy.methods.to_owned());
    out.set_header("Access-Control-Allow-Headers", policy.headers.to_owned());
    out.set_header("Access-Control-Max-Age", PREFLIGHT_MAX_AGE_S.to_owned());
    out
}

/// The origin (`scheme://host[:port]`) of an absolute URL, as browsers send it in `Origin`.
///
/// ```
/// use pilot_gate_core::http::cors::origin_of;
/// assert_eq!(origin_of("http://127.0.0.1:8787/api/events?x=1"), "http://127.0.0.1:8787");
/// ```
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}
