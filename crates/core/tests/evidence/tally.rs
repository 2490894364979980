//! Counting per unit: a unit with a hundred errors is one unit with an error; redelivery and
//! re-sends change nothing; a unit counts in the arm of its first exposure, and one exposed to
//! two variants is counted apart; an event from a unit never exposed counts nowhere, and one
//! that arrives before its unit's exposure counts once the exposure does.

use pilot_gate_core::evidence::record::Upstream;
use std::collections::BTreeMap;

use pilot_gate_core::evidence::tally::{Fact, Window, ERROR_EVENT};
use pilot_gate_core::evidence::unit::{Net, Unit};

fn exposed(variant: &str) -> Fact<'_> {
    Fact::Exposed {
        variant,
        minute: 1,
        upstream: Upstream::default(),
        outside: false,
        net: None,
    }
}

/// No values.
static NONE: BTreeMap<String, f64> = BTreeMap::new();

const ERROR: Fact<'static> = Fact::Event {
    name: ERROR_EVENT,
    values: &NONE,
    minute: 1,
    net: None,
};

#[test]
fn a_unit_with_a_hundred_errors_is_one_unit_with_an_error() {
    let mut w = Window::default();
    let u = Unit(1);
    assert!(w.apply(u, exposed("on")));
    assert!(w.apply(u, ERROR));
    for _ in 0..99 {
        assert!(!w.apply(u, ERROR), "a repeat changes nothing");
        assert!(!w.apply(u, exposed("on")));
    }
    w.apply(Unit(2), exposed("on"));
    let on = &w.tally().arms["on"];
    assert_eq!((on.units, on.error_units), (2, 1));
    assert_eq!(on.event_units[ERROR_EVENT], 1);
}

#[test]
fn redelivered_and_reordered_facts_give_the_same_tally() {
    let ttv = BTreeMap::from([("ms".to_owned(), 1200.0)]);
    let facts = [
        (Unit(1), exposed("on")),
        (Unit(1), ERROR),
        (Unit(2), exposed("off")),
        (
            Unit(2),
            Fact::Event {
                name: "ttv",
                values: &ttv,
                minute: 1,
                net: None,
            },
        ),
        (
            Unit(3),
            Fact::Exposed {
                variant: "on",
                minute: 1,
                upstream: Upstream::one(Some(503), 80),
                outside: false,
                net: None,
            },
        ),
        (Unit(4), exposed("off")),
    ];
    let mut once = Window::default();
    for (u, f) in facts {
        once.apply(u, f);
    }
    let mut twice_reversed = Window::default();
    for (u, f) in facts.iter().rev().chain(facts.iter()) {
        twice_reversed.apply(*u, *f);
    }
    assert_eq!(once.tally(), twice_reversed.tally());
    let (on, off) = (&once.tally().arms["on"], &once.tally().arms["off"]);
    assert_eq!((on.units, on.error_units, on.server_error_units), (2, 2, 1));
    assert_eq!((off.units, off.error_units), (2, 0));
    assert_eq!(off.values["ttv.ms"].count(), 1);
    assert_eq!(on.ttfb.count(), 1);
}

#[test]
fn events_count_only_for_exposed_units() {
    let mut w = Window::default();
    // Unit 9 is never exposed: its errors count nowhere.
    for _ in 0..50 {
        w.apply(Unit(9), ERROR);
    }
    assert!(w.tally().arms.is_empty());
    assert_eq!(w.tally().mixed, 0);
    // Unit 5's error arrives before its exposure (the two travel separately): it counts once
    // the exposure does.
    w.apply(Unit(5), ERROR);
    assert!(w.tally().arms.is_empty());
    w.apply(Unit(5), exposed("on"));
    assert_eq!(w.tally().arms["on"].error_units, 1);
    assert_eq!(w.tally().arms["on"].units, 1);
}

#[test]
fn a_unit_counts_in_its_first_arm_and_two_arms_make_it_mixed() {
    let mut w = Window::default();
    w.apply(Unit(1), exposed("on"));
    w.apply(Unit(1), ERROR);
    w.apply(Unit(2), exposed("on"));
    assert_eq!(w.tally().arms["on"].error_units, 1);
    // Unit 1 is then served "off": it leaves "on" with everything it brought.
    assert!(w.apply(Unit(1), exposed("off")));
    let t = w.tally();
    assert_eq!(t.mixed, 1);
    assert_eq!((t.arms["on"].units, t.arms["on"].error_units), (1, 0));
    assert_eq!(t.arms.get("off").map_or(0, |a| a.units), 0);
    // More of it changes nothing.
    assert!(!w.apply(Unit(1), exposed("on")));
    assert!(w.apply(
        Unit(1),
        Fact::Event {
            name: "activated",
            values: &NONE,
            minute: 1,
            net: None,
        }
    ));
    assert_eq!(w.tally().mixed, 1);
    assert_eq!(w.tally().arms["on"].event_units.get("activated"), None);
}

#[test]
fn a_server_error_is_an_error_and_the_first_ttv_and_ttfb_are_kept() {
    let mut w = Window::default();
    let u = Unit(3);
    w.apply(
        u,
        Fact::Exposed {
            variant: "on",
            minute: 1,
            upstream: Upstream::one(Some(200), 40),
            outside: false,
            net: None,
        },
    );
    w.apply(
        u,
        Fact::Exposed {
            variant: "on",
            minute: 2,
            upstream: Upstream::one(None, 900),
            outside: false,
            net: None,
        },
    );
    for ms in [1_000.0, 9_000.0] {
        let values = BTreeMap::from([("ms".to_owned(), ms)]);
        w.apply(
            u,
            Fact::Event {
                name: "ttv",
                values: &values,
                minute: 1,
                net: None,
            },
        );
    }
    let on = &w.tally().arms["on"];
    assert_eq!((on.error_units, on.server_error_units), (1, 1));
    assert!((on.ttfb.quantile(1.0).unwrap() - 40.0).abs() <= 0.4);
    assert!((on.values["ttv.ms"].quantile(1.0).unwrap() - 1_000.0).abs() <= 10.0);
}

#[test]
fn a_unit_placed_outside_the_split_is_counted_apart_with_its_errors() {
    let mut w = Window::default();
    let (inside, outside) = (Unit(10), Unit(11));
    w.apply(inside, exposed("on"));
    let allowlisted = Fact::Exposed {
        variant: "on",
        minute: 1,
        upstream: Upstream::default(),
        outside: true,
        net: None,
    };
    assert!(w.apply(outside, allowlisted));
    assert!(w.apply(outside, ERROR));
    let t = w.tally();
    assert_eq!((t.arms["on"].units, t.arms["on"].error_units), (1, 0));
    assert_eq!((t.outside, t.mixed), (1, 0));
    // Outside and then in a second variant: mixed wins (it holds the plan).
    w.apply(outside, exposed("off"));
    assert_eq!((w.tally().outside, w.tally().mixed), (0, 1));
    assert!(
        w.series().values().all(|a| a.error_units == 0),
        "outside units are in no series"
    );
}

fn exposed_from(variant: &str, net: u32) -> Fact<'_> {
    Fact::Exposed {
        variant,
        minute: 1,
        upstream: Upstream::default(),
        outside: false,
        net: Some(Net(net)),
    }
}

fn error_from(net: u32, minute: u64) -> Fact<'static> {
    Fact::Event {
        name: ERROR_EVENT,
        values: &NONE,
        minute,
        net: Some(Net(net)),
    }
}

#[test]
fn a_client_event_counts_only_from_the_net_of_the_first_exposure() {
    let mut w = Window::default();
    assert!(w.apply(Unit(1), exposed_from("on", 7)));
    assert!(
        !w.apply(Unit(1), error_from(8, 1)),
        "another net's event is not its own"
    );
    assert_eq!(w.tally().arms["on"].client_error_units, 0);
    assert!(w.apply(Unit(1), error_from(7, 1)));
    assert_eq!(w.tally().arms["on"].client_error_units, 1);
    // Before the exposure: the first event's net is kept; if the exposure comes from another
    // net, the events were not the unit's.
    assert!(w.apply(Unit(2), error_from(9, 1)));
    assert!(w.apply(Unit(2), exposed_from("on", 10)));
    assert_eq!(w.tally().arms["on"].client_error_units, 1);
    assert!(w.apply(Unit(3), error_from(11, 1)));
    assert!(w.apply(Unit(3), exposed_from("on", 11)));
    assert_eq!(w.tally().arms["on"].client_error_units, 2);
}

#[test]
fn one_unit_per_net_and_arm_speaks_for_its_net() {
    let mut w = Window::default();
    // 100 units minted on one net, each with an error: 100 units, one of them for the net.
    for u in 0..100 {
        w.apply(Unit(u), exposed_from("on", 1));
        w.apply(Unit(u), error_from(1, 1));
    }
    // 30 units on nets of their own; one of the same net in the other arm.
    for u in 100..130 {
        w.apply(Unit(u), exposed_from("on", u as u32));
        w.apply(Unit(u), error_from(u as u32, 1));
    }
    w.apply(Unit(500), exposed_from("off", 1));
    let on = &w.tally().arms["on"];
    assert_eq!((on.units, on.client_error_units), (130, 130));
    let reps = on.reps();
    assert_eq!((reps.units, reps.client_error_units), (31, 31));
    assert_eq!(
        w.tally().arms["off"].reps().units,
        1,
        "each arm has its own"
    );
    // Later facts about a representative keep its place; others never take it.
    assert!(w.unit(Unit(0)).unwrap().rep && !w.unit(Unit(1)).unwrap().rep);
}

#[test]
fn errors_are_counted_by_their_delay_after_the_first_exposure() {
    let mut w = Window::default();
    w.apply(Unit(1), exposed_from("on", 1));
    w.apply(Unit(1), error_from(1, 45));
    w.apply(Unit(2), exposed_from("on", 2));
    w.apply(Unit(2), error_from(2, 3));
    w.apply(
        Unit(3),
        Fact::Exposed {
            variant: "on",
            minute: 500,
            upstream: Upstream::one(Some(502), 10),
            outside: false,
            net: Some(Net(3)),
        },
    );
    w.apply(Unit(3), exposed_from("on", 3));
    let on = &w.tally().arms["on"];
    assert_eq!(
        on.errors_within(false, 30),
        1,
        "the error at 44 minutes is past 30"
    );
    assert_eq!(on.errors_within(false, 60), 2);
    // Unit 3's first exposure was at minute 500 with its server error: delay 0.
    assert_eq!(on.errors_within(true, 0), 1);
}

#[test]
fn capped_sightings_enter_no_arm_and_keep_no_row() {
    use pilot_gate_core::evidence::record::{FlagDelta, Sighting, SightingKey};
    let sighting = |unit: u64, capped: bool| Sighting {
        key: SightingKey {
            flag: "pilot".into(),
            variant: "on".into(),
            unit: Unit(unit),
            minute: 1,
            revision: 5,
            outside: false,
            net: Some(Net(1)),
            capped,
        },
        upstream: Upstream::default(),
    };
    let delta = FlagDelta {
        sightings: (0..1_000).map(|u| sighting(u, u >= 600)).collect(),
        events: vec![],
    };
    let mut w = Window::default();
    w.apply_delta(&delta, 5);
    assert_eq!(w.tally().arms["on"].units, 600);
    assert_eq!(w.tally().capped, 400);
    assert_eq!(w.units(), 600, "no state is kept for a capped unit");
    // Sightings of an older window are no one's.
    let mut old = Window::default();
    old.apply_delta(&delta, 6);
    assert_eq!((old.units(), old.tally().capped), (0, 0));
}
