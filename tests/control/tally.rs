//! The consumer's delta and the object's dedupe: an event is counted once, whatever the
//! redeliveries, overlapping batches and client re-sends.

use std::collections::{BTreeMap, HashSet};

use pilot_gate::core::control::tally::{Delta, Increments};
use pilot_gate::core::events::record::StoredEvent;
use pilot_gate::core::events::schema::Event;
use serde_json::json;

use crate::NOW;

fn event(
    id: &str,
    name: &str,
    request: &str,
    flags: &[(&str, &str)],
    props: serde_json::Value,
) -> StoredEvent {
    StoredEvent {
        event: Event {
            v: 1,
            id: id.into(),
            name: name.into(),
            ts: NOW,
            session: None,
            props: props.as_object().cloned().unwrap_or_default(),
        },
        received_at: NOW + 61_000,
        flags: flags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        country: None,
        request_id: request.into(),
    }
}

fn delta(events: &[StoredEvent]) -> Delta {
    let mut d = Delta::default();
    d.add(events);
    d
}

/// The object's side: a seen-set, and the sum of what each delta adds.
#[derive(Default)]
struct Object {
    seen: HashSet<String>,
    counts: BTreeMap<(String, u64, String, String), u64>,
    ttv: Vec<u64>,
    accepted: u64,
}

impl Object {
    fn take(&mut self, d: &Delta) -> Increments {
        let inc = d
            .increments(|id| Ok::<_, ()>(self.seen.insert(id.to_owned())))
            .unwrap();
        for (k, n) in &inc.counts {
            *self.counts.entry(k.clone()).or_default() += n;
        }
        self.ttv.extend(inc.ttv.iter().map(|t| t.3));
        self.accepted += inc.accepted;
        inc
    }

    fn n(&self, flag: &str, variant: &str, name: &str) -> u64 {
        self.counts
            .iter()
            .filter(|((f, _, v, n), _)| f == flag && v == variant && n == name)
            .map(|(_, n)| n)
            .sum()
    }
}

const ON: &[(&str, &str)] = &[("pilot", "on"), ("e2", "custom")];
const OFF: &[(&str, &str)] = &[("pilot", "off"), ("e2", "native")];

#[test]
fn each_event_counts_for_each_of_its_flags_in_its_minute() {
    let mut o = Object::default();
    let inc = o.take(&delta(&[
        event("a0000001", "page_view", "r1", ON, json!({})),
        event("a0000002", "error", "r1", ON, json!({})),
        event("a0000003", "page_view", "r2", OFF, json!({})),
        event("a0000004", "ttv", "r2", OFF, json!({"ms": 1234.6})),
    ]));
    assert_eq!(inc.flags(), ["e2", "pilot"]);
    assert_eq!(
        (o.n("pilot", "on", "page_view"), o.n("pilot", "on", "error")),
        (1, 1)
    );
    assert_eq!(
        (o.n("e2", "native", "page_view"), o.n("e2", "native", "ttv")),
        (1, 1)
    );
    assert_eq!(o.ttv, [1234, 1234], "one sample per flag of the sender");
    assert_eq!(o.accepted, 2);
    assert!(
        inc.counts.keys().all(|k| k.1 == (NOW + 61_000) / 60_000),
        "minute of receipt"
    );
}

#[test]
fn the_same_batch_twice_counts_once() {
    let mut o = Object::default();
    let batch = delta(&[
        event("b0000001", "page_view", "r1", ON, json!({})),
        event("b0000002", "error", "r1", ON, json!({})),
    ]);
    o.take(&batch);
    let again = o.take(&batch);
    assert_eq!(again, Increments::default(), "a redelivery adds nothing");
    assert_eq!(
        (
            o.n("pilot", "on", "page_view"),
            o.n("pilot", "on", "error"),
            o.accepted
        ),
        (1, 1, 1)
    );
}

#[test]
fn overlapping_batches_and_a_resent_event_count_once() {
    let mut o = Object::default();
    let e1 = event("c0000001", "page_view", "r1", ON, json!({}));
    let e2 = event("c0000002", "page_view", "r2", ON, json!({}));
    let e3 = event("c0000003", "page_view", "r3", OFF, json!({}));
    o.take(&delta(&[e1.clone(), e2.clone()]));
    o.take(&delta(&[e2.clone(), e3.clone()]));
    // The client re-sends e1 in a new request (same id and ts: the same stored event).
    let mut resent = e1.clone();
    resent.request_id = "r9".into();
    resent.received_at += 600_000;
    o.take(&delta(&[resent]));
    assert_eq!(
        (
            o.n("pilot", "on", "page_view"),
            o.n("pilot", "off", "page_view")
        ),
        (2, 1)
    );
    assert_eq!(o.accepted, 4, "four distinct requests, each counted once");
}

#[test]
fn names_outside_the_kpis_and_senders_without_flags_are_not_counted() {
    let mut o = Object::default();
    let inc = o.take(&delta(&[
        event("d0000001", "clicked_something", "r1", ON, json!({})),
        event("d0000002", "page_view", "r1", &[], json!({})),
        event("d0000003", "ttv", "r1", ON, json!({"ms": "fast"})),
        event("d0000004", "ttv", "r1", ON, json!({"ms": 9e12})),
    ]));
    assert_eq!(
        o.n("pilot", "on", "ttv"),
        2,
        "ttv events count even without a usable sample"
    );
    assert_eq!(
        o.ttv,
        [600_000, 600_000],
        "a huge sample is clamped to 10 minutes"
    );
    assert_eq!(inc.counts.len(), 2);
    assert_eq!(o.accepted, 1);
}
