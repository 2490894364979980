//! Config validation: defaults, bad values that fail with the variable's name, and sections
//! that fail alone.

mod support;

use pilot_gate_core::events::limits::MAX_BODY_BYTES;
use pilot_gate_core::http::outcome::Upstream;
use pilot_gate_core::http::policy::Coep;
use pilot_gate_core::vars::ConfigError;

use support::{config, events_config, gate_config as parse};

/// The error of the one invalid section of `vars`.
fn error_for(vars: &[(&str, &str)]) -> ConfigError {
    let c = config(vars);
    let errors = c.errors();
    assert_eq!(
        errors.len(),
        1,
        "exactly one section should be rejected: {errors:?}"
    );
    errors[0].1.clone()
}

#[test]
fn defaults_are_safe() {
    let c = parse(&[]).unwrap();
    assert_eq!(
        c.rollout_bp, None,
        "no rollout var means nobody is in the pilot"
    );
    assert!(c.gated_routes.iter().any(|r| r.pattern.matches("/try")));
    assert!(c
        .gated_routes
        .iter()
        .any(|r| r.pattern.matches("/try/deeper")));
    assert!(!c.gated_routes.iter().any(|r| r.pattern.matches("/")));
    assert!(c.isolated_routes.is_empty());
    assert_eq!(c.gate_redirect, "/");
    assert_eq!(c.coep, Coep::RequireCorp);
    assert!(c.cookie_secure);
    assert_eq!(c.pass_through, Upstream::Assets);
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
            Some(bp),
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
    let c = pilot_gate_core::config::Config::from_lookup(|_| None);
    let e = c.gate.expect_err("no secret, no gate").error;
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
    assert!(c.gated_routes.iter().any(|r| r.pattern.matches("/beta")));
    assert!(!c.gated_routes.iter().any(|r| r.pattern.matches("/beta/x")));
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
        Upstream::Origin
    );
    assert_eq!(error_for(&[("PASS_THROUGH", "cdn")]).var(), "PASS_THROUGH");
}

#[test]
fn beacon_limits_are_validated_with_their_range() {
    let c = events_config(&[]).unwrap();
    assert_eq!(c.limits.max_body_bytes, 51_200);
    assert_eq!(c.limits.max_props_bytes, 10_240);
    assert_eq!(c.limits.max_events, 100);
    assert_eq!(c.ttl_s, 30 * 24 * 3600);
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
    // ALLOWED_ORIGINS belongs to the beacon's and the flags' sections alike.
    let c = config(&[("ALLOWED_ORIGINS", "app.example")]);
    let sections: Vec<(&str, &str)> = c.errors().iter().map(|(s, e)| (*s, e.var())).collect();
    assert_eq!(
        sections,
        [("events", "ALLOWED_ORIGINS"), ("flags", "ALLOWED_ORIGINS")]
    );
    assert_eq!(
        error_for(&[("INGEST_HMAC_REQUIRED", "true")]),
        ConfigError::Missing {
            var: "INGEST_HMAC_SECRET"
        },
        "requiring signatures without a secret is a start-up error"
    );
    let c = events_config(&[(
        "ALLOWED_ORIGINS",
        "https://a.example/, http://b.example:8080",
    )])
    .unwrap();
    assert_eq!(
        c.allowed_origins,
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
        c.gated_routes.iter().any(|r| r.pattern.matches("/try")),
        "empty GATED_ROUTES keeps the default"
    );
}

#[test]
fn body_and_props_limits_are_bounded_by_one_queue_message() {
    let at = MAX_BODY_BYTES.to_string();
    let over = (MAX_BODY_BYTES + 1).to_string();
    let c = events_config(&[
        ("EVENTS_MAX_BODY_BYTES", &at),
        ("EVENTS_MAX_PROPS_BYTES", &at),
    ])
    .unwrap();
    assert_eq!(c.limits.max_body_bytes, MAX_BODY_BYTES);
    assert_eq!(c.limits.max_props_bytes, MAX_BODY_BYTES);
    let e = error_for(&[("EVENTS_MAX_BODY_BYTES", &over)]);
    assert_eq!(e.var(), "EVENTS_MAX_BODY_BYTES");
    assert!(
        e.to_string()
            .contains(&format!("from 1 to {MAX_BODY_BYTES} ")),
        "the message states the bound: {e}"
    );
    let e = error_for(&[("EVENTS_MAX_PROPS_BYTES", &over)]);
    assert_eq!(e.var(), "EVENTS_MAX_PROPS_BYTES");
    assert!(
        e.to_string()
            .contains(&format!("from 2 to {MAX_BODY_BYTES} ")),
        "{e}"
    );
}

#[test]
fn an_invalid_events_variable_leaves_the_gate_section_intact() {
    let c = config(&[
        ("GATED_ROUTES", "/beta*"),
        ("PILOT_ROLLOUT_PCT", "0.2"),
        ("EVENTS_MAX_BATCH", "lots"),
    ]);
    assert_eq!(c.events.as_ref().unwrap_err().var(), "EVENTS_MAX_BATCH");
    let gate = c.gate.as_ref().expect("the gate section stands alone");
    assert!(gate
        .gated_routes
        .iter()
        .any(|r| r.pattern.matches("/beta/x")));
    assert!(!gate.gated_routes.iter().any(|r| r.pattern.matches("/try")));
    assert_eq!(gate.rollout_bp, Some(2_000));
}

#[test]
fn an_invalid_gate_variable_leaves_the_events_section_intact() {
    let c = config(&[("COEP", "bogus"), ("EVENTS_MAX_BATCH", "10")]);
    assert_eq!(c.gate.as_ref().unwrap_err().error.var(), "COEP");
    assert_eq!(c.events.as_ref().unwrap().limits.max_events, 10);
    let names: Vec<&str> = c.errors().iter().map(|(section, _)| *section).collect();
    assert_eq!(names, ["gate"]);
}
