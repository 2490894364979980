//! The beacon's pure steps (headers, accept, enrichment, the queue message), its errors and
//! the admin listing's query.

use pilot_gate_core::events::config::EventsConfig;
use pilot_gate_core::events::error::EventsError;
use pilot_gate_core::events::ingest::{accept, check_headers, rate_limit_key, Accepted, Sender};
use pilot_gate_core::events::listing::{parse_list_query, DEFAULT_LIMIT};
use pilot_gate_core::events::record::QueuedBatch;
use pilot_gate_core::evidence::unit::Unit;
use pilot_gate_core::gate::cohort::{effective_rollout, Decider};
use pilot_gate_core::gate::identity::{Identity, KeySource};
use pilot_gate_core::http::outcome::{Action, Outcome};
use pilot_gate_core::http::problem::{ApiError, Problem};
use pilot_gate_core::http::request::RequestFacts;
use pilot_gate_core::sign_body;

use crate::support::{header, identity, vars_decider, NOW};

fn sender<'a>(identity: &'a Identity, decider: &'a Decider<'a>) -> Sender<'a> {
    Sender {
        identity,
        decider,
        country: None,
        request_id: "r",
        unit: None,
        net: None,
    }
}

/// The batch a message carries, as the consumer reads it.
fn enqueued(a: Result<Accepted, EventsError>) -> QueuedBatch {
    let Ok(Accepted::Enqueue { message, events }) = a else {
        panic!("not accepted: {a:?}")
    };
    let batch: QueuedBatch = serde_json::from_str(&message).unwrap();
    assert_eq!(batch.events.len(), events);
    batch
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
            Err(EventsError::UnsupportedMediaType),
            "{bad:?}"
        );
    }
    let too_large = Err(EventsError::BodyTooLarge {
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
        Err(EventsError::UnsupportedMediaType)
    );
}

#[test]
fn accept_enriches_with_variants_country_and_request_id() {
    let cfg = EventsConfig::default();
    let rollout = vars_decider(effective_rollout(Some(10_000)));
    let id = identity(KeySource::UidCookie);
    let sender = Sender {
        country: Some("NL"),
        request_id: "req-1",
        unit: Some(Unit(42)),
        ..sender(&id, &rollout)
    };
    let body = format!(r#"[{{"name":"a","ts":{NOW}}},{{"name":"b","ts":{NOW}}}]"#);
    let batch = enqueued(accept(body.as_bytes(), None, NOW + 5, &cfg, &sender));
    assert_eq!(batch.events.len(), 2);
    for e in &batch.events {
        assert_eq!(e.received_at, NOW + 5);
        assert_eq!(e.flags.get("pilot").map(String::as_str), Some("on"));
        assert_eq!(e.country.as_deref(), Some("NL"));
        assert_eq!(e.request_id, "req-1");
        assert_eq!(e.unit, Some(Unit(42)), "the signed sender's unit");
    }
    // A sender without a valid pg_uid has no variants and no unit recorded.
    let fresh = identity(KeySource::NewUid);
    let sender = Sender {
        identity: &fresh,
        ..sender
    };
    let batch = enqueued(accept(body.as_bytes(), None, NOW, &cfg, &sender));
    assert!(batch.events[0].flags.is_empty());
    assert_eq!(batch.events[0].unit, None);
}

#[test]
fn bots_are_validated_but_not_counted() {
    let cfg = EventsConfig::default();
    let rollout = vars_decider(effective_rollout(Some(10_000)));
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
    let rollout = vars_decider(effective_rollout(Some(0)));
    let id = identity(KeySource::NewUid);
    let sender = sender(&id, &rollout);
    assert_eq!(
        accept(b"not json", None, NOW, &cfg, &sender),
        Err(EventsError::BadSignature { missing: true })
    );
    let body = format!(r#"{{"name":"a","ts":{NOW}}}"#);
    let sig = sign_body(b"s3cret", body.as_bytes());
    assert!(accept(body.as_bytes(), Some(&sig), NOW, &cfg, &sender).is_ok());
}

#[test]
fn error_outcomes_carry_their_headers() {
    let api = |e: EventsError| Outcome::api(Err(e), "r".into());
    let o = api(ApiError::RateLimited { retry_after_s: 60 }.into());
    assert!(matches!(&o.action, Action::Json(429, b) if b["error"] == "rate_limited"));
    assert_eq!(header(&o, "Retry-After"), Some("60"));
    assert_eq!(header(&o, "Cache-Control"), Some("no-store"));
    let o = api(ApiError::Unavailable.into());
    assert!(matches!(&o.action, Action::Json(503, b) if b["detail"] == "try again later"));
    assert_eq!(header(&o, "Retry-After"), Some("5"));
    let o = api(EventsError::InvalidEvent {
        index: 3,
        field: "name".into(),
        detail: "bad".into(),
    });
    assert!(
        matches!(&o.action, Action::Json(400, b) if b["index"] == 3 && b["detail"] == "name: bad")
    );
}

#[test]
fn every_events_error_has_a_client_status_and_a_code() {
    let all = [
        EventsError::Api(ApiError::MethodNotAllowed {
            allow: "POST".into(),
        }),
        EventsError::OriginNotAllowed,
        EventsError::Api(ApiError::RateLimited { retry_after_s: 1 }),
        EventsError::UnsupportedMediaType,
        EventsError::BodyTooLarge { limit_bytes: 1 },
        EventsError::BadSignature { missing: true },
        EventsError::InvalidJson { detail: "x".into() },
        EventsError::EmptyBatch,
        EventsError::TooManyEvents { limit: 1 },
        EventsError::InvalidEvent {
            index: 3,
            field: "name".into(),
            detail: "bad".into(),
        },
        EventsError::PropsTooLarge {
            index: 2,
            limit_bytes: 1,
        },
        EventsError::Api(ApiError::Unauthorized {
            token: "ADMIN_TOKEN",
        }),
        EventsError::BadQuery { detail: "x".into() },
        EventsError::Api(ApiError::Unavailable),
        EventsError::BatchTooLarge {
            stored_bytes: 2,
            limit_bytes: 1,
        },
    ];
    let statuses: Vec<u16> = all.iter().map(Problem::status).collect();
    assert_eq!(
        statuses,
        [405, 403, 429, 415, 413, 401, 400, 400, 400, 400, 413, 401, 400, 503, 413]
    );
    for e in &all {
        let retry = e.headers().iter().any(|(k, _)| *k == "Retry-After");
        assert_eq!(retry, matches!(e.status(), 429 | 503), "{e:?}");
        assert!(!e.code().is_empty());
    }
    assert_eq!(all[9].index(), Some(3));
    assert_eq!(all[9].detail(), "name: bad");
}

#[test]
fn admin_list_query() {
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
                Err(EventsError::BadQuery { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn rate_limit_key_is_the_signed_identity_else_the_ip_never_the_user_agent() {
    let ip_only = |ip, ua| {
        let facts = RequestFacts {
            ip: Some(ip),
            user_agent: Some(ua),
            ..RequestFacts::default()
        };
        let who = Identity {
            targeting_key: pilot_gate_core::gate::identity::hashed_key("ip-ua", &[ip, ua]),
            source: KeySource::IpUserAgent,
            set_uid: None,
            net: None,
            capped: true,
        };
        rate_limit_key(&who, facts.ip)
    };
    let a = ip_only("192.0.2.1", "UA");
    // A client that rotates its User-Agent keeps its key.
    assert_eq!(a, ip_only("192.0.2.1", "UB"));
    assert_ne!(a, ip_only("192.0.2.2", "UA"));
    assert!(!a.contains("192.0.2.1"), "nothing raw: {a}");
    // A fresh (unsigned, just minted) id is not an identity yet: the IP decides.
    let minted = identity(KeySource::NewUid);
    assert_eq!(rate_limit_key(&minted, Some("192.0.2.1")), a);
    // A signed identity has its own key wherever it comes from, and it is not its IP's.
    let signed = identity(KeySource::UidCookie);
    let at_home = rate_limit_key(&signed, Some("192.0.2.1"));
    assert_eq!(at_home, rate_limit_key(&signed, Some("198.51.100.7")));
    assert_ne!(at_home, a);
    let other = Identity {
        targeting_key: "fedcba9876543210fedcba9876543210".into(),
        ..identity(KeySource::UidCookie)
    };
    assert_ne!(rate_limit_key(&other, Some("192.0.2.1")), at_home);
    assert!(
        !at_home.contains("0123456789abcdef"),
        "nothing raw: {at_home}"
    );
}
