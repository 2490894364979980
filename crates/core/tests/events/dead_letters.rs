//! The dead-letter queue: a letter's kind read from its shape (what a replay sends where), the
//! store's bound, the listing query and the replay/discard selection.

use pilot_gate_core::events::dead_letter::{
    admit, parse_query, DeadKind, Selection, MAX_PER_CALL, MAX_STORED,
};
use pilot_gate_core::evidence::record::{Sighting, SightingKey, Upstream};
use pilot_gate_core::evidence::unit::Unit;

#[test]
fn a_letter_goes_back_to_the_queue_it_came_from() {
    // What the edge really sends: its sightings, serialized as the buffer does.
    let sightings = vec![Sighting {
        key: SightingKey {
            flag: "pilot".into(),
            variant: "on".into(),
            unit: Unit(7),
            minute: 29_000_000,
            revision: 3,
            outside: false,
            net: None,
            capped: false,
        },
        upstream: Upstream::default(),
    }];
    let body = serde_json::to_string(&sightings).unwrap();
    assert_eq!(DeadKind::of(&body), DeadKind::Sightings);
    assert_eq!(DeadKind::Sightings.replay_binding(), Some("EVIDENCE_QUEUE"));
    let request = r#"{"v":1,"received_at":1,"request_id":"r","events":[]}"#;
    assert_eq!(DeadKind::of(request), DeadKind::Events);
    assert_eq!(DeadKind::Events.replay_binding(), Some("EVENTS_QUEUE"));
    for poison in ["", "not json", "42", r#"{"events": 3}"#, r#"{"other": []}"#] {
        assert_eq!(DeadKind::of(poison), DeadKind::Unreadable, "{poison:?}");
    }
    assert_eq!(DeadKind::Unreadable.replay_binding(), None);
    for kind in DeadKind::ALL {
        assert_eq!(DeadKind::parse(kind.as_str()), Some(kind));
    }
}

#[test]
fn the_replay_bindings_are_producers_of_the_control_worker() {
    // The control plane (the control worker's) replays them; the edge consumes the dead letters.
    let control = crate::support::wrangler_config("wrangler.control.toml");
    for kind in [DeadKind::Events, DeadKind::Sightings] {
        let binding = kind.replay_binding().unwrap();
        assert!(
            control.contains(&format!("[[queues.producers]]\nbinding = \"{binding}\"")),
            "{binding} is bound"
        );
    }
    let edge = crate::support::wrangler_config("wrangler.toml");
    assert!(edge.contains("queue = \"pilot-gate-events-dlq\"\nmax_batch_size"));
}

/// Every queue the control worker's faults write to is one of its producers, in every
/// environment (a missing binding fails the fault with a 503 only when it is used).
#[test]
fn the_fault_queues_are_producers_of_the_control_worker() {
    use pilot_gate_core::control::fault::FaultQueue;
    let control = crate::support::wrangler_config("wrangler.control.toml");
    for queue in [
        FaultQueue::Events,
        FaultQueue::Evidence,
        FaultQueue::DeadLetters,
    ] {
        let binding = queue.binding();
        for table in [
            "[[queues.producers]]",
            "[[env.staging.queues.producers]]",
            "[[env.production.queues.producers]]",
        ] {
            assert!(
                control.contains(&format!("{table}\nbinding = \"{binding}\"")),
                "{table} {binding}"
            );
        }
    }
}

#[test]
fn the_store_keeps_at_most_its_bound_and_counts_the_rest() {
    assert_eq!(admit(0, 100), (100, 0));
    assert_eq!(admit(MAX_STORED - 10, 100), (10, 90));
    assert_eq!(admit(MAX_STORED, 1), (0, 1));
    assert_eq!(admit(MAX_STORED + 5, 1), (0, 1));
    // The worst case the bound allows: every letter a maximal queue message (128 KB).
    let worst_bytes = MAX_STORED * 128 * 1024;
    println!(
        "dead letters: at most {MAX_STORED} kept, at most {} MB (an object holds 10 GB)",
        worst_bytes >> 20
    );
    assert!(
        worst_bytes < 10 * (1 << 30) / 10,
        "under a tenth of an object"
    );
}

#[test]
fn a_bad_listing_or_selection_is_refused_with_its_reason() {
    let q = parse_query("https://w/api/admin/dead-letters").unwrap();
    assert_eq!((q.limit, q.kind), (20, None));
    let err = parse_query("https://w/?limit=101").unwrap_err();
    assert!(err.contains("1 to 100"), "{err}");
    assert!(parse_query("https://w/?kind=unreadable").is_ok());
    let s = Selection::parse(r#"{"all":true,"kind":"sightings"}"#).unwrap();
    assert!(s.all && s.kind == Some(DeadKind::Sightings));
    let many: Vec<String> = (0..=MAX_PER_CALL).map(|i| i.to_string()).collect();
    let too_many = serde_json::json!({ "ids": many }).to_string();
    for (body, reason) in [
        ("{}", "name the letters"),
        (r#"{"ids":["a"],"all":true}"#, "not both"),
        (r#"{"ids":["a"],"kind":"events"}"#, "goes with"),
        (r#"{"all":true,"kind":"mail"}"#, "the body"),
        (r#"{"everything":true}"#, "the body"),
        (too_many.as_str(), "at most 100"),
    ] {
        let e = Selection::parse(body).unwrap_err();
        assert!(e.contains(reason), "{body}: {e}");
    }
}
