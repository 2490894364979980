//! Metric definitions: every kind parsed, every bad field reported with its path; each kind
//! measured on hand-made units through the real per-unit tally; where a metric stands against
//! its goal and warning sign.

use std::collections::BTreeMap;

use pilot_gate_core::control::measure::{measure, Standing};
use pilot_gate_core::evidence::metric::{parse, Metrics, Reads, MAX_EVENTS};
use pilot_gate_core::evidence::record::Upstream;
use pilot_gate_core::evidence::tally::{Fact, Window};
use pilot_gate_core::evidence::unit::Unit;
use serde_json::{json, Value};

fn demo() -> Value {
    json!({
        "ttv": {"kind": "quantile", "event": "ttv", "value": "ms", "unit": "ms",
                "goal": {"p50": "<= 2000", "p90": "<= 5000"}, "warn": {"p90": "<= 8000"}},
        "mic_grant": {"kind": "proportion", "numerator": "mic_granted", "denominator": "mic_prompt",
                      "goal": ">= 0.85", "warn": ">= 0.80"},
        "activation": {"kind": "proportion", "numerator": "activated", "denominator": "$exposure",
                       "goal": ">= 0.40", "warn": ">= 0.35"},
        "error_rate": {"kind": "proportion", "numerator": "$error", "denominator": "$exposure",
                       "goal": "< 0.05"},
        "ttfb": {"kind": "quantile", "event": "$ttfb_ms"},
        "basket": {"kind": "mean", "event": "checkout_completed", "value": "amount", "cap": 500},
    })
}

fn paths(v: Value) -> Vec<String> {
    parse(Some(&v))
        .expect_err("invalid")
        .into_iter()
        .map(|e| e.path)
        .collect()
}

#[test]
fn every_kind_parses_and_names_what_the_consumer_reads() {
    let m = parse(Some(&demo())).unwrap();
    assert_eq!(m.len(), 6);
    let reads = Reads::of(&m);
    let events: Vec<&str> = reads.events.iter().map(String::as_str).collect();
    assert_eq!(
        events,
        [
            "activated",
            "checkout_completed",
            "error",
            "mic_granted",
            "mic_prompt",
            "ttv"
        ]
    );
    assert_eq!(reads.props["ttv"].iter().collect::<Vec<_>>(), ["ms"]);
    assert_eq!(
        reads.props["checkout_completed"].iter().collect::<Vec<_>>(),
        ["amount"]
    );
    // Written back, a set reads as it was given.
    let again = parse(Some(&json!(m))).unwrap();
    assert_eq!(again, m);
    assert_eq!(parse(None).unwrap(), Metrics::new());
    assert_eq!(parse(Some(&Value::Null)).unwrap(), Metrics::new());
}

#[test]
fn every_bad_field_is_reported_with_its_path() {
    assert_eq!(paths(json!([])), ["/metrics"]);
    assert_eq!(
        paths(json!({
            "Bad Name": {"kind": "proportion", "numerator": "a", "denominator": "$exposure"},
            "no_kind": {},
            "odd_kind": {"kind": "median"},
            "p": {"kind": "proportion", "numerator": "$exposure", "denominator": "Not An Event",
                  "goal": "about 0.5", "colour": "red"},
            "q": {"kind": "quantile", "event": "ttv", "goal": {"p100": "<= 1", "p90": "fast"},
                  "warn": ">= 3"},
            "r": {"kind": "quantile", "event": "$ttfb_ms", "value": "ms", "cap": 3},
            "m": {"kind": "mean", "event": "x", "value": "a b", "cap": -1, "unit": 5},
        })),
        [
            "/metrics/Bad Name",
            "/metrics/m/value",
            "/metrics/m/cap",
            "/metrics/m/unit",
            "/metrics/no_kind/kind",
            "/metrics/odd_kind/kind",
            "/metrics/p/colour",
            "/metrics/p/numerator",
            "/metrics/p/denominator",
            "/metrics/p/goal",
            "/metrics/q/value",
            "/metrics/q/goal/p100",
            "/metrics/q/goal/p90",
            "/metrics/q/warn",
            "/metrics/r/value",
            "/metrics/r/cap",
        ]
    );
    // More client events than the evidence keeps pairs of.
    let many: serde_json::Map<String, Value> = (0..=MAX_EVENTS)
        .map(|i| {
            let m = json!({"kind": "proportion", "numerator": format!("e{i}"), "denominator": "$exposure"});
            (format!("m{i}"), m)
        })
        .collect();
    assert_eq!(paths(Value::Object(many)), ["/metrics"]);
}

/// A unit: its arm, its events, its values (`event.prop`), whether the upstream failed it.
type Spec<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, f64)], bool);

/// A window of units.
fn window(units: &[Spec<'_>]) -> Window {
    let mut w = Window::default();
    for (i, (arm, events, values, server_error)) in units.iter().enumerate() {
        let u = Unit(i as u64);
        let upstream = if *server_error {
            Upstream::one(Some(502), 120)
        } else {
            Upstream::default()
        };
        w.apply(
            u,
            Fact::Exposed {
                variant: arm,
                minute: 1,
                upstream,
                outside: false,
                net: None,
            },
        );
        for name in *events {
            let v: BTreeMap<String, f64> = values
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{name}.")))
                .map(|(k, v)| (k[name.len() + 1..].to_owned(), *v))
                .collect();
            // Sent twice: a unit counts once, with its first value.
            for bump in [0.0, 1_000.0] {
                let later: BTreeMap<String, f64> =
                    v.iter().map(|(k, x)| (k.clone(), x + bump)).collect();
                w.apply(
                    u,
                    Fact::Event {
                        name,
                        values: &later,
                        minute: 1,
                        net: None,
                    },
                );
            }
        }
    }
    w
}

#[test]
fn each_kind_is_measured_over_units() {
    let m = parse(Some(&demo())).unwrap();
    let w = window(&[
        (
            "on",
            &["mic_prompt", "mic_granted", "ttv"],
            &[("ttv.ms", 1_000.0)],
            false,
        ),
        ("on", &["mic_prompt", "ttv"], &[("ttv.ms", 3_000.0)], false),
        // Granted without a prompt: not among the prompted, so not in the numerator either.
        ("on", &["mic_granted", "activated", "error"], &[], false),
        (
            "on",
            &["checkout_completed"],
            &[("checkout_completed.amount", 900.0)],
            true,
        ),
        (
            "on",
            &["checkout_completed"],
            &[("checkout_completed.amount", 100.0)],
            false,
        ),
    ]);
    let on = &w.tally().arms["on"];
    let grant = measure(&m["mic_grant"], on);
    assert_eq!(
        (grant.hits, grant.units, grant.value),
        (Some(1), 2, Some(0.5))
    );
    let [lo, hi] = grant.interval.unwrap();
    assert!(lo < 0.5 && hi > 0.5);
    let activation = measure(&m["activation"], on);
    assert_eq!((activation.hits, activation.units), (Some(1), 5));
    let errors = measure(&m["error_rate"], on);
    assert_eq!(
        (errors.hits, errors.units),
        (Some(2), 5),
        "a client error and a server error"
    );
    let ttv = measure(&m["ttv"], on);
    assert_eq!(ttv.units, 2);
    let q = |name: &str| ttv.quantiles[name].unwrap();
    assert!(
        (q("p50") - 1_000.0).abs() <= 10.0,
        "the first value of each unit"
    );
    assert!((q("p90") - 3_000.0).abs() <= 30.0);
    let ttfb = measure(&m["ttfb"], on);
    assert_eq!(ttfb.units, 1);
    assert!((ttfb.quantiles["p50"].unwrap() - 120.0).abs() <= 1.2);
    // The mean caps each unit's value: (500 + 100) / 2.
    let basket = measure(&m["basket"], on);
    assert_eq!(basket.units, 2);
    assert!((basket.value.unwrap() - 300.0).abs() <= 3.0, "{basket:?}");
}

#[test]
fn a_metric_stands_green_amber_red_or_unknown() {
    let m = parse(Some(&demo())).unwrap();
    let grants = |granted: usize, prompted: usize| {
        let units: Vec<Spec<'_>> = (0..prompted)
            .map(|i| {
                let events: &[&str] = if i < granted {
                    &["mic_prompt", "mic_granted"]
                } else {
                    &["mic_prompt"]
                };
                ("on", events, &[][..], false)
            })
            .collect();
        let w = window(&units);
        measure(&m["mic_grant"], &w.tally().arms["on"]).standing
    };
    assert_eq!(grants(90, 100), Standing::Green, "90 % >= 85 %");
    assert_eq!(
        grants(82, 100),
        Standing::Amber,
        "82 %: below the goal, above the warning sign"
    );
    assert_eq!(grants(70, 100), Standing::Red, "70 % < 80 %");
    assert_eq!(
        measure(&m["mic_grant"], &Default::default()).standing,
        Standing::Unknown
    );
    // A goal without a warning sign: missed is red.
    let errors = |n_err: usize| {
        let units: Vec<Spec<'_>> = (0..100)
            .map(|i| {
                (
                    "on",
                    if i < n_err { &["error"][..] } else { &[][..] },
                    &[][..],
                    false,
                )
            })
            .collect();
        measure(&m["error_rate"], &window(&units).tally().arms["on"]).standing
    };
    assert_eq!((errors(4), errors(5)), (Standing::Green, Standing::Red));
    // Quantile goals: every named quantile must hold.
    let ttv = |values: &[f64]| {
        let owned: Vec<[(&str, f64); 1]> = values.iter().map(|v| [("ttv.ms", *v)]).collect();
        let units: Vec<Spec<'_>> = owned
            .iter()
            .map(|v| ("on", &["ttv"][..], &v[..], false))
            .collect();
        measure(&m["ttv"], &window(&units).tally().arms["on"]).standing
    };
    // Ten units: the 9th value by rank is the p90.
    let spread = |p90: f64| -> Vec<f64> {
        let mut v = vec![1_000.0; 8];
        v.extend([p90, p90]);
        v
    };
    assert_eq!(ttv(&spread(4_000.0)), Standing::Green);
    assert_eq!(
        ttv(&spread(6_000.0)),
        Standing::Amber,
        "p90 6 s: goal missed, warning not raised"
    );
    assert_eq!(ttv(&spread(9_000.0)), Standing::Red, "p90 9 s > 8 s");
}
