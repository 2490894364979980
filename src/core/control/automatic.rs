//! What the guards do to the state: the breaker's memory of consecutive checks, the objections
//! to an advance, and the automatic rollback, pause or fallback with its audit entry.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::control::command::{apply, Command, Order};
use crate::core::control::guards::{Action, GuardState, Verdict};
use crate::core::control::plan::Plan;
use crate::core::control::state::{Caller, Change, ControlState};

/// The breaker's memory of one flag: its checks count once per minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerMemory {
    /// The minute of the last check.
    pub minute: u64,
    /// Consecutive minutes over the threshold before that minute.
    pub before: u32,
    /// Whether the last check was over the threshold.
    pub over: bool,
}

impl BreakerMemory {
    /// Consecutive minutes over the threshold before `minute`.
    ///
    /// ```
    /// use pilot_gate::core::control::automatic::BreakerMemory;
    /// let mut m = BreakerMemory::default();
    /// m.record(10, true);
    /// m.record(10, true); // the same minute counts once
    /// assert_eq!(m.strikes_before(11), 1);
    /// m.record(11, true);
    /// assert_eq!(m.strikes_before(12), 2);
    /// assert_eq!(m.strikes_before(13), 0, "a minute without a check breaks the run");
    /// m.record(12, false);
    /// assert_eq!(m.strikes_before(13), 0);
    /// ```
    pub fn strikes_before(&self, minute: u64) -> u32 {
        match minute.checked_sub(self.minute) {
            Some(0) => self.before,
            Some(1) if self.over => self.before + 1,
            _ => 0,
        }
    }

    /// Records a check at `minute`.
    pub fn record(&mut self, minute: u64, over: bool) {
        let before = self.strikes_before(minute);
        *self = BreakerMemory {
            minute,
            before,
            over,
        };
    }
}

/// The actor of automatic decisions in the audit log.
pub const GUARD_ACTOR: &str = "guard";

impl ControlState {
    /// Notes what the guards hold against an advance of `key` (what `advance` and the views
    /// report), without acting.
    pub fn note(&mut self, key: &str, verdicts: &[Verdict]) {
        if let Some(flag) = self.flags.get_mut(key) {
            flag.plan.objections = verdicts.iter().filter_map(Verdict::objection).collect();
        }
    }

    /// Records the guards' verdicts on `key` at `now_ms` (the breaker's check, the objections
    /// to an advance) and carries out the first tripped guard's action: the change and its
    /// audit entry, or `None`.
    pub fn act_on(&mut self, key: &str, verdicts: &[Verdict], now_ms: u64) -> Option<Change> {
        let minute = now_ms / 60_000;
        if let Some(b) = verdicts.iter().find(|v| v.guard == "breaker") {
            let over = matches!(b.state, GuardState::Warning | GuardState::Tripped);
            self.breaker
                .entry(key.to_owned())
                .or_default()
                .record(minute, over);
        }
        self.note(key, verdicts);
        let flag = self.flags.get_mut(key)?;
        let (verdict, action) = verdicts.iter().find_map(|v| Some((v, v.action.clone()?)))?;
        let (command, name) = match &action {
            Action::Rollback => (Command::Rollback, "rollback"),
            Action::Pause => (Command::Pause, "pause"),
            Action::Fallback(_) => (Command::Rollback, "fallback"),
        };
        let reason = format!("guard {} tripped: {}", verdict.guard, summary(verdict));
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
        let caller = Caller {
            actor: GUARD_ACTOR.into(),
            now_ms,
            if_match: None,
        };
        let evidence = json!({"guard": verdict.guard, "figures": verdict.figures, "action": action, "verdicts": verdicts});
        let audit = self.entry(&caller, name, Some(key), from, to, Some(reason), evidence);
        Some(Change {
            status: 200,
            body: Value::Null,
            audit: vec![audit],
        })
    }
}

/// A verdict's deciding figures in one line, for the audit log's reason.
fn summary(v: &Verdict) -> String {
    let f = &v.figures;
    let num = |k: &str| {
        f.get(k)
            .and_then(Value::as_f64)
            .map_or("-".to_owned(), |x| format!("{x:.4}"))
    };
    match v.guard.as_str() {
        "comparative" => format!(
            "Λ = {} ≥ ln(1/α) = {} with {} pilot and {} control errors in {} and {} exposures",
            num("lambda"),
            num("upper"),
            f["pilotErrors"],
            f["controlErrors"],
            f["pilotExposures"],
            f["controlExposures"]
        ),
        "breaker" => format!(
            "Wilson lower bound {} > {} on {} errors in {} exposures, two checks running",
            num("wilsonLow"),
            num("maxErrorRate"),
            f["pilotErrors"],
            f["pilotExposures"]
        ),
        _ => format!(
            "pilot {} vs control {} (p = {:.2e}, more than {} % below)",
            f["pilot"]["rate"],
            f["control"]["rate"],
            f["pValue"].as_f64().unwrap_or(f64::NAN),
            f["maxDropPct"]
        ),
    }
}
