//! Plans → flagd, evaluated by pilot-gate's engine: exactly the plan's semantics.

use pilot_gate_core::bucket::in_rollout;
use pilot_gate_core::control::command::{Command, Order};
use pilot_gate_core::control::compile::compile;
use pilot_gate_core::control::state::ControlState;
use pilot_gate_core::flags::evaluate::Context;
use pilot_gate_core::flags::model::FlagSet;
use serde_json::{json, Value};

use crate::{caller, imported, NOW};

const KEYS: u32 = 5_000;

fn keys() -> impl Iterator<Item = String> {
    (0..KEYS).map(|i| {
        format!(
            "{:032x}",
            u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
        )
    })
}

fn set(state: &ControlState) -> FlagSet {
    let set = FlagSet::from_value(&compile(state)).unwrap();
    assert!(set.issues.is_empty(), "{:?}", set.issues);
    set
}

fn value(set: &FlagSet, flag: &str, key: &str) -> Value {
    set.evaluate(flag, &mut Context::new(json!({"targetingKey": key}), 0))
        .value
        .unwrap_or(Value::Null)
}

fn on(set: &FlagSet, flag: &str, key: &str) -> bool {
    value(set, flag, key) == json!(true)
}

#[test]
fn each_tier_admits_exactly_its_share_by_the_gates_bucketing() {
    for (tier, pct) in [0u32, 1, 10, 50, 100].into_iter().enumerate() {
        let s = set(&imported(&[(
            "pilot",
            json!({"tier": tier, "status": if tier == 0 { "draft" } else if tier == 4 { "complete" } else { "active" }}),
        )]));
        for key in keys() {
            assert_eq!(
                on(&s, "pilot", &key),
                in_rollout("pilot", &key, pct * 100),
                "tier {tier}, {key}"
            );
        }
    }
}

#[test]
fn raising_a_tier_never_removes_a_visitor() {
    let ladder = json!([0, 5, 20, 35, 70, 100]);
    let mut previous: Option<Vec<bool>> = None;
    for tier in 0..=5usize {
        let status = match tier {
            0 => "draft",
            5 => "complete",
            _ => "active",
        };
        let s = set(&imported(&[(
            "f",
            json!({"ladderPct": ladder, "tier": tier, "status": status, "allow": ["vip"]}),
        )]));
        let now: Vec<bool> = keys()
            .chain(["vip".to_owned()])
            .map(|k| on(&s, "f", &k))
            .collect();
        if let Some(prev) = &previous {
            for (i, (was, is)) in prev.iter().zip(&now).enumerate() {
                assert!(!was || *is, "key #{i} left at tier {tier}");
            }
        }
        previous = Some(now);
    }
}

#[test]
fn the_allowlist_is_in_from_tier_1_and_deny_wins() {
    let plan = |tier: usize, status: &str| json!({"tier": tier, "status": status, "allow": ["qa-1", "qa-2"], "deny": ["qa-2", "banned"]});
    let draft = set(&imported(&[("pilot", plan(0, "draft"))]));
    assert!(!on(&draft, "pilot", "qa-1"), "tier 0 admits nobody");
    for (tier, status) in [(1, "active"), (3, "active"), (4, "complete")] {
        let s = set(&imported(&[("pilot", plan(tier, status))]));
        assert!(on(&s, "pilot", "qa-1"), "allowlisted at tier {tier}");
        assert!(!on(&s, "pilot", "qa-2"), "deny beats allow at tier {tier}");
        assert!(!on(&s, "pilot", "banned"), "denied at tier {tier}");
    }
}

#[test]
fn requires_admits_only_contexts_for_which_the_required_flag_is_on() {
    let s = set(&imported(&[
        ("base", json!({"tier": 3, "status": "active"})), // 50 %
        (
            "dependent",
            json!({"tier": 4, "status": "complete", "requires": ["base"]}),
        ),
    ]));
    let mut both = 0;
    for key in keys() {
        let (b, d) = (on(&s, "base", &key), on(&s, "dependent", &key));
        assert_eq!(
            d, b,
            "{key}: dependent at 100 % is on exactly where base is"
        );
        both += usize::from(d);
    }
    assert!(both > 2_000 && both < 3_000, "{both}");
}

#[test]
fn requires_inlines_the_required_flags_own_targeting_with_its_own_bucketing() {
    // `exp` splits by its own implicit `fractional` (seeded by its key); `gated` requires
    // `exp` on. Inlined into `gated`, the rule must keep `exp`'s seed.
    let doc = json!({
        "flags": {
            "exp": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
                    "targeting": {"fractional": [["on", 30], ["off", 70]]}},
            "gated": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}
        },
        "plans": {"gated": {"requires": ["exp"]}}
    });
    let mut state = ControlState::default();
    state.import(&doc, &caller(NOW)).unwrap();
    let s = set(&state);
    for key in keys() {
        assert_eq!(on(&s, "gated", &key), on(&s, "exp", &key), "{key}");
    }
}

#[test]
fn a_plan_gates_the_flags_own_targeting_and_the_rest_get_off() {
    let doc = json!({
        "flags": {"e2": {"state": "ENABLED", "variants": {"custom": "custom", "native": "native"},
                  "defaultVariant": "native", "targeting": {"fractional": [["custom", 50], ["native", 50]]}}},
        "plans": {"e2": {"tier": 2, "status": "active", "on": "custom", "off": "native"}}
    });
    let mut state = ControlState::default();
    state.import(&doc, &caller(NOW)).unwrap();
    let s = set(&state);
    let full = FlagSet::from_value(&json!({"flags": doc["flags"]})).unwrap();
    let mut custom = 0;
    for key in keys() {
        let v = value(&s, "e2", &key);
        if in_rollout("e2/rollout/", &key, 1_000) {
            assert_eq!(
                v,
                value(&full, "e2", &key),
                "in the rollout: the flag's own rule"
            );
        } else {
            assert_eq!(v, json!("native"), "outside: the off variant");
        }
        custom += usize::from(v == json!("custom"));
    }
    assert!(custom > 150 && custom < 350, "about 5 % custom: {custom}");
}

#[test]
fn kill_turns_every_flag_off_and_unkill_restores_the_same_cohorts() {
    let mut state = imported(&[
        (
            "pilot",
            json!({"tier": 2, "status": "active", "allow": ["qa-1"]}),
        ),
        ("beta", json!({})),
    ]);
    let before = set(&state);
    let why = Order {
        reason: Some("incident 42".into()),
        force: false,
    };
    state.kill(&why, &caller(NOW)).unwrap();
    let killed = set(&state);
    for key in keys().chain(["qa-1".to_owned()]) {
        assert!(
            !on(&killed, "pilot", &key) && !on(&killed, "beta", &key),
            "{key}"
        );
    }
    state.unkill(&Order::default(), &caller(NOW)).unwrap();
    let after = set(&state);
    for key in keys().chain(["qa-1".to_owned()]) {
        for flag in ["pilot", "beta"] {
            assert_eq!(
                on(&after, flag, &key),
                on(&before, flag, &key),
                "{flag} {key}"
            );
        }
    }
}

#[test]
fn rollback_sends_everyone_to_off_and_start_brings_back_tier_1() {
    let mut state = imported(&[(
        "pilot",
        json!({"tier": 3, "status": "active", "allow": ["qa-1"]}),
    )]);
    let why = Order {
        reason: Some("errors up".into()),
        force: false,
    };
    state
        .command("pilot", Command::Rollback, &why, &caller(NOW))
        .unwrap();
    let s = set(&state);
    assert!(keys()
        .chain(["qa-1".to_owned()])
        .all(|k| !on(&s, "pilot", &k)));
    state
        .command("pilot", Command::Start, &Order::default(), &caller(NOW))
        .unwrap();
    let s = set(&state);
    assert!(on(&s, "pilot", "qa-1"));
    for key in keys() {
        assert_eq!(
            on(&s, "pilot", &key),
            in_rollout("pilot", &key, 100),
            "tier 1 = 1 %"
        );
    }
}

#[test]
fn every_change_publishes_a_new_version() {
    let mut state = imported(&[(
        "pilot",
        json!({"tier": 1, "status": "active", "minDwellS": 0}),
    )]);
    let (r1, d1) = (state.revision, compile(&state));
    state
        .command("pilot", Command::Advance, &Order::default(), &caller(NOW))
        .unwrap();
    let (r2, d2) = (state.revision, compile(&state));
    assert!(r2 > r1, "the revision (the KV envelope's version) rises");
    assert_ne!(d1["flags"]["pilot"], d2["flags"]["pilot"]);
    // No metadata of pilot-gate's own: flagd answers a flag with the set's metadata merged
    // into its own, and a set without metadata answers none (flagd-testbed's metadata rows).
    assert_eq!(d2["metadata"], json!({}));
}

fn outside(set: &FlagSet, flag: &str, key: &str) -> bool {
    set.evaluate(flag, &mut Context::new(json!({"targetingKey": key}), 0))
        .outside
}

#[test]
fn visitors_an_allow_or_deny_list_or_requires_placed_are_outside_the_random_split() {
    // dependent (10 %) requires base (50 %); qa-1 is allowlisted, banned denied.
    let s = set(&imported(&[
        ("base", json!({"tier": 3, "status": "active"})),
        (
            "dependent",
            json!({"tier": 2, "status": "active", "requires": ["base"],
                   "allow": ["qa-1"], "deny": ["banned"]}),
        ),
    ]));
    assert!(outside(&s, "dependent", "qa-1"), "allowlisted");
    assert!(outside(&s, "dependent", "banned"), "denied");
    let (mut eligible, mut pilot, mut required_off) = (0u32, 0u32, 0u32);
    for key in keys() {
        let base_on = on(&s, "base", &key);
        let out = outside(&s, "dependent", &key);
        // base's own split placed every visitor: nobody is outside base's.
        assert!(!outside(&s, "base", &key), "{key}");
        assert_eq!(
            out, !base_on,
            "{key}: outside exactly where the required flag is off"
        );
        if out {
            required_off += 1;
            assert!(!on(&s, "dependent", &key), "{key}");
        } else {
            eligible += 1;
            pilot += u32::from(on(&s, "dependent", &key));
        }
    }
    // The expected share of the eligible visitors is the tier's: 10 %, not 5 %.
    let share = f64::from(pilot) / f64::from(eligible);
    println!("requires: {required_off} outside, {eligible} eligible, of them {pilot} in the pilot ({share:.3})");
    assert!((share - 0.10).abs() < 0.02, "{share}");
    assert!(
        required_off > 2_000 && required_off < 3_000,
        "{required_off}"
    );
}
