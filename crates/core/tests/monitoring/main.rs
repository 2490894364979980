//! The guards as they run: checked on every delta (every 15 s here) and every minute for 24
//! hours, through `core::control::guards::evaluate` over the same evidence an evidence object
//! builds (the window's tally and its last 60 minutes by minute of first exposure). Visitors
//! arrive at several traffic levels; a visitor's error arrives after a delay (a geometric number
//! of deltas, mean 30 s, one in 16 after more than a minute), so late errors land in old
//! minutes as they do at the edge (server errors come with the exposure itself; client errors
//! with the beacon, which flushes every 2 s).
//! Counting is per unit, so a visitor who sends a burst of errors is one unit with an error
//! (`tests/evidence/simulation.rs` shows that through the real tally).
//!
//! Each test prints its figures: false actions over 24 hours (A/A, and at exactly θ or the
//! margin), over a whole plan, and detection delays. `scripts/test` runs them with their output
//! (`cargo test --test monitoring -- --nocapture`); the plain `cargo test` skips them (their
//! names start with `monitored_`).

#[path = "../evidence/rng.rs"]
mod rng;
mod sim;

use pilot_gate_core::control::guardrail::Guardrail;
use pilot_gate_core::control::guards::{Breaker, Comparative, Guards, SampleRatio};
use sim::{print_delays, print_false, print_rule, Arms, Plan, Scenario, DELAY_RUNS};

fn only(f: impl FnOnce(&mut Guards)) -> Guards {
    let mut g = Guards {
        comparative: None,
        breaker: None,
        sample_ratio: None,
        no_data: None,
        guardrails: vec![],
    };
    f(&mut g);
    g
}

fn comparative() -> Guards {
    only(|g| g.comparative = Some(Comparative::default()))
}

fn breaker() -> Guards {
    only(|g| g.breaker = Some(Breaker::default()))
}

/// Traffic levels: exposed units a minute at the tier, both arms.
const LEVELS: [f64; 3] = [100.0, 1_000.0, 10_000.0];
/// Control's share of units with an error.
const BASE: f64 = 0.02;
const DAY_MIN: u64 = 24 * 60;

#[test]
fn monitored_comparative_aa_over_24_hours_acts_at_most_alpha() {
    for level in LEVELS {
        let s = Scenario::new(comparative(), 3, level, Arms::errors(BASE, BASE));
        let share = s.false_actions(0xa11ce + level as u64, DAY_MIN);
        print_false("comparative", "A/A, tier 50 %", level, share, 0.01);
        assert!(share <= sim::bound(0.01), "{share}");
    }
}

#[test]
fn monitored_breaker_at_exactly_theta_over_24_hours_acts_at_most_alpha() {
    for level in LEVELS {
        // Tier 10 %: the pilot's units err at exactly θ = 5 %.
        let s = Scenario::new(breaker(), 2, level, Arms::errors(0.05, BASE));
        let share = s.false_actions(0xb4ea + level as u64, DAY_MIN);
        print_false("breaker", "at θ = 5 %, tier 10 %", level, share, 0.01);
        assert!(share <= sim::bound(0.01), "{share}");
    }
}

#[test]
fn monitored_sample_ratio_over_24_hours_holds_at_most_alpha() {
    let srm = only(|g| g.sample_ratio = Some(SampleRatio::default()));
    for level in LEVELS {
        let s = Scenario::new(srm.clone(), 2, level, Arms::errors(BASE, BASE));
        let share = s.false_actions(0x5a3 + level as u64, DAY_MIN);
        print_false(
            "sample_ratio",
            "right split, tier 10 %",
            level,
            share,
            0.001,
        );
        assert!(share <= sim::bound(0.001), "{share}");
    }
    // A split that is wrong (the pilot gets 5 % where 10 % was expected) holds within minutes.
    let wrong = Scenario {
        served_share: Some(0.05),
        ..Scenario::new(srm, 2, 1_000.0, Arms::errors(BASE, BASE))
    };
    let delays = wrong.delays(0x5a4, 0, 120);
    print_delays(
        "sample_ratio",
        "5 % served where 10 % expected",
        1_000.0,
        &delays,
    );
    assert!(
        sim::median(&delays).is_some_and(|m| m <= 10.0),
        "{delays:?}"
    );
}

/// The launch runbook's rule: TTV p90 above 5 s for 10 minutes steps back.
fn ttv_rail() -> Guards {
    rail(serde_json::json!(
        {"metric": "ttv", "quantile": "p90", "above": 5000, "forMin": 10,
         "action": "step_back", "toTier": 1}
    ))
}

/// Only this guardrail, as a plan writes it.
fn rail(spec: serde_json::Value) -> Guards {
    only(|g| g.guardrails = vec![serde_json::from_value::<Guardrail>(spec).expect("guardrail")])
}

#[test]
fn monitored_absolute_ttv_guardrail_false_actions_and_delay() {
    // An operating rule, not a test: what it does at a true p90 below, near and above 5 s.
    for (what, p90, level) in [
        ("p90 4 s (below the bound)", 4_000.0, 100.0),
        ("p90 4 s (below the bound)", 4_000.0, 1_000.0),
        ("p90 4.5 s (near the bound)", 4_500.0, 1_000.0),
    ] {
        let s = Scenario::new(ttv_rail(), 3, level, Arms::ttv(p90, p90)).lighter(11, 100);
        let share = s.false_actions(0x77 + p90 as u64 + level as u64, DAY_MIN);
        print_rule("guardrail:ttv:p90", what, level, share, s.runs);
        assert!(share <= 0.02, "{what} at {level}: {share}");
    }
    for level in [100.0, 1_000.0] {
        let s = Scenario::new(ttv_rail(), 3, level, Arms::ttv(4_000.0, 4_000.0)).lighter(11, 100);
        let delays = s
            .regressing(Arms::ttv(7_000.0, 4_000.0))
            .delays(0x78 + level as u64, 360, 60);
        print_delays("guardrail:ttv:p90", "p90 7 s after 6 h", level, &delays);
        assert!(
            sim::median(&delays).is_some_and(|m| m <= 12.0),
            "{level}: {delays:?}"
        );
    }
}

fn mic_rail() -> Guards {
    rail(serde_json::json!(
        {"metric": "mic_grant", "maxDropPct": 10, "action": "fallback"}
    ))
}

#[test]
fn monitored_guardrail_aa_and_at_the_margin_over_24_hours_acts_at_most_alpha() {
    for (what, pilot, control) in [
        ("A/A at 5 %", 0.05, 0.05),
        ("A/A at 90 %", 0.9, 0.9),
        ("at the margin: 81 % vs 90 %", 0.81, 0.9),
        ("at the margin: 4.5 % vs 5 %", 0.045, 0.05),
    ] {
        for level in [100.0, 1_000.0] {
            let s = Scenario::new(mic_rail(), 4, level, Arms::grants(pilot, control));
            let share = s.false_actions(0x6a11 + level as u64, DAY_MIN);
            print_false("guardrail:mic_grant", what, level, share, 0.01);
            assert!(share <= sim::bound(0.01), "{what}: {share}");
        }
    }
    // A real drop (60 % vs 90 %) falls back.
    let s = Scenario::new(mic_rail(), 4, 100.0, Arms::grants(0.6, 0.9));
    let delays = s.delays(0x6a12, 0, 120);
    print_delays("guardrail:mic_grant", "60 % vs 90 %", 100.0, &delays);
    assert!(
        sim::median(&delays).is_some_and(|m| m <= 15.0),
        "{delays:?}"
    );
}

#[test]
fn monitored_whole_plan_aa_acts_at_most_alpha_across_its_tiers() {
    // Every guard, A/A, a whole plan: 6 hours at each of 1, 10, 50 and 100 %, the windows
    // restarting at each tier. False actions: rollbacks, fallbacks and holds.
    let all = Guards {
        guardrails: mic_rail().guardrails,
        ..Guards::default()
    };
    for level in [1_000.0, 10_000.0] {
        let plan = Plan {
            guards: all.clone(),
            level,
            tiers: vec![(1, 0.01), (2, 0.10), (3, 0.50), (4, 1.0)],
            minutes_per_tier: 6 * 60,
        };
        let share = plan.false_actions(0x91a + level as u64);
        print_false(
            "every guard",
            "A/A, whole plan (4 tiers x 6 h)",
            level,
            share,
            0.011,
        );
        assert!(share <= sim::bound(0.011), "{share}");
    }
}

#[test]
fn monitored_an_r3_regression_after_6_hours_is_caught_within_30_minutes() {
    let mut guards = comparative();
    guards.breaker = Some(Breaker::default());
    for level in [1_000.0, 10_000.0, 100.0] {
        let s = Scenario::new(guards.clone(), 3, level, Arms::errors(BASE, BASE));
        let regressed = Arms::errors(3.0 * BASE, BASE);
        let fresh = s.with(regressed).delays(0x73 + level as u64, 0, 240);
        print_delays(
            "comparative + breaker",
            "R = 3 from the start",
            level,
            &fresh,
        );
        let late = s
            .regressing(regressed)
            .delays(0x74 + level as u64, 360, 240);
        print_delays("comparative + breaker", "R = 3 after 6 h", level, &late);
        assert!(sim::median(&late).is_some_and(|m| m <= 30.0), "{late:?}");
    }
    // The power curve between 1 and R, at 1,000 units a minute, after 6 hours.
    let s = Scenario::new(comparative(), 3, 1_000.0, Arms::errors(BASE, BASE));
    for r in [1.5, 2.0] {
        let late =
            s.regressing(Arms::errors(r * BASE, BASE))
                .delays(0x75 + (r * 10.0) as u64, 360, 240);
        print_delays("comparative", &format!("R = {r} after 6 h"), 1_000.0, &late);
    }
}

#[test]
fn monitored_a_breaker_level_regression_after_6_hours_is_caught_within_10_minutes() {
    // Tier 10 %: the pilot's error rate goes from 2 % to 2θ = 10 % after 6 hours.
    for level in [1_000.0, 10_000.0, 100.0] {
        let s = Scenario::new(breaker(), 2, level, Arms::errors(BASE, BASE));
        let late = s
            .regressing(Arms::errors(0.10, BASE))
            .delays(0xb2 + level as u64, 360, 240);
        print_delays("breaker", "2θ after 6 h, tier 10 %", level, &late);
        if level >= 1_000.0 {
            assert!(sim::median(&late).is_some_and(|m| m <= 10.0), "{late:?}");
        }
    }
}

#[test]
fn monitored_a_clean_pilot_becomes_healthy() {
    let mut guards = comparative();
    guards.breaker = Some(Breaker::default());
    for (what, pilot, control) in [("no errors", 0.0, 0.0), ("1 % both", 0.01, 0.01)] {
        let s = Scenario::new(guards.clone(), 2, 1_000.0, Arms::errors(pilot, control));
        let minutes = s.until_healthy(0xc1ea, 240);
        print_delays(
            "comparative",
            &format!("healthy, {what}, tier 10 %"),
            1_000.0,
            &minutes,
        );
        assert_eq!(minutes.len(), DELAY_RUNS, "every run becomes healthy");
        assert!(
            sim::median(&minutes).is_some_and(|m| m <= 10.0),
            "{minutes:?}"
        );
    }
}
