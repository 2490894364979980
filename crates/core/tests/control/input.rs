//! PUT validation: every refusal is 422 with the JSON pointer of the field at fault.

use pilot_gate_core::control::error::ControlError;
use pilot_gate_core::control::state::ControlState;
use pilot_gate_core::http::problem::{reply, Problem};
use serde_json::{json, Value};

use crate::{boolean, caller, imported, NOW};

fn put(state: &mut ControlState, key: &str, body: Value) -> Result<u16, (u16, String, String)> {
    state
        .put(key, &body, &caller(NOW))
        .map(|c| c.status)
        .map_err(|e| {
            let r = reply(&e);
            (
                e.status(),
                r.body["path"].as_str().unwrap_or_default().to_owned(),
                e.detail(),
            )
        })
}

#[test]
fn a_valid_flag_is_created_as_a_draft_then_changed_in_place() {
    let mut s = ControlState::default();
    assert_eq!(
        put(
            &mut s,
            "pilot",
            json!({"definition": boolean(), "plan": {"allow": ["qa-1"]}})
        ),
        Ok(201)
    );
    let plan = &s.flags["pilot"].plan;
    assert_eq!(
        (
            plan.tier,
            plan.status.as_str(),
            plan.on.as_str(),
            plan.off.as_str()
        ),
        (0, "draft", "on", "off")
    );
    assert_eq!(plan.ladder_pct, [0, 1, 10, 50, 100]);
    assert_eq!(
        put(
            &mut s,
            "pilot",
            json!({"definition": boolean(), "plan": {"ladderPct": [0, 10, 20, 50, 100]}})
        ),
        Ok(200)
    );
    assert_eq!(s.flags["pilot"].plan.ladder_pct, [0, 10, 20, 50, 100]);
    assert_eq!(s.flags["pilot"].revision, 2);
}

#[test]
fn each_bad_field_is_named_by_its_path() {
    let cases = [
        (json!({"plan": {}}), "/definition", "required"),
        (
            json!({"definition": boolean(), "extra": 1}),
            "/extra",
            "unknown field",
        ),
        (
            json!({"definition": {"state": "ON", "variants": {"a": 1}, "defaultVariant": "a"}}),
            "/definition/state",
            "must be ENABLED or DISABLED",
        ),
        (
            json!({"definition": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "b"}}),
            "/definition/defaultVariant",
            "\"b\" is not one of the variants",
        ),
        (
            // flagd takes a flag without defaultVariant (tests/control/no_default.rs), not one
            // without variants.
            json!({"definition": {"state": "ENABLED", "defaultVariant": "a"}}),
            "/definition/variants",
            "required",
        ),
        (
            json!({"definition": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a", "targeting": {"nope": [1]}}}),
            "/definition/targeting",
            "",
        ),
        (
            json!({"definition": boolean(), "plan": {"ladderPct": [0, 50, 40, 100]}}),
            "/plan/ladderPct/2",
            "tiers must rise strictly",
        ),
        (
            json!({"definition": boolean(), "plan": {"ladderPct": [5, 100]}}),
            "/plan/ladderPct/0",
            "the first tier must be 0",
        ),
        (
            json!({"definition": boolean(), "plan": {"ladderPct": [0, 50]}}),
            "/plan/ladderPct/1",
            "the last tier must be 100",
        ),
        (
            json!({"definition": boolean(), "plan": {"ladderPct": [0, 101]}}),
            "/plan/ladderPct/1",
            "must be a whole percentage, 0 to 100",
        ),
        (
            json!({"definition": boolean(), "plan": {"ladderPct": [0]}}),
            "/plan/ladderPct",
            "must have 2 to 10 tiers",
        ),
        (
            json!({"definition": boolean(), "plan": {"allow": ["ok", 7]}}),
            "/plan/allow/1",
            "must be a string of 1 to 256 bytes",
        ),
        (
            json!({"definition": boolean(), "plan": {"deny": "x"}}),
            "/plan/deny",
            "must be an array of strings",
        ),
        (
            json!({"definition": boolean(), "plan": {"on": "maybe"}}),
            "/plan/on",
            "\"maybe\" is not a variant of the flag",
        ),
        (
            json!({"definition": boolean(), "plan": {"minDwellS": -1}}),
            "/plan/minDwellS",
            "must be whole seconds, 0 to 2592000",
        ),
        (
            json!({"definition": boolean(), "plan": {"requires": ["ghost"]}}),
            "/plan/requires/0",
            "\"ghost\" is not another flag of the set",
        ),
        (
            json!({"definition": boolean(), "plan": {"tier": 3}}),
            "/plan/tier",
            "changes only by command (start, advance, pause, resume, rollback)",
        ),
        (
            json!({"definition": boolean(), "plan": {"tierRevision": 9}}),
            "/plan/tierRevision",
            "changes only by command (start, advance, pause, resume, rollback)",
        ),
        (
            json!({"definition": boolean(), "plan": {"guards": {"comparative": {"r": 1.0}}}}),
            "/plan/guards/comparative/r",
            "must be a ratio above 1 and at most 100",
        ),
        (
            json!({"definition": boolean(), "plan": {"guards": {"comparative": {"r": 1e9}}}}),
            "/plan/guards/comparative/r",
            "must be a ratio above 1 and at most 100",
        ),
        (
            json!({"definition": boolean(),
                   "plan": {"guards": {"comparative": {"alpha": 0.5, "beta": 0.5}}}}),
            "/plan/guards/comparative",
            "alpha and beta must be between 0 and 1, and alpha + beta below 1",
        ),
        (
            json!({"definition": boolean(), "plan": {"colour": "red"}}),
            "/plan/colour",
            "unknown field",
        ),
    ];
    for (body, path, detail) in cases {
        let mut s = ControlState::default();
        match put(&mut s, "f", body.clone()) {
            Err((422, p, d)) => {
                assert_eq!(p, path, "{body}");
                assert!(d.starts_with(&format!("{path}: {detail}")), "{body}: {d}");
            }
            other => panic!("{body}: {other:?}"),
        }
        assert!(s.flags.is_empty(), "nothing changes on a refusal");
    }
}

#[test]
fn a_requires_cycle_is_refused() {
    let mut s = imported(&[("a", json!({})), ("b", json!({"requires": ["a"]}))]);
    let err = put(
        &mut s,
        "a",
        json!({"definition": boolean(), "plan": {"requires": ["b"]}}),
    )
    .unwrap_err();
    assert_eq!((err.0, err.1.as_str()), (422, "/plan/requires/0"));
    assert!(
        s.flags["a"].plan.requires.is_empty(),
        "the refused change left no trace"
    );
}

#[test]
fn if_match_refuses_a_stale_put_with_412_and_the_current_etag() {
    let mut s = imported(&[("pilot", json!({}))]);
    let mut stale = caller(NOW);
    stale.if_match = Some("\"0\"".into());
    let e = s
        .put("pilot", &json!({"definition": boolean()}), &stale)
        .unwrap_err();
    assert_eq!(
        e,
        ControlError::PreconditionFailed {
            current: "\"1\"".into()
        }
    );
    assert_eq!(reply(&e).headers, [("ETag", "\"1\"".to_owned())]);
    stale.if_match = Some("\"1\"".into());
    assert_eq!(
        s.put("pilot", &json!({"definition": boolean()}), &stale)
            .unwrap()
            .status,
        200
    );
    // If-Match on a flag that does not exist (someone deleted it) is a failed precondition too.
    let e = s
        .put("ghost", &json!({"definition": boolean()}), &stale)
        .unwrap_err();
    assert_eq!(
        e,
        ControlError::PreconditionFailed {
            current: "none".into()
        }
    );
    assert!(!s.flags.contains_key("ghost"));
}

#[test]
fn import_errors_point_into_the_document() {
    let mut s = ControlState::default();
    let doc = json!({"flags": {"f": boolean()}, "plans": {"f": {"tier": 9}}});
    let e = s.import(&doc, &caller(NOW)).unwrap_err();
    assert_eq!(reply(&e).body["path"], "/plans/f/tier");
    let doc = json!({"flags": {"f": {"state": "ENABLED", "variants": {}, "defaultVariant": null}}});
    let e = s.import(&doc, &caller(NOW)).unwrap_err();
    assert_eq!(reply(&e).body["path"], "/flags/f/variants");
    let doc = json!({"flags": {"f": boolean()}, "plans": {"g": {}}});
    assert_eq!(
        reply(&s.import(&doc, &caller(NOW)).unwrap_err()).body["path"],
        "/plans/g"
    );
}

#[test]
fn an_import_takes_the_sets_metrics_and_reports_every_bad_one() {
    let mut s = ControlState::default();
    let metrics = json!({
        "checkout": {"kind": "proportion", "numerator": "checkout_completed",
                     "denominator": "checkout_started", "goal": ">= 0.6"},
        "ttv": {"kind": "quantile", "event": "ttv", "value": "ms"},
    });
    let plan = |rails: Value| json!({"f": {"guards": {"guardrails": rails}}});
    let doc = |metrics: &Value, rails: Value| json!({"flags": {"f": boolean()}, "metrics": metrics, "plans": plan(rails)});
    let ok = doc(
        &metrics,
        json!([{"metric": "checkout", "maxDropPct": 10, "action": "rollback"},
               {"metric": "ttv", "quantile": "p90", "above": 5000, "action": "step_back", "toTier": 1}]),
    );
    s.import(&ok, &caller(NOW)).unwrap();
    assert_eq!(s.metrics.len(), 2);
    // Several bad metrics: 422 with every path.
    let bad = json!({"a": {"kind": "ratio"}, "b": {"kind": "mean", "event": "x"}});
    let e = s.import(&doc(&bad, json!([])), &caller(NOW)).unwrap_err();
    let body = reply(&e).body;
    assert_eq!(e.status(), 422);
    let paths: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/metrics/a/kind", "/metrics/b/value"]);
    assert_eq!(s.metrics.len(), 2, "a refused import changes nothing");
    // Guardrails are checked against the metrics and the ladder.
    for (rail, path) in [
        (
            json!({"metric": "nope", "maxDropPct": 10, "action": "pause"}),
            "/plans/f/guards/guardrails/0/metric",
        ),
        (
            json!({"metric": "ttv", "maxDropPct": 10, "action": "pause"}),
            "/plans/f/guards/guardrails/0/maxDropPct",
        ),
        (
            json!({"metric": "checkout", "maxDropPct": 10, "above": 3, "action": "pause"}),
            "/plans/f/guards/guardrails/0/maxDropPct",
        ),
        (
            json!({"metric": "checkout", "action": "pause"}),
            "/plans/f/guards/guardrails/0/above",
        ),
        (
            json!({"metric": "ttv", "above": 5000, "action": "pause"}),
            "/plans/f/guards/guardrails/0/quantile",
        ),
        (
            json!({"metric": "ttv", "quantile": "p90", "above": 5000, "forMin": 61, "action": "pause"}),
            "/plans/f/guards/guardrails/0/forMin",
        ),
        (
            json!({"metric": "ttv", "quantile": "p90", "above": 5000, "action": "step_back"}),
            "/plans/f/guards/guardrails/0/toTier",
        ),
        (
            json!({"metric": "ttv", "quantile": "p90", "above": 5000, "action": "step_back", "toTier": 4}),
            "/plans/f/guards/guardrails/0/toTier",
        ),
        (
            json!({"metric": "ttv", "quantile": "p90", "above": 5000, "action": "pause", "variant": "on"}),
            "/plans/f/guards/guardrails/0/variant",
        ),
        (
            json!({"metric": "checkout", "maxDropPct": 10, "action": "fallback", "variant": "maybe"}),
            "/plans/f/guards/guardrails/0/variant",
        ),
        (
            json!({"metric": "checkout", "maxDropPct": 10, "action": "explode"}),
            "/plans/f/guards/guardrails/0/action",
        ),
    ] {
        let e = s
            .import(&doc(&metrics, json!([rail])), &caller(NOW))
            .unwrap_err();
        assert_eq!(reply(&e).body["path"], path, "{rail}: {}", e.detail());
    }
    // A PUT of a flag checks its guardrails against the set's metrics too.
    let body = json!({"definition": boolean(), "plan": {"guards": {"guardrails": [{"metric": "nope", "maxDropPct": 10, "action": "pause"}]}}});
    assert_eq!(
        put(&mut s, "f", body).map_err(|e| e.1),
        Err("/plan/guards/guardrails/0/metric".to_owned())
    );
}

#[test]
fn a_plan_read_back_is_accepted_as_it_is_and_its_tier_revision_is_stamped_by_commands() {
    use pilot_gate_core::control::api::handle;
    use pilot_gate_core::http::route::AdminRoute;
    let mut s = imported(&[("a", json!({"minDwellS": 0, "tier": 1, "status": "active"}))]);
    let caller = caller(NOW);
    let r = |s: &mut ControlState, route, body| handle(s, route, Some("a"), &body, &caller);
    let advanced = r(
        &mut s,
        AdminRoute::Advance,
        json!({"force": true, "reason": "test"}),
    )
    .unwrap();
    let rev = s.revision;
    assert_eq!(
        s.flags["a"].plan.tier_revision, rev,
        "a new tier starts a new window"
    );
    assert_eq!(
        advanced.body["plan"]["tierRevision"], rev,
        "the answer shows it"
    );
    // GET, then PUT the same back: accepted, and the window stays.
    let view = r(&mut s, AdminRoute::GetFlag, json!(null)).unwrap().body;
    let back = json!({"definition": view["definition"], "plan": view["plan"]});
    r(&mut s, AdminRoute::PutFlag, back).unwrap();
    assert_eq!(
        s.flags["a"].plan.tier_revision, rev,
        "a PUT keeps the tier's window"
    );
    assert!(s.revision > rev);
    r(&mut s, AdminRoute::Rollback, json!({"reason": "test"})).unwrap();
    assert_eq!(
        s.flags["a"].plan.tier_revision, s.revision,
        "a rollback opens a new one"
    );
}
