//! Config validation: defaults, and bad values that fail with the variable's name.

use std::collections::HashMap;

use pilot_gate::config::{Config, PassThrough};
use pilot_gate::error::ConfigError;
use pilot_gate::policy::Coep;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut map: HashMap<String, String> = HashMap::from([("COOKIE_SECRET".into(), SECRET.into())]);
    for (k, v) in vars {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|name| map.get(name).cloned())
}

fn error_for(vars: &[(&str, &str)]) -> ConfigError {
    parse(vars).expect_err("config should be rejected")
}

#[test]
fn defaults_are_safe() {
    let c = parse(&[]).unwrap();
    assert_eq!(
        c.rollout_bp, 0,
        "no rollout var means nobody is in the pilot"
    );
    assert!(c.gated_routes.iter().any(|r| r.matches("/try")));
    assert!(c.gated_routes.iter().any(|r| r.matches("/try/deeper")));
    assert!(!c.gated_routes.iter().any(|r| r.matches("/")));
    assert!(c.isolated_routes.is_empty());
    assert_eq!(c.gate_redirect, "/");
    assert_eq!(c.coep, Coep::RequireCorp);
    assert!(c.cookie_secure);
    assert_eq!(c.pass_through, PassThrough::Assets);
    assert_eq!(c.identity.app_session_cookie, None);
}

#[test]
fn rollout_fraction_becomes_basis_points() {
    for (pct, bp) in [
        ("0", 0),
        ("0.1", 1_000),
        ("0.2", 2_000),
        ("0.0001", 1),
        ("1", 10_000),
        (" 0.5 ", 5_000),
    ] {
        assert_eq!(
            parse(&[("PILOT_ROLLOUT_PCT", pct)]).unwrap().rollout_bp,
            bp,
            "{pct}"
        );
    }
}

#[test]
fn bad_rollout_names_the_variable() {
    for bad in ["1.5", "-0.1", "ten", "10%", "NaN", "inf"] {
        let e = error_for(&[("PILOT_ROLLOUT_PCT", bad)]);
        assert_eq!(e.var(), "PILOT_ROLLOUT_PCT", "{bad}");
        assert!(e.to_string().starts_with("PILOT_ROLLOUT_PCT: "), "{e}");
        assert!(e.to_string().contains(bad), "message echoes the value: {e}");
    }
}

#[test]
fn missing_or_short_secret_is_rejected_without_echoing_it() {
    let e = Config::from_lookup(|_| None).unwrap_err();
    assert_eq!(
        e,
        ConfigError::Missing {
            var: "COOKIE_SECRET"
        }
    );
    assert_eq!(e.to_string(), "COOKIE_SECRET: required but not set");
    let e = error_for(&[("COOKIE_SECRET", "short-secret")]);
    assert_eq!(e.var(), "COOKIE_SECRET");
    assert!(!e.to_string().contains("short-secret"), "{e}");
}

#[test]
fn routes_and_redirects_are_validated() {
    assert_eq!(
        error_for(&[("GATED_ROUTES", "/try*, beta")]).var(),
        "GATED_ROUTES"
    );
    assert_eq!(error_for(&[("GATED_ROUTES", "/a*b")]).var(), "GATED_ROUTES");
    assert_eq!(
        error_for(&[("ISOLATED_ROUTES", "*")]).var(),
        "ISOLATED_ROUTES"
    );
    for open_redirect in [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "home",
    ] {
        assert_eq!(
            error_for(&[("GATE_REDIRECT", open_redirect)]).var(),
            "GATE_REDIRECT"
        );
    }
    let c = parse(&[
        ("GATED_ROUTES", "/try*, /beta"),
        ("GATE_REDIRECT", "/waitlist?from=gate"),
    ])
    .unwrap();
    assert!(c.gated_routes.iter().any(|r| r.matches("/beta")));
    assert!(!c.gated_routes.iter().any(|r| r.matches("/beta/x")));
    assert_eq!(c.gate_redirect, "/waitlist?from=gate");
}

#[test]
fn enums_and_booleans_are_validated() {
    assert_eq!(
        parse(&[("COEP", "credentialless")]).unwrap().coep,
        Coep::Credentialless
    );
    assert_eq!(error_for(&[("COEP", "unsafe-none")]).var(), "COEP");
    assert!(!parse(&[("COOKIE_SECURE", "false")]).unwrap().cookie_secure);
    assert_eq!(
        error_for(&[("COOKIE_SECURE", "yes")]).var(),
        "COOKIE_SECURE"
    );
    assert_eq!(
        parse(&[("PASS_THROUGH", "origin")]).unwrap().pass_through,
        PassThrough::Origin
    );
    assert_eq!(error_for(&[("PASS_THROUGH", "cdn")]).var(), "PASS_THROUGH");
}

#[test]
fn beacon_limits_are_validated_with_their_range() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.events.limits.max_body_bytes, 51_200);
    assert_eq!(c.events.limits.max_props_bytes, 10_240);
    assert_eq!(c.events.limits.max_events, 100);
    assert_eq!(c.events.ttl_s, 30 * 24 * 3600);
    let e = error_for(&[("EVENTS_MAX_BATCH", "101")]);
    assert_eq!(
        e.to_string(),
        "EVENTS_MAX_BATCH: expected an integer from 1 to 100, got \"101\""
    );
    assert_eq!(error_for(&[("EVENTS_TTL_S", "59")]).var(), "EVENTS_TTL_S");
    assert_eq!(
        error_for(&[("EVENTS_MAX_BODY_BYTES", "lots")]).var(),
        "EVENTS_MAX_BODY_BYTES"
    );
    assert_eq!(
        error_for(&[("ALLOWED_ORIGINS", "app.example")]).var(),
        "ALLOWED_ORIGINS"
    );
    assert_eq!(
        error_for(&[("INGEST_HMAC_REQUIRED", "true")]),
        ConfigError::Missing {
            var: "INGEST_HMAC_SECRET"
        },
        "requiring signatures without a secret is a start-up error"
    );
    let c = parse(&[(
        "ALLOWED_ORIGINS",
        "https://a.example/, http://b.example:8080",
    )])
    .unwrap();
    assert_eq!(
        c.events.allowed_origins,
        ["https://a.example", "http://b.example:8080"]
    );
}

#[test]
fn empty_values_mean_unset() {
    let c = parse(&[
        ("APP_SESSION_COOKIE", ""),
        ("CONSENT_COOKIE", "  "),
        ("GATED_ROUTES", ""),
    ])
    .unwrap();
    assert_eq!(c.identity.app_session_cookie, None);
    assert_eq!(c.identity.consent_cookie, None);
    assert!(
        c.gated_routes.iter().any(|r| r.matches("/try")),
        "empty GATED_ROUTES keeps the default"
    );
}
