//! What the guards do to the state: the objections to an advance, and the automatic rollback,
//! pause or fallback with its audit entry.

use serde_json::{json, Value};

use crate::core::control::command::{apply, Command, Order};
use crate::core::control::guards::{Action, GuardKind, Verdict};
use crate::core::control::plan::Plan;
use crate::core::control::state::{Caller, Change, ControlState};

/// The actor of automatic decisions in the audit log.
pub const GUARD_ACTOR: &str = "guard";

/// An automatic decision, as `/metrics` counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `rollback`, `pause` or `fallback`.
    pub action: &'static str,
    /// The guard that took it.
    pub guard: GuardKind,
}

impl ControlState {
    /// Notes what the guards hold against an advance of `key` (what `advance` and the views
    /// report), without acting.
    pub fn note(&mut self, key: &str, verdicts: &[Verdict]) {
        if let Some(flag) = self.flags.get_mut(key) {
            flag.plan.objections = verdicts.iter().filter_map(Verdict::objection).collect();
        }
    }

    /// Notes the guards' verdicts on `key` (the objections to an advance) and carries out the
    /// first tripped guard's action at `now_ms`: the change with its audit entry (the verdicts
    /// as evidence) and the decision, or `None`.
    pub fn act_on(
        &mut self,
        key: &str,
        verdicts: &[Verdict],
        now_ms: u64,
    ) -> Option<(Change, Decision)> {
        self.note(key, verdicts);
        let before = self.tier_starts();
        let flag = self.flags.get_mut(key)?;
        let (verdict, action) = verdicts.iter().find_map(|v| Some((v, v.action.clone()?)))?;
        let (command, name) = match &action {
            Action::Rollback => (Command::Rollback, "rollback"),
            Action::Pause => (Command::Pause, "pause"),
            Action::Fallback(_) => (Command::Rollback, "fallback"),
        };
        let reason = format!(
            "guard {} tripped: {}",
            verdict.guard.name(),
            verdict.figures.summary()
        );
        let order = Order {
            reason: Some(reason.clone()),
            force: false,
        };
        let next = apply(&flag.plan, command, &order, now_ms).ok()?;
        let from = flag.plan.snapshot();
        flag.plan = Plan {
            fallback: match &action {
                Action::Fallback(v) => Some(v.clone()),
                _ => None,
            },
            ..next
        };
        flag.revision += 1;
        let to = flag.plan.snapshot();
        self.revision += 1;
        self.mark_tier_revisions(&before);
        let caller = Caller {
            actor: GUARD_ACTOR.into(),
            now_ms,
            if_match: None,
        };
        let evidence = json!({"guard": verdict.guard, "figures": verdict.figures, "action": action, "verdicts": verdicts});
        let audit = self.entry(&caller, name, Some(key), from, to, Some(reason), evidence);
        let change = Change {
            status: 200,
            body: Value::Null,
            audit: vec![audit],
        };
        let decision = Decision {
            action: name,
            guard: verdict.guard,
        };
        Some((change, decision))
    }
}
