//! The queue-message bound: a body at the configured limit always fits one queue message once
//! stored, and the one way past it (numbers that serialize longer) is a 413, not a 503.

use pilot_gate_core::events::config::EventsConfig;
use pilot_gate_core::events::error::EventsError;
use pilot_gate_core::events::ingest::{accept, Accepted, Sender};
use pilot_gate_core::events::limits::{
    Limits, MAX_BODY_BYTES, MAX_EVENTS, QUEUE_MESSAGE_MAX_BYTES, STORED_OVERHEAD_MAX_BYTES,
};
use pilot_gate_core::evidence::unit::{Net, Unit};
use pilot_gate_core::flags::model::FlagSet;
use pilot_gate_core::gate::cohort::{effective_rollout, Decider};
use pilot_gate_core::gate::identity::KeySource;
use pilot_gate_core::http::problem::Problem;

use crate::support::{identity, NOW};

/// The largest limits the config accepts.
fn widest() -> EventsConfig {
    EventsConfig {
        limits: Limits {
            max_body_bytes: MAX_BODY_BYTES,
            max_props_bytes: MAX_BODY_BYTES,
            max_events: MAX_EVENTS,
        },
        ..EventsConfig::default()
    }
}

/// Accepts `body` from a sender with every server field at its longest, and returns the
/// message text.
fn message(body: &str, cfg: &EventsConfig) -> Result<String, EventsError> {
    let id = identity(KeySource::UidCookie); // variants are recorded
    let demo = demo_set();
    let decider = Decider {
        rollout: effective_rollout(Some(5_000)),
        set: Some(&demo),
        now_s: 0,
        country: Some("T1"),
    };
    let request_id = "r".repeat(64); // the longest cf-ray accepted as a request id
    let sender = Sender {
        identity: &id,
        decider: &decider,
        country: Some("T1"),
        request_id: &request_id,
        unit: Some(Unit(u64::MAX)),
        net: Some(Net(u32::MAX)),
    };
    match accept(body.as_bytes(), None, NOW, cfg, &sender)? {
        Accepted::Enqueue { message, .. } => Ok(message),
        other => panic!("{other:?}"),
    }
}

/// `n` events of the smallest form the schema accepts (no `v`, `id`, `session` or `props`),
/// which is where the server's additions weigh most.
fn smallest_events(n: usize) -> String {
    let one = format!(r#"{{"name":"a","ts":{NOW}}}"#);
    format!("[{}]", vec![one; n].join(","))
}

#[test]
fn the_server_adds_at_most_the_overhead_budget_per_event() {
    let body = smallest_events(MAX_EVENTS);
    let text = message(&body, &widest()).unwrap();
    let per_event = (text.len() - body.len()) / MAX_EVENTS;
    println!("stored overhead: {per_event} bytes per event (budget {STORED_OVERHEAD_MAX_BYTES})");
    assert!(per_event <= STORED_OVERHEAD_MAX_BYTES, "{per_event}");
}

/// A body exactly at the largest limit, with the most events (sessions are at most 128 bytes,
/// so the padding goes into props for the rest).
fn largest_body() -> String {
    let mut events = Vec::new();
    let filler = MAX_BODY_BYTES / MAX_EVENTS - 200;
    for i in 0..MAX_EVENTS {
        events.push(format!(
            r#"{{"name":"a","ts":{NOW},"session":"{}","props":{{"p":"{}"}}}}"#,
            "s".repeat(128),
            "x".repeat(filler + usize::from(i == 0))
        ));
    }
    let mut body = format!("[{}]", events.join(","));
    body.push_str(&" ".repeat(MAX_BODY_BYTES - body.len()));
    body
}

/// The queue message of an accepted `body` under the widest limits.
pub fn stored_message(body: &str) -> String {
    message(body, &widest()).unwrap()
}

/// The largest queue message: the most events in a body at the largest limit.
pub fn largest_message() -> String {
    stored_message(&largest_body())
}

#[test]
fn a_body_at_the_largest_limit_fits_one_queue_message() {
    let cfg = widest();
    let mut body = largest_body();
    assert_eq!(body.len(), MAX_BODY_BYTES);
    let text = message(&body, &cfg).unwrap();
    println!(
        "a {} byte body with {MAX_EVENTS} events is a {} byte message (limit {QUEUE_MESSAGE_MAX_BYTES})",
        body.len(),
        text.len()
    );
    assert!(text.len() <= QUEUE_MESSAGE_MAX_BYTES);
    // One byte more is refused before anything is stored.
    body.push(' ');
    assert_eq!(
        message(&body, &cfg),
        Err(EventsError::BodyTooLarge {
            limit_bytes: MAX_BODY_BYTES
        })
    );
}

#[test]
fn one_event_with_the_largest_props_fits_one_queue_message() {
    let cfg = widest();
    let head = format!(r#"{{"name":"a","ts":{NOW},"props":{{"p":""#);
    let pad = MAX_BODY_BYTES - head.len() - 3;
    let body = format!("{head}{}\"}}}}", "x".repeat(pad));
    assert_eq!(body.len(), MAX_BODY_BYTES);
    assert!(message(&body, &cfg).unwrap().len() <= QUEUE_MESSAGE_MAX_BYTES);
}

#[test]
fn numbers_that_grow_when_stored_are_refused_with_413_not_enqueued() {
    // `1e15` is stored as `1000000000000000.0`: 4 bytes sent, 18 stored. 14 events of
    // 10 KB props each, sent in about 38 KB, would be about 143 KB as one message.
    let cfg = EventsConfig::default();
    let numbers = vec!["1e15"; 530].join(",");
    let one = format!(r#"{{"name":"a","ts":{NOW},"props":{{"n":[{numbers}]}}}}"#);
    let body = format!("[{}]", vec![one; 14].join(","));
    assert!(body.len() <= cfg.limits.max_body_bytes);
    let err = message(&body, &cfg).unwrap_err();
    assert!(
        matches!(err, EventsError::BatchTooLarge { stored_bytes, limit_bytes }
            if stored_bytes > limit_bytes && limit_bytes == QUEUE_MESSAGE_MAX_BYTES),
        "{err:?}"
    );
    assert_eq!(err.status(), 413);
    assert_eq!(err.code(), "batch_too_large");
}

/// The demo set as the control plane publishes it (its plans compiled).
fn demo_set() -> FlagSet {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../../flags/demo.json")).unwrap();
    FlagSet::from_value(&pilot_gate_core::control::compile::compile_document(&doc).unwrap())
        .unwrap()
}
