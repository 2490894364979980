//! What the guards do to the state: the objections to an advance, the automatic rollback, pause,
//! fallback or step back with its audit entry, and the climb of a plan with `autoAdvance`.

use serde_json::{json, Value};

use crate::control::audit::{flag_doc, Actor};
use crate::control::command::{advance_refusals, apply, Command, Order};
use crate::control::diff::diff;
use crate::control::guards::{Action, GuardKind, GuardState, Verdict};
use crate::control::plan::{Plan, Status};
use crate::control::state::{Caller, Change, ControlState};

/// Whether every guard is healthy or does not apply (and there is a verdict at all).
pub fn all_healthy(verdicts: &[Verdict]) -> bool {
    !verdicts.is_empty()
        && verdicts
            .iter()
            .all(|v| matches!(v.state, GuardState::Healthy | GuardState::NotApplicable))
}

/// Whether `plan` may climb by itself onto its next tier: it has `autoAdvance`, is active below
/// the top, and the next tier is not manual.
pub fn may_climb(plan: &Plan) -> bool {
    plan.auto_advance.as_ref().is_some_and(|a| {
        plan.status == Status::Active
            && plan.tier < plan.top()
            && !a.manual_tiers.contains(&(plan.tier + 1))
    })
}

/// An automatic decision, as `/metrics` counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `rollback`, `pause`, `fallback` or `step_back`.
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
        let (verdict, action) = verdicts.iter().find_map(|v| Some((v, v.action.clone()?)))?;
        let name = action.name();
        let command = match &action {
            Action::Rollback | Action::Fallback { .. } => Command::Rollback,
            Action::Pause => Command::Pause,
            Action::StepBack { to_tier } => Command::Back { to: *to_tier },
        };
        let reason = verdict.reason();
        let fallback = match &action {
            Action::Fallback { variant } => Some(variant.clone()),
            _ => None,
        };
        let evidence = json!({"guard": verdict.guard, "figures": verdict.figures, "action": action, "provenance": verdict.provenance, "note": verdict.note, "verdicts": verdicts});
        let automatic = Automatic {
            actor: Actor::Guard,
            action: name,
            command,
            reason,
            fallback,
            evidence,
        };
        let change = self.apply_automatic(key, automatic, now_ms)?;
        let decision = Decision {
            action: name,
            guard: verdict.guard.clone(),
        };
        Some((change, decision))
    }

    /// Climbs `key` one tier by itself at `now_ms` (a plan with `autoAdvance`, see
    /// [`may_climb`]) when the verdicts are on its current window (`tier_revision`), every guard
    /// is healthy and nothing else refuses an advance (the dwell time): the change with its
    /// audit entry (actor `system`, the verdicts as evidence), or `None`.
    pub fn auto_advance(
        &mut self,
        key: &str,
        tier_revision: u64,
        verdicts: &[Verdict],
        now_ms: u64,
    ) -> Option<Change> {
        let flag = self.flags.get(key)?;
        if flag.plan.tier_revision != tier_revision || !may_climb(&flag.plan) {
            return None;
        }
        if !all_healthy(verdicts) {
            return None;
        }
        self.note(key, verdicts);
        let plan = &self.flags.get(key)?.plan;
        if !advance_refusals(plan, now_ms).is_empty() {
            return None;
        }
        let reason = format!(
            "auto-advance: {} s at tier {} and every guard healthy",
            now_ms.saturating_sub(plan.tier_since_ms) / 1000,
            plan.tier
        );
        let automatic = Automatic {
            actor: Actor::System,
            action: "advance",
            command: Command::Advance,
            reason,
            fallback: plan.fallback.clone(),
            evidence: json!({"verdicts": verdicts}),
        };
        self.apply_automatic(key, automatic, now_ms)
    }

    /// Carries out an automatic decision on `key` at `now_ms`: the command applied (with its
    /// reason), the plan's fallback set, the revisions and tier windows moved, and the audit
    /// entry by the automatic actor; `None` when the command does not apply.
    fn apply_automatic(&mut self, key: &str, a: Automatic<'_>, now_ms: u64) -> Option<Change> {
        let before = self.tier_starts();
        let was = flag_doc(self, key);
        let flag = self.flags.get_mut(key)?;
        let order = Order {
            reason: Some(a.reason.clone()),
            force: false,
        };
        let next = apply(&flag.plan, a.command, &order, now_ms).ok()?;
        let from = flag.plan.snapshot();
        flag.plan = Plan {
            fallback: a.fallback,
            ..next
        };
        flag.revision += 1;
        let to = flag.plan.snapshot();
        self.revision += 1;
        self.mark_tier_revisions(&before, now_ms);
        let caller = Caller {
            actor: a.actor,
            now_ms,
            if_match: None,
        };
        let mut audit = self.entry(
            &caller,
            a.action,
            Some(key),
            from,
            to,
            Some(a.reason),
            a.evidence,
        );
        audit.diff = Some(diff(&was, &flag_doc(self, key)));
        Some(Change {
            status: 200,
            body: Value::Null,
            audit: vec![audit],
        })
    }
}

/// An automatic decision as [`ControlState::apply_automatic`] carries it out.
struct Automatic<'a> {
    /// [`Actor::Guard`] or [`Actor::System`].
    actor: Actor,
    /// Its name in the audit log.
    action: &'a str,
    /// The command it applies.
    command: Command,
    /// Why, from its figures.
    reason: String,
    /// The plan's fallback variant afterwards.
    fallback: Option<String>,
    /// The figures it decided on.
    evidence: Value,
}
