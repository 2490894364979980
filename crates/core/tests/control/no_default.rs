//! Flags without a default variant (`"defaultVariant": null`, or none at all), which flagd loads
//! and evaluates to the caller's own default (reason `DEFAULT`, no value): imported, put and
//! compiled, they stay loadable and answer as flagd does, under a plan and under the kill switch.

use pilot_gate_core::control::command::Order;
use pilot_gate_core::control::compile::compile;
use pilot_gate_core::control::state::ControlState;
use pilot_gate_core::flags::evaluate::{Context, Reason};
use pilot_gate_core::flags::model::FlagSet;
use serde_json::{json, Value};

use crate::{caller, NOW};

/// flagd-testbed 3.9.0's flags without a default variant (`evaluator/flags/testkit-flags.json`)
/// and the fuzz target's find: `min-max` of `tests/flags/sets/operators.json` with a `null` one.
fn doc() -> Value {
    json!({"flags": {
        "null-default-flag": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": null},
        "undefined-default-flag": {"state": "ENABLED", "variants": {"small": 10, "big": 1000}},
        "no-default-flag-null-targeting-variant": {"state": "ENABLED",
            "variants": {"normal": "CFO", "special": "CEO"},
            "targeting": {"if": [{"==": ["jobs@orange.com", {"var": ["email"]}]}, "special", null]}},
        "no-default-flag-undefined-targeting-variant": {"state": "ENABLED",
            "variants": {"normal": "CFO", "special": "CEO"},
            "targeting": {"if": [{"==": ["jobs@orange.com", {"var": ["email"]}]}, "special"]}},
        "min-max": {"state": "ENABLED", "variants": {"hi": "hi", "lo": "lo"}, "defaultVariant": null,
            "targeting": {"if": [{">": [{"max": [1, 5, 3]}, {"min": [9, 4]}]}, "hi", "lo"]}}
    }})
}

/// The compiled set of `state`, which must load every flag without an issue.
fn loaded(state: &ControlState) -> (Value, FlagSet) {
    let compiled = compile(state);
    let set = FlagSet::from_value(&compiled).expect("the compiled set loads");
    assert!(set.issues.is_empty(), "{:?}", set.issues);
    (compiled, set)
}

/// (value, variant, reason) of `flag` for `ctx`.
fn eval(set: &FlagSet, flag: &str, ctx: Value) -> (Option<Value>, Option<String>, Reason) {
    let r = set.evaluate(flag, &mut Context::new(ctx, 0));
    assert!(r.error.is_none(), "{flag}: {:?}", r.error);
    (r.value, r.variant, r.reason)
}

#[test]
fn an_import_keeps_null_and_absent_default_variants_and_lists_no_parse_error() {
    let mut s = ControlState::default();
    let change = s
        .import(&doc(), &caller(NOW))
        .expect("flagd loads this set");
    assert_eq!(change.body["parseErrors"], json!([]));
    let (compiled, set) = loaded(&s);
    for key in ["null-default-flag", "min-max"] {
        assert_eq!(
            compiled["flags"][key]["defaultVariant"],
            Value::Null,
            "{key}"
        );
    }
    for key in [
        "undefined-default-flag",
        "no-default-flag-undefined-targeting-variant",
    ] {
        let def = &compiled["flags"][key];
        assert!(
            def.get("defaultVariant").is_none_or(Value::is_null),
            "{key}: {def}"
        );
    }
    // As flagd answers (the testbed's no-default-variant.feature): no value, reason DEFAULT,
    // and the caller's default applies; a rule that names a variant still picks it.
    assert_eq!(
        eval(&set, "null-default-flag", json!({})),
        (None, None, Reason::Default)
    );
    assert_eq!(
        eval(&set, "undefined-default-flag", json!({})),
        (None, None, Reason::Default)
    );
    for flag in [
        "no-default-flag-null-targeting-variant",
        "no-default-flag-undefined-targeting-variant",
    ] {
        assert_eq!(
            eval(&set, flag, json!({"email": "wozniak@orange.com"})),
            (None, None, Reason::Default),
            "{flag}"
        );
        assert_eq!(
            eval(&set, flag, json!({"email": "jobs@orange.com"})),
            (
                Some(json!("CEO")),
                Some("special".into()),
                Reason::TargetingMatch
            ),
            "{flag}"
        );
    }
    assert_eq!(
        eval(&set, "min-max", json!({})),
        (Some(json!("hi")), Some("hi".into()), Reason::TargetingMatch)
    );
}

#[test]
fn a_put_takes_a_definition_without_a_default_variant() {
    let mut s = ControlState::default();
    let def = json!({"state": "ENABLED", "variants": {"a": "x", "b": "y"},
        "targeting": {"if": [{"==": [{"var": "targetingKey"}, "k1"]}, "b", null]}});
    s.put("ab", &json!({"definition": def, "plan": {}}), &caller(NOW))
        .expect("a definition without defaultVariant is valid in flagd");
    let (compiled, _) = loaded(&s);
    assert!(compiled["flags"]["ab"]["defaultVariant"].is_null());
}

#[test]
fn a_plan_over_a_flag_without_an_off_variant_serves_the_callers_default_when_off() {
    let mut s = ControlState::default();
    let doc = json!({
        "flags": {"copy": {"state": "ENABLED", "variants": {"new": "Try it", "old": "Start"}}},
        "plans": {"copy": {"on": "new", "tier": 2, "status": "active"}}
    });
    s.import(&doc, &caller(NOW)).expect("valid import");
    let (_, set) = loaded(&s);
    let mut served = 0;
    let mut default = 0;
    for i in 0..2_000 {
        match eval(&set, "copy", json!({"targetingKey": format!("k{i}")})) {
            (Some(v), Some(variant), Reason::TargetingMatch) => {
                assert_eq!((v, variant.as_str()), (json!("Try it"), "new"));
                served += 1;
            }
            (None, None, Reason::Default) => default += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    // Tier 2 of the default ladder is 10 %.
    assert!((120..280).contains(&served), "{served} of 2,000 served");
    assert_eq!(served + default, 2_000);
    // Killed: every caller gets their own default, and the set still loads.
    let order = Order {
        reason: Some("drill".into()),
        force: false,
    };
    s.kill(&order, &caller(NOW + 1)).expect("kill");
    let (_, set) = loaded(&s);
    for i in 0..100 {
        assert_eq!(
            eval(&set, "copy", json!({"targetingKey": format!("k{i}")})),
            (None, None, Reason::Default)
        );
    }
}

#[test]
fn a_flag_without_a_default_read_back_from_the_api_can_be_written_again_as_it_is() {
    let mut s = ControlState::default();
    s.import(&doc(), &caller(NOW)).expect("valid import");
    let view = s.flag_view("undefined-default-flag", NOW).expect("listed");
    assert_eq!(view["plan"]["on"], json!(""), "no on variant: {view}");
    let body = json!({"definition": view["definition"], "plan": view["plan"]});
    s.put("undefined-default-flag", &body, &caller(NOW + 1))
        .expect("the admin page saves what it read");
    let (compiled, _) = loaded(&s);
    assert!(compiled["flags"]["undefined-default-flag"]
        .get("defaultVariant")
        .is_none_or(Value::is_null));
}
