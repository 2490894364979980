//! Beacon parsing and validation: shapes, schema, limits, signatures, ids, keys, and property
//! tests over arbitrary bytes.

use pilot_gate_core::events::error::EventsError;
use pilot_gate_core::events::limits::Limits;
use pilot_gate_core::events::record::{plan_writes, request_key, QueuedBatch, StoredEvent};
use pilot_gate_core::events::schema::{derived_id, parse_batch, Event};
use pilot_gate_core::events::signature::{sign_body, verify_signature};
use pilot_gate_core::http::problem::Problem;
use proptest::prelude::*;

use crate::support::NOW;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn parse(body: &str) -> Result<Vec<Event>, EventsError> {
    parse_batch(body.as_bytes(), NOW, &Limits::default())
}

fn event(name: &str) -> String {
    format!(r#"{{"v":1,"id":"evt-{name}-0001","name":"{name}","ts":{NOW}}}"#)
}

fn field_of(e: EventsError) -> (usize, String) {
    match e {
        EventsError::InvalidEvent { index, field, .. } => (index, field),
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
}

#[test]
fn three_shapes_are_accepted() {
    assert_eq!(parse(&event("a")).unwrap().len(), 1);
    assert_eq!(
        parse(&format!("[{},{}]", event("a"), event("b")))
            .unwrap()
            .len(),
        2
    );
    let env = parse(&format!(r#"{{"events":[{},{}]}}"#, event("a"), event("b"))).unwrap();
    assert_eq!(
        env.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[test]
fn empty_and_oversized_batches_are_rejected() {
    assert_eq!(parse("[]"), Err(EventsError::EmptyBatch));
    assert_eq!(parse(r#"{"events":[]}"#), Err(EventsError::EmptyBatch));
    let many = format!("[{}]", vec![event("a"); 101].join(","));
    assert_eq!(parse(&many), Err(EventsError::TooManyEvents { limit: 100 }));
    let hundred = format!("[{}]", vec![event("a"); 100].join(","));
    assert_eq!(parse(&hundred).unwrap().len(), 100);
}

#[test]
fn malformed_bodies_are_invalid_json() {
    for body in [
        "",
        " ",
        "{",
        "nul",
        "42",
        "\"str\"",
        "[1,]",
        r#"{"events":[],"x":1}"#,
    ] {
        assert!(
            matches!(
                parse(body),
                Err(EventsError::InvalidJson { .. }) | Err(EventsError::EmptyBatch)
            ),
            "{body:?} gave {:?}",
            parse(body)
        );
    }
    assert!(matches!(
        parse_batch(b"{\"name\":\"\xff\"}", NOW, &Limits::default()),
        Err(EventsError::InvalidJson { .. })
    ));
    let deep = "[".repeat(200) + &"]".repeat(200);
    assert!(matches!(
        parse(&deep),
        Err(EventsError::InvalidEvent { .. })
    ));
    let deep_props = format!(
        r#"{{"name":"a","ts":{NOW},"props":{}1{}}}"#,
        r#"{"a":"#.repeat(200),
        "}".repeat(200)
    );
    assert_eq!(parse(&deep_props).unwrap_err().status(), 400);
}

#[test]
fn schema_errors_name_the_index_and_field() {
    let bad_second = format!("[{},{}]", event("ok"), r#"{"name":"Bad Name","ts":1}"#);
    assert_eq!(
        field_of(parse(&bad_second).unwrap_err()),
        (1, "name".to_owned())
    );
    let cases = [
        (format!(r#"{{"name":"a","ts":{}}}"#, NOW - 8 * DAY_MS), "ts"),
        (
            format!(r#"{{"name":"a","ts":{}}}"#, NOW + 6 * 60 * 1000),
            "ts",
        ),
        (r#"{"name":"a","ts":"now"}"#.to_owned(), "ts"),
        (r#"{"name":"a","ts":1e400}"#.to_owned(), "ts"),
        (
            format!(r#"{{"name":"a","ts":{NOW},"props":{{"n":1e400}}}}"#),
            "props.n",
        ),
        (r#"{"name":"a","ts":18446744073709551615}"#.to_owned(), "ts"),
        (format!(r#"{{"name":"a","ts":{NOW},"id":"short"}}"#), "id"),
        (
            format!(r#"{{"name":"a","ts":{NOW},"id":"has space 123"}}"#),
            "id",
        ),
        (
            format!(r#"{{"name":"{}","ts":{NOW}}}"#, "a".repeat(65)),
            "name",
        ),
        (format!(r#"{{"name":"","ts":{NOW}}}"#), "name"),
        (format!(r#"{{"name":7,"ts":{NOW}}}"#), "name"),
        (format!(r#"{{"name":"a","ts":{NOW},"props":[1]}}"#), "props"),
        (format!(r#"{{"name":"a","ts":{NOW},"props":"x"}}"#), "props"),
        (format!(r#"{{"name":"a","ts":{NOW},"v":2}}"#), "v"),
        (format!(r#"{{"name":"a","ts":{NOW},"extra":1}}"#), "extra"),
        (format!(r#"{{"name":"a","name":"b","ts":{NOW}}}"#), "name"),
        (format!(r#"{{"ts":{NOW}}}"#), "name"),
    ];
    for (body, field) in cases {
        let err = parse(&body);
        match err {
            Err(e) => assert_eq!(field_of(e), (0, field.to_owned()), "{body}"),
            Ok(_) => panic!("{body} was accepted"),
        }
    }
}

#[test]
fn props_limit_is_exact() {
    let limits = Limits::default();
    // {"k":"<pad>"} serializes to 8 + pad bytes.
    let props = |pad: usize| format!(r#"{{"k":"{}"}}"#, "x".repeat(pad));
    let body = |pad: usize| format!(r#"{{"name":"a","ts":{NOW},"props":{}}}"#, props(pad));
    assert!(parse(&body(limits.max_props_bytes - 8)).is_ok());
    assert_eq!(
        parse(&body(limits.max_props_bytes - 7)),
        Err(EventsError::PropsTooLarge {
            index: 0,
            limit_bytes: 10_240
        })
    );
}

#[test]
fn body_limit_is_exact() {
    let limits = Limits {
        max_body_bytes: 100,
        ..Limits::default()
    };
    let base = format!(r#"{{"name":"a","ts":{NOW}}}"#);
    let at_limit = format!("{base}{}", " ".repeat(100 - base.len()));
    assert!(parse_batch(at_limit.as_bytes(), NOW, &limits).is_ok());
    let over = format!("{at_limit} ");
    assert_eq!(
        parse_batch(over.as_bytes(), NOW, &limits),
        Err(EventsError::BodyTooLarge { limit_bytes: 100 })
    );
}

#[test]
fn missing_id_is_derived_from_canonical_bytes() {
    let a = parse(&format!(
        r#"{{"name":"a","ts":{NOW},"props":{{"x":1,"y":2}}}}"#
    ))
    .unwrap();
    let b = parse(&format!(
        r#"{{ "props":{{"y":2, "x":1}}, "ts":{NOW}, "name":"a" }}"#
    ))
    .unwrap();
    let c = parse(&format!(
        r#"{{"name":"a","ts":{},"props":{{"x":1,"y":2}}}}"#,
        NOW + 1
    ))
    .unwrap();
    assert_eq!(a[0].id, b[0].id, "key order and whitespace do not matter");
    assert_ne!(a[0].id, c[0].id);
    assert!(a[0].id.starts_with("h-") && a[0].id.len() == 34);
    assert_eq!(a[0].id, derived_id(&a[0]));
}

#[test]
fn signatures_verify_in_every_mode() {
    let body = b"{\"name\":\"a\"}";
    let secret: &[u8] = b"ingest-secret";
    let good = sign_body(secret, body);
    assert!(verify_signature(Some(secret), true, Some(&good), body).is_ok());
    assert!(verify_signature(Some(secret), false, None, body).is_ok());
    assert!(
        verify_signature(None, false, Some("sha256=zz"), body).is_ok(),
        "no secret, no check"
    );
    let missing = EventsError::BadSignature { missing: true };
    let bad = EventsError::BadSignature { missing: false };
    assert_eq!(
        verify_signature(Some(secret), true, None, body),
        Err(missing)
    );
    for wrong in [
        sign_body(b"other", body),
        sign_body(secret, b"tampered"),
        "sha256=".into(),
        "md5=00".into(),
        good[..20].to_owned(),
    ] {
        assert_eq!(
            verify_signature(Some(secret), false, Some(&wrong), body),
            Err(bad.clone()),
            "{wrong}"
        );
    }
}

#[test]
fn request_keys_are_pure_and_newest_first() {
    // A pure function of (received_at, request id): a redelivery writes the same key.
    let key = request_key(NOW, "r-0001");
    assert_eq!(key, format!("req:{:013}:r-0001", 9_999_999_999_999 - NOW));
    assert_ne!(key, request_key(NOW, "r-0002"), "two requests, two keys");
    let mut keys = [
        request_key(NOW - 5, "a"),
        request_key(NOW, "b"),
        request_key(NOW - 1, "c"),
    ];
    keys.sort();
    assert_eq!(
        keys,
        [
            request_key(NOW, "b"),
            request_key(NOW - 1, "c"),
            request_key(NOW - 5, "a")
        ]
    );
    assert!(request_key(u64::MAX, "x").starts_with("req:0000000000000:"));
}

#[test]
fn consumer_plan_is_one_write_per_request_and_rejects_poison() {
    let events = parse(&format!("[{},{},{}]", event("a"), event("b"), event("b"))).unwrap();
    let batch = QueuedBatch {
        events: events
            .into_iter()
            .map(|event| StoredEvent {
                event,
                received_at: NOW,
                flags: Default::default(),
                country: None,
                unit: None,
                net: None,
                request_id: "r1".into(),
            })
            .collect(),
    };
    let text = serde_json::to_string(&batch).unwrap();
    let planned = plan_writes(&text).unwrap();
    assert_eq!(
        planned.events, batch.events,
        "the consumer counts what it stores"
    );
    let write = planned.write.expect("a request with events is written");
    assert_eq!(
        Some(&write),
        plan_writes(&text).unwrap().write.as_ref(),
        "a redelivery writes the same key and value"
    );
    assert_eq!(write.key, request_key(NOW, "r1"));
    assert_eq!(write.meta.n, 3);
    assert_eq!(
        write.meta.names,
        Some([("a".to_owned(), 1), ("b".to_owned(), 2)].into()),
    );
    let stored: QueuedBatch = serde_json::from_str(&write.value).unwrap();
    assert_eq!(
        stored, batch,
        "the value is the request's events, as stored"
    );
    for poison in ["", "{}", "[1,2]", r#"{"events":[{"name":"a"}]}"#] {
        assert!(plan_writes(poison).is_err(), "{poison:?}");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = parse_batch(&bytes, NOW, &Limits::default());
    }

    #[test]
    fn json_like_input_is_an_error_or_a_valid_batch(
        names in proptest::collection::vec("[a-z0-9_.:-]{0,70}|[A-Z ]{1,5}", 0..5),
        ts_offsets in proptest::collection::vec(-(8 * DAY_MS as i64)..(10 * 60 * 1000), 5),
    ) {
        let events: Vec<String> = names.iter().zip(&ts_offsets)
            .map(|(n, off)| format!(r#"{{"name":"{n}","ts":{}}}"#, (NOW as i64 + off) as u64))
            .collect();
        let body = format!("[{}]", events.join(","));
        match parse(&body) {
            Ok(batch) => {
                prop_assert!(!batch.is_empty() && batch.len() <= 100);
                for e in batch {
                    prop_assert!((1..=64).contains(&e.name.len()));
                    prop_assert!(e.ts + 7 * DAY_MS >= NOW && e.ts <= NOW + 5 * 60 * 1000);
                    prop_assert!(e.id.len() >= 8);
                }
            }
            Err(e) => prop_assert!(matches!(e.status(), 400 | 413)),
        }
    }
}
