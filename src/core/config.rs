//! Typed configuration from the worker's vars and secrets, validated up front.
//!
//! [`Config::from_lookup`] takes a lookup function, so the same code parses `wrangler.toml`
//! `[vars]` in the worker and plain maps in tests. Every error names its variable.

use crate::core::beacon::Limits;
use crate::core::bucket::MAX_BASIS_POINTS;
use crate::core::error::ConfigError;
use crate::core::identity::IdentityConfig;
use crate::core::ingest::EventsConfig;
use crate::core::policy::{Coep, RoutePattern};

/// Shortest accepted `COOKIE_SECRET`, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Where a gated request of a pilot visitor goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassThrough {
    /// The static assets binding (`www/`), as under `wrangler dev`.
    Assets,
    /// The origin behind the worker's route, when deployed in front of an app.
    Origin,
}

/// The validated configuration of the gate.
#[derive(Debug, Clone)]
pub struct Config {
    /// Default rollout of the `pilot` flag, in basis points (`PILOT_ROLLOUT_PCT` × 10 000).
    pub rollout_bp: u32,
    /// Routes served only to the pilot cohort (`GATED_ROUTES`).
    pub gated_routes: Vec<RoutePattern>,
    /// Extra routes that get isolation headers without being gated (`ISOLATED_ROUTES`).
    pub isolated_routes: Vec<RoutePattern>,
    /// Same-origin path that control visitors are redirected to (`GATE_REDIRECT`).
    pub gate_redirect: String,
    /// `Cross-Origin-Embedder-Policy` on isolated routes (`COEP`).
    pub coep: Coep,
    /// Whether cookies carry `Secure` (`COOKIE_SECURE`).
    pub cookie_secure: bool,
    /// Where pilot traffic on gated routes goes (`PASS_THROUGH`).
    pub pass_through: PassThrough,
    /// Identity settings (`COOKIE_SECRET`, `APP_SESSION_COOKIE`, `CONSENT_COOKIE`).
    pub identity: IdentityConfig,
    /// Events beacon settings (`ALLOWED_ORIGINS`, `EVENTS_*`, `INGEST_HMAC_*`, `ADMIN_TOKEN`).
    pub events: EventsConfig,
}

/// Default TTL of stored events: 30 days, in seconds.
pub const DEFAULT_EVENTS_TTL_S: u64 = 30 * 24 * 60 * 60;

impl Config {
    /// Parses and validates the configuration. `lookup(name)` returns a var or secret.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| {
            lookup(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let secret = get("COOKIE_SECRET").ok_or(ConfigError::Missing {
            var: "COOKIE_SECRET",
        })?;
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                var: "COOKIE_SECRET",
                value: format!("<{} bytes>", secret.len()),
                expected: "a secret of at least 32 bytes",
            });
        }
        Ok(Self {
            rollout_bp: match get("PILOT_ROLLOUT_PCT") {
                Some(v) => parse_fraction_bp("PILOT_ROLLOUT_PCT", &v)?,
                None => 0,
            },
            gated_routes: parse_routes("GATED_ROUTES", get("GATED_ROUTES").as_deref(), "/try*")?,
            isolated_routes: parse_routes(
                "ISOLATED_ROUTES",
                get("ISOLATED_ROUTES").as_deref(),
                "",
            )?,
            gate_redirect: parse_redirect(get("GATE_REDIRECT").as_deref().unwrap_or("/"))?,
            coep: match get("COEP").as_deref() {
                None | Some("require-corp") => Coep::RequireCorp,
                Some("credentialless") => Coep::Credentialless,
                Some(other) => {
                    return Err(invalid("COEP", other, "require-corp or credentialless"))
                }
            },
            cookie_secure: parse_bool("COOKIE_SECURE", get("COOKIE_SECURE").as_deref(), true)?,
            pass_through: match get("PASS_THROUGH").as_deref() {
                None | Some("assets") => PassThrough::Assets,
                Some("origin") => PassThrough::Origin,
                Some(other) => return Err(invalid("PASS_THROUGH", other, "assets or origin")),
            },
            identity: IdentityConfig {
                cookie_secret: secret.into_bytes(),
                app_session_cookie: get("APP_SESSION_COOKIE"),
                consent_cookie: get("CONSENT_COOKIE"),
            },
            events: parse_events(&get)?,
        })
    }
}

fn parse_events(get: &impl Fn(&str) -> Option<String>) -> Result<EventsConfig, ConfigError> {
    let defaults = Limits::default();
    let hmac_secret = get("INGEST_HMAC_SECRET").map(String::into_bytes);
    let hmac_required = parse_bool(
        "INGEST_HMAC_REQUIRED",
        get("INGEST_HMAC_REQUIRED").as_deref(),
        false,
    )?;
    if hmac_required && hmac_secret.is_none() {
        return Err(ConfigError::Missing {
            var: "INGEST_HMAC_SECRET",
        });
    }
    let allowed_origins = get("ALLOWED_ORIGINS")
        .unwrap_or_default()
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .map(|o| {
            let ok = o == "*" || o.starts_with("https://") || o.starts_with("http://");
            if ok {
                Ok(o)
            } else {
                Err(invalid(
                    "ALLOWED_ORIGINS",
                    &o,
                    "comma-separated origins like https://app.example",
                ))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EventsConfig {
        limits: Limits {
            max_body_bytes: parse_uint(
                "EVENTS_MAX_BODY_BYTES",
                &get,
                defaults.max_body_bytes as u64,
                (1..=1 << 20, "an integer from 1 to 1048576 (bytes)"),
            )? as usize,
            max_props_bytes: parse_uint(
                "EVENTS_MAX_PROPS_BYTES",
                &get,
                defaults.max_props_bytes as u64,
                (2..=1 << 20, "an integer from 2 to 1048576 (bytes)"),
            )? as usize,
            max_events: parse_uint(
                "EVENTS_MAX_BATCH",
                &get,
                defaults.max_events as u64,
                (1..=100, "an integer from 1 to 100"),
            )? as usize,
        },
        allowed_origins,
        // KV refuses expirations under 60 s.
        ttl_s: parse_uint(
            "EVENTS_TTL_S",
            &get,
            DEFAULT_EVENTS_TTL_S,
            (
                60..=u64::from(u32::MAX),
                "an integer of seconds, at least 60",
            ),
        )?,
        hmac_secret,
        hmac_required,
        admin_token: get("ADMIN_TOKEN"),
    })
}

fn parse_uint(
    var: &'static str,
    get: &impl Fn(&str) -> Option<String>,
    default: u64,
    (range, expected): (std::ops::RangeInclusive<u64>, &'static str),
) -> Result<u64, ConfigError> {
    let Some(v) = get(var) else {
        return Ok(default);
    };
    v.parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| invalid(var, &v, expected))
}

fn invalid(var: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.to_owned(),
        expected,
    }
}

/// Parses a fraction in `0..=1` (such as `0.1`) into basis points, rounded to the nearest.
pub fn parse_fraction_bp(var: &'static str, value: &str) -> Result<u32, ConfigError> {
    const EXPECTED: &str = "a number from 0 to 1 (0.1 = 10 %)";
    let f: f64 = value.parse().map_err(|_| invalid(var, value, EXPECTED))?;
    if !(0.0..=1.0).contains(&f) {
        return Err(invalid(var, value, EXPECTED));
    }
    // In range by the check above, so the cast cannot truncate.
    Ok((f * f64::from(MAX_BASIS_POINTS)).round() as u32)
}

fn parse_routes(
    var: &'static str,
    value: Option<&str>,
    default: &str,
) -> Result<Vec<RoutePattern>, ConfigError> {
    value
        .unwrap_or(default)
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            RoutePattern::parse(p)
                .ok_or_else(|| invalid(var, p, "comma-separated paths like /try or /try*"))
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
        Err(invalid(
            "GATE_REDIRECT",
            value,
            "a same-origin path such as /",
        ))
    }
}

fn parse_bool(var: &'static str, value: Option<&str>, default: bool) -> Result<bool, ConfigError> {
    match value {
        None => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(invalid(var, other, "true or false")),
    }
}
