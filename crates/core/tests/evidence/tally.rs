//! Counting per unit: a unit with a hundred errors is one unit with an error; redelivery and
//! re-sends change nothing; a unit counts in the arm of its first exposure, and one exposed to
//! two variants is counted apart; an event from a unit never exposed counts nowhere, and one
//! that arrives before its unit's exposure counts once the exposure does.

use pilot_gate_core::evidence::record::Upstream;
use std::collections::BTreeMap;

use pilot_gate_core::evidence::tally::{Fact, Window, ERROR_EVENT};
use pilot_gate_core::evidence::unit::Unit;

fn exposed(variant: &str) -> Fact<'_> {
    Fact::Exposed {
        variant,
        minute: 1,
        upstream: Upstream::default(),
        outside: false,
    }
}

/// No values.
static NONE: BTreeMap<String, f64> = BTreeMap::new();

const ERROR: Fact<'static> = Fact::Event {
    name: ERROR_EVENT,
    values: &NONE,
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
            },
        ),
        (
            Unit(3),
            Fact::Exposed {
                variant: "on",
                minute: 1,
                upstream: Upstream::one(Some(503), 80),
                outside: false,
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
            values: &NONE
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
        },
    );
    w.apply(
        u,
        Fact::Exposed {
            variant: "on",
            minute: 2,
            upstream: Upstream::one(None, 900),
            outside: false,
        },
    );
    for ms in [1_000.0, 9_000.0] {
        let values = BTreeMap::from([("ms".to_owned(), ms)]);
        w.apply(
            u,
            Fact::Event {
                name: "ttv",
                values: &values,
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
