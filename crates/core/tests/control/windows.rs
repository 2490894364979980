//! Evidence windows: a window restarts whenever the share the edge serves changes (a tier, a
//! step back, a ladder edit), and each window of a plan's run is numbered, so a step back and a
//! re-climb draw on the run's α instead of reopening it; a run begins when a plan leaves tier 0.

use pilot_gate_core::control::api::handle;
use pilot_gate_core::control::audit::flag_doc;
use pilot_gate_core::control::sequential::per_window;
use pilot_gate_core::http::route::AdminRoute;
use serde_json::json;

use crate::{caller, imported, NOW};

/// (tier revision, window number, window start) of `pilot`.
fn window(s: &pilot_gate_core::control::state::ControlState) -> (u64, u32, u64) {
    let p = &s.flags["pilot"].plan;
    (p.tier_revision, p.window, p.window_start_ms())
}

#[test]
fn a_ladder_edit_a_step_back_and_a_re_climb_each_open_the_runs_next_window() {
    let mut s = imported(&[(
        "pilot",
        json!({"tier": 0, "status": "draft", "minDwellS": 0}),
    )]);
    let command = |s: &mut _, route, body: serde_json::Value, at: u64| {
        handle(s, route, Some("pilot"), &body, &caller(at)).expect("the command applies");
    };
    command(&mut s, AdminRoute::Start, json!({}), NOW + 1_000);
    let first = window(&s);
    assert_eq!(first.1, 1, "leaving tier 0 begins a run");
    // A ladder edit keeps the tier and its dwell clock, but the share served changes.
    let mut body = flag_doc(&s, "pilot");
    body["plan"]["ladderPct"] = json!([0, 5, 10, 50, 100]);
    command(&mut s, AdminRoute::PutFlag, body, NOW + 60_000);
    let edited = window(&s);
    assert!(edited.0 > first.0, "a new window's revision");
    assert_eq!(edited.1, 2);
    assert_eq!(edited.2, NOW + 60_000, "it starts at the edit");
    assert_eq!(
        s.flags["pilot"].plan.tier_since_ms,
        NOW + 1_000,
        "the dwell clock is the tier's"
    );
    // An edit that changes nothing served keeps the window.
    let mut body = flag_doc(&s, "pilot");
    body["plan"]["allow"] = json!(["qa-1"]);
    command(&mut s, AdminRoute::PutFlag, body, NOW + 70_000);
    assert_eq!(window(&s).1, 2);
    command(
        &mut s,
        AdminRoute::Advance,
        json!({"force": true, "reason": "t"}),
        NOW + 80_000,
    );
    command(
        &mut s,
        AdminRoute::Back,
        json!({"to": 1, "reason": "t"}),
        NOW + 90_000,
    );
    command(
        &mut s,
        AdminRoute::Advance,
        json!({"force": true, "reason": "t"}),
        NOW + 100_000,
    );
    assert_eq!(
        window(&s).1,
        5,
        "a step back and a re-climb do not reopen α"
    );
    // Past the ladder's 4 windows, a window gets a share of the last tenth.
    assert!(per_window(0.01, 5, 4) < per_window(0.01, 4, 4) / 4.0);
    // A rollback ends the run; the next start begins a new one.
    command(
        &mut s,
        AdminRoute::Rollback,
        json!({"reason": "t"}),
        NOW + 110_000,
    );
    command(&mut s, AdminRoute::Start, json!({}), NOW + 120_000);
    assert_eq!(window(&s).1, 1);
}
