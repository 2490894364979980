//! Server-Sent Events: `Last-Event-ID` parsing, the framing, and the history's replay from
//! every state a reconnecting client can be in.

use pilot_gate_core::http::sse::{
    resume, Event, History, ReadWatch, Replay, Resume, HISTORY_EVENTS,
};

fn ev(id: u64) -> Event {
    Event {
        id,
        data: format!("{{\"n\":{id}}}"),
    }
}

fn history(ids: impl IntoIterator<Item = u64>) -> History {
    let mut h = History::default();
    for id in ids {
        assert!(h.push(ev(id)));
    }
    h
}

fn ids(replay: &Replay) -> Vec<u64> {
    match replay {
        Replay::Missed(events) => events.iter().map(|e| e.id).collect(),
        other => panic!("expected missed events, got {other:?}"),
    }
}

#[test]
fn last_event_id_is_a_decimal_id_or_malformed() {
    assert_eq!(resume(None), Resume::Fresh);
    assert_eq!(resume(Some("  ")), Resume::Fresh);
    assert_eq!(resume(Some("0")), Resume::After(0));
    assert_eq!(resume(Some(" 42 ")), Resume::After(42));
    for bad in ["-1", "4.2", "0x10", "id", "99999999999999999999", "1 2"] {
        assert_eq!(resume(Some(bad)), Resume::Malformed, "{bad}");
    }
}

#[test]
fn an_event_is_framed_as_id_message_and_one_data_line() {
    let frame = ev(9).frame();
    assert_eq!(frame, "id: 9\nevent: message\ndata: {\"n\":9}\n\n");
    assert_eq!(frame.matches("\n\n").count(), 1);
}

#[test]
fn a_fresh_or_up_to_date_client_gets_nothing() {
    let h = history([3, 5, 8]);
    assert_eq!(h.replay(Resume::Fresh), Replay::Nothing);
    assert_eq!(h.replay(Resume::After(8)), Replay::Nothing);
}

#[test]
fn a_client_behind_gets_each_missed_event_once_in_order() {
    let h = history([3, 5, 8]);
    assert_eq!(ids(&h.replay(Resume::After(3))), vec![5, 8]);
    assert_eq!(ids(&h.replay(Resume::After(5))), vec![8]);
    // Ids need not be contiguous (revisions that published nothing): an id between two is fine.
    assert_eq!(ids(&h.replay(Resume::After(4))), vec![5, 8]);
    // Nothing was ever dropped: every event after 1 is here.
    assert_eq!(ids(&h.replay(Resume::After(1))), vec![3, 5, 8]);
}

#[test]
fn a_client_too_far_behind_or_ahead_or_malformed_gets_the_latest() {
    let h = history(1..=(HISTORY_EVENTS as u64 + 10));
    let latest = h.latest().cloned();
    assert_eq!(
        latest.as_ref().map(|e| e.id),
        Some(HISTORY_EVENTS as u64 + 10)
    );
    // Events 1..=10 were dropped: a client at 5 cannot be replayed exactly.
    assert_eq!(
        h.replay(Resume::After(5)),
        Replay::Behind {
            latest: latest.clone()
        }
    );
    // At 10 (the last dropped) it can: every event after it is kept.
    assert_eq!(
        h.replay(Resume::After(10)).clone(),
        Replay::Missed((11..=HISTORY_EVENTS as u64 + 10).map(ev).collect())
    );
    // An id we never sent (ahead of us) and a malformed one.
    assert_eq!(
        h.replay(Resume::After(10_000)),
        Replay::Behind {
            latest: latest.clone()
        }
    );
    assert_eq!(h.replay(Resume::Malformed), Replay::Behind { latest });
}

#[test]
fn an_empty_history_sends_a_resuming_client_a_bare_refetch() {
    let h = History::default();
    assert_eq!(h.replay(Resume::After(3)), Replay::Behind { latest: None });
    assert_eq!(h.replay(Resume::Fresh), Replay::Nothing);
    assert_eq!(h.next_id(), 1);
}

#[test]
fn the_history_is_bounded_and_ignores_repeated_notices() {
    let mut h = history(1..=1000);
    assert_eq!(
        h.replay(Resume::After(1000 - HISTORY_EVENTS as u64))
            .clone(),
        Replay::Missed((1000 - HISTORY_EVENTS as u64 + 1..=1000).map(ev).collect())
    );
    assert!(!h.push(ev(1000)), "a repeated notice");
    assert!(!h.push(ev(7)), "an older one");
    assert_eq!(h.next_id(), 1001);
    let stored = serde_json::to_string(&h).unwrap();
    assert!(
        stored.len() < 4096,
        "{} bytes kept in storage",
        stored.len()
    );
    let back: History = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, h);
}

#[test]
fn a_client_that_leaves_a_message_unread_for_the_delay_is_closed() {
    let limit_ms = 120_000;
    let mut w = ReadWatch::default();
    // Reads everything: never closed, however long.
    assert!(w.reading(1, 1, 0, limit_ms));
    assert!(w.reading(5, 5, 10_000_000, limit_ms));
    // Stops reading at 10 s: still open until the delay has passed since then.
    assert!(w.reading(6, 5, 10_000_000 + 10_000, limit_ms));
    assert!(w.reading(7, 5, 10_000_000 + 10_000 + limit_ms - 1, limit_ms));
    assert!(!w.reading(8, 5, 10_000_000 + 10_000 + limit_ms, limit_ms));
    // A client that catches up starts afresh.
    let mut w = ReadWatch::default();
    assert!(w.reading(2, 1, 0, limit_ms));
    assert!(w.reading(2, 2, limit_ms - 1, limit_ms));
    assert!(w.reading(3, 2, limit_ms + 5, limit_ms));
    assert!(w.reading(3, 2, 2 * limit_ms, limit_ms));
}
