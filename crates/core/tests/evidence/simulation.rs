//! The guards over simulated pilots whose visitors behave as real ones do: several page loads
//! each, and errors in bursts (a visitor who hits an error sends it several times). 1,000 A/A
//! runs of 6 hours, the guards checked every minute, counted three ways: per event with
//! independent errors (what the old simulation assumed), per event with clustered errors (how
//! the old code counted real traffic), and per unit (how the evidence counts now, through
//! `core::evidence::tally::Window`). Figures are printed
//! (`cargo test --test evidence simulation -- --nocapture`).

use std::collections::{BTreeMap, VecDeque};

use pilot_gate_core::control::guards::{
    evaluate, Breaker, Comparative, Evidence, GuardState, Guards, Minute, Setting,
};
use pilot_gate_core::control::plan::Status;
use pilot_gate_core::control::sequential::LOOKBACK_MIN;
use pilot_gate_core::control::tally::{Arm, Arms};
use pilot_gate_core::control::watch::Watch;
use pilot_gate_core::evidence::metric::Metrics;
use pilot_gate_core::evidence::record::Upstream;
use pilot_gate_core::evidence::tally::{ArmTally, Fact, Window, ERROR_EVENT};
use pilot_gate_core::evidence::unit::{Net, Unit};

use crate::rng::Rng;

/// No values.
static NONE: BTreeMap<String, f64> = BTreeMap::new();

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

/// One minute's traffic of one arm: its new figures per event (the two event countings), or
/// its visitors taught to the window (per unit).
#[allow(clippy::too_many_arguments)]
fn minute_of(
    rng: &mut Rng,
    counting: Counting,
    window: &mut Window,
    next_unit: &mut u64,
    minute: u64,
    variant: &str,
    error_share: f64,
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
                // Every visitor on a network of its own, as most are.
                let net = Some(Net(*next_unit as u32));
                *next_unit += 1;
                for _ in 0..views {
                    let upstream = Upstream::default();
                    window.apply(
                        unit,
                        Fact::Exposed {
                            variant,
                            minute,
                            upstream,
                            outside: false,
                            net,
                        },
                    );
                }
                for _ in 0..burst {
                    window.apply(
                        unit,
                        Fact::Event {
                            name: ERROR_EVENT,
                            values: &NONE,
                            minute,
                            net,
                        },
                    );
                }
            }
        }
    }
    fresh.client_errors = fresh.errors;
    // Counted per event, every event is weighed as if it were a unit of a net of its own.
    fresh.tally.reps = Some(Box::new(ArmTally {
        units: fresh.exposures,
        client_error_units: fresh.client_errors,
        client_error_delays: [(0, fresh.client_errors)].into(),
        ..ArmTally::default()
    }));
    fresh
}

/// The plan the guards watch: pilot at 50 %, the default comparative test and breaker.
fn watch() -> Watch {
    Watch {
        flag: "pilot".into(),
        pilot: "on".into(),
        control: "off".into(),
        tier: 3,
        pct: 50,
        tiers: 4,
        status: Status::Active,
        tier_revision: 1,
        tier_since_ms: 0,
        window_since_ms: 0,
        window: 3,
        auto_advance: false,
        min_dwell_s: 0,
        metrics: Metrics::new(),
        guards: Some(Guards {
            comparative: Some(Comparative::default()),
            breaker: Some(Breaker::default()),
            sample_ratio: None,
            no_data: None,
            guardrails: vec![],
        }),
        expected_share: Some(0.5),
        killed: false,
        revision: 1,
    }
}

/// The minute at which the comparative test or the breaker rolls back, if either does: per
/// unit through the evidence's window and `Watch::verdicts`, as the evidence object checks
/// them; per event through the same guards over event counts.
fn run(rng: &mut Rng, counting: Counting, pilot_error_share: f64) -> Option<u64> {
    let watch = watch();
    let guards = watch.guards.clone().unwrap_or_default();
    let (mut p, mut c) = (Arm::default(), Arm::default());
    let mut window = Window::default();
    let mut next_unit = 0;
    let mut recent: VecDeque<Minute> = VecDeque::new();
    for minute in 0..MINUTES {
        let fresh_p = minute_of(
            rng,
            counting,
            &mut window,
            &mut next_unit,
            minute,
            "on",
            pilot_error_share,
        );
        let fresh_c = minute_of(
            rng,
            counting,
            &mut window,
            &mut next_unit,
            minute,
            "off",
            BASE_ERROR_SHARE,
        );
        let verdicts = if counting == Counting::Units {
            watch.verdicts(window.tally(), window.series(), minute)
        } else {
            for (arm, fresh) in [(&mut p, &fresh_p), (&mut c, &fresh_c)] {
                arm.exposures += fresh.exposures;
                arm.errors += fresh.errors;
                arm.client_errors += fresh.client_errors;
                let reps = arm.tally.reps.get_or_insert_default();
                reps.merge(&fresh.tally.reps());
            }
            recent.push_back(Minute {
                offset_min: minute,
                pilot: fresh_p,
                control: fresh_c,
            });
            if recent.len() as u64 > LOOKBACK_MIN {
                recent.pop_front();
            }
            let e = Evidence {
                since_tier: Arms::from([
                    ("on".to_owned(), p.clone()),
                    ("off".to_owned(), c.clone()),
                ]),
                recent: recent.iter().cloned().collect(),
                no_data: Arms::new(),
                now_offset_min: minute,
            };
            let s = Setting {
                pilot: "on",
                control: "off",
                off: "off",
                tier: 3,
                random_share: true,
                tiers: 4,
                window: 3,
                window_start_min: 0,
                expected_share: Some(0.5),
                metrics: &Metrics::new(),
            };
            evaluate(&guards, &s, &e)
        };
        if verdicts.iter().any(|v| v.state == GuardState::Tripped) {
            return Some(minute + 1);
        }
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
