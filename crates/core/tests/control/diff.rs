//! Audit diffs: RFC 6902 patches that apply forward and, inverted, rebuild the version before,
//! on hand-made cases and on arbitrary JSON.

use pilot_gate_core::control::diff::{apply, diff, invert};
use proptest::prelude::*;
use serde_json::{json, Value};

#[test]
fn a_plan_change_is_tested_replaces_and_adds_and_undoes() {
    let before =
        json!({"plan": {"allow": ["qa-1", "qa-2"], "tier": 1, "guards": {"breaker": {"r": 3}}}});
    let after = json!({"plan": {"allow": ["qa-1"], "tier": 2, "guards": {}}, "note": "x"});
    let patch = diff(&before, &after);
    let ops = serde_json::to_value(&patch).unwrap();
    assert_eq!(
        ops,
        json!([
            {"op": "add", "path": "/note", "value": "x"},
            {"op": "test", "path": "/plan/allow/1", "value": "qa-2"},
            {"op": "remove", "path": "/plan/allow/1"},
            {"op": "test", "path": "/plan/guards/breaker", "value": {"r": 3}},
            {"op": "remove", "path": "/plan/guards/breaker"},
            {"op": "test", "path": "/plan/tier", "value": 1},
            {"op": "replace", "path": "/plan/tier", "value": 2},
        ])
    );
    assert_eq!(apply(&before, &patch).unwrap(), after);
    assert_eq!(apply(&after, &invert(&patch)).unwrap(), before);
    // The patch also says what it expects: on another version its tests fail.
    let other = json!({"plan": {"allow": ["qa-1", "qa-9"], "tier": 1, "guards": {}}});
    assert!(apply(&other, &patch).is_err());
    // Creation and deletion of a whole document.
    let created = diff(&Value::Null, &after);
    assert_eq!(apply(&Value::Null, &created).unwrap(), after);
    assert_eq!(apply(&after, &invert(&created)).unwrap(), Value::Null);
    assert!(diff(&after, &after).0.is_empty());
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map("[a-d~/]{1,2}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn any_diff_applies_forward_and_its_inverse_rebuilds_the_previous(a in arb_json(), b in arb_json()) {
        let patch = diff(&a, &b);
        prop_assert_eq!(apply(&a, &patch).unwrap(), b.clone());
        prop_assert_eq!(apply(&b, &invert(&patch)).unwrap(), a);
    }
}

#[test]
fn a_diff_larger_than_a_durable_object_row_is_stored_in_parts_under_the_row_limit() {
    use pilot_gate_core::control::audit::{parts, DIFF_PART_BYTES};
    /// A Durable Object's largest row, in bytes.
    const DO_ROW_BYTES: usize = 2 * 1024 * 1024;
    // An import of a whole 1 MB document over another: its diff carries both (5 MB here), in
    // characters of 1 to 4 bytes so that no cut may split one.
    let text: String = "aé€😀".repeat(5_000_000 / 10);
    let cut = parts(&text, DIFF_PART_BYTES);
    assert_eq!(cut.len(), 5);
    // Each part, with its row's keys, fits a row.
    assert!(cut
        .iter()
        .all(|p| p.len() <= DIFF_PART_BYTES && p.len() + 64 < DO_ROW_BYTES));
    assert_eq!(cut.concat(), text);
}
