//! Each guard on hand-computed cases; holds never roll back; actions carry their figures.

use std::sync::OnceLock;

use pilot_gate_core::control::guardrail::Guardrail;
use pilot_gate_core::control::guards::{
    evaluate, Action, Breaker, Comparative, Evidence, GuardState, Guards, Minute, NoData,
    SampleRatio, Setting,
};
use pilot_gate_core::control::tally::{Arm, Arms};
use pilot_gate_core::evidence::metric::Metrics;
use pilot_gate_core::evidence::sketch::Sketch;
use pilot_gate_core::evidence::tally::{pair_key, ArmTally};
use serde_json::json;

/// The demo's metrics: `mic_grant` (a proportion of event units), `activation` (of exposed
/// units) and `ttv` (quantiles of a prop).
fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        pilot_gate_core::evidence::metric::parse(Some(&json!({
            "mic_grant": {"kind": "proportion", "numerator": "mic_granted", "denominator": "mic_prompt"},
            "activation": {"kind": "proportion", "numerator": "activated", "denominator": "$exposure"},
            "ttv": {"kind": "quantile", "event": "ttv", "value": "ms"},
        })))
        .unwrap()
    })
}

/// A guardrail as a plan writes it.
fn rail(spec: serde_json::Value) -> Guards {
    Guards {
        guardrails: vec![serde_json::from_value::<Guardrail>(spec).unwrap()],
        ..none()
    }
}

/// An arm asked for the microphone `prompts` times, `granted` of them granting (every unit on
/// a net of its own, so one unit per net is every unit).
fn mic(prompts: u64, granted: u64) -> Arm {
    let mut tally = ArmTally::default();
    tally.event_units.insert("mic_prompt".into(), prompts);
    tally.event_units.insert("mic_granted".into(), granted);
    tally
        .pair_units
        .insert(pair_key("mic_granted", "mic_prompt"), granted);
    tally.reps = Some(Box::new(tally.clone()));
    Arm {
        tally,
        ..Arm::default()
    }
}

/// An arm whose units' TTVs are these (ms), each unit on a net of its own.
fn ttvs(values: &[f64]) -> Arm {
    let mut tally = ArmTally::default();
    tally
        .values
        .insert("ttv.ms".into(), Sketch::of(values.iter().copied()));
    tally.units = values.len() as u64;
    tally.reps = Some(Box::new(tally.clone()));
    Arm {
        tally,
        ..Arm::default()
    }
}

fn arms(pilot: Arm, control: Arm) -> Arms {
    Arms::from([("on".to_owned(), pilot), ("off".to_owned(), control)])
}

/// `errors` units with an error in their first minute, by delay.
fn at_first_minute(errors: u64) -> std::collections::BTreeMap<u64, u64> {
    if errors > 0 {
        [(0, errors)].into()
    } else {
        Default::default()
    }
}

/// An arm whose errors are all client errors, every unit on a net of its own (so one unit per
/// net is every unit), each error in the unit's first minute.
fn arm(exposures: u64, errors: u64) -> Arm {
    let delays = at_first_minute(errors);
    let tally = ArmTally {
        units: exposures,
        error_units: errors,
        client_error_units: errors,
        client_error_delays: delays,
        ..ArmTally::default()
    };
    let tally = ArmTally {
        reps: Some(Box::new(tally.clone())),
        ..tally
    };
    Arm {
        exposures,
        errors,
        client_errors: errors,
        tally,
        ..Arm::default()
    }
}

/// An arm whose requests an upstream answered, with server errors (edge-observed) only.
fn served(exposures: u64, errors: u64) -> Arm {
    let delays = at_first_minute(errors);
    let tally = ArmTally {
        units: exposures,
        error_units: errors,
        server_error_units: errors,
        observed_units: exposures,
        server_error_delays: delays,
        ..ArmTally::default()
    };
    let reps = ArmTally {
        units: exposures,
        ..ArmTally::default()
    };
    Arm {
        exposures,
        errors,
        server_errors: errors,
        observed: exposures,
        tally: ArmTally {
            reps: Some(Box::new(reps)),
            ..tally
        },
        ..Arm::default()
    }
}

/// The window began at minute 1,000 of the epoch; the default ladder (4 tiers above 0).
fn setting(tier: usize, share: Option<f64>) -> Setting<'static> {
    Setting {
        pilot: "on",
        control: "off",
        off: "off",
        tier,
        random_share: true,
        tiers: 4,
        window: tier as u32,
        window_start_min: 1_000,
        expected_share: share,
        metrics: metrics(),
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

/// One guard's verdict over a window that is its own first (and current) minute.
fn one(
    guards: Guards,
    s: &Setting<'_>,
    since_tier: Arms,
) -> (GuardState, Option<Action>, serde_json::Value) {
    let (state, action, figures, _) = full(guards, s, since_tier);
    (state, action, figures)
}

/// The same, with the verdict's note (as JSON).
fn full(
    guards: Guards,
    s: &Setting<'_>,
    since_tier: Arms,
) -> (
    GuardState,
    Option<Action>,
    serde_json::Value,
    serde_json::Value,
) {
    let minute = Minute {
        offset_min: 0,
        pilot: since_tier.get("on").cloned().unwrap_or_default(),
        control: since_tier.get("off").cloned().unwrap_or_default(),
    };
    let e = Evidence {
        recent: vec![minute],
        no_data: since_tier.clone(),
        since_tier,
        now_offset_min: 0,
    };
    let v = evaluate(&guards, s, &e);
    assert_eq!(v.len(), 1);
    let figures = serde_json::to_value(&v[0].figures).unwrap();
    let note = serde_json::to_value(&v[0].note).unwrap();
    (v[0].state, v[0].action.clone(), figures, note)
}

/// The allowlist alone (a tier without a random share).
fn allowlist_only() -> Setting<'static> {
    Setting {
        random_share: false,
        ..setting(1, None)
    }
}

/// One guard's verdict over a window and its recent minutes.
fn one_with(
    guards: Guards,
    s: &Setting<'_>,
    since_tier: Arms,
    recent: Vec<Minute>,
) -> (GuardState, Option<Action>, serde_json::Value) {
    let now_offset_min = recent.last().map_or(0, |m| m.offset_min);
    let e = Evidence {
        recent,
        no_data: since_tier.clone(),
        since_tier,
        now_offset_min,
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
    let s = setting(2, Some(0.5));
    // Equal arms, R = 3: each pilot error adds ln 1.5 = 0.4055, each control error ln 0.5.
    // The window's α is 0.9 · 0.01 / 4 (one of the ladder's 4 windows); the whole window's
    // share of it 1/4, so the threshold is ln(1 / 0.0005625) = 7.483; lower = ln(0.1 / (1 −
    // 0.00225)) = -2.3003.
    // Server errors, when an upstream answered both arms: edge-observed, so a rollback.
    let (st, act, f) = one(g(), &s, arms(served(1000, 20), served(1000, 1)));
    assert_eq!((st, act), (GuardState::Undecided, None), "7.417 < 7.483");
    assert!((f["lambda"].as_f64().unwrap() - 7.4169).abs() < 1e-3, "{f}");
    assert!((f["upper"].as_f64().unwrap() - (1.0 / 0.000_562_5f64).ln()).abs() < 1e-9);
    assert_eq!(f["provenance"], "edge");
    let (st, act, f) = one(g(), &s, arms(served(1000, 21), served(1000, 1)));
    assert_eq!(
        (st, act),
        (GuardState::Tripped, Some(Action::Rollback)),
        "7.822 >= 7.483: {f}"
    );
    assert!(f["fromMinute"].is_null(), "decided on the whole window");
    // Client errors cross the same way, but units from 24 nets are fewer than 25: nothing.
    let (st, act, f, note) = full(g(), &s, arms(arm(1000, 24), arm(1000, 1)));
    assert_eq!((st, act), (GuardState::Undecided, None), "{f}");
    assert_eq!(
        note,
        json!({"kind": "too_few_nets", "nets": 24, "needs": 25})
    );
    // From 30 nets: a pause, never a rollback, and the note says why.
    let (st, act, f, note) = full(g(), &s, arms(arm(1000, 30), arm(1000, 5)));
    assert_eq!((st, act), (GuardState::Tripped, Some(Action::Pause)), "{f}");
    assert_eq!(f["provenance"], "client");
    assert_eq!(note, json!({"kind": "client_only", "instead": "rollback"}));
    let (st, _, _) = one(g(), &s, arms(arm(1000, 1), arm(1000, 5)));
    assert_eq!(
        st,
        GuardState::Healthy,
        "ln 1.5 + 5 ln 0.5 = -3.06 <= -2.30, over the window and recently"
    );
    // Past the threshold on a single pilot error: below M = 3 errors, no action.
    let big_r = Guards {
        comparative: Some(Comparative {
            r: 100.0,
            ..Comparative::default()
        }),
        ..none()
    };
    let (st, _, f) = one(big_r, &s, arms(served(10, 2), served(100_000, 0)));
    assert!(f["windowLambda"].as_f64().unwrap() > f["upper"].as_f64().unwrap());
    assert_eq!(st, GuardState::Undecided);
    // A tier that is the allowlist alone is no random sample; the first tier with a share is.
    assert_eq!(
        one(
            g(),
            &allowlist_only(),
            arms(served(1000, 50), served(1000, 1))
        )
        .0,
        GuardState::NotApplicable
    );
    assert_eq!(
        one(
            g(),
            &setting(1, Some(0.1)),
            arms(served(1000, 50), served(1000, 1))
        )
        .1,
        Some(Action::Rollback)
    );
}

#[test]
fn a_clean_pilot_is_healthy_on_an_upper_bound_of_its_error_rate() {
    let g = || Guards {
        comparative: Some(Comparative::default()),
        ..none()
    };
    let s = setting(2, Some(0.5));
    // No errors anywhere: Λ = 0 says nothing. The pilot's rate is below θ = 5 % when the
    // likelihood ratio of 2.5 % against 5 % reaches 1/β = 10 over the window and recently:
    // n · ln(0.975/0.95) >= ln 10, that is from 89 clean units on.
    let (st, _, f, note) = full(g(), &s, arms(arm(88, 0), arm(88, 0)));
    assert_eq!(st, GuardState::Undecided, "{f}");
    assert_eq!(
        note,
        json!({"kind": "too_few_units", "units": 88, "needs": 89})
    );
    let (st, _, f) = one(g(), &s, arms(arm(89, 0), arm(89, 0)));
    assert_eq!(st, GuardState::Healthy, "{f}");
    assert!((f["cleanLnE"].as_f64().unwrap() - 89.0 * (0.975f64 / 0.95).ln()).abs() < 1e-9);
    // Errors at θ are no evidence of being below it (here the arms' equal errors are: the
    // SPRT's lower bound says healthy).
    let (_, _, f) = one(g(), &s, arms(arm(2000, 100), arm(2000, 100)));
    assert!(f["cleanLnE"].as_f64().unwrap() < 0.0, "{f}");
    // Clean but for a pilot far worse than control: Λ > 0, so the clean bound does not speak.
    let (st, _, f) = one(g(), &s, arms(arm(1000, 8), arm(1000, 1)));
    assert!(f["cleanLnE"].as_f64().unwrap() > f["cleanThreshold"].as_f64().unwrap());
    assert_eq!(st, GuardState::Undecided, "{f}");
    // Server errors that only the pilot's upstream saw (a gated route) are no clean record.
    let gated = Arm {
        errors: 60,
        server_errors: 60,
        observed: 1000,
        ..arm(1000, 0)
    };
    let (st, _, f) = one(g(), &s, arms(gated, arm(1000, 0)));
    assert_eq!(st, GuardState::Undecided, "{f}");
}

#[test]
fn a_regression_after_hours_of_health_is_judged_from_the_minute_it_began() {
    let g = || Guards {
        comparative: Some(Comparative::default()),
        ..none()
    };
    let s = setting(3, Some(0.5));
    // Seven hours of health at 1 %, then one minute (the 401st of the window) with 60 pilot
    // and 10 control units with a server error of 1,000 each.
    let window = arms(served(101_000, 1_060), served(101_000, 1_010));
    let recent = vec![Minute {
        offset_min: 400,
        pilot: served(1_000, 60),
        control: served(1_000, 10),
    }];
    let (st, act, f) = one_with(g(), &s, window.clone(), recent.clone());
    // The window's Λ is deep below 0: the old test would have needed hours to climb out.
    assert!(f["windowLambda"].as_f64().unwrap() < -200.0, "{f}");
    // The stretch from minute 400: Λ = 60 ln 1.5 + 10 ln 0.5 = 17.4 against
    // ln(60 · 7 · 8 · 4/3 / 0.00225) = 14.50.
    assert_eq!(
        (st, act),
        (GuardState::Tripped, Some(Action::Rollback)),
        "{f}"
    );
    assert_eq!(f["fromMinute"], 1_400);
    assert!((f["upper"].as_f64().unwrap() - (4_480.0f64 / 0.00225).ln()).abs() < 1e-9);
    assert_eq!(
        (f["pilotErrors"].as_u64(), f["controlErrors"].as_u64()),
        (Some(60), Some(10))
    );
    // The same stretch with 30 pilot errors is not enough (Λ = 5.2).
    let recent = vec![Minute {
        offset_min: 400,
        pilot: served(1_000, 30),
        control: served(1_000, 10),
    }];
    assert_ne!(one_with(g(), &s, window, recent).0, GuardState::Tripped);
}

#[test]
fn healthy_holds_over_the_window_and_the_last_30_minutes() {
    let g = || Guards {
        comparative: Some(Comparative::default()),
        ..none()
    };
    let s = setting(2, Some(0.1));
    // An hour of health (Λ far below the bound), then 30 minutes at R = 2.25: the window still
    // reads healthy, the last 30 minutes do not (nor do they cross).
    let window = arms(arm(6_000, 20), arm(54_000, 270));
    let mut recent: Vec<Minute> = (30..60)
        .map(|offset_min| Minute {
            offset_min,
            pilot: arm(100, 0),
            control: arm(900, 4),
        })
        .collect();
    for m in recent.iter_mut() {
        m.pilot = arm(100, 1);
    }
    let (st, _, f) = one_with(g(), &s, window.clone(), recent.clone());
    assert!(
        f["windowLambda"].as_f64().unwrap() <= f["lower"].as_f64().unwrap(),
        "{f}"
    );
    assert!(
        f["recentLambda"].as_f64().unwrap() > f["lower"].as_f64().unwrap(),
        "{f}"
    );
    assert_eq!(st, GuardState::Undecided, "{f}");
    // Healthy minutes throughout: healthy.
    for m in recent.iter_mut() {
        m.pilot = arm(100, 0);
        m.control = arm(900, 9);
    }
    assert_eq!(one_with(g(), &s, window, recent).0, GuardState::Healthy);
}

#[test]
fn breaker_by_hand() {
    let g = || Guards {
        breaker: Some(Breaker::default()),
        ..none()
    };
    // 2θ against θ = 5 %: each unit with an error adds ln 2, each without ln(0.90/0.95). The
    // window's α is 0.9 · 0.01 / 4, its whole window's threshold ln(1 / 0.0005625) = 7.483:
    // of 1,000 units, 83 with a server error trip it (7.95), 82 do not (7.20).
    let (st, act, f) = one(g(), &allowlist_only(), arms(served(1000, 83), arm(0, 0)));
    assert_eq!(
        (st, act),
        (GuardState::Tripped, Some(Action::Rollback)),
        "applies to the allowlist alone too: {f}"
    );
    assert!((f["threshold"].as_f64().unwrap() - (1.0 / 0.000_562_5f64).ln()).abs() < 1e-9);
    let (st, _, f) = one(g(), &setting(1, None), arms(served(1000, 82), arm(0, 0)));
    assert_eq!(st, GuardState::Healthy, "{f}");
    let l = f["lnE"].as_f64().unwrap();
    assert!((l - (82.0 * 2f64.ln() + 918.0 * (0.9f64 / 0.95).ln())).abs() < 1e-9);
    // The same on client errors from 83 nets: a pause.
    let (st, act, f, note) = full(g(), &setting(1, None), arms(arm(1000, 83), arm(0, 0)));
    assert_eq!((st, act), (GuardState::Tripped, Some(Action::Pause)), "{f}");
    assert_eq!(note, json!({"kind": "client_only", "instead": "rollback"}));
    // Too few units, however bad: undecided, never healthy.
    let (st, _, _, note) = full(g(), &setting(2, None), arms(served(50, 50), arm(0, 0)));
    assert_eq!(st, GuardState::Undecided);
    assert_eq!(
        note,
        json!({"kind": "too_few_units", "units": 50, "needs": 100})
    );
    // A recent stretch decides when the window is diluted by hours of health.
    let recent = vec![Minute {
        offset_min: 30,
        pilot: served(200, 60),
        control: arm(0, 0),
    }];
    let (st, _, f) = one_with(
        g(),
        &setting(2, None),
        arms(served(20_000, 260), arm(0, 0)),
        recent,
    );
    assert_eq!(st, GuardState::Tripped, "{f}");
    assert_eq!(f["fromMinute"], 1_030);
}

#[test]
fn the_breaker_counts_errors_within_the_tenure_of_a_first_exposure() {
    let g = || Guards {
        breaker: Some(Breaker::default()),
        ..none()
    };
    // 1,000 pilot units; 120 had a server error, 90 of them more than 30 minutes after their
    // first exposure (a return visit): 30 within the tenure is well below θ.
    let mut pilot = served(1000, 120);
    pilot.tally.server_error_delays = [(3, 30), (45, 50), (61, 40)].into();
    let (st, _, f) = one(g(), &setting(2, None), arms(pilot.clone(), arm(0, 0)));
    assert_eq!(st, GuardState::Healthy, "{f}");
    assert_eq!(f["windowErrors"], 30);
    // A tenure of 60 minutes counts the 50 at 45 minutes too: 80 errors, still below 82.
    let long = Guards {
        breaker: Some(Breaker {
            tenure_min: 60,
            ..Breaker::default()
        }),
        ..none()
    };
    let (_, _, f) = one(long, &setting(2, None), arms(pilot, arm(0, 0)));
    assert_eq!(f["windowErrors"], 80);
}

#[test]
fn sample_ratio_and_no_data_hold_and_never_roll_back() {
    let srm = || Guards {
        sample_ratio: Some(SampleRatio::default()),
        ..none()
    };
    // 10 % expected: 150 of 1000 gives a log Bayes factor of 9.87 (Beta(10, 90) prior), past
    // ln(1 / (0.9 · 0.001 / 4)) = 8.40.
    let (st, act, f) = one(
        srm(),
        &setting(2, Some(0.1)),
        arms(arm(150, 0), arm(850, 0)),
    );
    assert_eq!((st, act), (GuardState::Hold, None));
    assert!((f["lnE"].as_f64().unwrap() - 9.8671).abs() < 1e-3, "{f}");
    assert!((f["threshold"].as_f64().unwrap() - (4.0 / 0.0009f64).ln()).abs() < 1e-9);
    assert_eq!(
        one(
            srm(),
            &setting(2, Some(0.1)),
            arms(arm(103, 0), arm(897, 0))
        )
        .0,
        GuardState::Healthy
    );
    assert_eq!(
        one(srm(), &setting(2, None), arms(arm(150, 0), arm(850, 0))).0,
        GuardState::NotApplicable
    );
    let nd = || Guards {
        no_data: Some(NoData::default()),
        ..none()
    };
    assert_eq!(
        one(nd(), &setting(2, None), arms(arm(10, 0), arm(9, 0))).1,
        None
    );
    assert_eq!(
        one(nd(), &setting(2, None), arms(arm(10, 0), arm(9, 0))).0,
        GuardState::Hold
    );
    assert_eq!(
        one(nd(), &setting(2, None), arms(arm(10, 0), arm(10, 0))).0,
        GuardState::Healthy
    );
}

#[test]
fn the_mic_grant_guardrail_falls_back_on_a_real_drop_only() {
    let fallback = |client: &str| {
        rail(
            json!({"metric": "mic_grant", "maxDropPct": 10, "action": "fallback",
                   "variant": "native", "clientEvidence": client}),
        )
    };
    let s = setting(4, None);
    // 60 % vs 90 %: the score is -0.21 (variance 0.0032 under the null); the mixture's log
    // likelihood ratio over three scales at 100 units each is short of ln(1 / 0.00225) =
    // 6.097, and past it at 200 each.
    let (st, _, f, note) = full(fallback("act"), &s, arms(mic(100, 60), mic(100, 90)));
    assert_eq!(st, GuardState::Undecided, "a drop is never healthy: {f}");
    assert_eq!(note, json!({"kind": "not_shown_healthy"}));
    assert!((f["lnE"].as_f64().unwrap() - LN_E_100).abs() < 1e-3, "{f}");
    let (st, act, f) = one(fallback("act"), &s, arms(mic(200, 120), mic(200, 180)));
    assert_eq!(
        (st, act),
        (
            GuardState::Tripped,
            Some(Action::Fallback {
                variant: "native".into()
            })
        ),
        "mic grant is reported by browsers; the plan keeps its fallback for it: {f}"
    );
    assert_eq!(f["pilot"]["rate"], 0.6);
    assert!((f["lnE"].as_f64().unwrap() - LN_E_200).abs() < 1e-3, "{f}");
    // Without "clientEvidence": "act", client-reported evidence only pauses.
    let (st, act, _, note) = full(fallback("pause"), &s, arms(mic(200, 120), mic(200, 180)));
    assert_eq!((st, act), (GuardState::Tripped, Some(Action::Pause)));
    assert_eq!(note, json!({"kind": "client_only", "instead": "fallback"}));
    // A drop carried by units of 24 nets is no action at all.
    let (st, act, _, note) = full(fallback("act"), &s, arms(mic(40, 16), mic(400, 360)));
    assert_eq!((st, act), (GuardState::Undecided, None));
    assert_eq!(
        note,
        json!({"kind": "too_few_nets", "nets": 24, "needs": 25})
    );
    // Healthy only when an always-valid bound puts the drop inside the margin: 88 % vs 90 %
    // is not shown healthy at 100 units each, and is at 2,000 each.
    assert_eq!(
        one(fallback("act"), &s, arms(mic(100, 88), mic(100, 90))).0,
        GuardState::Undecided
    );
    let (st, _, f) = one(fallback("act"), &s, arms(mic(2000, 1760), mic(2000, 1800)));
    assert_eq!(st, GuardState::Healthy, "{f}");
    assert!(f["healthyLnE"].as_f64().unwrap() >= f["healthyThreshold"].as_f64().unwrap());
    // Too few trials.
    assert_eq!(
        one(fallback("act"), &s, arms(mic(25, 5), mic(100, 90))).0,
        GuardState::Undecided
    );
    // The extreme drop (custom never grants, native always does) trips: the test's variance is
    // taken under the null, so it holds where a Wald test's vanishes.
    let (st, act, f) = one(fallback("act"), &s, arms(mic(40, 0), mic(40, 40)));
    assert_eq!(
        (st, act),
        (
            GuardState::Tripped,
            Some(Action::Fallback {
                variant: "native".into()
            })
        )
    );
    assert!(f["pValue"].as_f64().unwrap() < 1e-6, "{f}");
    // Undefined evidence is never healthy: nobody granted in either arm.
    let (st, _, f) = one(fallback("act"), &s, arms(mic(40, 0), mic(40, 0)));
    assert_eq!(st, GuardState::Undecided, "{f}");
    assert!(f["pValue"].is_null());
}

/// The mixture's log likelihood ratio of 60 % against 90 % at 100 and 200 units each, over
/// the scales 1, 2 and 4 times `margin · 0.9`, computed apart from this code (in Python, from
/// the Farrington-Manning restricted estimates and Johari et al.'s mixture).
const LN_E_100: f64 = 4.744_857;
const LN_E_200: f64 = 11.188_297;

#[test]
fn a_relative_guardrail_reads_any_proportion_and_rolls_back_when_told() {
    // activation: units with `activated` among exposed units (the `$exposure` denominator).
    let activated = |exposures: u64, n: u64| {
        let mut a = arm(exposures, 0);
        a.tally.event_units.insert("activated".into(), n);
        a.tally.reps = Some(Box::new(a.tally.clone()));
        a
    };
    let g = rail(json!({"metric": "activation", "maxDropPct": 10, "action": "rollback"}));
    // `activated` is reported by browsers: a rollback needs edge-observed evidence, so the
    // guardrail pauses, and says why.
    let (st, act, f, note) = full(
        g.clone(),
        &setting(3, Some(0.5)),
        arms(activated(1000, 300), activated(1000, 450)),
    );
    assert_eq!((st, act), (GuardState::Tripped, Some(Action::Pause)), "{f}");
    assert_eq!(note, json!({"kind": "client_only", "instead": "rollback"}));
    assert_eq!(
        (
            f["pilot"]["successes"].as_u64(),
            f["pilot"]["trials"].as_u64()
        ),
        (Some(300), Some(1000))
    );
    // A tier that is the allowlist alone has no random sample to compare.
    let (st, _, _) = one(
        g,
        &allowlist_only(),
        arms(activated(1000, 300), activated(1000, 450)),
    );
    assert_eq!(st, GuardState::NotApplicable);
    // A guardrail whose metric the set no longer defines is never healthy.
    let (st, act, _) = one(
        rail(json!({"metric": "gone", "maxDropPct": 10, "action": "rollback"})),
        &setting(3, Some(0.5)),
        arms(activated(1000, 300), activated(1000, 450)),
    );
    assert_eq!((st, act), (GuardState::Undecided, None));
    // Its verdict, relative or absolute, crosses between objects unchanged (its figures keep
    // the guardrail's own shape, with nothing measured).
    use pilot_gate_core::control::guards::Verdict;
    for spec in [
        json!({"metric": "gone", "maxDropPct": 10, "action": "rollback"}),
        json!({"metric": "gone", "quantile": "p90", "above": 5000, "action": "pause"}),
    ] {
        let window = arms(activated(1000, 300), activated(1000, 450));
        let e = Evidence {
            recent: vec![],
            no_data: window.clone(),
            since_tier: window,
            now_offset_min: 0,
        };
        let verdicts = evaluate(&rail(spec), &setting(3, Some(0.5)), &e);
        assert_eq!(verdicts[0].state, GuardState::Undecided);
        let text = serde_json::to_string(&verdicts).unwrap();
        let back: Vec<Verdict> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, verdicts, "{text}");
    }
}

/// Minutes `from..=to` after the window began whose pilot units have these TTVs.
fn ttv_minutes(from: u64, to: u64, values: &[f64]) -> Vec<Minute> {
    (from..=to)
        .map(|offset_min| Minute {
            offset_min,
            pilot: ttvs(values),
            control: Arm::default(),
        })
        .collect()
}

#[test]
fn the_ttv_guardrail_steps_back_when_p90_stays_above_the_bound_for_its_minutes() {
    let g = || {
        rail(
            json!({"metric": "ttv", "quantile": "p90", "above": 5000, "forMin": 3,
                    "minUnits": 10, "action": "step_back", "toTier": 1,
                    "clientEvidence": "act"}),
        )
    };
    let slow: Vec<f64> = (1..=10).map(|i| f64::from(i) * 1_000.0).collect(); // p90 = 9 s
    let fast: Vec<f64> = (1..=10).map(|i| f64::from(i) * 300.0).collect(); // p90 = 2.7 s
    let s = setting(3, Some(0.5));
    let window = arms(Arm::default(), Arm::default());
    // Three slow minutes, the current one full: step back to tier 1, with every minute shown.
    let (st, act, f) = one_with(g(), &s, window.clone(), ttv_minutes(5, 7, &slow));
    assert_eq!(
        (st, act),
        (GuardState::Tripped, Some(Action::StepBack { to_tier: 1 })),
        "{f}"
    );
    let minutes = f["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 3);
    assert!(minutes
        .iter()
        .all(|m| (m["value"].as_f64().unwrap() - 9_000.0).abs() <= 90.0));
    // One fast minute among them: not past the bound for 3 minutes, nor healthy.
    let mut recent = ttv_minutes(5, 7, &slow);
    recent[1] = ttv_minutes(6, 6, &fast).remove(0);
    assert_eq!(
        one_with(g(), &s, window.clone(), recent).0,
        GuardState::Undecided
    );
    // Healthy: each of the 3 minutes has its 10 values within the bound.
    assert_eq!(
        one_with(g(), &s, window.clone(), ttv_minutes(5, 7, &fast)).0,
        GuardState::Healthy
    );
    // TTV is reported by browsers: without "clientEvidence": "act" a pause.
    let pause_only = rail(
        json!({"metric": "ttv", "quantile": "p90", "above": 5000, "forMin": 3,
                "minUnits": 10, "action": "step_back", "toTier": 1}),
    );
    let (_, act, _) = one_with(pause_only, &s, window.clone(), ttv_minutes(5, 7, &slow));
    assert_eq!(act, Some(Action::Pause));
    // A tier whose traffic cannot give 10 values a minute says so.
    let thin: Vec<Minute> = (0..=20)
        .map(|offset_min| Minute {
            offset_min,
            pilot: ttvs(&fast[..4]),
            control: Arm::default(),
        })
        .collect();
    let e = Evidence {
        recent: thin,
        no_data: window.clone(),
        since_tier: window.clone(),
        now_offset_min: 20,
    };
    let v = evaluate(&g(), &s, &e);
    assert_eq!(v[0].state, GuardState::Undecided);
    assert_eq!(
        serde_json::to_value(&v[0].note).unwrap(),
        json!({"kind": "unreachable", "needsPerMin": 10, "hasPerMin": 4.0})
    );
    assert!(v[0]
        .objection()
        .unwrap()
        .contains("it needs 10 pilot units with a value a minute"));
    // Too few units in a minute (9 of the 10 wanted): it does not count as above.
    let (st, _, _) = one_with(g(), &s, window.clone(), ttv_minutes(5, 7, &slow[..9]));
    assert_eq!(st, GuardState::Undecided);
    // The current minute not yet full: the three minutes before it decide.
    let mut recent = ttv_minutes(4, 6, &slow);
    recent.extend(ttv_minutes(7, 7, &slow[..3]));
    assert_eq!(
        one_with(g(), &s, window.clone(), recent).1,
        Some(Action::StepBack { to_tier: 1 })
    );
    // Only two minutes of window so far: not yet.
    assert_eq!(
        one_with(g(), &s, window.clone(), ttv_minutes(0, 1, &slow)).0,
        GuardState::Undecided
    );
    // At tier 2 with a step back to tier 2, there is nothing to do: it trips (holding the
    // plan) without an action.
    let to_two = || {
        rail(
            json!({"metric": "ttv", "quantile": "p90", "above": 5000, "forMin": 3,
                    "minUnits": 10, "action": "step_back", "toTier": 2}),
        )
    };
    let (st, act, _) = one_with(
        to_two(),
        &setting(2, Some(0.1)),
        window.clone(),
        ttv_minutes(5, 7, &slow),
    );
    assert_eq!((st, act), (GuardState::Tripped, None));
    // The allowlist alone: only the breaker applies there.
    let (st, act, _) = one_with(g(), &allowlist_only(), window, ttv_minutes(5, 7, &slow));
    assert_eq!((st, act), (GuardState::NotApplicable, None));
}

/// The drop test at the margin's boundary (pilot exactly `1 − margin` times control): how often
/// it rejects at level 0.01, by simulation, across rates from 5 % to 100 % and samples from 30
/// to 1,000. A valid test rejects about 1 % (a little more or less from discreteness and the
/// simulation's own noise).
#[test]
fn the_drop_test_holds_its_level_at_the_boundary_from_small_samples_to_large() {
    use pilot_gate_core::control::stats::drop_p_value;
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
    use pilot_gate_core::control::stats::{srm, SRM_EXACT_MAX};
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
    let s = setting(3, Some(0.5));
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
    assert_eq!(f["provenance"], "client");
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
    assert_eq!(f["provenance"], "edge");
    assert_eq!(f["pilotErrors"], 30);
    assert_eq!(
        (state, action),
        (GuardState::Tripped, Some(Action::Rollback))
    );
}

#[test]
fn verdicts_cross_between_objects_typed_and_unchanged() {
    use pilot_gate_core::control::guards::{GuardKind, Verdict};
    let guards = Guards {
        guardrails: rail(json!({"metric": "mic_grant", "maxDropPct": 10, "action": "fallback", "variant": "off"}))
            .guardrails,
        ..Guards::default()
    };
    let arms = arms(arm(500, 40), arm(500, 5));
    let e = Evidence {
        recent: vec![],
        no_data: arms.clone(),
        since_tier: arms,
        now_offset_min: 0,
    };
    let verdicts = evaluate(&guards, &setting(3, Some(0.5)), &e);
    let kinds: Vec<GuardKind> = verdicts.iter().map(|v| v.guard.clone()).collect();
    assert_eq!(
        kinds,
        [
            GuardKind::Comparative,
            GuardKind::Breaker,
            GuardKind::SampleRatio,
            GuardKind::NoData,
            GuardKind::Guardrail("mic_grant".into())
        ]
    );
    let text = serde_json::to_string(&verdicts).unwrap();
    assert!(text.contains(r#""guard":"guardrail:mic_grant""#), "{text}");
    let back: Vec<Verdict> = serde_json::from_str(&text).unwrap();
    assert_eq!(
        back, verdicts,
        "every guard's figures come back as they went"
    );
    assert_eq!(GuardKind::parse("nope"), None);
}
