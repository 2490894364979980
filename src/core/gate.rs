//! The gate as a pure function: a request's facts in, what to answer out.
//!
//! The edge shell turns the [`Outcome`] into a response (fetching the upstream for
//! [`Action::PassThrough`]); everything that decides something is here and testable natively.

use serde_json::json;

use crate::core::cohort::{decide, Cohort, Rollout, COHORT_COOKIE};
use crate::core::config::Config;
use crate::core::cookie::{self, SameSite, SetCookie, MAX_AGE_400_DAYS_S};
use crate::core::error::GateError;
use crate::core::identity::{self, hex, Identity, IdentityInputs, UID_COOKIE};
use crate::core::policy::{headers_for, Coep, RouteClass, PRIVATE_NO_STORE};

/// The crate version, reported by `/api/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The facts of a request that the gate looks at.
#[derive(Debug, Clone, Copy)]
pub struct GateRequest<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// URL path, starting with `/`.
    pub path: &'a str,
    /// Who is asking: cookies, IP, User-Agent, bot signal.
    pub identity: IdentityInputs<'a>,
    /// The `cf-ray` header, when present.
    pub cf_ray: Option<&'a str>,
}

/// Random bytes drawn once per request by the shell.
#[derive(Debug, Clone, Copy)]
pub struct Entropy {
    /// A fresh visitor id, used only if one must be minted.
    pub uid: [u8; 16],
    /// A request id, used only when there is no usable `cf-ray`.
    pub request_id: [u8; 8],
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Serve the request from upstream (assets or origin) and apply the headers.
    PassThrough,
    /// Answer `302 Found` to this same-origin location.
    Redirect(String),
    /// Answer with this status and JSON body.
    Json(u16, serde_json::Value),
    /// Answer `204 No Content` (a CORS preflight).
    NoContent,
}

/// The gate's answer: an action plus the headers and cookies to put on the response.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What to do.
    pub action: Action,
    /// Headers to set on the final response (replacing upstream values).
    pub headers: Vec<(&'static str, String)>,
    /// `Set-Cookie` values, each appended as its own header.
    pub set_cookies: Vec<String>,
    /// The request id, for logs.
    pub request_id: String,
    /// The cohort, when the route was gated.
    pub cohort: Option<Cohort>,
}

/// Handles a request under a valid config and the rollout in force.
pub fn handle(req: &GateRequest<'_>, cfg: &Config, rollout: &Rollout, rnd: &Entropy) -> Outcome {
    let request_id = request_id(req.cf_ray, &rnd.request_id);
    if let Some(endpoint) = req.path.strip_prefix("/api/") {
        let answer = match (endpoint, req.method) {
            ("healthz", "GET" | "HEAD") => {
                Ok(json!({"status": "ok", "version": VERSION, "rollout": rollout_json(rollout)}))
            }
            ("healthz", _) => Err(GateError::MethodNotAllowed { allow: "GET, HEAD" }),
            _ => Err(GateError::NotFound),
        };
        return api_outcome(answer, cfg.coep, request_id);
    }
    if !cfg.gated_routes.iter().any(|r| r.matches(req.path)) {
        let class = if cfg.isolated_routes.iter().any(|r| r.matches(req.path)) {
            RouteClass::Isolated
        } else {
            RouteClass::Other
        };
        return outcome(
            Action::PassThrough,
            class,
            cfg.coep,
            request_id,
            None,
            Vec::new(),
        );
    }
    let identity = identity::resolve(&cfg.identity, &req.identity, &rnd.uid);
    let cohort = decide(rollout, &identity);
    let set_cookies = cookies_for(cfg, req.identity.cookie_header, &identity, cohort);
    let action = match cohort {
        Cohort::Pilot => Action::PassThrough,
        Cohort::Control => Action::Redirect(cfg.gate_redirect.clone()),
    };
    outcome(
        action,
        RouteClass::Gated,
        cfg.coep,
        request_id,
        Some(cohort),
        set_cookies,
    )
}

/// Handles a request when the config is invalid: fail closed, never break a page.
///
/// Gated routes redirect to `/` without cookies, `/api/*` answers 503, anything else passes
/// through with the base headers.
/// The config error itself is logged by the shell with the request id, never sent to clients.
pub fn handle_misconfigured(req: &GateRequest<'_>, rnd: &Entropy) -> Outcome {
    let request_id = request_id(req.cf_ray, &rnd.request_id);
    let coep = Coep::RequireCorp;
    if req.path.starts_with("/api/") {
        return api_outcome(Err(GateError::Misconfigured), coep, request_id);
    }
    let (action, class) = if req.path.starts_with(FAIL_CLOSED_GATE) {
        (Action::Redirect("/".to_owned()), RouteClass::Gated)
    } else {
        (Action::PassThrough, RouteClass::Other)
    };
    outcome(action, class, coep, request_id, None, Vec::new())
}

/// The gated prefix assumed when the config cannot be read (the default of `GATED_ROUTES`).
const FAIL_CLOSED_GATE: &str = "/try";

/// The outcome of an `/api/*` answer: 200 JSON, or the error's status, body and headers.
fn api_outcome(
    answer: Result<serde_json::Value, GateError>,
    coep: Coep,
    request_id: String,
) -> Outcome {
    let (action, extra) = match answer {
        Ok(body) => (Action::Json(200, body), Vec::new()),
        Err(e) => (error(&e), error_headers(&e)),
    };
    let mut out = outcome(action, RouteClass::Api, coep, request_id, None, Vec::new());
    out.headers.extend(extra);
    out
}

/// Headers an error response carries besides the policy table (`Allow`, `Retry-After`).
pub fn error_headers(err: &GateError) -> Vec<(&'static str, String)> {
    match err {
        GateError::MethodNotAllowed { allow } => vec![("Allow", (*allow).to_owned())],
        GateError::Misconfigured => vec![("Retry-After", "30".to_owned())],
        GateError::UpstreamUnavailable => vec![("Retry-After", "5".to_owned())],
        GateError::NotFound | GateError::Internal => Vec::new(),
    }
}

/// The JSON response of an error.
pub fn error(err: &GateError) -> Action {
    let body = serde_json::to_value(err.body()).unwrap_or_else(|_| json!({"error": err.code()}));
    Action::Json(err.status(), body)
}

fn rollout_json(r: &Rollout) -> serde_json::Value {
    json!({
        "flag": r.flag,
        "basis_points": r.basis_points,
        "percent": f64::from(r.basis_points) / 100.0,
        "source": r.source,
    })
}

/// An outcome with the policy headers of `class`, the request id and the cookies.
pub fn outcome(
    action: Action,
    class: RouteClass,
    coep: Coep,
    request_id: String,
    cohort: Option<Cohort>,
    set_cookies: Vec<String>,
) -> Outcome {
    let mut headers: Vec<(&'static str, String)> = headers_for(class, coep)
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    if !set_cookies.is_empty() {
        // Never let a response that sets a cookie be cached and shared.
        headers.retain(|(k, _)| *k != "Cache-Control");
        headers.push(("Cache-Control", PRIVATE_NO_STORE.to_owned()));
    }
    headers.push(("X-Request-Id", request_id.clone()));
    Outcome {
        action,
        headers,
        set_cookies,
        request_id,
        cohort,
    }
}

/// The cookies to set: a new `pg_uid` when one was minted, and `pilot_cohort` when the browser's
/// copy differs from the decision. None for bots or visitors who refuse cookies.
fn cookies_for(cfg: &Config, cookie_header: &[u8], id: &Identity, cohort: Cohort) -> Vec<String> {
    if !id.accepts_cookies() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(2);
    if let Some(uid) = &id.set_uid {
        out.push(
            SetCookie {
                name: UID_COOKIE,
                value: uid,
                max_age_s: MAX_AGE_400_DAYS_S,
                http_only: true,
                secure: cfg.cookie_secure,
                same_site: SameSite::Lax,
            }
            .to_string(),
        );
    }
    if cookie::get(cookie_header, COHORT_COOKIE) != Some(cohort.as_str()) {
        out.push(
            SetCookie {
                name: COHORT_COOKIE,
                value: cohort.as_str(),
                max_age_s: MAX_AGE_400_DAYS_S,
                http_only: false,
                secure: cfg.cookie_secure,
                same_site: SameSite::Lax,
            }
            .to_string(),
        );
    }
    out
}

/// `cf-ray` when it looks like one, else 16 hex characters of fresh randomness.
pub fn request_id(cf_ray: Option<&str>, random: &[u8; 8]) -> String {
    match cf_ray {
        Some(ray)
            if !ray.is_empty()
                && ray.len() <= 64
                && ray.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            ray.to_owned()
        }
        _ => hex(random),
    }
}
