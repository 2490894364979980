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
use pilot_gate_core::control::sequential::per_window;
use sim::{print_delays, print_false, print_rule, Arms, Forgers, Plan, Scenario, DELAY_RUNS};

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

/// The window's share of a guard's α on the default ladder (4 tiers above 0).
fn alpha_window(alpha: f64) -> f64 {
    per_window(alpha, 1, 4)
}

#[test]
fn monitored_comparative_aa_over_24_hours_acts_at_most_alpha() {
    for level in LEVELS {
        for (what, arms) in [
            ("A/A client errors, tier 50 %", Arms::errors(BASE, BASE)),
            (
                "A/A server errors, tier 50 %",
                Arms::errors(BASE, BASE).served(),
            ),
        ] {
            let s = Scenario::new(comparative(), 3, level, arms);
            let share = s.false_actions(0xa11ce + level as u64, DAY_MIN);
            print_false("comparative", what, level, share, alpha_window(0.01));
            assert!(share <= sim::bound(alpha_window(0.01)), "{what}: {share}");
        }
    }
}

#[test]
fn monitored_breaker_at_exactly_theta_over_24_hours_acts_at_most_alpha() {
    for level in LEVELS {
        // Tier 10 %: the pilot's units err at exactly θ = 5 %.
        for (what, arms) in [
            ("at θ = 5 %, client, tier 10 %", Arms::errors(0.05, BASE)),
            (
                "at θ = 5 %, server, tier 10 %",
                Arms::errors(0.05, BASE).served(),
            ),
        ] {
            let s = Scenario::new(breaker(), 2, level, arms);
            let share = s.false_actions(0xb4ea + level as u64, DAY_MIN);
            print_false("breaker", what, level, share, alpha_window(0.01));
            assert!(share <= sim::bound(alpha_window(0.01)), "{what}: {share}");
        }
    }
}

#[test]
fn monitored_sample_ratio_over_24_hours_holds_at_most_alpha() {
    // At α = 0.01 (ten times the default): the same construction, at a level that 4,000 runs
    // can check to twice its window's share.
    let srm = only(|g| {
        g.sample_ratio = Some(SampleRatio {
            alpha: 0.01,
            ..SampleRatio::default()
        })
    });
    for level in LEVELS {
        let s = Scenario::new(srm.clone(), 2, level, Arms::errors(BASE, BASE));
        let share = s.false_actions(0x5a3 + level as u64, DAY_MIN);
        print_false(
            "sample_ratio",
            "right split, tier 10 %, α = 1 %",
            level,
            share,
            alpha_window(0.01),
        );
        assert!(share <= sim::bound(alpha_window(0.01)), "{share}");
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
            print_false(
                "guardrail:mic_grant",
                what,
                level,
                share,
                alpha_window(0.01),
            );
            assert!(share <= sim::bound(alpha_window(0.01)), "{what}: {share}");
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
    // Every guard, A/A, a whole plan: 6 hours at each of 1, 10, 50 and 100 %, a window at
    // each tier. False actions: pauses, rollbacks, fallbacks and holds. The plan's stated
    // bound is the sum over its guards' α: 0.01 (comparative) + 0.01 (breaker) + 0.001
    // (sample ratio) + 0.01 (the guardrail) = 3.1 % (client-reported errors here; on a route
    // whose upstream answers both arms the edge's tests add their own α).
    let all = Guards {
        guardrails: mic_rail().guardrails,
        ..Guards::default()
    };
    let stated = 0.031;
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
            stated,
        );
        assert!(share <= sim::bound(stated), "{share}");
    }
}

#[test]
fn monitored_an_r3_regression_after_6_hours_is_caught_within_minutes() {
    let mut guards = comparative();
    guards.breaker = Some(Breaker::default());
    for (tier, share) in [(2, "10 %"), (3, "50 %")] {
        for level in [1_000.0, 10_000.0, 100.0] {
            for (kind, arms) in [
                ("client", Arms::errors(BASE, BASE)),
                ("server", Arms::errors(BASE, BASE).served()),
            ] {
                let s = Scenario::new(guards.clone(), tier, level, arms);
                let regressed = if kind == "server" {
                    Arms::errors(3.0 * BASE, BASE).served()
                } else {
                    Arms::errors(3.0 * BASE, BASE)
                };
                let late =
                    s.regressing(regressed)
                        .delays(0x74 + level as u64 + tier as u64, 360, 240);
                let what = format!("R = 3 after 6 h, {kind}, tier {share}");
                print_delays("comparative + breaker", &what, level, &late);
                // Within half an hour wherever a tier sees 100 pilot units a minute or more.
                if level * if tier == 2 { 0.1 } else { 0.5 } >= 50.0 {
                    assert!(sim::median(&late).is_some_and(|m| m <= 30.0), "{late:?}");
                }
                if level == 1_000.0 && tier == 2 {
                    // Issue 30's goal: within a median of 7 minutes (the code before it: 7.0 in
                    // this simulation). Printed, not loosened, until met.
                    let m = sim::median(&late).unwrap_or(f64::INFINITY);
                    let met = if m <= 7.0 { "met" } else { "NOT MET" };
                    println!(
                        "issue 30 goal: R = 3 after 6 h caught within a median of 7 min at 1,000 units/min on 10 % ({kind}): {m:.2} min: {met}"
                    );
                }
            }
        }
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

/// No honest errors at all: any action is the forger's doing.
fn clean() -> Arms {
    Arms::errors(0.0, 0.0)
}

#[test]
fn monitored_forged_client_errors_never_roll_back_and_from_few_nets_do_nothing() {
    let guards = Guards::default();
    for (tier, share) in [(2, "10 %"), (3, "50 %")] {
        for level in LEVELS {
            let s = Scenario::new(guards.clone(), tier, level, clean()).lighter(60, 100);
            for (what, nets, per_net) in [
                ("1 net, 600 identities a min", 1, 600.0),
                ("24 nets, 600 identities a min each", 24, 600.0),
                ("1,000 nets, 10 identities a min each", 1_000, 10.0),
            ] {
                let forged = s.forged(Forgers {
                    nets,
                    per_net_per_min: per_net,
                    from_min: 10,
                    for_min: 60,
                });
                let (any, strong) = forged.actions(0xf0 + nets + level as u64, 180);
                println!(
                    "forged client errors       {what:<38} tier {share:<5} {level:>6} units/min: \
                     actions {:.1} % (rollback, fallback or step back {:.1} %) of {} runs",
                    any * 100.0,
                    strong * 100.0,
                    forged.runs
                );
                assert_eq!(strong, 0.0, "{what}: never more than a pause");
                if nets < 25 {
                    assert_eq!(any, 0.0, "{what}: no action at all");
                }
            }
        }
    }
}

#[test]
fn monitored_healthy_at_the_dwell_is_rare_under_a_regression() {
    // 0.5 % of control's units err; the pilot's 3 times as many from 15 minutes before the
    // dwell (1 hour) on, or from the start.
    let base = 0.005;
    let guards = Guards::default();
    for (kind, arms, regressed) in [
        (
            "client",
            Arms::errors(base, base),
            Arms::errors(3.0 * base, base),
        ),
        (
            "server",
            Arms::errors(base, base).served(),
            Arms::errors(3.0 * base, base).served(),
        ),
    ] {
        let s = Scenario::new(guards.clone(), 2, 1_000.0, arms).lighter(60, 200);
        let late = s
            .regressing(regressed)
            .healthy_at(0xd1 + kind.len() as u64, 60, 45);
        let always = s
            .with(regressed)
            .healthy_at(0xd2 + kind.len() as u64, 60, 0);
        println!(
            "P(healthy at the dwell)    3x for the last 15 min, {kind:<6} tier 10 %   1000 units/min: {:.1} %",
            late * 100.0
        );
        println!(
            "P(healthy at the dwell)    3x throughout, {kind:<6}            tier 10 %   1000 units/min: {:.1} %",
            always * 100.0
        );
        assert!(late <= 0.10, "{kind}: {late}");
        assert!(always <= 0.10, "{kind}: {always}");
        // At 100 units a minute: the dwell a tier needs for the same.
        let slow = Scenario::new(guards.clone(), 2, 100.0, arms).lighter(60, 200);
        let needed = [60, 120, 240, 480, 960].into_iter().find(|&dwell| {
            let p = slow
                .regressing(regressed)
                .healthy_at(0xd3 + dwell, dwell, dwell - 15);
            println!(
                "P(healthy at the dwell)    3x for the last 15 min, {kind:<6} tier 10 %    100 units/min, dwell {dwell} min: {:.1} %",
                p * 100.0
            );
            p <= 0.10
        });
        println!(
            "dwell needed at 100 units/min on 10 % ({kind}): {}",
            needed.map_or("more than 16 h".to_owned(), |d| format!("{d} min"))
        );
        assert!(
            needed.is_some(),
            "{kind}: no dwell up to 16 h keeps it at 10 %"
        );
    }
    // A 5 % metric halved is never healthy.
    let rail = mic_rail();
    let halved = Scenario::new(rail, 2, 100.0, Arms::grants(0.025, 0.05)).lighter(60, 200);
    let p = halved.healthy_at(0xd4, 60, 0);
    println!(
        "P(healthy at the dwell)    a 5 % metric halved, tier 10 %       100 units/min: {:.1} %",
        p * 100.0
    );
    assert!(p <= 0.10, "{p}");
}

#[test]
fn monitored_a_share_edited_mid_tier_starts_a_new_window() {
    // A/A at 50 % for 6 hours, then the ladder is edited to 10 %: a new window (the run's
    // fifth, past the ladder's four: 0.1 · α / 2 of it) whose evidence is only what was served
    // under it (the old window's units and their late errors are not). False actions in its
    // next 18 hours.
    // At α = 0.05 over the plan, so that 4,000 runs can check the fifth window's share.
    let alpha = per_window(0.05, 5, 4);
    let guards = only(|g| {
        g.comparative = Some(Comparative {
            alpha: 0.05,
            ..Comparative::default()
        })
    });
    for level in [1_000.0, 10_000.0] {
        let s = Scenario {
            window: 5,
            ..Scenario::new(guards.clone(), 2, level, Arms::errors(BASE, BASE))
        };
        let share = s.false_actions(0x5e + level as u64, 18 * 60);
        print_false(
            "comparative",
            "A/A, after a 50 % -> 10 % edit",
            level,
            share,
            alpha,
        );
        assert!(share <= sim::bound(alpha), "{share}");
    }
}

#[test]
fn monitored_the_first_tier_is_guarded_like_any_of_its_share() {
    // The demo's tier 1 (10 % and the allowlist, the run's first window) and a tier 2 of 10 %:
    // the same regression, caught with the same delay.
    let guards = Guards::default();
    let base = Scenario::new(guards, 2, 1_000.0, Arms::errors(BASE, BASE).served());
    let regressed = Arms::errors(3.0 * BASE, BASE).served();
    let first = Scenario {
        tier: 1,
        window: 1,
        ladder_share: Some(0.10),
        ..base.clone()
    };
    let (a, b) = (
        first.regressing(regressed).delays(0x71, 60, 120),
        base.regressing(regressed).delays(0x71, 60, 120),
    );
    print_delays("every guard", "R = 3, tier 1 at 10 %", 1_000.0, &a);
    print_delays("every guard", "R = 3, tier 2 at 10 %", 1_000.0, &b);
    assert_eq!(sim::median(&a), sim::median(&b));
    assert!(sim::median(&a).is_some_and(|m| m <= 10.0), "{a:?}");
}

#[test]
fn monitored_the_long_tier_can_tell_twice_alpha() {
    // The long tier's runs make each asserted bound tighter than twice its α: a guard at 2α fails.
    let alphas = [
        ("comparative, breaker, guardrail", alpha_window(0.01)),
        ("sample ratio (α = 1 %)", alpha_window(0.01)),
        ("a fifth window (α = 5 %)", per_window(0.05, 5, 4)),
        ("a whole plan", 0.031),
    ];
    for (what, alpha) in alphas {
        let can = sim::bound(alpha) < 2.0 * alpha;
        println!(
            "precision                  {what:<38} α {:.4} %: bound {:.4} % of {} runs ({})",
            alpha * 100.0,
            sim::bound(alpha) * 100.0,
            sim::runs(),
            if can {
                "twice α fails"
            } else {
                "short tier: twice α may pass; the long tier checks it"
            }
        );
        if sim::runs() >= 4_000 {
            assert!(can, "{what}");
        }
    }
}

#[test]
fn monitored_units_that_visit_four_times_at_2_percent_each_do_not_trip_the_breaker() {
    // Each unit visits four times, each visit erring at 2 %: 7.8 % of units have an error some
    // time, above θ = 5 %, but only 2 % within the 30-minute tenure of their first exposure.
    for level in [1_000.0, 10_000.0] {
        let arms = Arms::errors(0.02, 0.02).served().revisiting(3);
        let s = Scenario::new(breaker(), 2, level, arms);
        let share = s.false_actions(0x4e + level as u64, DAY_MIN);
        print_false(
            "breaker",
            "4 visits at 2 % each, tier 10 %",
            level,
            share,
            alpha_window(0.01),
        );
        assert!(share <= sim::bound(alpha_window(0.01)), "{share}");
    }
}
