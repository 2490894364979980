//! The gate as pure functions: a request's facts in, what to answer out.
//!
//! The edge shell writes the [`Outcome`] (fetching the upstream for [`Action::PassThrough`]);
//! everything that decides something is here and testable natively.

use serde_json::json;

use crate::evidence::unit::Net;
use crate::flags::evaluate::Handed;

use crate::gate::cohort::{Cohort, Decider, Rollout, COHORT_COOKIE};
use crate::gate::config::{GateConfig, GateFallback};
use crate::gate::cookie::{self, SameSite, SetCookie, MAX_AGE_400_DAYS_S};
use crate::gate::identity::{self, Identity, UID_COOKIE};
use crate::http::outcome::{Action, Outcome};
use crate::http::policy::{Coep, RouteClass};
use crate::http::request::{Entropy, RequestFacts};

/// The crate version, reported by `/api/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The answer to a page request, with the cohort when the page was gated.
#[derive(Debug, Clone, PartialEq)]
pub struct PageAnswer {
    /// What to answer.
    pub outcome: Outcome,
    /// The visitor's cohort, when the route was gated.
    pub cohort: Option<Cohort>,
    /// What the edge handed the visitor on a gated route, for the evidence: the flag, the
    /// variant and the visitor's targeting key (none for bots and without a variant).
    pub exposure: Option<Exposure>,
}

/// A visitor handed their own variant of a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// The flag, the variant handed out, and whether the random split placed the visitor.
    pub handed: Handed,
    /// The visitor's targeting key (hashed into a unit before anything stores it).
    pub targeting_key: String,
    /// The network the request came from.
    pub net: Option<Net>,
    /// The visitor was minted beyond its net's cap: in no arm.
    pub capped: bool,
}

/// Answers a page (any route outside the route table) under a valid gate config and the flags
/// in force: a gated route passes when its flag is on for the visitor and redirects control
/// visitors; isolated and other pages pass through with their class's headers.
pub fn page(
    req: &RequestFacts<'_>,
    cfg: &GateConfig,
    decider: &Decider<'_>,
    rnd: &Entropy,
    request_id: String,
) -> PageAnswer {
    let pass = Action::PassThrough(cfg.pass_through);
    let Some(route) = cfg
        .gated_routes
        .iter()
        .find(|r| r.pattern.matches(req.path))
    else {
        let class = if cfg.isolated_routes.iter().any(|r| r.matches(req.path)) {
            RouteClass::Isolated
        } else {
            RouteClass::Other
        };
        return PageAnswer {
            outcome: Outcome::new(pass, class, cfg.coep, request_id),
            cohort: None,
            exposure: None,
        };
    };
    let identity = identity::resolve(&cfg.identity, req, &rnd.uid);
    let mut ctx = decider.context(&identity, req.path);
    let (cohort, handed) = decider.decide(&route.flag, &identity, &mut ctx);
    let exposure = handed.map(|handed| Exposure {
        handed,
        targeting_key: identity.targeting_key.clone(),
        net: identity.net,
        capped: identity.capped,
    });
    let action = match cohort {
        Cohort::Pilot => pass,
        Cohort::Control => Action::Redirect(cfg.gate_redirect.clone()),
    };
    let outcome = Outcome::new(action, RouteClass::Gated, cfg.coep, request_id)
        .with_cookies(cookies_for(cfg, req.cookie_header, &identity, cohort));
    PageAnswer {
        outcome,
        cohort: Some(cohort),
        exposure,
    }
}

/// Answers a page while the gate's config section is invalid: fail closed, never break a page.
/// The fallback's closed routes redirect to `/` without cookies; anything else passes through
/// with the base headers. The config error itself is logged by the shell, never sent.
pub fn page_fail_closed(
    req: &RequestFacts<'_>,
    fallback: &GateFallback,
    request_id: String,
) -> Outcome {
    let (action, class) = if fallback.closed_routes.iter().any(|r| r.matches(req.path)) {
        (Action::Redirect("/".to_owned()), RouteClass::Gated)
    } else {
        (
            Action::PassThrough(fallback.pass_through),
            RouteClass::Other,
        )
    };
    Outcome::new(action, class, Coep::RequireCorp, request_id)
}

/// The body of `/api/healthz`: the version, and what decides `pilot`: `PILOT_ROLLOUT_PCT`
/// (with its rollout), else the flag set (with its version), else the built-in default (off).
pub fn healthz(rollout: Option<&Rollout>, flag_set_version: Option<&str>) -> Action {
    let rollout = match (rollout, flag_set_version) {
        (Some(r), _) => json!({
            "flag": r.flag,
            "basis_points": r.basis_points,
            "percent": f64::from(r.basis_points) / 100.0,
            "source": r.source,
        }),
        (None, Some(version)) => json!({"flag": "pilot", "source": "flag_set", "version": version}),
        (None, None) => json!({"flag": "pilot", "source": "default"}),
    };
    Action::Json(
        200,
        json!({"status": "ok", "version": VERSION, "rollout": rollout}),
    )
}

/// The `pg_uid` cookie to set when the identity minted a new id (and the visitor takes cookies).
pub fn uid_cookie(cfg: &GateConfig, id: &Identity) -> Option<String> {
    let uid = id.set_uid.as_deref().filter(|_| id.accepts_cookies())?;
    Some(
        SetCookie {
            name: UID_COOKIE,
            value: uid,
            max_age_s: MAX_AGE_400_DAYS_S,
            http_only: true,
            secure: cfg.cookie_secure,
            same_site: SameSite::Lax,
        }
        .to_string(),
    )
}

/// The cookies to set: a new `pg_uid` when one was minted, and `pilot_cohort` when the browser's
/// copy differs from the decision. None for bots or visitors who refuse cookies.
fn cookies_for(
    cfg: &GateConfig,
    cookie_header: &[u8],
    id: &Identity,
    cohort: Cohort,
) -> Vec<String> {
    if !id.accepts_cookies() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(2);
    out.extend(uid_cookie(cfg, id));
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
