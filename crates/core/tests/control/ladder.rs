//! Every command from every status: the next state, or the 409 with its reason.

use pilot_gate_core::control::command::{apply, Command, Order};
use pilot_gate_core::control::error::ControlError;
use pilot_gate_core::control::plan::{Plan, Status, DEFAULT_LADDER_PCT};

use crate::NOW;

fn plan(status: Status, tier: usize) -> Plan {
    Plan {
        ladder_pct: DEFAULT_LADDER_PCT.to_vec(),
        tier,
        allow: vec![],
        deny: vec![],
        on: "on".into(),
        off: "off".into(),
        min_dwell_s: 60,
        requires: vec![],
        status,
        tier_since_ms: NOW,
        guards: None,
        auto_advance: None,
        approvals: None,
        fallback: None,
        tier_revision: 0,
        window_since_ms: 0,
        window: 1,
        objections: vec![],
    }
}

fn reason(r: &str) -> Order {
    Order {
        reason: Some(r.into()),
        force: false,
    }
}

/// The outcome as (status, tier), or the first reason of a 409, or the 400's detail.
fn outcome(from: &Plan, c: Command, order: &Order, now_ms: u64) -> Result<(Status, usize), String> {
    match apply(from, c, order, now_ms) {
        Ok(p) => Ok((p.status, p.tier)),
        Err(ControlError::Conflict(r)) => Err(format!("409 {}", r.join("; "))),
        Err(ControlError::BadRequest(d)) => Err(format!("400 {d}")),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// From status, tier, command, order, and the expected outcome.
type Row<'a> = (
    Status,
    usize,
    Command,
    &'a Order,
    Result<(Status, usize), &'a str>,
);

/// Every row's outcome at `now_ms` is the one it expects.
fn check(table: Vec<Row>, now_ms: u64) {
    for (status, tier, command, order, want) in table {
        let got = outcome(&plan(status, tier), command, order, now_ms);
        assert_eq!(
            got,
            want.map_err(str::to_owned),
            "{command:?} from {status:?}@{tier}"
        );
    }
}

#[test]
fn every_command_from_every_status() {
    use Command::*;
    use Status::*;
    let later = NOW + 61_000; // past the 60 s dwell
    let why = reason("drill");
    let none = Order::default();
    // (from status, tier, command, order, expected)
    let table: Vec<Row> = vec![
        (Draft, 0, Start, &none, Ok((Active, 1))),
        (
            Draft,
            0,
            Advance,
            &none,
            Err("409 not started (draft); use start"),
        ),
        (
            Draft,
            0,
            Pause,
            &none,
            Err("409 only an active plan can pause (this one is draft)"),
        ),
        (
            Draft,
            0,
            Resume,
            &none,
            Err("409 only a paused plan can resume (this one is draft)"),
        ),
        (
            Draft,
            0,
            Rollback,
            &why,
            Err("409 nothing to roll back (draft at tier 0)"),
        ),
        (Active, 2, Start, &none, Err("409 already started (active)")),
        (Active, 2, Advance, &none, Ok((Active, 3))),
        (Active, 3, Advance, &none, Ok((Complete, 4))),
        (Active, 2, Pause, &none, Ok((Paused, 2))),
        (
            Active,
            2,
            Resume,
            &none,
            Err("409 only a paused plan can resume (this one is active)"),
        ),
        (Active, 2, Rollback, &why, Ok((RolledBack, 0))),
        (Paused, 2, Start, &none, Err("409 already started (paused)")),
        (Paused, 2, Advance, &none, Err("409 paused; resume first")),
        (
            Paused,
            2,
            Pause,
            &none,
            Err("409 only an active plan can pause (this one is paused)"),
        ),
        (Paused, 2, Resume, &none, Ok((Active, 2))),
        (Paused, 2, Rollback, &why, Ok((RolledBack, 0))),
        (RolledBack, 0, Start, &none, Ok((Active, 1))),
        (
            RolledBack,
            0,
            Advance,
            &none,
            Err("409 not started (rolled_back); use start"),
        ),
        (
            RolledBack,
            0,
            Pause,
            &none,
            Err("409 only an active plan can pause (this one is rolled_back)"),
        ),
        (
            RolledBack,
            0,
            Resume,
            &none,
            Err("409 only a paused plan can resume (this one is rolled_back)"),
        ),
        (
            RolledBack,
            0,
            Rollback,
            &why,
            Err("409 nothing to roll back (rolled_back at tier 0)"),
        ),
        (
            Complete,
            4,
            Start,
            &none,
            Err("409 already started (complete)"),
        ),
        (
            Complete,
            4,
            Advance,
            &none,
            Err("409 already at the top tier (100 %)"),
        ),
        (
            Complete,
            4,
            Pause,
            &none,
            Err("409 only an active plan can pause (this one is complete)"),
        ),
        (
            Complete,
            4,
            Resume,
            &none,
            Err("409 only a paused plan can resume (this one is complete)"),
        ),
        (Complete, 4, Rollback, &why, Ok((RolledBack, 0))),
    ];
    check(table, later);
}

#[test]
fn advance_climbs_exactly_one_tier_and_restarts_the_dwell_clock() {
    let mut p = plan(Status::Active, 1);
    for want in 2..=4 {
        let now = p.tier_since_ms + 60_000;
        p = apply(&p, Command::Advance, &Order::default(), now).unwrap();
        assert_eq!((p.tier, p.tier_since_ms), (want, now));
    }
    assert_eq!(p.status, Status::Complete);
}

#[test]
fn dwell_time_refuses_advance_with_the_figures_unless_forced_with_a_reason() {
    let p = plan(Status::Active, 1);
    let early = NOW + 59_999;
    assert_eq!(
        outcome(&p, Command::Advance, &Order::default(), early),
        Err("409 dwell: 59 s of 60 s at tier 1 (1 %)".into())
    );
    let forced_without_reason = Order {
        reason: None,
        force: true,
    };
    assert_eq!(
        outcome(&p, Command::Advance, &forced_without_reason, early),
        Err("400 force needs a reason: {\"reason\": \"...\"}".into())
    );
    let forced = Order {
        reason: Some("incident fix verified".into()),
        force: true,
    };
    assert_eq!(
        outcome(&p, Command::Advance, &forced, early),
        Ok((Status::Active, 2))
    );
    // A paused plan, early: both reasons, and force overrides both.
    let paused = plan(Status::Paused, 1);
    match apply(&paused, Command::Advance, &Order::default(), early) {
        Err(ControlError::Conflict(r)) => assert_eq!(r.len(), 2, "{r:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        outcome(&paused, Command::Advance, &forced, early),
        Ok((Status::Active, 2))
    );
}

#[test]
fn rollback_needs_a_reason() {
    assert_eq!(
        outcome(
            &plan(Status::Active, 2),
            Command::Rollback,
            &Order::default(),
            NOW
        ),
        Err("400 rollback needs a reason: {\"reason\": \"...\"}".into())
    );
}

#[test]
fn back_steps_down_from_every_status_that_has_a_tier_above_0() {
    use Command::Back;
    use Status::*;
    let why = reason("TTV p90 above 5 s");
    let none = Order::default();
    let later = NOW + 1_000; // no dwell time applies to going down
    let table: Vec<Row> = vec![
        (Active, 3, Back { to: 1 }, &why, Ok((Active, 1))),
        (Paused, 3, Back { to: 2 }, &why, Ok((Paused, 2))),
        (Complete, 4, Back { to: 2 }, &why, Ok((Active, 2))),
        (
            Active,
            2,
            Back { to: 2 },
            &why,
            Err("409 tier 2 is not below the current tier 2 (10 %)"),
        ),
        (
            Active,
            2,
            Back { to: 3 },
            &why,
            Err("409 tier 3 is not below the current tier 2 (10 %)"),
        ),
        (
            Active,
            2,
            Back { to: 0 },
            &why,
            Err("409 back goes to a tier above 0; rollback turns everyone off"),
        ),
        (
            Draft,
            0,
            Back { to: 1 },
            &why,
            Err("409 nothing to step back from (draft at tier 0)"),
        ),
        (
            RolledBack,
            0,
            Back { to: 1 },
            &why,
            Err("409 nothing to step back from (rolled_back at tier 0)"),
        ),
        (
            Active,
            3,
            Back { to: 1 },
            &none,
            Err("400 back needs a reason: {\"reason\": \"...\"}"),
        ),
    ];
    check(table, later);
    // A step back restarts the tier's clock (and, in the control plane, its window).
    let p = apply(&plan(Status::Active, 3), Back { to: 1 }, &why, later).unwrap();
    assert_eq!(p.tier_since_ms, later);
}

#[test]
fn the_commands_available_are_the_state_machines() {
    use pilot_gate_core::control::command::available;
    use Status::*;
    for (status, tier, want) in [
        (Draft, 0, vec!["start"]),
        (Active, 1, vec!["advance", "pause", "rollback"]),
        (Active, 3, vec!["advance", "pause", "rollback", "back"]),
        (Paused, 2, vec!["advance", "resume", "rollback", "back"]),
        (Complete, 4, vec!["rollback", "back"]),
        (RolledBack, 0, vec!["start"]),
    ] {
        // Before the dwell time: advance is still offered (a forced advance may go).
        assert_eq!(
            available(&plan(status, tier), NOW),
            want,
            "{status:?}@{tier}"
        );
    }
}
