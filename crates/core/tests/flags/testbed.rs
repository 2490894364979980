//! Rows of open-feature/flagd-testbed's evaluator suite (`evaluator/gherkin/*.feature`), each
//! with the flag definition of its `testkit-flags.json` written out here. Run: fractional v2
//! (5 + 2 rows), sem_ver comparison and range (8), v-prefix (4), invalid input (2), substring
//! (4), non-string substring input (2): 27 rows. Left out: fractional v1 (legacy float
//! bucketing, replaced by v2 in flagd), and the rows that need the testbed's whole file.

use pilot_gate_core::flags::evaluate::{Context, Reason};
use pilot_gate_core::flags::model::FlagSet;
use serde_json::{json, Value};

/// Evaluates the single flag of `targeting` (variants named after their values) for `ctx`.
fn answer(
    key: &str,
    targeting: Value,
    variants: &[&str],
    default: &str,
    ctx: Value,
) -> (Value, Reason) {
    let variants: serde_json::Map<String, Value> = variants
        .iter()
        .map(|v| ((*v).to_owned(), json!(v)))
        .collect();
    let set = FlagSet::from_value(&json!({
        "flags": { key: {
            "state": "ENABLED",
            "variants": variants,
            "defaultVariant": default,
            "targeting": targeting,
        }}
    }))
    .unwrap();
    assert!(set.issues.is_empty(), "{:?}", set.issues);
    let r = set.evaluate(key, &mut Context::new(ctx, 0));
    (r.value.unwrap_or(Value::Null), r.reason)
}

#[test]
fn fractional_v2() {
    let rule = json!({"fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "user.name"}]},
        ["clubs", 25], ["diamonds", 25], ["hearts", 25], ["spades", 25]]});
    let suits = ["clubs", "diamonds", "hearts", "spades", "wild"];
    for (name, want) in [
        ("jack", "hearts"),
        ("queen", "spades"),
        ("ten", "clubs"),
        ("nine", "diamonds"),
        ("3", "clubs"),
    ] {
        let (value, reason) = answer(
            "fractional-flag",
            rule.clone(),
            &suits,
            "wild",
            json!({"user": {"name": name}}),
        );
        assert_eq!(
            (value, reason),
            (json!(want), Reason::TargetingMatch),
            "{name}"
        );
    }
    let shorthand = json!({"fractional": [["heads"], ["tails", 1]]});
    for (key, want) in [("jon@company.com", "heads"), ("jane@company.com", "tails")] {
        let (value, _) = answer(
            "fractional-flag-shorthand",
            shorthand.clone(),
            &["heads", "tails", "draw"],
            "draw",
            json!({"targetingKey": key}),
        );
        assert_eq!(value, json!(want), "{key}");
    }
}

#[test]
fn sem_ver() {
    let rule = json!({"if": [{"sem_ver": [{"var": "version"}, "=", "2.0.0"]}, "equal",
        {"if": [{"sem_ver": [{"var": "version"}, ">", "2.0.0"]}, "greater",
        {"if": [{"sem_ver": [{"var": "version"}, "<", "2.0.0"]}, "lesser", "none"]}]}]});
    let names = ["equal", "greater", "lesser", "none"];
    for (version, want) in [
        ("2.0.0", "equal"),
        ("2.1.0", "greater"),
        ("1.9.0", "lesser"),
        ("2.0.0-alpha", "lesser"),
        ("2.0.0.0", "none"),
    ] {
        let (value, _) = answer(
            "equal-greater-lesser-version-flag",
            rule.clone(),
            &names,
            "none",
            json!({"version": version}),
        );
        assert_eq!(value, json!(want), "{version}");
    }
    let range = json!({"if": [{"sem_ver": [{"var": "version"}, "~", "3.0.0"]}, "minor",
        {"if": [{"sem_ver": [{"var": "version"}, "^", "3.0.0"]}, "major", "none"]}]});
    for (version, want) in [("3.0.1", "minor"), ("3.1.0", "major"), ("4.0.0", "none")] {
        let (value, _) = answer(
            "major-minor-version-flag",
            range.clone(),
            &["minor", "major", "none"],
            "none",
            json!({"version": version}),
        );
        assert_eq!(value, json!(want), "{version}");
    }
    let prefix =
        json!({"if": [{"sem_ver": [{"var": "version"}, "=", "1.0.0"]}, "match", "no-match"]});
    for (version, want) in [
        ("1.0.0", "match"),
        ("v1.0.0", "match"),
        ("V1.0.0", "match"),
        ("2.0.0", "no-match"),
    ] {
        let (value, _) = answer(
            "semver-v-prefix-flag",
            prefix.clone(),
            &["match", "no-match", "fallback"],
            "fallback",
            json!({"version": version}),
        );
        assert_eq!(value, json!(want), "{version}");
    }
    // Invalid input gives null: the default variant, reason DEFAULT.
    for (rule, version) in [
        (
            json!({"if": [{"sem_ver": [{"var": "version"}, ">", "1.0.0"]}, "wrong", null]}),
            "not-a-version",
        ),
        (
            json!({"if": [{"sem_ver": [{"var": "version"}, "===", "1.0.0"]}, "wrong", null]}),
            "1.0.0",
        ),
    ] {
        let got = answer(
            "semver-invalid",
            rule,
            &["wrong", "fallback"],
            "fallback",
            json!({"version": version}),
        );
        assert_eq!(got, (json!("fallback"), Reason::Default), "{version}");
    }
}

#[test]
fn substring_operators() {
    let rule = json!({"if": [{"starts_with": [{"var": "id"}, "abc"]}, "prefix",
        {"if": [{"ends_with": [{"var": "id"}, "xyz"]}, "postfix", "none"]}]});
    for (id, want) in [
        ("abcdef", "prefix"),
        ("uvwxyz", "postfix"),
        ("abcxyz", "prefix"),
        ("lmnopq", "none"),
    ] {
        let (value, _) = answer(
            "starts-ends-flag",
            rule.clone(),
            &["prefix", "postfix", "none"],
            "none",
            json!({"id": id}),
        );
        assert_eq!(value, json!(want), "{id}");
    }
    for op in ["starts_with", "ends_with"] {
        let rule = json!({"if": [{op: [{"var": "num"}, "12"]}, "wrong", null]});
        let got = answer(
            "non-string",
            rule,
            &["wrong", "fallback"],
            "fallback",
            json!({"num": 123}),
        );
        assert_eq!(got, (json!("fallback"), Reason::Default), "{op}");
    }
}

/// A context value as the testbed's step "a context containing a key ..., with type T and with
/// value V" builds it.
fn typed(kind: &str, text: &str) -> Value {
    match kind {
        "String" => json!(text),
        "Boolean" => json!(text == "true"),
        "Integer" | "Float" | "Object" => {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{kind} {text:?}: {e}"))
        }
        other => panic!("type {other}"),
    }
}

/// Every `@fractional-v3` row of the testbed whose bucketing input is `hashing_input` (111:
/// basic types, float mapping, zeros, integer and float limits, map key ordering, nested
/// structures with nulls, string lengths, UTF-8), from tests/flags/sets/testbed-fractional-v3.json.
#[test]
fn fractional_v3_rows() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!(
        "{root}/tests/flags/sets/testbed-fractional-v3.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let buckets: Vec<Value> = (1..=25).map(|i| json!([format!("bucket{i}"), 4])).collect();
    let mut variants: serde_json::Map<String, Value> = (1..=25)
        .map(|i| (format!("bucket{i}"), json!(format!("bucket{i}"))))
        .collect();
    variants.insert("fallback".into(), json!("fallback"));
    let mut rule = vec![json!({"var": "hashing_input"})];
    rule.extend(buckets);
    let set = FlagSet::from_value(&json!({
        "metadata": {"fractional": "v3"},
        "flags": {"fractional-basic-flag": {
            "state": "ENABLED",
            "variants": variants,
            "defaultVariant": "fallback",
            "targeting": {"fractional": rule},
        }}
    }))
    .unwrap();
    let rows = fixture["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 111);
    let mut wrong = Vec::new();
    for row in rows {
        let input = typed(
            row["type"].as_str().unwrap(),
            row["input"].as_str().unwrap(),
        );
        let r = set.evaluate(
            "fractional-basic-flag",
            &mut Context::new(json!({"hashing_input": input}), 0),
        );
        let got = r.value.unwrap_or(Value::Null);
        if got != row["want"] {
            wrong.push(format!(
                "{}: {} -> {got}, want {}",
                row["scenario"], row["input"], row["want"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}

/// A flag of the testbed: its key, targeting, variants, default variant, and (context, value)
/// rows.
type NamedCase<'a> = (
    &'a str,
    Value,
    serde_json::Map<String, Value>,
    &'a str,
    Vec<(Value, &'a str)>,
);

/// The testbed's other `@fractional-v3` rows (15): bucketing on `cat` of the flag key (or a
/// shared seed) and a nested name, and the shorthand on the targeting key, each flag as
/// flags/custom-ops.json defines it, under `"fractional": "v3"`.
#[test]
fn fractional_v3_named_rows() {
    let suits = |prefix: &str| -> serde_json::Map<String, Value> {
        ["clubs", "diamonds", "hearts", "spades", "wild"]
            .iter()
            .map(|s| ((*s).to_owned(), json!(format!("{prefix}{s}"))))
            .collect()
    };
    let four = |seed: Value| json!({"fractional": [seed, ["clubs", 25], ["diamonds", 25], ["hearts", 25], ["spades", 25]]});
    let by_name = |name: &str| json!({"user": {"name": name}});
    let cases: Vec<NamedCase<'_>> = vec![
        (
            "fractional-flag",
            four(json!({"cat": [{"var": "$flagd.flagKey"}, {"var": "user.name"}]})),
            suits(""),
            "wild",
            vec![
                (by_name("jack"), "diamonds"),
                (by_name("queen"), "diamonds"),
                (by_name("ten"), "clubs"),
                (by_name("nine"), "clubs"),
                (by_name("3"), "spades"),
            ],
        ),
        (
            "fractional-flag-shorthand",
            json!({"fractional": [["heads"], ["tails", 1]]}),
            ["heads", "tails", "draw"]
                .iter()
                .map(|v| ((*v).to_owned(), json!(v)))
                .collect(),
            "draw",
            vec![
                (json!({"targetingKey": "jon@company.com"}), "tails"),
                (json!({"targetingKey": "jane@company.com"}), "tails"),
            ],
        ),
        (
            "fractional-flag-A-shared-seed",
            four(json!({"cat": ["shared-seed", {"var": "user.name"}]})),
            suits(""),
            "wild",
            vec![
                (by_name("seven"), "hearts"),
                (by_name("eight"), "hearts"),
                (by_name("nine"), "diamonds"),
                (by_name("two"), "diamonds"),
            ],
        ),
        (
            "fractional-flag-B-shared-seed",
            four(json!({"cat": ["shared-seed", {"var": "user.name"}]})),
            suits("ace-of-"),
            "wild",
            vec![
                (by_name("seven"), "ace-of-hearts"),
                (by_name("eight"), "ace-of-hearts"),
                (by_name("nine"), "ace-of-diamonds"),
                (by_name("two"), "ace-of-diamonds"),
            ],
        ),
    ];
    let mut rows = 0;
    for (key, targeting, variants, default, expected) in cases {
        let set = FlagSet::from_value(&json!({
            "metadata": {"fractional": "v3"},
            "flags": {key: {"state": "ENABLED", "variants": variants,
                            "defaultVariant": default, "targeting": targeting}}
        }))
        .unwrap();
        for (ctx, want) in expected {
            let r = set.evaluate(key, &mut Context::new(ctx.clone(), 0));
            assert_eq!(r.value, Some(json!(want)), "{key} {ctx}");
            rows += 1;
        }
    }
    assert_eq!(rows, 15);
}
