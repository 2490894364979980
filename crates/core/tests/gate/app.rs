//! The gate as an app function, without a server: pages, the header table, identity, cookies,
//! healthz and failing closed.

use pilot_gate_core::flags::model::FlagSet;
use pilot_gate_core::gate::answer::{healthz, page_fail_closed};
use pilot_gate_core::gate::cohort::{effective_rollout, Cohort, Decider, RolloutSource};
use pilot_gate_core::gate::config::{GateConfig, GateFallback};
use pilot_gate_core::gate::identity::{self, sign_uid, verify_uid, KeySource};
use pilot_gate_core::hex::hex;
use pilot_gate_core::http::outcome::{Action, Outcome, Upstream};
use pilot_gate_core::http::problem::ApiError;
use pilot_gate_core::http::request::{Entropy, RequestFacts};

use crate::support::{self, entropy, get, handle, header, uid_cookie, CHROME_UA, SECRET};

fn config(vars: &[(&str, &str)]) -> GateConfig {
    support::gate_config(vars).unwrap()
}

const PASS: Action = Action::PassThrough(Upstream::Assets);

/// Finds random entropy whose fresh visitor lands in the wanted cohort at `bp`.
fn visitor_in(cohort: Cohort, bp: u32) -> (Entropy, String) {
    let cfg = config(&[]);
    let rollout = effective_rollout(Some(bp));
    (0..=255u8)
        .map(entropy)
        .find_map(|e| {
            let o = handle(&get("/try", ""), &cfg, &rollout, &e);
            (o.cohort == Some(cohort)).then(|| (e, uid_cookie(&o.outcome).unwrap()))
        })
        .expect("some seed lands in each cohort at this rollout")
}

#[test]
fn healthz_reports_the_effective_rollout() {
    let cfg = config(&[("PILOT_ROLLOUT_PCT", "0.25")]);
    let answer = healthz(effective_rollout(cfg.rollout_bp).as_ref(), None);
    let o = Outcome::api(Ok::<_, ApiError>(answer), "r".into());
    let Action::Json(200, body) = &o.action else {
        panic!("{:?}", o.action)
    };
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["rollout"]["basis_points"], 2_500);
    assert_eq!(body["rollout"]["source"], "vars");
    assert_eq!(header(&o, "Cache-Control"), Some("no-store"));
    assert!(o.set_cookies.is_empty());
}

#[test]
fn pilot_passes_through_and_control_is_redirected() {
    let cfg = config(&[]);
    let (e, _) = visitor_in(Cohort::Pilot, 5_000);
    let o = handle(&get("/try", ""), &cfg, &effective_rollout(Some(5_000)), &e);
    assert_eq!(o.outcome.action, PASS);
    assert!(o
        .outcome
        .set_cookies
        .iter()
        .any(|c| c.starts_with("pilot_cohort=pilot;")));
    let (e, _) = visitor_in(Cohort::Control, 5_000);
    let o = handle(
        &get("/try/deeper", ""),
        &cfg,
        &effective_rollout(Some(5_000)),
        &e,
    );
    assert_eq!(o.outcome.action, Action::Redirect("/".into()));
    assert_eq!(
        header(&o.outcome, "Cache-Control"),
        Some("private, no-store")
    );
    assert!(o
        .outcome
        .set_cookies
        .iter()
        .any(|c| c.starts_with("pilot_cohort=control;")));
}

#[test]
fn returning_visitor_keeps_cohort_and_gets_no_new_cookies() {
    let cfg = config(&[]);
    let rollout = effective_rollout(Some(5_000));
    for cohort in [Cohort::Pilot, Cohort::Control] {
        let (_, uid) = visitor_in(cohort, 5_000);
        let cookie = format!("pg_uid={uid}; pilot_cohort={}", cohort.as_str());
        for seed in 0..20 {
            let o = handle(&get("/try", &cookie), &cfg, &rollout, &entropy(seed));
            assert_eq!(o.cohort, Some(cohort));
            assert!(
                o.outcome.set_cookies.is_empty(),
                "{:?}",
                o.outcome.set_cookies
            );
        }
    }
}

#[test]
fn cohort_cookie_is_never_trusted() {
    let cfg = config(&[]);
    let rollout = effective_rollout(Some(5_000));
    let (_, uid) = visitor_in(Cohort::Control, 5_000);
    let o = handle(
        &get("/try", &format!("pg_uid={uid}; pilot_cohort=pilot")),
        &cfg,
        &rollout,
        &entropy(9),
    );
    assert_eq!(o.outcome.action, Action::Redirect("/".into()));
    assert_eq!(
        o.outcome.set_cookies.len(),
        1,
        "only the cohort cookie is corrected"
    );
    assert!(o.outcome.set_cookies[0].starts_with("pilot_cohort=control;"));
}

#[test]
fn forged_tampered_or_malformed_uid_is_replaced_once() {
    let cfg = config(&[]);
    let rollout = effective_rollout(Some(5_000));
    let good = sign_uid(SECRET.as_bytes(), &[7; 16]);
    let other_secret = sign_uid(b"another-secret-of-32-bytes-000000", &[7; 16]);
    let mut tampered = good.clone().into_bytes();
    tampered[5] = if tampered[5] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let chosen_id = format!("v1.{}.{}", "0".repeat(32), "0".repeat(32));
    for bad in [
        other_secret,
        tampered,
        chosen_id,
        "v1.abc".into(),
        "garbage".into(),
        good.to_uppercase(),
    ] {
        let o = handle(
            &get("/try", &format!("pg_uid={bad}")),
            &cfg,
            &rollout,
            &entropy(3),
        );
        let minted = uid_cookie(&o.outcome).expect("a fresh pg_uid is set");
        assert_ne!(minted, bad);
        assert_eq!(
            verify_uid(SECRET.as_bytes(), &minted),
            Some(hex(&[3; 16]).as_str())
        );
        assert_eq!(
            o.outcome
                .set_cookies
                .iter()
                .filter(|c| c.starts_with("pg_uid="))
                .count(),
            1
        );
    }
    // A good cookie after a bad duplicate is still honoured.
    let o = handle(
        &get("/try", &format!("pg_uid=garbage; pg_uid={good}")),
        &cfg,
        &rollout,
        &entropy(3),
    );
    assert_eq!(uid_cookie(&o.outcome), None);
}

#[test]
fn uid_cookie_attributes() {
    let cfg = config(&[]);
    let o = handle(
        &get("/try", ""),
        &cfg,
        &effective_rollout(Some(5_000)),
        &entropy(1),
    );
    let uid = o
        .outcome
        .set_cookies
        .iter()
        .find(|c| c.starts_with("pg_uid="))
        .unwrap();
    for attr in [
        "; HttpOnly",
        "; Secure",
        "; SameSite=Lax",
        "; Path=/",
        "; Max-Age=34560000",
    ] {
        assert!(uid.contains(attr), "{uid} lacks {attr}");
    }
    let cohort = o
        .outcome
        .set_cookies
        .iter()
        .find(|c| c.starts_with("pilot_cohort="))
        .unwrap();
    assert!(
        !cohort.contains("HttpOnly"),
        "page scripts read the cohort cookie"
    );
}

#[test]
fn bots_are_control_without_cookies() {
    let cfg = config(&[]);
    let rollout = effective_rollout(Some(10_000));
    for ua in [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0)",
        "facebookexternalhit/1.1",
        "Some-Crawler/3.0",
    ] {
        let mut req = get("/try", "");
        req.user_agent = Some(ua);
        let o = handle(&req, &cfg, &rollout, &entropy(1));
        assert_eq!(o.cohort, Some(Cohort::Control), "{ua}");
        assert!(o.outcome.set_cookies.is_empty(), "{ua}");
    }
    let mut req = get("/try", "");
    req.verified_bot = true;
    assert!(handle(&req, &cfg, &rollout, &entropy(1))
        .outcome
        .set_cookies
        .is_empty());
}

#[test]
fn consent_refusal_uses_the_fallback_chain_and_sets_no_cookie() {
    let cfg = config(&[("CONSENT_COOKIE", "consent"), ("APP_SESSION_COOKIE", "sid")]);
    let facts = |cookie: &'static str, ip: &'static str| RequestFacts {
        cookie_header: cookie.as_bytes(),
        ip: Some(ip),
        user_agent: Some(CHROME_UA),
        ..RequestFacts::default()
    };
    let a = identity::resolve(
        &cfg.identity,
        &facts("consent=no; sid=abc", "192.0.2.1"),
        &[1; 16],
    );
    let b = identity::resolve(
        &cfg.identity,
        &facts("consent=no; sid=abc", "198.51.100.9"),
        &[2; 16],
    );
    assert_eq!(a.source, KeySource::AppSession);
    assert_eq!(
        a.targeting_key, b.targeting_key,
        "session key is sticky across IPs"
    );
    assert!(!a.targeting_key.contains("abc"), "nothing raw is used");
    let c = identity::resolve(&cfg.identity, &facts("consent=deny", "192.0.2.1"), &[3; 16]);
    let d = identity::resolve(&cfg.identity, &facts("consent=deny", "192.0.2.1"), &[4; 16]);
    assert_eq!(c.source, KeySource::IpUserAgent);
    assert_eq!(
        c.targeting_key, d.targeting_key,
        "IP + UA key is sticky across requests"
    );
    assert!(!c.targeting_key.contains("192.0.2.1"));
    assert!(c.set_uid.is_none());
    let e = identity::resolve(&cfg.identity, &facts("consent=yes", "192.0.2.1"), &[5; 16]);
    assert_eq!(e.source, KeySource::NewUid);
    let o = handle(
        &get("/try", "consent=0"),
        &cfg,
        &effective_rollout(Some(10_000)),
        &entropy(1),
    );
    assert!(o.outcome.set_cookies.is_empty());
    assert_eq!(o.cohort, Some(Cohort::Pilot));
}

#[test]
fn kill_switch_wins_over_the_flag_set() {
    assert_eq!(effective_rollout(None), None, "unset: the flag set decides");
    assert_eq!(effective_rollout(Some(0)).unwrap().basis_points, 0);
    assert_eq!(
        effective_rollout(Some(0)).unwrap().source,
        RolloutSource::KillSwitch
    );
    assert_eq!(
        effective_rollout(Some(1_000)).unwrap().source,
        RolloutSource::Vars
    );
    assert_eq!(effective_rollout(Some(1_000)).unwrap().basis_points, 1_000);
    // Every visitor is on in this set; PILOT_ROLLOUT_PCT=0 still sends all of them to control.
    let everyone = FlagSet::from_value(&serde_json::json!({"flags": {"pilot": {
        "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}))
    .unwrap();
    let cfg = config(&[]);
    for (rollout, want) in [(None, Cohort::Pilot), (Some(0), Cohort::Control)] {
        let decider = Decider {
            set: Some(&everyone),
            ..support::vars_decider(effective_rollout(rollout))
        };
        for seed in 0..50 {
            let o = support::handle_with(&get("/try", ""), &cfg, &decider, &entropy(seed));
            assert_eq!(o.cohort, Some(want), "{rollout:?}");
        }
    }
}

#[test]
fn non_gated_routes_pass_with_their_class_headers() {
    let cfg = config(&[("ISOLATED_ROUTES", "/lab*")]);
    let r = effective_rollout(Some(0));
    let o = handle(&get("/lab/x", ""), &cfg, &r, &entropy(1));
    assert_eq!(o.outcome.action, PASS);
    assert_eq!(
        header(&o.outcome, "Cross-Origin-Opener-Policy"),
        Some("same-origin")
    );
    assert!(o.outcome.set_cookies.is_empty() && o.cohort.is_none());
    let o = handle(&get("/about", ""), &cfg, &r, &entropy(1));
    assert_eq!(header(&o.outcome, "Cross-Origin-Opener-Policy"), None);
    assert_eq!(
        header(&o.outcome, "X-Content-Type-Options"),
        Some("nosniff")
    );
}

#[test]
fn request_id_comes_from_cf_ray_when_sane() {
    let cfg = config(&[]);
    let r = effective_rollout(Some(0));
    let mut req = get("/try", "");
    req.cf_ray = Some("8a1b2c3d4e5f6789-AMS");
    assert_eq!(
        handle(&req, &cfg, &r, &entropy(1)).outcome.request_id,
        "8a1b2c3d4e5f6789-AMS"
    );
    req.cf_ray = Some("<script>");
    assert_eq!(
        handle(&req, &cfg, &r, &entropy(1)).outcome.request_id,
        "0101010101010101"
    );
    let o = handle(&get("/about", ""), &cfg, &r, &entropy(2));
    assert_eq!(header(&o.outcome, "X-Request-Id"), Some("0202020202020202"));
}

/// The fallback of a config whose gate section is invalid.
fn fallback(vars: &[(&str, &str)]) -> GateFallback {
    match support::config(vars).gate {
        Ok(_) => panic!("the gate section should be invalid"),
        Err(down) => down.fallback,
    }
}

#[test]
fn misconfigured_worker_fails_closed_without_breaking_pages() {
    let fb = fallback(&[("PILOT_ROLLOUT_PCT", "1.5")]);
    let o = page_fail_closed(&get("/try", ""), &fb, "r".into());
    assert_eq!(o.action, Action::Redirect("/".into()));
    assert!(o.set_cookies.is_empty());
    assert_eq!(header(&o, "Cache-Control"), Some("private, no-store"));
    let o = page_fail_closed(&get("/", ""), &fb, "r".into());
    assert_eq!(o.action, PASS);
    let o = Outcome::api(Err(ApiError::Misconfigured), "r".into());
    let Action::Json(503, body) = &o.action else {
        panic!("{:?}", o.action)
    };
    assert_eq!(body["error"], "unavailable", "a generic body, no internals");
    assert_eq!(header(&o, "Retry-After"), Some("30"));
}

#[test]
fn fail_closed_routes_are_the_configured_ones() {
    // A bad variable of the gate keeps the operator's GATED_ROUTES closed, not the default.
    let fb = fallback(&[("GATED_ROUTES", "/beta*"), ("COEP", "bogus")]);
    let closed = |path| page_fail_closed(&get(path, ""), &fb, "r".into()).action;
    assert_eq!(closed("/beta/x"), Action::Redirect("/".into()));
    assert_eq!(closed("/try"), PASS);
    // Only an invalid GATED_ROUTES itself falls back to the default routes.
    let fb = fallback(&[("GATED_ROUTES", "beta")]);
    let closed = |path| page_fail_closed(&get(path, ""), &fb, "r".into()).action;
    assert_eq!(closed("/try/x"), Action::Redirect("/".into()));
    // Pages keep their upstream when PASS_THROUGH is valid.
    let fb = fallback(&[("PASS_THROUGH", "origin"), ("COOKIE_SECURE", "yes")]);
    let o = page_fail_closed(&get("/about", ""), &fb, "r".into());
    assert_eq!(o.action, Action::PassThrough(Upstream::Origin));
}

#[test]
fn an_identity_minted_past_its_nets_cap_is_capped_for_good_and_looks_like_any_other() {
    let cfg = config(&[]);
    let facts = |cookie: &'static str, capped: bool| RequestFacts {
        cookie_header: cookie.as_bytes(),
        ip: Some("203.0.113.7"),
        user_agent: Some(CHROME_UA),
        mint_capped: capped,
        ..RequestFacts::default()
    };
    assert!(identity::would_mint(&cfg.identity, &facts("", false)));
    let capped = identity::resolve(&cfg.identity, &facts("", true), &[9; 16]);
    let fine = identity::resolve(&cfg.identity, &facts("", false), &[9; 16]);
    assert_eq!(capped.source, KeySource::NewUid);
    assert!(capped.capped && !fine.capped);
    let (c, f) = (capped.set_uid.unwrap(), fine.set_uid.unwrap());
    // The same id, the same shape; only the tag differs (its label is the secret's).
    assert_eq!(c.len(), f.len());
    assert_eq!(c.split('.').nth(1), f.split('.').nth(1));
    assert_ne!(c, f);
    // It comes back capped on every later request, however it is sent.
    let cookie: &'static str = Box::leak(format!("pg_uid={c}").into_boxed_str());
    assert!(!identity::would_mint(&cfg.identity, &facts(cookie, false)));
    let back = identity::resolve(&cfg.identity, &facts(cookie, false), &[1; 16]);
    assert_eq!(back.source, KeySource::UidCookie);
    assert!(back.capped);
    assert_eq!(back.targeting_key, capped.targeting_key);
    // The net is the request's /24, whatever the cookie.
    let elsewhere = identity::resolve(
        &cfg.identity,
        &RequestFacts {
            ip: Some("203.0.113.250"),
            ..facts(cookie, false)
        },
        &[1; 16],
    );
    assert_eq!(elsewhere.net, back.net);
    // Visitors who refuse cookies (keys anybody can vary) enter no arm either.
    let cfg = config(&[("CONSENT_COOKIE", "consent")]);
    assert!(identity::resolve(&cfg.identity, &facts("consent=no", false), &[2; 16]).capped);
}
