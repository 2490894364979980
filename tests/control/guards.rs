//! Each guard on hand-computed cases; holds never roll back; actions carry their figures.

use pilot_gate::core::control::guards::{
    evaluate, Action, Breaker, Comparative, Evidence, GuardState, Guardrail, GuardrailAction,
    Guards, Kpi, NoData, SampleRatio, Setting,
};
use pilot_gate::core::control::tally::{Arm, Arms};

fn arms(pilot: Arm, control: Arm) -> Arms {
    Arms::from([("on".to_owned(), pilot), ("off".to_owned(), control)])
}

/// An arm whose errors are all client errors (what both arms of any route can show).
fn arm(exposures: u64, errors: u64) -> Arm {
    Arm {
        exposures,
        errors,
        client_errors: errors,
        ..Arm::default()
    }
}

fn setting(tier: usize, share: Option<f64>, strikes: u32) -> Setting<'static> {
    Setting {
        pilot: "on",
        control: "off",
        off: "off",
        tier,
        expected_share: share,
        breaker_strikes: strikes,
    }
}

fn none() -> Guards {
    Guards {
        comparative: None,
        breaker: None,
        sample_ratio: None,
        no_data: None,
        guardrails: vec![],
    }
}

fn one(
    guards: Guards,
    s: &Setting<'_>,
    since_tier: Arms,
) -> (GuardState, Option<Action>, serde_json::Value) {
    let e = Evidence {
        breaker: since_tier.clone(),
        no_data: since_tier.clone(),
        since_tier,
    };
    let v = evaluate(&guards, s, &e);
    assert_eq!(v.len(), 1);
    let figures = serde_json::to_value(&v[0].figures).unwrap();
    (v[0].state, v[0].action.clone(), figures)
}

#[test]
fn comparative_by_hand() {
    let g = || Guards {
        comparative: Some(Comparative::default()),
        ..none()
    };
    let s = setting(2, Some(0.5), 0);
    // Equal arms, R = 3: each pilot error adds ln 1.5 = 0.4055, each control error ln 0.5.
    // upper = ln 100 = 4.6052; lower = ln(0.1 / 0.99) = -2.2925.
    let (st, act, f) = one(g(), &s, arms(arm(1000, 13), arm(1000, 1)));
    assert_eq!(
        (st, act),
        (GuardState::Undecided, None),
        "13 ln 1.5 + ln 0.5 = 4.578 < 4.605"
    );
    assert!((f["lambda"].as_f64().unwrap() - 4.5779).abs() < 1e-3);
    let (st, act, f) = one(g(), &s, arms(arm(1000, 14), arm(1000, 1)));
    assert_eq!(
        (st, act),
        (GuardState::Tripped, Some(Action::Rollback)),
        "4.984 >= 4.605"
    );
    assert!((f["upper"].as_f64().unwrap() - 100f64.ln()).abs() < 1e-12);
    let (st, _, _) = one(g(), &s, arms(arm(1000, 1), arm(1000, 5)));
    assert_eq!(
        st,
        GuardState::Healthy,
        "ln 1.5 + 5 ln 0.5 = -3.06 <= -2.29"
    );
    // Past the upper bound on a single pilot error: below M = 3 errors, no rollback.
    let big_r = Guards {
        comparative: Some(Comparative {
            r: 200.0,
            ..Comparative::default()
        }),
        ..none()
    };
    let (st, _, f) = one(big_r, &s, arms(arm(10, 1), arm(100_000, 0)));
    assert!(f["lambda"].as_f64().unwrap() > f["upper"].as_f64().unwrap());
    assert_eq!(st, GuardState::Undecided);
    // Tier 1 is the allowlist, not a random sample.
    assert_eq!(
        one(g(), &setting(1, None, 0), arms(arm(1000, 50), arm(1000, 1))).0,
        GuardState::NotApplicable
    );
}

#[test]
fn breaker_by_hand_needs_two_consecutive_checks() {
    let g = || Guards {
        breaker: Some(Breaker::default()),
        ..none()
    };
    // 80 errors in 1000: Wilson lower bound at z = 2.33 is 0.0627 > 0.05.
    let (st, act, f) = one(g(), &setting(1, None, 0), arms(arm(1000, 80), arm(0, 0)));
    assert_eq!((st, act), (GuardState::Warning, None));
    assert!(
        (f["wilsonLow"].as_f64().unwrap() - 0.0627).abs() < 5e-4,
        "{f}"
    );
    let (st, act, _) = one(g(), &setting(1, None, 1), arms(arm(1000, 80), arm(0, 0)));
    assert_eq!(
        (st, act),
        (GuardState::Tripped, Some(Action::Rollback)),
        "applies at tier 1 too"
    );
    // 60 in 1000: the rate is over 5 % but its lower bound (0.0446) is not.
    assert_eq!(
        one(g(), &setting(2, None, 1), arms(arm(1000, 60), arm(0, 0))).0,
        GuardState::Healthy
    );
    // Too few exposures, however bad.
    assert_eq!(
        one(g(), &setting(2, None, 1), arms(arm(50, 50), arm(0, 0))).0,
        GuardState::Healthy
    );
}

#[test]
fn sample_ratio_and_no_data_hold_and_never_roll_back() {
    let srm = || Guards {
        sample_ratio: Some(SampleRatio::default()),
        ..none()
    };
    // 10 % expected: 150 of 1000 gives χ² = 25 + 2.78 = 27.8, p ≈ 1.4e-7.
    let (st, act, f) = one(
        srm(),
        &setting(2, Some(0.1), 0),
        arms(arm(150, 0), arm(850, 0)),
    );
    assert_eq!((st, act), (GuardState::Hold, None));
    assert!((f["chi2"].as_f64().unwrap() - 27.777).abs() < 1e-2);
    assert_eq!(
        one(
            srm(),
            &setting(2, Some(0.1), 0),
            arms(arm(103, 0), arm(897, 0))
        )
        .0,
        GuardState::Healthy
    );
    assert_eq!(
        one(srm(), &setting(2, None, 0), arms(arm(150, 0), arm(850, 0))).0,
        GuardState::NotApplicable
    );
    let nd = || Guards {
        no_data: Some(NoData::default()),
        ..none()
    };
    assert_eq!(
        one(nd(), &setting(2, None, 0), arms(arm(10, 0), arm(9, 0))).1,
        None
    );
    assert_eq!(
        one(nd(), &setting(2, None, 0), arms(arm(10, 0), arm(9, 0))).0,
        GuardState::Hold
    );
    assert_eq!(
        one(nd(), &setting(2, None, 0), arms(arm(10, 0), arm(10, 0))).0,
        GuardState::Healthy
    );
}

#[test]
fn the_mic_grant_guardrail_falls_back_on_a_real_drop_only() {
    let rail = |action| Guards {
        guardrails: vec![Guardrail {
            kpi: Kpi::MicGrantRate,
            max_drop_pct: 10.0,
            action,
            variant: Some("native".into()),
            min_trials: 30,
            p_value: 0.01,
        }],
        ..none()
    };
    let mic = |prompts, granted| Arm {
        mic_prompts: prompts,
        mic_granted: granted,
        ..Arm::default()
    };
    let s = setting(4, None, 0);
    let (st, act, f) = one(
        rail(GuardrailAction::Fallback),
        &s,
        arms(mic(100, 60), mic(100, 90)),
    );
    assert_eq!(
        (st, act),
        (GuardState::Tripped, Some(Action::Fallback("native".into())))
    );
    assert_eq!(f["pilot"]["rate"], 0.6);
    assert_eq!(
        one(
            rail(GuardrailAction::Fallback),
            &s,
            arms(mic(100, 88), mic(100, 90))
        )
        .0,
        GuardState::Healthy
    );
    assert_eq!(
        one(
            rail(GuardrailAction::Fallback),
            &s,
            arms(mic(25, 5), mic(100, 90))
        )
        .0,
        GuardState::Undecided
    );
    assert_eq!(
        one(
            rail(GuardrailAction::Pause),
            &s,
            arms(mic(100, 60), mic(100, 90))
        )
        .1,
        Some(Action::Pause)
    );
    // The extreme drop (custom never grants, native always does) trips: the test's variance is
    // taken under the null, so it holds where a Wald test's vanishes.
    let (st, act, f) = one(
        rail(GuardrailAction::Fallback),
        &s,
        arms(mic(40, 0), mic(40, 40)),
    );
    assert_eq!(
        (st, act),
        (GuardState::Tripped, Some(Action::Fallback("native".into())))
    );
    assert!(f["pValue"].as_f64().unwrap() < 1e-6, "{f}");
    // Undefined evidence is never healthy: nobody granted in either arm, or more grants than
    // prompts (a unit may grant without a prompt event).
    for (pilot, control) in [(mic(40, 0), mic(40, 0)), (mic(40, 41), mic(40, 40))] {
        let (st, _, f) = one(rail(GuardrailAction::Fallback), &s, arms(pilot, control));
        assert_eq!(st, GuardState::Undecided, "{f}");
        assert!(f["pValue"].is_null());
    }
}

/// The drop test at the margin's boundary (pilot exactly `1 − margin` times control): how often
/// it rejects at level 0.01, by simulation, across rates from 5 % to 100 % and samples from 30
/// to 1,000. A valid test rejects about 1 % (a little more or less from discreteness and the
/// simulation's own noise).
#[test]
fn the_drop_test_holds_its_level_at_the_boundary_from_small_samples_to_large() {
    use pilot_gate::core::control::stats::drop_p_value;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    let margin = 0.10;
    let runs = 4_000;
    let mut worst = (0.0, 0.0, 0);
    for control_rate in [0.05, 0.3, 0.6, 0.9, 1.0] {
        for n in [30u64, 100, 1_000] {
            let pilot_rate = (1.0 - margin) * control_rate;
            let mut rejected = 0;
            for _ in 0..runs {
                let mut draw = |rate: f64| (0..n).filter(|_| uniform() < rate).count() as u64;
                let (xa, xb) = (draw(pilot_rate), draw(control_rate));
                if drop_p_value(xa, n, xb, n, margin).is_some_and(|p| p < 0.01) {
                    rejected += 1;
                }
            }
            let share = f64::from(rejected) / f64::from(runs);
            println!(
                "drop test at the boundary: control {control_rate:.2}, pilot {pilot_rate:.3}, \
                 n = {n} per arm: rejects {:.2} % at level 1 %",
                share * 100.0
            );
            if share > worst.0 {
                worst = (share, control_rate, n);
            }
        }
    }
    assert!(
        worst.0 <= 0.02,
        "rejects {:.2} % at control rate {} with n = {}",
        worst.0 * 100.0,
        worst.1,
        worst.2
    );
}

#[test]
fn the_sample_ratio_test_is_exact_at_small_counts() {
    use pilot_gate::core::control::stats::{srm, SRM_EXACT_MAX};
    // The χ² tail said 5.7e-7 here; the exact binomial tail is 1.9e-4.
    let (_, p) = srm(9, 91, 0.02).unwrap();
    assert!((1.7e-4..2.1e-4).contains(&p), "{p}");
    // Exact and χ² agree where χ² is accurate, on either side of the switch.
    let pilot = SRM_EXACT_MAX * 52 / 100;
    let (_, exact) = srm(pilot, SRM_EXACT_MAX - pilot, 0.5).unwrap();
    let (_, approx) = srm(pilot + 1, SRM_EXACT_MAX - pilot + 1, 0.5).unwrap();
    println!("sample ratio: 52 % of {SRM_EXACT_MAX} at 50 %: exact p = {exact:.3e}, chi2 p one step above = {approx:.3e}");
    assert!(
        (exact.ln() - approx.ln()).abs() < 0.1,
        "{exact} vs {approx}"
    );
    // A split as expected is no evidence of a mismatch.
    let (_, p) = srm(10, 90, 0.1).unwrap();
    assert!(p > 0.99, "{p}");
}

#[test]
fn server_errors_count_in_the_comparative_test_only_when_both_arms_reach_the_upstream() {
    let g = || Guards {
        comparative: Some(Comparative::default()),
        ..none()
    };
    let s = setting(3, Some(0.5), 0);
    // A gated route: the pilot's requests reach the upstream, control's are redirected. 30 of
    // 1,000 pilot units had a server error; control can show none, so they are left out.
    let pilot = Arm {
        server_errors: 30,
        observed: 1000,
        ..arm(1000, 0)
    };
    let pilot = Arm {
        errors: 30,
        ..pilot
    };
    let (state, _, f) = one(g(), &s, arms(pilot.clone(), arm(1000, 0)));
    assert_eq!(f["errorKind"], "client");
    assert_eq!(
        (f["pilotErrors"].as_u64(), f["controlErrors"].as_u64()),
        (Some(0), Some(0))
    );
    assert_ne!(state, GuardState::Tripped);
    // Both arms reach it (an ungated flag whose pages pass through): they count.
    let control = Arm {
        observed: 1000,
        ..arm(1000, 0)
    };
    let (state, action, f) = one(g(), &s, arms(pilot, control));
    assert_eq!(f["errorKind"], "all");
    assert_eq!(f["pilotErrors"], 30);
    assert_eq!(
        (state, action),
        (GuardState::Tripped, Some(Action::Rollback))
    );
}

#[test]
fn verdicts_cross_between_objects_typed_and_unchanged() {
    use pilot_gate::core::control::guards::{GuardKind, Verdict};
    let guards = Guards {
        guardrails: vec![Guardrail {
            kpi: Kpi::MicGrantRate,
            max_drop_pct: 10.0,
            action: GuardrailAction::Fallback,
            variant: Some("off".into()),
            min_trials: 30,
            p_value: 0.01,
        }],
        ..Guards::default()
    };
    let arms = arms(arm(500, 40), arm(500, 5));
    let e = Evidence {
        breaker: arms.clone(),
        no_data: arms.clone(),
        since_tier: arms,
    };
    let verdicts = evaluate(&guards, &setting(3, Some(0.5), 1), &e);
    let kinds: Vec<GuardKind> = verdicts.iter().map(|v| v.guard).collect();
    assert_eq!(
        kinds,
        [
            GuardKind::Comparative,
            GuardKind::Breaker,
            GuardKind::SampleRatio,
            GuardKind::NoData,
            GuardKind::Guardrail(Kpi::MicGrantRate)
        ]
    );
    let text = serde_json::to_string(&verdicts).unwrap();
    assert!(
        text.contains(r#""guard":"guardrail:mic_grant_rate""#),
        "{text}"
    );
    let back: Vec<Verdict> = serde_json::from_str(&text).unwrap();
    assert_eq!(
        back, verdicts,
        "every guard's figures come back as they went"
    );
    assert_eq!(GuardKind::parse("guardrail:nope"), None);
}
