//! Operations on the whole state: commands with If-Match, kill and unkill, delete, and the audit
//! entries each one appends.

use pilot_gate_core::control::command::{Command, Order};
use pilot_gate_core::control::error::ControlError;
use serde_json::json;

use pilot_gate_core::http::auth::Role;

use crate::{caller, imported, operator, NOW};

fn why(r: &str) -> Order {
    Order {
        reason: Some(r.into()),
        force: false,
    }
}

#[test]
fn two_operators_advancing_from_the_same_read_one_advances_the_other_gets_409() {
    let mut s = imported(&[(
        "pilot",
        json!({"tier": 1, "status": "active", "minDwellS": 0}),
    )]);
    let etag = s.flags["pilot"].etag();
    let mut alice = caller(NOW);
    alice.if_match = Some(etag.clone());
    let mut bob = caller(NOW);
    bob.actor = operator("bob", Role::Operator);
    bob.if_match = Some(etag);
    assert!(s
        .command("pilot", Command::Advance, &Order::default(), &alice)
        .is_ok());
    match s.command("pilot", Command::Advance, &Order::default(), &bob) {
        Err(ControlError::Conflict(r)) => assert!(
            r[0].starts_with("the flag changed since you read it"),
            "{r:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.flags["pilot"].plan.tier, 2, "exactly one advance");
}

#[test]
fn every_command_appends_one_audit_entry_with_from_to_reason_and_evidence() {
    let mut s = imported(&[(
        "pilot",
        json!({"tier": 1, "status": "active", "minDwellS": 3600}),
    )]);
    let forced = Order {
        reason: Some("exec sign-off".into()),
        force: true,
    };
    let c = s
        .command("pilot", Command::Advance, &forced, &caller(NOW + 5_000))
        .unwrap();
    assert_eq!(c.audit.len(), 1);
    let e = &c.audit[0];
    assert_eq!(
        (
            e.actor.as_str(),
            e.role,
            e.action.as_str(),
            e.flag.as_deref()
        ),
        ("alice", Some(Role::Admin), "advance", Some("pilot"))
    );
    assert_eq!(e.from, json!({"status": "active", "tier": 1, "pct": 1}));
    assert_eq!(e.to, json!({"status": "active", "tier": 2, "pct": 10}));
    assert_eq!(e.reason.as_deref(), Some("exec sign-off"));
    assert_eq!(
        e.evidence,
        json!({"dwellS": 5, "forced": true, "overridden": ["dwell: 5 s of 3600 s at tier 2 (10 %)".replace("tier 2 (10", "tier 1 (1")]})
    );
    assert_eq!(e.at_ms, NOW + 5_000);
}

#[test]
fn kill_needs_a_reason_and_refuses_twice_unkill_refuses_when_not_killed() {
    let mut s = imported(&[("pilot", json!({}))]);
    assert!(matches!(
        s.kill(&Order::default(), &caller(NOW)),
        Err(ControlError::BadRequest(_))
    ));
    let c = s.kill(&why("checkout errors"), &caller(NOW)).unwrap();
    assert_eq!(
        (c.audit[0].action.as_str(), c.audit[0].reason.as_deref()),
        ("kill", Some("checkout errors"))
    );
    assert!(matches!(
        s.kill(&why("again"), &caller(NOW)),
        Err(ControlError::Conflict(_))
    ));
    assert_eq!(
        s.flags["pilot"].plan.tier_revision, s.revision,
        "what is served while killed is no tier's evidence"
    );
    assert!(s.unkill(&Order::default(), &caller(NOW + 60_000)).is_ok());
    assert_eq!(
        s.flags["pilot"].plan.tier_revision, s.revision,
        "an unkill starts the tier's window afresh"
    );
    assert!(matches!(
        s.unkill(&Order::default(), &caller(NOW)),
        Err(ControlError::Conflict(_))
    ));
}

#[test]
fn a_flag_that_another_requires_cannot_be_deleted() {
    let mut s = imported(&[("a", json!({})), ("b", json!({"requires": ["a"]}))]);
    assert!(matches!(
        s.delete("a", &caller(NOW)),
        Err(ControlError::Conflict(_))
    ));
    assert!(s.delete("b", &caller(NOW)).is_ok());
    assert!(s.delete("a", &caller(NOW)).is_ok());
    assert_eq!(
        s.delete("a", &caller(NOW)),
        Err(ControlError::FlagNotFound("a".into()))
    );
}

#[test]
fn the_revision_rises_with_every_change_and_never_on_a_refusal() {
    let mut s = imported(&[("pilot", json!({"tier": 1, "status": "active"}))]);
    let r0 = s.revision;
    assert!(s
        .command("pilot", Command::Advance, &Order::default(), &caller(NOW))
        .is_err()); // dwell
    assert_eq!(s.revision, r0);
    s.command("pilot", Command::Pause, &Order::default(), &caller(NOW))
        .unwrap();
    assert_eq!(s.revision, r0 + 1);
}

#[test]
fn an_import_keeps_a_flag_whose_rule_does_not_compile_as_flagd_does() {
    use pilot_gate_core::control::compile::compile;
    use pilot_gate_core::control::state::ControlState;
    use pilot_gate_core::flags::evaluate::{Context, ErrorCode};
    use pilot_gate_core::flags::model::FlagSet;
    let broken = json!({"state": "ENABLED", "variants": {"on": true, "off": false},
        "defaultVariant": "off", "targeting": {"if": [{"no_such_op": [1]}, "on", "off"]}});
    let doc = json!({"flags": {"good": crate::boolean(), "broken": broken}});
    let mut s = ControlState::default();
    let change = s.import(&doc, &caller(NOW)).expect("imported");
    assert_eq!(change.status, 200);
    let errors = change.body["parseErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["flag"], "broken");
    assert!(
        errors[0]["path"]
            .as_str()
            .unwrap()
            .starts_with("/flags/broken/targeting"),
        "{errors:?}"
    );
    assert_eq!(
        change.audit[0].evidence["parseErrors"],
        change.body["parseErrors"]
    );
    // The compiled set: the broken flag answers PARSE_ERROR, alone.
    let set = FlagSet::from_value(&compile(&s)).unwrap();
    let mut ctx = Context::new(json!({"targetingKey": "k"}), 0);
    let r = set.evaluate("broken", &mut ctx);
    assert_eq!(r.error.map(|e| e.0), Some(ErrorCode::ParseError));
    let r = set.evaluate("good", &mut ctx);
    assert_eq!((r.error, r.value), (None, Some(json!(false))));
    // A PUT of one flag with a bad rule is still refused, with the path.
    let body = json!({"definition": doc["flags"]["broken"]});
    match s.put("broken2", &body, &caller(NOW + 1)) {
        Err(ControlError::Invalid { path, .. }) => {
            assert!(path.starts_with("/definition/targeting"), "{path}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_flag_that_requires_a_broken_one_stays_loadable_and_off() {
    use pilot_gate_core::control::compile::compile;
    use pilot_gate_core::control::state::ControlState;
    use pilot_gate_core::flags::evaluate::Context;
    use pilot_gate_core::flags::model::FlagSet;
    let broken = json!({"state": "ENABLED", "variants": {"on": true, "off": false},
        "defaultVariant": "off", "targeting": {"if": [{"no_such_op": [1]}, "on", "off"]}});
    let doc = json!({"flags": {"dependent": crate::boolean(), "broken": broken},
        "plans": {"dependent": {"requires": ["broken"], "tier": 4, "status": "complete"}}});
    let mut s = ControlState::default();
    s.import(&doc, &caller(NOW)).expect("imported");
    let set = FlagSet::from_value(&compile(&s)).unwrap();
    let faulty: Vec<&str> = set.issues.iter().map(|i| i.flag.as_str()).collect();
    assert_eq!(faulty, ["broken"]);
    let r = set.evaluate(
        "dependent",
        &mut Context::new(json!({"targetingKey": "k"}), 0),
    );
    assert_eq!((r.error, r.value), (None, Some(json!(false))));
}

#[test]
fn a_put_a_command_an_import_and_a_delete_carry_diffs_that_rebuild_the_version_before() {
    use pilot_gate_core::control::api::handle;
    use pilot_gate_core::control::audit::{flag_doc, set_doc};
    use pilot_gate_core::control::diff::{apply, invert};
    use pilot_gate_core::http::route::AdminRoute;

    let mut s = imported(&[(
        "pilot",
        json!({"tier": 1, "status": "active", "allow": ["qa-1"]}),
    )]);
    let before = flag_doc(&s, "pilot");
    let mut body = before.clone();
    body["plan"]["allow"] = json!(["qa-1", "qa-2"]);
    body["definition"]["defaultVariant"] = json!("on");
    let c = handle(
        &mut s,
        AdminRoute::PutFlag,
        Some("pilot"),
        &body,
        &caller(NOW),
    )
    .unwrap();
    let patch = c.audit[0].diff.clone().expect("a put carries a diff");
    let after = flag_doc(&s, "pilot");
    assert_eq!(apply(&before, &patch).unwrap(), after);
    assert_eq!(apply(&after, &invert(&patch)).unwrap(), before);
    let text = serde_json::to_value(&patch).unwrap().to_string();
    assert!(
        text.contains(r#"{"op":"add","path":"/plan/allow/1","value":"qa-2"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"{"op":"test","path":"/definition/defaultVariant","value":"off"}"#),
        "{text}"
    );

    // A command changes the plan too; kill changes no definition and carries none.
    let c = handle(
        &mut s,
        AdminRoute::Pause,
        Some("pilot"),
        &json!({}),
        &caller(NOW),
    )
    .unwrap();
    let paused = c.audit[0].diff.clone().unwrap();
    assert_eq!(
        apply(&flag_doc(&s, "pilot"), &invert(&paused)).unwrap(),
        after
    );
    let c = handle(
        &mut s,
        AdminRoute::Kill,
        None,
        &json!({"reason": "r"}),
        &caller(NOW),
    )
    .unwrap();
    assert!(c.audit[0].diff.is_none());

    // An import's diff is the whole set's.
    let set_before = set_doc(&s);
    let doc = json!({"flags": {"other": crate::boolean()}, "metadata": {"flagSetId": "x"}});
    let c = handle(&mut s, AdminRoute::PutFlagset, None, &doc, &caller(NOW)).unwrap();
    let patch = c.audit[0].diff.clone().unwrap();
    assert_eq!(apply(&set_doc(&s), &invert(&patch)).unwrap(), set_before);

    // A delete's diff rebuilds the flag from nothing.
    let c = handle(
        &mut s,
        AdminRoute::DeleteFlag,
        Some("other"),
        &json!(null),
        &caller(NOW),
    )
    .unwrap();
    let gone = c.audit[0].diff.clone().unwrap();
    assert!(!s.flags.contains_key("other"));
    let rebuilt = apply(&serde_json::Value::Null, &invert(&gone)).unwrap();
    assert_eq!(rebuilt["definition"], crate::boolean());
}
