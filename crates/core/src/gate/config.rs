//! The gate's config section, validated on its own, and the fallback that fails it closed.

use crate::evidence::unit::Net;
use crate::flags::source::CACHE_MS;
use crate::gate::bucket::MAX_BASIS_POINTS;
use crate::gate::cohort::PILOT_FLAG;
use crate::gate::identity::IdentityConfig;
use crate::gate::pattern::RoutePattern;
use crate::http::outcome::Upstream;
use crate::http::policy::Coep;
use crate::vars::{ConfigError, Vars};

/// Shortest accepted `COOKIE_SECRET`, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// `GATED_ROUTES` when unset.
pub const DEFAULT_GATED_ROUTES: &str = "/try*";

/// The validated config of the gate.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// `PILOT_ROLLOUT_PCT` × 10 000, when set: it overrides the rollout of `pilot`, and 0 sends
    /// every gated route to control. Unset, the flag set decides.
    pub rollout_bp: Option<u32>,
    /// Routes served only to visitors whose bound flag is on (`GATED_ROUTES`).
    pub gated_routes: Vec<GatedRoute>,
    /// Extra routes that get isolation headers without being gated (`ISOLATED_ROUTES`).
    pub isolated_routes: Vec<RoutePattern>,
    /// Same-origin path that control visitors are redirected to (`GATE_REDIRECT`).
    pub gate_redirect: String,
    /// `Cross-Origin-Embedder-Policy` on isolated routes (`COEP`).
    pub coep: Coep,
    /// Whether cookies carry `Secure` (`COOKIE_SECURE`).
    pub cookie_secure: bool,
    /// Where pages are served from (`PASS_THROUGH`).
    pub pass_through: Upstream,
    /// Identity settings (`COOKIE_SECRET`, `APP_SESSION_COOKIE`, `CONSENT_COOKIE`).
    pub identity: IdentityConfig,
    /// How long an isolate keeps the flag set before it reads KV again, in ms
    /// (`FLAGS_CACHE_S`, default 30: KV's own minimum cache time when deployed).
    pub flags_cache_ms: u64,
}

impl GateConfig {
    /// Parses and validates the gate's variables; the first invalid one is the error.
    pub fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let secret = vars.get("COOKIE_SECRET").ok_or(ConfigError::Missing {
            var: "COOKIE_SECRET",
        })?;
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::invalid(
                "COOKIE_SECRET",
                &format!("<{} bytes>", secret.len()),
                "a secret of at least 32 bytes",
            ));
        }
        Ok(Self {
            rollout_bp: vars
                .get("PILOT_ROLLOUT_PCT")
                .map(|v| parse_fraction_bp("PILOT_ROLLOUT_PCT", &v))
                .transpose()?,
            gated_routes: gated_routes(vars)?,
            isolated_routes: parse_routes(
                "ISOLATED_ROUTES",
                vars.get("ISOLATED_ROUTES").as_deref().unwrap_or(""),
            )?,
            gate_redirect: parse_redirect(vars.get("GATE_REDIRECT").as_deref().unwrap_or("/"))?,
            coep: vars.choice(
                "COEP",
                Coep::RequireCorp,
                &[
                    ("require-corp", Coep::RequireCorp),
                    ("credentialless", Coep::Credentialless),
                ],
                "require-corp or credentialless",
            )?,
            cookie_secure: vars.bool("COOKIE_SECURE", true)?,
            pass_through: pass_through(vars)?,
            flags_cache_ms: vars.uint(
                "FLAGS_CACHE_S",
                CACHE_MS / 1000,
                1..=3600,
                "whole seconds, 1 to 3600",
            )? * 1000,
            identity: IdentityConfig {
                net_key: Net::key(secret.as_bytes()),
                cookie_secret: secret.into_bytes(),
                app_session_cookie: vars.get("APP_SESSION_COOKIE"),
                consent_cookie: vars.get("CONSENT_COOKIE"),
            },
        })
    }
}

/// How pages are answered while the gate's section is invalid: the routes that the raw
/// `GATED_ROUTES` names redirect to `/` without cookies (the default routes only when that
/// variable itself is invalid), and other pages pass through as usual.
#[derive(Debug, Clone)]
pub struct GateFallback {
    /// Routes that fail closed.
    pub closed_routes: Vec<RoutePattern>,
    /// Where other pages are served from (`PASS_THROUGH` when it is valid, else assets).
    pub pass_through: Upstream,
}

impl GateFallback {
    /// Reads each variable of the fallback on its own, so one bad variable does not move the
    /// others.
    pub fn from_vars(vars: &Vars<'_>) -> Self {
        Self {
            closed_routes: gated_routes(vars)
                .or_else(|_| parse_gated("GATED_ROUTES", DEFAULT_GATED_ROUTES))
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.pattern)
                .collect(),
            pass_through: pass_through(vars).unwrap_or(Upstream::Assets),
        }
    }
}

/// Parses a fraction in `0..=1` (such as `0.1`) into basis points, rounded to the nearest.
///
/// ```
/// use pilot_gate_core::gate::config::parse_fraction_bp;
/// assert_eq!(parse_fraction_bp("PILOT_ROLLOUT_PCT", "0.1"), Ok(1_000));
/// assert!(parse_fraction_bp("PILOT_ROLLOUT_PCT", "10%").is_err());
/// ```
pub fn parse_fraction_bp(var: &'static str, value: &str) -> Result<u32, ConfigError> {
    const EXPECTED: &str = "a number from 0 to 1 (0.1 = 10 %)";
    let f: f64 = value
        .parse()
        .map_err(|_| ConfigError::invalid(var, value, EXPECTED))?;
    if !(0.0..=1.0).contains(&f) {
        return Err(ConfigError::invalid(var, value, EXPECTED));
    }
    // In range by the check above, so the cast cannot truncate.
    Ok((f * f64::from(MAX_BASIS_POINTS)).round() as u32)
}

fn pass_through(vars: &Vars<'_>) -> Result<Upstream, ConfigError> {
    vars.choice(
        "PASS_THROUGH",
        Upstream::Assets,
        &[("assets", Upstream::Assets), ("origin", Upstream::Origin)],
        "assets or origin",
    )
}

/// A gated route pattern and the flag that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatedRoute {
    /// Which paths.
    pub pattern: RoutePattern,
    /// The flag whose value (`true`, or the variant `on`) lets a visitor through.
    pub flag: String,
}

fn gated_routes(vars: &Vars<'_>) -> Result<Vec<GatedRoute>, ConfigError> {
    let raw = vars.get("GATED_ROUTES");
    parse_gated(
        "GATED_ROUTES",
        raw.as_deref().unwrap_or(DEFAULT_GATED_ROUTES),
    )
}

/// `pattern[=flag],...`: a pattern alone is bound to `pilot`.
fn parse_gated(var: &'static str, value: &str) -> Result<Vec<GatedRoute>, ConfigError> {
    const EXPECTED: &str = "comma-separated routes like /try* or /beta*=beta_ui";
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|entry| {
            let (pattern, flag) = entry.split_once('=').unwrap_or((entry, PILOT_FLAG));
            let flag = flag.trim();
            let flag_ok = !flag.is_empty()
                && flag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            match RoutePattern::parse(pattern) {
                Some(pattern) if flag_ok => Ok(GatedRoute {
                    pattern,
                    flag: flag.to_owned(),
                }),
                _ => Err(ConfigError::invalid(var, entry, EXPECTED)),
            }
        })
        .collect()
}

fn parse_routes(var: &'static str, value: &str) -> Result<Vec<RoutePattern>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            RoutePattern::parse(p).ok_or_else(|| {
                ConfigError::invalid(var, p, "comma-separated paths like /try or /try*")
            })
        })
        .collect()
}

fn parse_redirect(value: &str) -> Result<String, ConfigError> {
    // Same-origin paths only: "//host" or "/\host" would be an open redirect.
    let ok = value.starts_with('/')
        && !value.starts_with("//")
        && !value.starts_with("/\\")
        && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ConfigError::invalid(
            "GATE_REDIRECT",
            value,
            "a same-origin path such as /",
        ))
    }
}
