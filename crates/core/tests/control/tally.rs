//! The consumer's side of counting client events: a stored request's events become facts for
//! the evidence of every flag their sender carries, only from a signed sender (a unit), only
//! for the names the configured metrics count, with the props they read.

use std::collections::BTreeMap;

use pilot_gate_core::control::tally::{add_events, Arm};
use pilot_gate_core::events::record::StoredEvent;
use pilot_gate_core::events::schema::Event;
use pilot_gate_core::evidence::metric::{Metrics, Reads};
use pilot_gate_core::evidence::record::{Deltas, UnitEvent};
use pilot_gate_core::evidence::sketch::Sketch;
use pilot_gate_core::evidence::tally::ArmTally;
use pilot_gate_core::evidence::unit::Unit;
use serde_json::json;

use crate::NOW;

fn event(
    name: &str,
    unit: Option<u64>,
    flags: &[(&str, &str)],
    props: serde_json::Value,
) -> StoredEvent {
    StoredEvent {
        event: Event {
            v: 1,
            id: format!("id-{name}-0001"),
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
        unit: unit.map(Unit),
        net: None,
        request_id: "r1".into(),
    }
}

const ON: &[(&str, &str)] = &[("pilot", "on"), ("e2", "custom")];

/// What the demo's metrics read: `ttv.ms`, `mic_prompt`, `mic_granted`, `activated` (and
/// `error`, always).
fn reads() -> Reads {
    let metrics: Metrics = pilot_gate_core::evidence::metric::parse(Some(&json!({
        "ttv": {"kind": "quantile", "event": "ttv", "value": "ms"},
        "mic_grant": {"kind": "proportion", "numerator": "mic_granted", "denominator": "mic_prompt"},
        "activation": {"kind": "proportion", "numerator": "activated", "denominator": "$exposure"},
    })))
    .unwrap();
    Reads::of(&metrics)
}

fn deltas(events: &[StoredEvent]) -> Deltas {
    let mut d = Deltas::new();
    add_events(&mut d, events, &reads());
    d
}

fn ms(v: f64) -> BTreeMap<String, f64> {
    BTreeMap::from([("ms".to_owned(), v)])
}

#[test]
fn each_counted_event_goes_to_every_flag_of_its_sender() {
    let d = deltas(&[
        event("error", Some(7), ON, json!({"message": "boom"})),
        event("ttv", Some(7), ON, json!({"ms": 1234.6})),
    ]);
    let minute = (NOW + 61_000) / 60_000;
    for flag in ["pilot", "e2"] {
        assert_eq!(
            d[flag].events,
            [
                UnitEvent {
                    unit: Unit(7),
                    minute,
                    name: "error".into(),
                    values: BTreeMap::new(),
                    net: None,
                },
                UnitEvent {
                    unit: Unit(7),
                    minute,
                    name: "ttv".into(),
                    values: ms(1234.6),
                    net: None,
                },
            ],
            "{flag}"
        );
        assert!(
            d[flag].sightings.is_empty(),
            "a client event exposes nobody"
        );
    }
}

#[test]
fn unsigned_senders_uncounted_names_and_bad_samples_count_nowhere() {
    let d = deltas(&[
        event("error", None, ON, json!({})),
        event("page_view", Some(1), ON, json!({})),
        event("clicked_around", Some(1), ON, json!({})),
        event("ttv", Some(1), ON, json!({"ms": "fast"})),
        event("ttv", Some(1), ON, json!({"ms": -5})),
        event("ttv", Some(1), ON, json!({"ms": 9e12, "other": 3})),
        event("error", Some(1), &[], json!({})),
    ]);
    let values: Vec<BTreeMap<String, f64>> =
        d["pilot"].events.iter().map(|e| e.values.clone()).collect();
    assert_eq!(
        values,
        [BTreeMap::new(), BTreeMap::new(), ms(9e12)],
        "only the ttv events, with only the prop a metric reads when it is a number of at least 0"
    );
    assert!(d["pilot"]
        .events
        .iter()
        .all(|e| e.name == "ttv" && e.unit == Unit(1)));
}

#[test]
fn an_arm_reads_units_from_the_tally() {
    let t = ArmTally {
        units: 10,
        error_units: 3,
        client_error_units: 2,
        server_error_units: 1,
        observed_units: 4,
        event_units: [
            ("mic_prompt".to_owned(), 5),
            ("mic_granted".to_owned(), 4),
            ("activated".to_owned(), 2),
        ]
        .into(),
        pair_units: BTreeMap::new(),
        values: [("ttv.ms".to_owned(), Sketch::of([1000.0]))].into(),
        ttfb: Sketch::default(),
        ..ArmTally::default()
    };
    let a = Arm::of(&t);
    assert_eq!(
        (
            a.exposures,
            a.errors,
            a.client_errors,
            a.server_errors,
            a.observed
        ),
        (10, 3, 2, 1, 4)
    );
    assert_eq!(a.tally, t, "the metrics read the whole tally");
}
