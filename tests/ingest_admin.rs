//! The beacon's pure steps (headers, accept, enrichment, responses), CORS and the admin API.

use pilot_gate::admin::{authorized, parse_list_query, DEFAULT_LIMIT};
use pilot_gate::beacon::sign_body;
use pilot_gate::cohort::{effective_rollout, Rollout};
use pilot_gate::cors::{origin_allowed, origin_of};
use pilot_gate::error::BeaconError;
use pilot_gate::gate::Action;
use pilot_gate::identity::{Identity, KeySource};
use pilot_gate::ingest::{
    self, accept, check_headers, rate_limit_key, Accepted, EventsConfig, Sender,
};

const NOW: u64 = 1_800_000_000_000;

fn header<'o>(o: &'o pilot_gate::gate::Outcome, name: &str) -> Option<&'o str> {
    o.headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

fn sender<'a>(identity: &'a Identity, rollout: &'a Rollout) -> Sender<'a> {
    Sender {
        identity,
        rollout,
        country: None,
        request_id: "r",
    }
}

fn identity(source: KeySource) -> Identity {
    Identity {
        targeting_key: "0123456789abcdef0123456789abcdef".into(),
        source,
        set_uid: None,
    }
}

#[test]
fn content_type_and_declared_length() {
    let limits = EventsConfig::default().limits;
    for ok in [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain;charset=UTF-8",
        "Application/JSON",
    ] {
        assert_eq!(check_headers(Some(ok), None, &limits), Ok(()), "{ok}");
    }
    for bad in [
        None,
        Some(""),
        Some("application/xml"),
        Some("text/html"),
        Some("application/jsonx"),
    ] {
        assert_eq!(
            check_headers(bad, None, &limits),
            Err(BeaconError::UnsupportedMediaType),
            "{bad:?}"
        );
    }
    let too_large = Err(BeaconError::BodyTooLarge {
        limit_bytes: 51_200,
    });
    assert_eq!(
        check_headers(Some("text/plain"), Some("51200"), &limits),
        Ok(())
    );
    assert_eq!(
        check_headers(Some("text/plain"), Some("51201"), &limits),
        too_large
    );
    assert_eq!(
        check_headers(Some("text/plain"), Some("-1"), &limits),
        too_large
    );
    assert_eq!(
        check_headers(Some("text/plain"), Some("99999999999999999999999"), &limits),
        too_large
    );
    // Content-Type comes first: a huge body of the wrong type is 415.
    assert_eq!(
        check_headers(Some("image/png"), Some("99999999"), &limits),
        Err(BeaconError::UnsupportedMediaType)
    );
}

#[test]
fn accept_enriches_with_cohort_country_and_request_id() {
    let cfg = EventsConfig::default();
    let rollout = effective_rollout(10_000, None);
    let id = identity(KeySource::UidCookie);
    let sender = Sender {
        country: Some("NL"),
        request_id: "req-1",
        ..sender(&id, &rollout)
    };
    let body = format!(r#"[{{"name":"a","ts":{NOW}}},{{"name":"b","ts":{NOW}}}]"#);
    let Ok(Accepted::Enqueue(batch)) = accept(body.as_bytes(), None, NOW + 5, &cfg, &sender) else {
        panic!("not accepted")
    };
    assert_eq!(batch.events.len(), 2);
    for e in &batch.events {
        assert_eq!(e.received_at, NOW + 5);
        assert_eq!(e.cohorts.get("pilot").map(String::as_str), Some("pilot"));
        assert_eq!(e.country.as_deref(), Some("NL"));
        assert_eq!(e.request_id, "req-1");
    }
    // A sender without a valid pg_uid has no cohort recorded.
    let fresh = identity(KeySource::NewUid);
    let sender = Sender {
        identity: &fresh,
        ..sender
    };
    let Ok(Accepted::Enqueue(batch)) = accept(body.as_bytes(), None, NOW, &cfg, &sender) else {
        panic!()
    };
    assert!(batch.events[0].cohorts.is_empty());
}

#[test]
fn bots_are_validated_but_not_counted() {
    let cfg = EventsConfig::default();
    let rollout = effective_rollout(10_000, None);
    let bot = identity(KeySource::Bot);
    let sender = sender(&bot, &rollout);
    let body = format!(r#"{{"name":"a","ts":{NOW}}}"#);
    assert_eq!(
        accept(body.as_bytes(), None, NOW, &cfg, &sender),
        Ok(Accepted::IgnoreBot { events: 1 })
    );
    assert!(
        accept(b"[]", None, NOW, &cfg, &sender).is_err(),
        "still validated"
    );
}

#[test]
fn signature_is_checked_before_the_schema() {
    let cfg = EventsConfig {
        hmac_secret: Some(b"s3cret".to_vec()),
        hmac_required: true,
        ..Default::default()
    };
    let rollout = effective_rollout(0, None);
    let id = identity(KeySource::NewUid);
    let sender = sender(&id, &rollout);
    assert_eq!(
        accept(b"not json", None, NOW, &cfg, &sender),
        Err(BeaconError::BadSignature { missing: true })
    );
    let body = format!(r#"{{"name":"a","ts":{NOW}}}"#);
    let sig = sign_body(b"s3cret", body.as_bytes());
    assert!(accept(body.as_bytes(), Some(&sig), NOW, &cfg, &sender).is_ok());
}

#[test]
fn error_outcomes_carry_their_headers() {
    let o = ingest::outcome(
        Err(BeaconError::RateLimited { retry_after_s: 60 }),
        "r".into(),
        None,
    );
    assert!(matches!(&o.action, Action::Json(429, b) if b["error"] == "rate_limited"));
    assert_eq!(header(&o, "Retry-After"), Some("60"));
    assert_eq!(header(&o, "Cache-Control"), Some("no-store"));
    let o = ingest::outcome(Err(BeaconError::Unavailable), "r".into(), None);
    assert!(matches!(&o.action, Action::Json(503, b) if b["detail"] == "try again later"));
    assert_eq!(header(&o, "Retry-After"), Some("5"));
    let o = ingest::outcome(Err(BeaconError::MethodNotAllowed), "r".into(), None);
    assert_eq!(header(&o, "Allow"), Some("POST, OPTIONS, GET, DELETE"));
    let o = ingest::outcome(
        Ok((202, serde_json::json!({"accepted": 1}))),
        "r".into(),
        Some("https://app.example"),
    );
    assert_eq!(
        header(&o, "Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert_eq!(header(&o, "Vary"), Some("Origin, Cookie"));
    let p = ingest::preflight("r".into(), "https://app.example");
    assert_eq!(p.action, Action::NoContent);
    assert_eq!(
        header(&p, "Access-Control-Allow-Headers"),
        Some("Content-Type, X-Pilot-Signature")
    );
}

#[test]
fn every_beacon_error_has_a_client_status_and_a_code() {
    let all = [
        BeaconError::MethodNotAllowed,
        BeaconError::OriginNotAllowed,
        BeaconError::RateLimited { retry_after_s: 1 },
        BeaconError::UnsupportedMediaType,
        BeaconError::BodyTooLarge { limit_bytes: 1 },
        BeaconError::BadSignature { missing: true },
        BeaconError::InvalidJson { detail: "x".into() },
        BeaconError::EmptyBatch,
        BeaconError::TooManyEvents { limit: 1 },
        BeaconError::InvalidEvent {
            index: 3,
            field: "name".into(),
            detail: "bad".into(),
        },
        BeaconError::PropsTooLarge {
            index: 2,
            limit_bytes: 1,
        },
        BeaconError::Unauthorized,
        BeaconError::BadQuery { detail: "x".into() },
        BeaconError::Unavailable,
    ];
    let statuses: Vec<u16> = all.iter().map(BeaconError::status).collect();
    assert_eq!(
        statuses,
        [405, 403, 429, 415, 413, 401, 400, 400, 400, 400, 413, 401, 400, 503]
    );
    for e in &all {
        assert_eq!(
            e.retry_after_s().is_some(),
            matches!(e.status(), 429 | 503),
            "{e:?}"
        );
        assert!(!e.body().error.is_empty());
    }
    assert_eq!(all[9].body().index, Some(3));
    assert_eq!(all[9].body().detail, "name: bad");
}

#[test]
fn cors_origins() {
    let allowed = vec!["https://app.example".to_owned()];
    assert!(origin_allowed(None, "http://127.0.0.1:8787", &allowed));
    assert!(origin_allowed(
        Some("http://127.0.0.1:8787"),
        "http://127.0.0.1:8787",
        &allowed
    ));
    assert!(origin_allowed(
        Some("https://app.example"),
        "http://x",
        &allowed
    ));
    assert!(!origin_allowed(
        Some("https://app.example.evil"),
        "http://x",
        &allowed
    ));
    assert!(!origin_allowed(Some("null"), "http://x", &allowed));
    assert!(origin_allowed(
        Some("https://any"),
        "http://x",
        &["*".to_owned()]
    ));
    assert_eq!(
        origin_of("https://a.example/api/events?x=1#f"),
        "https://a.example"
    );
    assert_eq!(origin_of("http://127.0.0.1:8787"), "http://127.0.0.1:8787");
    assert_eq!(origin_of("http://h:1?q"), "http://h:1");
}

#[test]
fn admin_token_and_query() {
    assert!(authorized(Some("Bearer tok-123"), Some("tok-123")));
    assert!(!authorized(Some("Bearer tok-124"), Some("tok-123")));
    assert!(!authorized(Some("Bearer tok-123x"), Some("tok-123")));
    assert!(!authorized(Some("Basic tok-123"), Some("tok-123")));
    assert!(!authorized(None, Some("tok-123")));
    assert!(
        !authorized(Some("Bearer "), None),
        "no token configured closes the admin API"
    );
    let q = parse_list_query("http://h/api/events").unwrap();
    assert_eq!(
        (q.limit, q.name, q.count_only),
        (DEFAULT_LIMIT, None, false)
    );
    let q =
        parse_list_query("http://h/api/events?limit=1000&name=mic%5Fgranted&count=true#x").unwrap();
    assert_eq!(
        (q.limit, q.name.as_deref(), q.count_only),
        (1000, Some("mic_granted"), true)
    );
    assert_eq!(
        parse_list_query("http://h/?name=a+b%zz")
            .unwrap()
            .name
            .as_deref(),
        Some("a b%zz")
    );
    for bad in [
        "?limit=0",
        "?limit=1001",
        "?limit=-1",
        "?limit=",
        "?limit=1e3",
    ] {
        assert!(
            matches!(
                parse_list_query(&format!("http://h/{bad}")),
                Err(BeaconError::BadQuery { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn rate_limit_key_hides_the_client() {
    let a = rate_limit_key(Some("192.0.2.1"), Some("UA"));
    assert_eq!(a, rate_limit_key(Some("192.0.2.1"), Some("UA")));
    assert_ne!(a, rate_limit_key(Some("192.0.2.1"), Some("UB")));
    assert_ne!(a, rate_limit_key(Some("192.0.2.2"), Some("UA")));
    assert!(!a.contains("192.0.2.1"));
}
