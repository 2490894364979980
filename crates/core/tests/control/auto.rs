//! `autoAdvance`: the control plane climbs one tier by itself only when the dwell time is met,
//! every guard is healthy, the verdicts are on the current window, and the next tier is not
//! manual; a climb is an audit entry by `system` with the verdicts as evidence.

use pilot_gate_core::control::audit::flag_doc;
use pilot_gate_core::control::diff::{apply, invert};
use pilot_gate_core::control::error::ControlError;
use pilot_gate_core::control::guards::{Figures, GuardKind, GuardState, NoDataFigures, Verdict};
use pilot_gate_core::control::state::ControlState;
use serde_json::{json, Value};

use crate::{boolean, caller, NOW};

fn verdict(state: GuardState) -> Verdict {
    Verdict {
        guard: GuardKind::NoData,
        state,
        figures: Figures::NoData(NoDataFigures {
            exposures: 50,
            min_exposures: 20,
            window_min: 15,
        }),
        action: None,
        provenance: None,
        note: None,
    }
}

/// `pilot` at tier 1, active since NOW, 60 s of dwell, with `plan` merged in.
fn state(plan: Value) -> ControlState {
    let mut p = json!({"tier": 1, "status": "active", "minDwellS": 60});
    for (k, v) in plan.as_object().unwrap() {
        p[k] = v.clone();
    }
    let doc = json!({"flags": {"pilot": boolean()}, "plans": {"pilot": p}});
    let mut s = ControlState::default();
    s.import(&doc, &caller(NOW)).expect("valid import");
    s
}

fn revision(s: &ControlState) -> u64 {
    s.flags["pilot"].plan.tier_revision
}

#[test]
fn climbs_one_tier_when_the_dwell_is_met_and_every_guard_is_healthy() {
    let mut s = state(json!({"autoAdvance": {}}));
    let healthy = [
        verdict(GuardState::Healthy),
        verdict(GuardState::NotApplicable),
    ];
    let r = revision(&s);
    assert!(
        s.auto_advance("pilot", r, &healthy, NOW + 59_000).is_none(),
        "dwell not met"
    );
    let before = flag_doc(&s, "pilot");
    let change = s
        .auto_advance("pilot", r, &healthy, NOW + 60_000)
        .expect("climbs");
    assert_eq!(s.flags["pilot"].plan.tier, 2);
    let entry = &change.audit[0];
    // Its diff rebuilds the plan before the climb.
    let patch = entry
        .diff
        .as_ref()
        .expect("an automatic change carries a diff");
    assert_eq!(
        apply(&flag_doc(&s, "pilot"), &invert(patch)).unwrap(),
        before
    );
    assert_eq!(
        (entry.actor.as_str(), entry.role, entry.action.as_str()),
        ("system", None, "advance")
    );
    assert_eq!(entry.evidence["verdicts"].as_array().map(Vec::len), Some(2));
    assert!(entry
        .reason
        .as_deref()
        .unwrap()
        .starts_with("auto-advance: 60 s at tier 1"));
    // Once: the next report on the old window changes nothing.
    assert!(s
        .auto_advance("pilot", r, &healthy, NOW + 120_000)
        .is_none());
}

#[test]
fn does_not_climb_on_undecided_or_held_guards_or_without_verdicts() {
    let later = NOW + 3_600_000;
    for verdicts in [
        vec![verdict(GuardState::Healthy), verdict(GuardState::Undecided)],
        vec![verdict(GuardState::Hold)],
        vec![],
    ] {
        let mut s = state(json!({"autoAdvance": {}}));
        let r = revision(&s);
        assert!(
            s.auto_advance("pilot", r, &verdicts, later).is_none(),
            "{verdicts:?}"
        );
        assert_eq!(s.flags["pilot"].plan.tier, 1);
    }
}

#[test]
fn never_onto_a_manual_tier_nor_without_auto_advance_nor_paused_nor_on_an_old_window() {
    let healthy = [verdict(GuardState::Healthy)];
    let later = NOW + 3_600_000;
    for plan in [
        json!({"autoAdvance": {"manualTiers": [2]}}),
        json!({}),
        json!({"autoAdvance": {}, "status": "paused"}),
    ] {
        let mut s = state(plan.clone());
        let r = revision(&s);
        assert!(
            s.auto_advance("pilot", r, &healthy, later).is_none(),
            "{plan}"
        );
    }
    let mut s = state(json!({"autoAdvance": {}}));
    let stale = revision(&s) + 1;
    assert!(s.auto_advance("pilot", stale, &healthy, later).is_none());
}

#[test]
fn auto_advance_is_validated_with_the_path() {
    let doc = |auto: Value| json!({"flags": {"pilot": boolean()}, "plans": {"pilot": {"autoAdvance": auto}}});
    for (auto, path) in [
        (
            json!({"manualTiers": [1]}),
            "/plans/pilot/autoAdvance/manualTiers/0",
        ),
        (
            json!({"manualTiers": [2, 9]}),
            "/plans/pilot/autoAdvance/manualTiers/1",
        ),
        (json!({"every": "minute"}), "/plans/pilot/autoAdvance"),
        (json!(true), "/plans/pilot/autoAdvance"),
    ] {
        let mut s = ControlState::default();
        match s.import(&doc(auto.clone()), &caller(NOW)) {
            Err(ControlError::Invalid { path: p, .. }) => assert_eq!(p, path, "{auto}"),
            other => panic!("{auto}: {other:?}"),
        }
    }
}
