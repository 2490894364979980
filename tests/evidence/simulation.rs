//! The guards over simulated pilots whose visitors behave as real ones do: several page loads
//! each, and errors in bursts (a visitor who hits an error sends it several times). 1,000 A/A
//! runs of 6 hours, the guards checked every minute, counted three ways: per event with
//! independent errors (what the old simulation assumed), per event with clustered errors (how
//! the old code counted real traffic), and per unit (how the evidence counts now, through
//! `core::evidence::tally::Window`). Figures are printed
//! (`cargo test --test evidence simulation -- --nocapture`).

use std::collections::VecDeque;

use pilot_gate::core::control::guards::{
    evaluate, Breaker, Comparative, Evidence, GuardState, Guards, Setting,
};
use pilot_gate::core::control::tally::{Arm, Arms};
use pilot_gate::core::evidence::record::Upstream;
use pilot_gate::core::evidence::tally::{Fact, Window, ERROR_EVENT};
use pilot_gate::core::evidence::unit::Unit;

use crate::rng::Rng;

const RUNS: usize = 1_000;
const MINUTES: u64 = 360;
/// New visitors per arm per minute (the demo's traffic at 50 %).
const VISITORS: u64 = 20;
/// Page views per visitor: 1 + Poisson(2).
const EXTRA_VIEWS: f64 = 2.0;
/// The share of control visitors who hit an error.
const BASE_ERROR_SHARE: f64 = 0.02;
/// Error events a visitor with an error sends: 1 + Poisson(4).
const EXTRA_ERRORS: f64 = 4.0;

/// How a run counts.
#[derive(Clone, Copy, PartialEq)]
enum Counting {
    /// Events, with each page view failing independently (the same mean errors per visitor).
    EventsIndependent,
    /// Events, errors in bursts per visitor.
    EventsClustered,
    /// Units, through the evidence's per-unit tally.
    Units,
}

/// One minute's new figures per arm.
fn minute_of(
    rng: &mut Rng,
    counting: Counting,
    window: &mut Window,
    next_unit: &mut u64,
    variant: &str,
    error_share: f64,
    arm: &mut Arm,
) -> Arm {
    let mut fresh = Arm::default();
    for _ in 0..VISITORS {
        let views = 1 + rng.poisson(EXTRA_VIEWS);
        let hit = rng.unit() < error_share;
        let burst = if hit {
            1 + rng.poisson(EXTRA_ERRORS)
        } else {
            0
        };
        match counting {
            Counting::EventsIndependent => {
                let per_view = error_share * (1.0 + EXTRA_ERRORS) / (1.0 + EXTRA_VIEWS);
                fresh.exposures += views;
                fresh.errors += (0..views).filter(|_| rng.unit() < per_view).count() as u64;
            }
            Counting::EventsClustered => {
                fresh.exposures += views;
                fresh.errors += burst;
            }
            Counting::Units => {
                let unit = Unit(*next_unit);
                *next_unit += 1;
                for _ in 0..views {
                    window.apply(
                        unit,
                        Fact::Exposed {
                            variant,
                            upstream: Upstream::default(),
                        },
                    );
                }
                for _ in 0..burst {
                    window.apply(
                        unit,
                        Fact::Event {
                            name: ERROR_EVENT,
                            value: None,
                        },
                    );
                }
            }
        }
    }
    if counting == Counting::Units {
        let t = window
            .tally()
            .arms
            .get(variant)
            .cloned()
            .unwrap_or_default();
        fresh.exposures = t.units - arm.exposures;
        fresh.errors = t.error_units - arm.errors;
    }
    arm.exposures += fresh.exposures;
    arm.errors += fresh.errors;
    fresh
}

/// The minute at which the comparative test or the breaker rolls back, if either does.
fn run(rng: &mut Rng, counting: Counting, pilot_error_share: f64) -> Option<u64> {
    let breaker = Breaker::default();
    let guards = Guards {
        comparative: Some(Comparative::default()),
        breaker: Some(breaker.clone()),
        sample_ratio: None,
        no_data: None,
        guardrails: vec![],
    };
    let (mut p, mut c) = (Arm::default(), Arm::default());
    let mut window = Window::default();
    let mut next_unit = 0;
    let mut recent: VecDeque<Arm> = VecDeque::new();
    let mut strikes = 0;
    for minute in 1..=MINUTES {
        let fresh_p = minute_of(
            rng,
            counting,
            &mut window,
            &mut next_unit,
            "on",
            pilot_error_share,
            &mut p,
        );
        minute_of(
            rng,
            counting,
            &mut window,
            &mut next_unit,
            "off",
            BASE_ERROR_SHARE,
            &mut c,
        );
        recent.push_back(fresh_p);
        if recent.len() as u64 > breaker.window_min {
            recent.pop_front();
        }
        let in_window = recent.iter().fold(Arm::default(), |mut a, m| {
            a.exposures += m.exposures;
            a.errors += m.errors;
            a
        });
        let e = Evidence {
            since_tier: Arms::from([("on".to_owned(), p.clone()), ("off".to_owned(), c.clone())]),
            breaker: Arms::from([("on".to_owned(), in_window)]),
            no_data: Arms::new(),
        };
        let s = Setting {
            pilot: "on",
            control: "off",
            off: "off",
            tier: 3,
            expected_share: Some(0.5),
            breaker_strikes: strikes,
        };
        let verdicts = evaluate(&guards, &s, &e);
        if verdicts.iter().any(|v| v.state == GuardState::Tripped) {
            return Some(minute);
        }
        let over = verdicts
            .iter()
            .any(|v| v.guard == "breaker" && v.state == GuardState::Warning);
        strikes = if over { strikes + 1 } else { 0 };
    }
    None
}

fn false_rollbacks(seed: u64, counting: Counting) -> f64 {
    let mut rng = Rng(seed);
    let n = (0..RUNS)
        .filter(|_| run(&mut rng, counting, BASE_ERROR_SHARE).is_some())
        .count();
    n as f64 / RUNS as f64
}

#[test]
fn clustered_aa_runs_counted_per_unit_roll_back_at_most_alpha() {
    let independent = false_rollbacks(0x9e37_79b9_7f4a_7c15, Counting::EventsIndependent);
    let clustered = false_rollbacks(0x9e37_79b9_7f4a_7c15, Counting::EventsClustered);
    let units = false_rollbacks(0x9e37_79b9_7f4a_7c15, Counting::Units);
    println!(
        "A/A, {RUNS} runs of {MINUTES} min checked every minute ({VISITORS} visitors/arm/min, \
         1+Poisson({EXTRA_VIEWS}) views, {BASE_ERROR_SHARE} of visitors with 1+Poisson({EXTRA_ERRORS}) errors), \
         comparative + breaker: false rollbacks per event, independent errors {independent:.3}; \
         per event, clustered {clustered:.3}; per unit, clustered {units:.3} (alpha = 0.01)"
    );
    // Ville's inequality bounds the comparative test by α = 0.01; allow 3 standard errors.
    assert!(
        units <= 0.01 + 3.0 * (0.01f64 * 0.99 / RUNS as f64).sqrt(),
        "{units}"
    );
    // The unit is what makes the difference: counted per event, the same traffic is not valid.
    assert!(clustered > 0.05, "{clustered}");
}

#[test]
fn an_r3_regression_counted_per_unit_is_caught_within_the_hour() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut minutes: Vec<u64> = (0..RUNS)
        .filter_map(|_| run(&mut rng, Counting::Units, 3.0 * BASE_ERROR_SHARE))
        .collect();
    minutes.sort_unstable();
    let caught = minutes.len();
    let median = minutes[caught / 2];
    let p90 = minutes[caught * 9 / 10];
    println!(
        "R = 3 per unit: {caught} of {RUNS} runs rolled back; median {median} min, p90 {p90} min to detection"
    );
    assert!(caught as f64 >= 0.95 * RUNS as f64, "{caught}");
    assert!(median <= 60, "{median}");
}
