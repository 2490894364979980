//! Reasons, errors and metadata over tests/flags/sets/operators.json; loading; `fractional` v3;
//! properties over arbitrary contexts.

use pilot_gate_core::flags::cbor;
use pilot_gate_core::flags::evaluate::{Context, ErrorCode, Reason, Resolution};
use pilot_gate_core::flags::model::{FlagSet, LoadError};
use proptest::prelude::*;
use serde_json::{json, Value};

const OPERATORS: &str = include_str!("sets/operators.json");

fn set() -> FlagSet {
    FlagSet::load(OPERATORS).unwrap()
}

fn eval<'s>(set: &'s FlagSet, key: &str, ctx: Value) -> Resolution<'s> {
    set.evaluate(key, &mut Context::new(ctx, 1_800_000_000))
}

#[test]
fn reasons_are_flagds() {
    let s = set();
    let r = eval(&s, "static-string", json!({}));
    assert_eq!(
        (r.value, r.variant.as_deref(), r.reason),
        (Some(json!("2")), Some("two"), Reason::Static)
    );
    let r = eval(&s, "zero-values", json!({"age": 0}));
    assert_eq!(
        (r.value, r.reason),
        (Some(json!(1)), Reason::TargetingMatch)
    );
    let r = eval(&s, "zero-values", json!({"age": 5}));
    assert_eq!((r.value, r.reason), (Some(json!(0)), Reason::Default));
    let r = eval(&s, "disabled", json!({}));
    assert_eq!(
        (r.value, r.variant, r.reason),
        (None, None, Reason::Disabled)
    );
    // A boolean result names the variant "true".
    let r = eval(&s, "bool-variant-names", json!({"age": 40}));
    assert_eq!(
        (r.variant.as_deref(), r.value),
        (Some("true"), Some(json!("yes")))
    );
    let r = eval(&s, "number-variant-names", json!({"age": 40}));
    assert_eq!(r.variant.as_deref(), Some("2"));
    // No default variant and no match: DEFAULT without a value.
    let r = eval(&s, "no-default-variant", json!({"country": "DE"}));
    assert_eq!(
        (r.value, r.variant, r.reason, r.error),
        (None, None, Reason::Default, None)
    );
    let r = eval(&s, "no-default-variant", json!({"country": "NZ"}));
    assert_eq!(r.value, Some(json!(true)));
    assert_eq!(
        eval(&s, "flag-key", json!({})).variant.as_deref(),
        Some("mine")
    );
    assert_eq!(
        eval(&s, "refs", json!({"user": {"tier": "gold"}})).value,
        Some(json!("gold"))
    );
}

#[test]
fn substr_takes_huge_offsets_and_lengths_as_javascript_does() {
    // A length of 1e300 is "to the end", an offset of -1e300 "from the start", of 1e300 "past
    // the end": no overflow (the differential test compares the same flag with flagd-core).
    let s = set();
    for name in ["jack", "q", ""] {
        let r = eval(&s, "substr-extremes", json!({"user": {"name": name}}));
        assert_eq!(r.value, Some(json!("consistent")), "{name:?}");
    }
}

#[test]
fn errors_are_flagds_and_touch_one_flag() {
    let s = set();
    let code = |key: &str, ctx: Value| {
        let r = eval(&s, key, ctx);
        assert_eq!(r.reason, Reason::Error, "{key}");
        assert!(r.value.is_none(), "{key}");
        r.error.map(|(c, _)| c)
    };
    assert_eq!(code("nope", json!({})), Some(ErrorCode::FlagNotFound));
    assert_eq!(
        code("unknown-operator", json!({})),
        Some(ErrorCode::ParseError)
    );
    assert_eq!(code("unknown-ref", json!({})), Some(ErrorCode::ParseError));
    assert_eq!(
        code("missing-variant", json!({"user": {"name": "x"}})),
        Some(ErrorCode::General)
    );
    // A numeric comparison with a value that is not a number fails, as json-logic-engine does.
    assert_eq!(
        code("arithmetic", json!({"age": "x"})),
        Some(ErrorCode::General)
    );
    // The set still answers its other flags.
    assert_eq!(eval(&s, "static-string", json!({})).reason, Reason::Static);
    // An unknown flag carries the set's metadata; a flag, the set's merged with its own.
    assert_eq!(
        eval(&s, "nope", json!({})).metadata["flagSetId"],
        "operators"
    );
    let m = eval(&s, "flag-key", json!({})).metadata;
    assert_eq!(
        (
            m["team"].as_str(),
            m["version"].as_i64(),
            m["flagSetId"].as_str()
        ),
        (Some("flags"), Some(2), Some("operators"))
    );
}

#[test]
fn loading_refuses_what_is_not_a_flag_set_and_names_broken_flags() {
    assert!(matches!(FlagSet::load("{"), Err(LoadError::NotJson(_))));
    assert!(matches!(
        FlagSet::load("[]"),
        Err(LoadError::NotAFlagSet(_))
    ));
    assert!(matches!(
        FlagSet::load(r#"{"flags": []}"#),
        Err(LoadError::NotAFlagSet(_))
    ));
    let s = set();
    let named: Vec<(&str, &str)> = s
        .issues
        .iter()
        .map(|i| (i.flag.as_str(), i.field.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            ("unknown-operator", "targeting/if/0"),
            ("unknown-ref", "targeting")
        ]
    );
    let s = FlagSet::load(
        r#"{"flags": {"x": {"state": "ON", "variants": {"a": 1}, "defaultVariant": "b"}}}"#,
    )
    .unwrap();
    let fields: Vec<&str> = s.issues.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(fields, ["state", "defaultVariant"]);
    assert_eq!(
        eval(&s, "x", json!({})).error.map(|(c, _)| c),
        Some(ErrorCode::General)
    );
    assert!(s.issues[0].to_string().starts_with("flag \"x\", state: "));
}

#[test]
fn the_demo_set_loads_cleanly_and_admits_the_allowlist() {
    let s = demo_set();
    assert!(s.issues.is_empty(), "{:?}", s.issues);
    for key in [
        "pilot",
        "e1_cta_copy",
        "e2_primer",
        "syncEnabled",
        "minIntervalSec",
        "retryCap",
    ] {
        assert!(s.flags.contains_key(key), "{key}");
    }
    let r = eval(&s, "pilot", json!({"targetingKey": "qa-internal-1"}));
    assert_eq!(
        (r.value, r.reason),
        (Some(json!(true)), Reason::TargetingMatch)
    );
    assert_eq!(
        eval(&s, "minIntervalSec", json!({})).value,
        Some(json!(900))
    );
    assert_eq!(eval(&s, "retryCap", json!({})).value, Some(json!(3)));
}

#[test]
fn pilot_at_10_percent_is_in_rollout_at_1000_basis_points() {
    // The demo's `pilot` and the gate's `in_rollout` agree for every visitor.
    let s = demo_set();
    for i in 0..2_000u32 {
        let key = format!(
            "{:032x}",
            u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
        );
        let on = eval(&s, "pilot", json!({"targetingKey": key})).value == Some(json!(true));
        assert_eq!(
            on,
            pilot_gate_core::bucket::in_rollout("pilot", &key, 1_000),
            "{key}"
        );
    }
}

#[test]
fn fractional_v3_hashes_the_cbor_of_flag_key_and_targeting_key() {
    let doc = |v3: bool| {
        json!({"flags": {"f": {
            "state": "ENABLED", "variants": {"a": "a", "b": "b", "c": "c"}, "defaultVariant": "a",
            "targeting": {"fractional": [["a", 1], ["b", 1], ["c", 1]]},
            "metadata": if v3 { json!({"fractional": "v3"}) } else { json!({}) },
        }}})
    };
    let (v2, v3) = (
        FlagSet::from_value(&doc(false)).unwrap(),
        FlagSet::from_value(&doc(true)).unwrap(),
    );
    let mut differs = 0;
    for i in 0..300 {
        let key = format!("user-{i}");
        // CBOR of ["f", key]: array of 2, text "f", text key (< 24 bytes).
        let mut bytes = vec![0x82, 0x61, b'f', 0x60 + key.len() as u8];
        bytes.extend_from_slice(key.as_bytes());
        assert_eq!(cbor::encode(&json!(["f", key])).unwrap(), bytes);
        let h = murmur3::murmur3_32(&mut std::io::Cursor::new(&bytes), 0).unwrap();
        let want = ["a", "b", "c"][((u64::from(h) * 3) >> 32) as usize];
        let got = eval(&v3, "f", json!({"targetingKey": key}))
            .variant
            .unwrap();
        assert_eq!(got, want, "{key}");
        if eval(&v2, "f", json!({"targetingKey": key}))
            .variant
            .unwrap()
            != got
        {
            differs += 1;
        }
    }
    assert!(differs > 100, "v3 re-buckets: only {differs} of 300 moved");
}

#[test]
fn cbor_is_deterministic() {
    assert_eq!(cbor::encode(&json!(true)), Some(vec![0xf5]));
    assert_eq!(cbor::encode(&json!(500)), Some(vec![0x19, 0x01, 0xf4]));
    assert_eq!(cbor::encode(&json!(-500)), Some(vec![0x39, 0x01, 0xf3]));
    assert_eq!(
        cbor::encode(&json!(1.0)),
        Some(vec![0x01]),
        "integral floats are integers"
    );
    assert_eq!(
        cbor::encode(&json!(100000.5)),
        Some(vec![0xfa, 0x47, 0xc3, 0x50, 0x40])
    );
    assert_eq!(cbor::encode(&json!(1.1)).map(|b| b[0]), Some(0xfb));
    // Map keys sort by their encoded bytes: shorter first.
    assert_eq!(
        cbor::encode(&json!({"bb": 1, "a": 2})),
        Some(vec![0xa2, 0x61, b'a', 0x02, 0x62, b'b', b'b', 0x01])
    );
    assert_eq!(
        cbor::encode(&Value::Null),
        None,
        "null is not a bucketing input"
    );
    assert_eq!(
        cbor::encode(&json!({"b": [null]})),
        Some(vec![0xa1, 0x61, b'b', 0x81, 0xf6]),
        "inside a structure it is CBOR's null"
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9.@ -]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-zA-Z$.]{1,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn evaluation_never_panics_on_any_context(ctx in arb_json(), extra in arb_json()) {
        let s = set();
        let ctx = match ctx {
            Value::Object(mut m) => { m.insert("user".into(), extra); Value::Object(m) }
            other => other,
        };
        let mut c = Context::new(ctx, 0);
        for key in s.flags.keys() {
            let r = s.evaluate(key, &mut c);
            prop_assert_eq!(r.value.is_some(), r.variant.is_some());
        }
    }

    #[test]
    fn raising_a_rollout_never_removes_anyone(key in "[a-z0-9-]{1,40}", p in 0u32..=10_000, q in 0u32..=10_000) {
        let (lo, hi) = (p.min(q), p.max(q));
        let at = |bp: u32| {
            let s = FlagSet::from_value(&json!({"flags": {"pilot": {
                "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
                "targeting": {"fractional": [["on", bp], ["off", 10_000 - bp]]}}}})).unwrap();
            s.evaluate("pilot", &mut Context::new(json!({"targetingKey": key}), 0)).value == Some(json!(true))
        };
        prop_assert!(!at(lo) || at(hi));
    }
}

/// The demo set as the control plane publishes it (its plans compiled).
fn demo_set() -> FlagSet {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../../flags/demo.json")).unwrap();
    FlagSet::from_value(&pilot_gate_core::control::compile::compile_document(&doc).unwrap())
        .unwrap()
}
