//! Four eyes: a plan's `approvals` turn its commands into pending requests that another operator
//! approves (never the requester, never twice), that expire, and that the audit log records;
//! from every status a request is filed exactly when the command would run.

use pilot_gate_core::control::api::handle;
use pilot_gate_core::control::audit::Actor;
use pilot_gate_core::control::error::ControlError;
use pilot_gate_core::control::state::{Caller, Change, ControlState};
use pilot_gate_core::http::auth::Role;
use pilot_gate_core::http::route::AdminRoute as A;
use serde_json::{json, Value};

use crate::{imported, operator, NOW};

fn by(name: &str, role: Role, now_ms: u64) -> Caller {
    Caller {
        actor: operator(name, role),
        now_ms,
        if_match: None,
    }
}

fn olga(now_ms: u64) -> Caller {
    by("olga", Role::Operator, now_ms)
}

fn otto(now_ms: u64) -> Caller {
    by("otto", Role::Operator, now_ms)
}

/// Runs a route as the Durable Object does: on a copy, kept only when it succeeds.
fn run(
    s: &mut ControlState,
    route: A,
    key: Option<&str>,
    body: Value,
    caller: &Caller,
) -> Result<Change, ControlError> {
    let mut next = s.clone();
    let r = handle(&mut next, route, key, &body, caller);
    if r.is_ok() {
        *s = next;
    }
    r
}

fn gated(spec: Value) -> ControlState {
    let mut plan = json!({"tier": 1, "status": "active", "minDwellS": 0});
    plan["approvals"] = spec;
    imported(&[
        ("pilot", plan),
        ("other", json!({"tier": 1, "status": "active"})),
    ])
}

#[test]
fn an_advance_waits_for_another_operator_then_runs_in_the_requesters_name() {
    let mut s = gated(json!({"advance": 1}));
    let revision = s.revision;
    let c = run(
        &mut s,
        A::Advance,
        Some("pilot"),
        json!({"reason": "green"}),
        &olga(NOW),
    )
    .unwrap();
    assert_eq!(c.status, 202);
    let id = c.body["pending"]["id"].as_u64().unwrap();
    assert_eq!(
        c.body["pending"]["requestedBy"],
        json!({"name": "olga", "role": "operator"})
    );
    assert_eq!(
        (c.audit[0].action.as_str(), c.audit[0].actor.as_str()),
        ("request", "olga")
    );
    assert!(c.audit[0].diff.is_none(), "a request changes no plan");
    assert_eq!(s.flags["pilot"].plan.tier, 1, "nothing moved yet");
    assert_eq!(s.revision, revision, "nothing to publish");
    // The same command again is refused while it waits; the requester cannot approve it.
    let again = run(&mut s, A::Advance, Some("pilot"), json!({}), &otto(NOW));
    assert!(matches!(again, Err(ControlError::Conflict(r)) if r[0].contains("already pending")));
    let own = run(
        &mut s,
        A::Approve,
        Some(&id.to_string()),
        json!({}),
        &olga(NOW + 1),
    );
    assert_eq!(own.unwrap_err(), ControlError::OwnRequest);
    // Another operator's approval runs it, in olga's name, naming the request and its approver.
    let c = run(
        &mut s,
        A::Approve,
        Some(&id.to_string()),
        json!({}),
        &otto(NOW + 2),
    )
    .unwrap();
    assert_eq!(s.flags["pilot"].plan.tier, 2);
    let actions: Vec<(&str, &str)> = c
        .audit
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(actions, [("otto", "approve"), ("olga", "advance")]);
    let advance = &c.audit[1];
    assert_eq!(advance.reason.as_deref(), Some("green"));
    assert_eq!(advance.evidence["approvedBy"], json!(["otto"]));
    assert_eq!(advance.evidence["request"], json!(id));
    assert!(advance.diff.is_some());
    assert!(s.pending.is_empty());
    // Run once: approving it again finds nothing.
    let twice = run(
        &mut s,
        A::Approve,
        Some(&id.to_string()),
        json!({}),
        &otto(NOW + 3),
    );
    assert_eq!(twice.unwrap_err(), ControlError::RequestNotFound(id));
    // Other flags and other commands are not gated.
    assert_eq!(
        run(&mut s, A::Pause, Some("pilot"), json!({}), &olga(NOW))
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        run(
            &mut s,
            A::Advance,
            Some("other"),
            json!({"force": true, "reason": "r"}),
            &olga(NOW)
        )
        .unwrap()
        .status,
        200
    );
}

#[test]
fn two_approvals_need_two_other_names_and_a_rejection_or_expiry_drops_the_request() {
    let mut s = gated(json!({"rollback": 2, "expiresS": 600}));
    let body = json!({"reason": "errors"});
    let c = run(&mut s, A::Rollback, Some("pilot"), body.clone(), &olga(NOW)).unwrap();
    let id = c.body["pending"]["id"].as_u64().unwrap().to_string();
    assert_eq!(c.body["pending"]["expiresAtMs"], json!(NOW + 600_000));
    let c = run(&mut s, A::Approve, Some(&id), json!({}), &otto(NOW + 1)).unwrap();
    assert_eq!(c.body["pending"]["approvedBy"], json!(["otto"]));
    assert_eq!(s.flags["pilot"].plan.tier, 1, "one of two");
    let dup = run(&mut s, A::Approve, Some(&id), json!({}), &otto(NOW + 2));
    assert!(matches!(dup, Err(ControlError::Conflict(_))));
    let ada = by("ada", Role::Admin, NOW + 3);
    run(&mut s, A::Approve, Some(&id), json!({}), &ada).unwrap();
    assert_eq!(
        s.flags["pilot"].plan.tier, 0,
        "rolled back after two approvals"
    );

    // A rejection (the requester's own, here) drops a request.
    let mut s = gated(json!({"rollback": 1, "expiresS": 600}));
    let c = run(&mut s, A::Rollback, Some("pilot"), body.clone(), &olga(NOW)).unwrap();
    let id = c.body["pending"]["id"].as_u64().unwrap().to_string();
    let c = run(&mut s, A::Reject, Some(&id), json!({}), &olga(NOW + 1)).unwrap();
    assert_eq!(c.audit[0].action, "reject");
    assert!(s.pending.is_empty());
    let late = run(&mut s, A::Approve, Some(&id), json!({}), &otto(NOW + 2));
    assert!(matches!(late, Err(ControlError::RequestNotFound(_))));

    // Unapproved, it expires: the next change records the expiry at the time it expired, by
    // the control plane; an approval after it finds nothing.
    let c = run(&mut s, A::Rollback, Some("pilot"), body, &olga(NOW)).unwrap();
    let id = c.body["pending"]["id"].as_u64().unwrap().to_string();
    let after = NOW + 600_000;
    let late = run(&mut s, A::Approve, Some(&id), json!({}), &otto(after));
    assert!(matches!(late, Err(ControlError::RequestNotFound(_))));
    let c = run(&mut s, A::Pause, Some("other"), json!({}), &otto(after + 5)).unwrap();
    let expiry = &c.audit[0];
    assert_eq!(
        (
            expiry.action.as_str(),
            expiry.actor.as_str(),
            expiry.role,
            expiry.at_ms
        ),
        ("expire", "system", None, after)
    );
    assert_eq!(c.audit[1].action, "pause");
    assert!(s.pending.is_empty());
    assert_eq!(s.flags["pilot"].plan.tier, 1, "never rolled back");
}

#[test]
fn from_every_status_a_request_is_filed_exactly_when_the_command_would_run() {
    let commands = [
        (A::Start, json!({})),
        (A::Advance, json!({})),
        (A::Pause, json!({})),
        (A::Resume, json!({})),
        (A::Rollback, json!({"reason": "r"})),
        (A::Back, json!({"to": 1, "reason": "r"})),
    ];
    let statuses = [
        ("draft", 0),
        ("active", 1),
        ("active", 2),
        ("paused", 2),
        ("rolled_back", 0),
        ("complete", 4),
    ];
    let all = json!({"start": 1, "advance": 1, "pause": 1, "resume": 1, "rollback": 1, "back": 1});
    let (mut filed, mut refused) = (0, 0);
    for (status, tier) in statuses {
        for (route, body) in &commands {
            let plan = json!({"tier": tier, "status": status, "minDwellS": 0});
            let plain = imported(&[("pilot", plan.clone())]);
            let mut with = plan;
            with["approvals"] = all.clone();
            let mut gated = imported(&[("pilot", with)]);
            let direct = handle(&mut plain.clone(), *route, Some("pilot"), body, &olga(NOW));
            let asked = run(&mut gated, *route, Some("pilot"), body.clone(), &olga(NOW));
            match (&direct, &asked) {
                (Ok(_), Ok(c)) => {
                    filed += 1;
                    assert_eq!(c.status, 202, "{status} t{tier} {route:?}");
                    // ...and approved, it does what it would have done.
                    let id = c.body["pending"]["id"].as_u64().unwrap().to_string();
                    run(&mut gated, A::Approve, Some(&id), json!({}), &otto(NOW)).unwrap();
                    let want = direct.as_ref().unwrap().body["plan"].clone();
                    let mut got = gated.flags["pilot"].plan.clone();
                    got.approvals = None;
                    assert_eq!(
                        serde_json::to_value(got).unwrap(),
                        want,
                        "{status} {route:?}"
                    );
                }
                (Err(a), Err(b)) => {
                    refused += 1;
                    assert_eq!(a, b, "{status} t{tier} {route:?}");
                }
                _ => panic!("{status} t{tier} {route:?}: {direct:?} vs {asked:?}"),
            }
        }
    }
    // Both branches are walked many times (14 filed and 22 refused on the default ladder).
    assert!(
        filed >= 10 && refused >= 10,
        "{filed} filed, {refused} refused"
    );
}

#[test]
fn the_kill_switch_stays_one_click_unless_a_plan_gates_it_and_the_control_plane_never_waits() {
    let reason = json!({"reason": "incident"});
    let mut s = gated(json!({"advance": 1}));
    let c = run(&mut s, A::Kill, None, reason.clone(), &olga(NOW)).unwrap();
    assert_eq!(c.status, 200);
    assert!(s.kill.is_some(), "one click");

    let mut s = gated(json!({"kill": 1}));
    let c = run(&mut s, A::Kill, None, reason.clone(), &olga(NOW)).unwrap();
    assert_eq!(c.status, 202);
    assert!(s.kill.is_none());
    let id = c.body["pending"]["id"].as_u64().unwrap().to_string();
    run(&mut s, A::Approve, Some(&id), json!({}), &otto(NOW + 1)).unwrap();
    assert_eq!(s.kill.as_ref().map(|k| k.actor.as_str()), Some("olga"));

    // The control plane's own commands (guards, autoAdvance) never wait.
    let mut s = gated(json!({"pause": 1}));
    let system = Caller {
        actor: Actor::System,
        now_ms: NOW,
        if_match: None,
    };
    assert_eq!(
        run(&mut s, A::Pause, Some("pilot"), json!({}), &system)
            .unwrap()
            .status,
        200
    );
}

#[test]
fn approvals_are_validated_with_the_path_of_the_bad_field() {
    for (spec, path) in [
        (json!({"advance": 4}), "/plans/pilot/approvals/advance"),
        (json!({"frobnicate": 1}), "/plans/pilot/approvals"),
        (
            json!({"advance": 1, "expiresS": 10}),
            "/plans/pilot/approvals/expiresS",
        ),
        (json!([1]), "/plans/pilot/approvals"),
    ] {
        let doc = json!({"flags": {"pilot": crate::boolean()},
            "plans": {"pilot": {"approvals": spec}}});
        let e = ControlState::default()
            .import(&doc, &olga(NOW))
            .unwrap_err();
        match e {
            ControlError::Invalid { path: at, .. } => assert_eq!(at, path, "{spec}"),
            other => panic!("{spec}: {other:?}"),
        }
    }
}

#[test]
fn the_pending_requests_stay_small_beside_a_durable_object_rows_2_mb() {
    use pilot_gate_core::control::api::MAX_REASON_BYTES;
    use pilot_gate_core::control::approval::MAX_PENDING;
    // As many flags as requests may pend, each with a gated rollback and the longest reason.
    let flags: Vec<(String, Value)> = (0..=MAX_PENDING)
        .map(|i| {
            let plan = json!({"tier": 1, "status": "active", "approvals": {"rollback": 1}});
            (format!("f{i}"), plan)
        })
        .collect();
    let refs: Vec<(&str, Value)> = flags.iter().map(|(k, p)| (k.as_str(), p.clone())).collect();
    let mut s = imported(&refs);
    let reason = "r".repeat(MAX_REASON_BYTES);
    for (key, _) in &flags[..MAX_PENDING] {
        let c = run(
            &mut s,
            A::Rollback,
            Some(key),
            json!({"reason": reason}),
            &olga(NOW),
        );
        assert_eq!(c.unwrap().status, 202);
    }
    // One more is refused; and a body with padding or extra fields is never filed.
    let last = flags[MAX_PENDING].0.as_str();
    let more = run(
        &mut s,
        A::Rollback,
        Some(last),
        json!({"reason": "r"}),
        &olga(NOW),
    );
    assert!(
        matches!(more, Err(ControlError::Conflict(r)) if r[0].contains("requests are pending"))
    );
    let padded = run(
        &mut s,
        A::Rollback,
        Some("f1"),
        json!({"reason": "x", "pad": "y"}),
        &otto(NOW),
    );
    assert!(padded.is_err());
    let bytes = serde_json::to_string(&s.pending).unwrap().len();
    println!("{MAX_PENDING} pending requests with {MAX_REASON_BYTES}-byte reasons: {bytes} bytes");
    assert!(bytes < 200_000, "{bytes} bytes of pending requests");
}
