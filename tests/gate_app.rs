//! The gate as an app function, without a server: routing, the header table, identity, cookies.

use std::collections::HashMap;

use pilot_gate::cohort::{effective_rollout, Cohort, RolloutSource, StoredRollout};
use pilot_gate::config::Config;
use pilot_gate::gate::{handle, handle_misconfigured, Action, Entropy, GateRequest, Outcome};
use pilot_gate::identity::{self, sign_uid, verify_uid, IdentityInputs, KeySource};
use pilot_gate::policy::{headers_for, Coep, RouteClass};

const SECRET: &str = "0123456789abcdef0123456789abcdef";
const CHROME_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36";

fn config(vars: &[(&str, &str)]) -> Config {
    let mut map: HashMap<&str, &str> = HashMap::from([("COOKIE_SECRET", SECRET)]);
    map.extend(vars.iter().copied());
    Config::from_lookup(|n| map.get(n).map(|v| (*v).to_owned())).unwrap()
}

fn entropy(seed: u8) -> Entropy {
    Entropy {
        uid: [seed; 16],
        request_id: [seed; 8],
    }
}

fn get<'a>(path: &'a str, cookie: &'a str) -> GateRequest<'a> {
    GateRequest {
        method: "GET",
        path,
        identity: IdentityInputs {
            cookie_header: cookie.as_bytes(),
            ip: Some("192.0.2.1"),
            user_agent: Some(CHROME_UA),
            verified_bot: false,
        },
        cf_ray: None,
    }
}

fn header<'o>(o: &'o Outcome, name: &str) -> Option<&'o str> {
    o.headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

/// The `pg_uid=...` value of a Set-Cookie list.
fn uid_cookie(o: &Outcome) -> Option<String> {
    o.set_cookies
        .iter()
        .find_map(|c| c.strip_prefix("pg_uid="))
        .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
}

/// Finds random entropy whose fresh visitor lands in the wanted cohort at `bp`.
fn visitor_in(cohort: Cohort, bp: u32) -> (Entropy, String) {
    let cfg = config(&[]);
    let rollout = effective_rollout(bp, None);
    (0..=255u8)
        .map(entropy)
        .find_map(|e| {
            let o = handle(&get("/try", ""), &cfg, &rollout, &e);
            (o.cohort == Some(cohort)).then(|| (e, uid_cookie(&o).unwrap()))
        })
        .expect("some seed lands in each cohort at this rollout")
}

#[test]
fn header_table_matches_the_design() {
    let gated = headers_for(RouteClass::Gated, Coep::RequireCorp);
    for h in [
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Embedder-Policy", "require-corp"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Cache-Control", "private, no-store"),
        ("Vary", "Cookie"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ] {
        assert!(gated.contains(&h), "gated lacks {h:?}");
    }
    let api = headers_for(RouteClass::Api, Coep::RequireCorp);
    assert!(api.contains(&("Cache-Control", "no-store")));
    assert!(api.contains(&("Vary", "Cookie")));
    assert!(!api.iter().any(|(k, _)| k.starts_with("Cross-Origin")));
    let isolated = headers_for(RouteClass::Isolated, Coep::Credentialless);
    assert!(isolated.contains(&("Cross-Origin-Embedder-Policy", "credentialless")));
    assert!(!isolated.iter().any(|(k, _)| *k == "Cache-Control"));
    assert_eq!(headers_for(RouteClass::Other, Coep::RequireCorp).len(), 2);
}

#[test]
fn healthz_reports_the_effective_rollout() {
    let cfg = config(&[("PILOT_ROLLOUT_PCT", "0.25")]);
    let o = handle(
        &get("/api/healthz", ""),
        &cfg,
        &effective_rollout(cfg.rollout_bp, None),
        &entropy(1),
    );
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
fn api_errors_are_json_with_the_right_status() {
    let cfg = config(&[]);
    let r = effective_rollout(0, None);
    let mut post = get("/api/healthz", "");
    post.method = "POST";
    let o = handle(&post, &cfg, &r, &entropy(1));
    assert!(matches!(&o.action, Action::Json(405, b) if b["error"] == "method_not_allowed"));
    assert_eq!(header(&o, "Allow"), Some("GET, HEAD"));
    let o = handle(&get("/api/nope", ""), &cfg, &r, &entropy(1));
    assert!(matches!(&o.action, Action::Json(404, b) if b["error"] == "not_found"));
}

#[test]
fn pilot_passes_through_and_control_is_redirected() {
    let cfg = config(&[]);
    let (e, _) = visitor_in(Cohort::Pilot, 5_000);
    let o = handle(&get("/try", ""), &cfg, &effective_rollout(5_000, None), &e);
    assert_eq!(o.action, Action::PassThrough);
    assert!(o
        .set_cookies
        .iter()
        .any(|c| c.starts_with("pilot_cohort=pilot;")));
    let (e, _) = visitor_in(Cohort::Control, 5_000);
    let o = handle(
        &get("/try/deeper", ""),
        &cfg,
        &effective_rollout(5_000, None),
        &e,
    );
    assert_eq!(o.action, Action::Redirect("/".into()));
    assert_eq!(header(&o, "Cache-Control"), Some("private, no-store"));
    assert!(o
        .set_cookies
        .iter()
        .any(|c| c.starts_with("pilot_cohort=control;")));
}

#[test]
fn returning_visitor_keeps_cohort_and_gets_no_new_cookies() {
    let cfg = config(&[]);
    let rollout = effective_rollout(5_000, None);
    for cohort in [Cohort::Pilot, Cohort::Control] {
        let (_, uid) = visitor_in(cohort, 5_000);
        let cookie = format!("pg_uid={uid}; pilot_cohort={}", cohort.as_str());
        for seed in 0..20 {
            let o = handle(&get("/try", &cookie), &cfg, &rollout, &entropy(seed));
            assert_eq!(o.cohort, Some(cohort));
            assert!(o.set_cookies.is_empty(), "{:?}", o.set_cookies);
        }
    }
}

#[test]
fn cohort_cookie_is_never_trusted() {
    let cfg = config(&[]);
    let rollout = effective_rollout(5_000, None);
    let (_, uid) = visitor_in(Cohort::Control, 5_000);
    let o = handle(
        &get("/try", &format!("pg_uid={uid}; pilot_cohort=pilot")),
        &cfg,
        &rollout,
        &entropy(9),
    );
    assert_eq!(o.action, Action::Redirect("/".into()));
    assert_eq!(
        o.set_cookies.len(),
        1,
        "only the cohort cookie is corrected"
    );
    assert!(o.set_cookies[0].starts_with("pilot_cohort=control;"));
}

#[test]
fn forged_tampered_or_malformed_uid_is_replaced_once() {
    let cfg = config(&[]);
    let rollout = effective_rollout(5_000, None);
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
        let minted = uid_cookie(&o).expect("a fresh pg_uid is set");
        assert_ne!(minted, bad);
        assert_eq!(
            verify_uid(SECRET.as_bytes(), &minted),
            Some(identity::hex(&[3; 16]).as_str())
        );
        assert_eq!(
            o.set_cookies
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
    assert_eq!(uid_cookie(&o), None);
}

#[test]
fn uid_cookie_attributes() {
    let cfg = config(&[]);
    let o = handle(
        &get("/try", ""),
        &cfg,
        &effective_rollout(5_000, None),
        &entropy(1),
    );
    let uid = o
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
    let rollout = effective_rollout(10_000, None);
    for ua in [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0)",
        "facebookexternalhit/1.1",
        "Some-Crawler/3.0",
    ] {
        let mut req = get("/try", "");
        req.identity.user_agent = Some(ua);
        let o = handle(&req, &cfg, &rollout, &entropy(1));
        assert_eq!(o.cohort, Some(Cohort::Control), "{ua}");
        assert!(o.set_cookies.is_empty(), "{ua}");
    }
    let mut req = get("/try", "");
    req.identity.verified_bot = true;
    assert!(handle(&req, &cfg, &rollout, &entropy(1))
        .set_cookies
        .is_empty());
}

#[test]
fn consent_refusal_uses_the_fallback_chain_and_sets_no_cookie() {
    let cfg = config(&[("CONSENT_COOKIE", "consent"), ("APP_SESSION_COOKIE", "sid")]);
    let facts = |cookie: &'static str, ip: &'static str| IdentityInputs {
        cookie_header: cookie.as_bytes(),
        ip: Some(ip),
        user_agent: Some(CHROME_UA),
        verified_bot: false,
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
        &effective_rollout(10_000, None),
        &entropy(1),
    );
    assert!(o.set_cookies.is_empty());
    assert_eq!(o.cohort, Some(Cohort::Pilot));
}

#[test]
fn kill_switch_wins_over_stored_config() {
    let stored = Some(StoredRollout {
        basis_points: 10_000,
    });
    assert_eq!(effective_rollout(0, stored).basis_points, 0);
    assert_eq!(
        effective_rollout(0, stored).source,
        RolloutSource::KillSwitch
    );
    assert_eq!(
        effective_rollout(1_000, stored).source,
        RolloutSource::Stored
    );
    assert_eq!(effective_rollout(1_000, None).basis_points, 1_000);
    let cfg = config(&[]);
    for seed in 0..50 {
        let o = handle(
            &get("/try", ""),
            &cfg,
            &effective_rollout(0, None),
            &entropy(seed),
        );
        assert_eq!(o.cohort, Some(Cohort::Control));
    }
}

#[test]
fn non_gated_routes_pass_with_their_class_headers() {
    let cfg = config(&[("ISOLATED_ROUTES", "/lab*")]);
    let r = effective_rollout(0, None);
    let o = handle(&get("/lab/x", ""), &cfg, &r, &entropy(1));
    assert_eq!(o.action, Action::PassThrough);
    assert_eq!(
        header(&o, "Cross-Origin-Opener-Policy"),
        Some("same-origin")
    );
    assert!(o.set_cookies.is_empty() && o.cohort.is_none());
    let o = handle(&get("/about", ""), &cfg, &r, &entropy(1));
    assert_eq!(header(&o, "Cross-Origin-Opener-Policy"), None);
    assert_eq!(header(&o, "X-Content-Type-Options"), Some("nosniff"));
}

#[test]
fn request_id_comes_from_cf_ray_when_sane() {
    let cfg = config(&[]);
    let r = effective_rollout(0, None);
    let mut req = get("/api/healthz", "");
    req.cf_ray = Some("8a1b2c3d4e5f6789-AMS");
    assert_eq!(
        handle(&req, &cfg, &r, &entropy(1)).request_id,
        "8a1b2c3d4e5f6789-AMS"
    );
    req.cf_ray = Some("<script>");
    assert_eq!(
        handle(&req, &cfg, &r, &entropy(1)).request_id,
        "0101010101010101"
    );
    let o = handle(&get("/api/healthz", ""), &cfg, &r, &entropy(2));
    assert_eq!(header(&o, "X-Request-Id"), Some("0202020202020202"));
}

#[test]
fn misconfigured_worker_fails_closed_without_breaking_pages() {
    let o = handle_misconfigured(&get("/try", ""), &entropy(1));
    assert_eq!(o.action, Action::Redirect("/".into()));
    assert!(o.set_cookies.is_empty());
    let o = handle_misconfigured(&get("/api/healthz", ""), &entropy(1));
    let Action::Json(503, body) = &o.action else {
        panic!("{:?}", o.action)
    };
    assert_eq!(body["error"], "unavailable", "a generic body, no internals");
    assert_eq!(header(&o, "Retry-After"), Some("30"));
    let o = handle_misconfigured(&get("/", ""), &entropy(1));
    assert_eq!(o.action, Action::PassThrough);
}

#[test]
fn gate_errors_have_one_status_and_generic_5xx_bodies() {
    use pilot_gate::error::GateError;
    use pilot_gate::gate::{error, error_headers};
    let all = [
        GateError::NotFound,
        GateError::MethodNotAllowed { allow: "GET" },
        GateError::Misconfigured,
        GateError::UpstreamUnavailable,
        GateError::Internal,
    ];
    let statuses: Vec<u16> = all.iter().map(GateError::status).collect();
    assert_eq!(statuses, [404, 405, 503, 503, 500]);
    for e in &all {
        let Action::Json(status, body) = error(e) else {
            panic!()
        };
        assert_eq!(status, e.status());
        if status >= 500 {
            assert_eq!(body["detail"], "try again later", "{e:?}");
        }
        let retry = error_headers(e).iter().any(|(k, _)| *k == "Retry-After");
        assert_eq!(retry, status == 503, "{e:?}");
    }
}
