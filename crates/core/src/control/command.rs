//! The tier ladder as a state machine: each command, from each status, gives the next plan or
//! the reasons it is refused (409).

use crate::control::error::ControlError;
use crate::control::plan::{Plan, Status};

/// A command on one flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Draft or rolled back → tier 1 (the allowlist and the first share), active.
    Start,
    /// Exactly one tier up; at the top the plan is complete.
    Advance,
    /// Hold the tier; `advance` is refused until `resume`.
    Pause,
    /// Paused → active.
    Resume,
    /// Back to tier 0 (everyone off); needs a reason.
    Rollback,
    /// Down to a lower tier above 0 (the launch runbook's "back to 10 % and investigate");
    /// needs a reason. A paused plan stays paused.
    Back {
        /// The tier to step back to.
        to: usize,
    },
}

impl Command {
    /// Every command, in ladder order.
    pub const ALL: [Command; 5] = [
        Command::Start,
        Command::Advance,
        Command::Pause,
        Command::Resume,
        Command::Rollback,
    ];

    /// The name in paths (`/api/admin/flags/{key}/advance`) and in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Advance => "advance",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Rollback => "rollback",
            Command::Back { .. } => "back",
        }
    }

    /// Whether the command needs a reason whatever the state.
    pub fn needs_reason(self) -> bool {
        matches!(self, Command::Rollback | Command::Back { .. })
    }
}

/// The operator's words that come with a command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Order {
    /// Why; required by rollback, kill and any forced command.
    pub reason: Option<String>,
    /// Override the refusals that `force` may override (dwell time, pause); needs a reason.
    pub force: bool,
}

/// Applies `command` to `plan` at `now_ms`: the next plan, or why not.
pub fn apply(
    plan: &Plan,
    command: Command,
    order: &Order,
    now_ms: u64,
) -> Result<Plan, ControlError> {
    if (command.needs_reason() || order.force) && order.reason.is_none() {
        let what = if order.force {
            "force"
        } else {
            command.as_str()
        };
        return Err(ControlError::BadRequest(format!(
            "{what} needs a reason: {{\"reason\": \"...\"}}"
        )));
    }
    let mut next = plan.clone();
    let at_tier = |next: &mut Plan, tier: usize| {
        next.tier = tier;
        next.tier_since_ms = now_ms;
        next.status = if tier >= plan.top() {
            Status::Complete
        } else {
            Status::Active
        };
    };
    match (command, plan.status) {
        (Command::Start, Status::Draft | Status::RolledBack) => {
            at_tier(&mut next, 1);
            next.fallback = None;
        }
        (Command::Start, s) => return refuse(format!("already started ({})", s.as_str())),
        (Command::Advance, Status::Active | Status::Paused) => {
            let reasons = advance_refusals(plan, now_ms);
            if !reasons.is_empty() && !order.force {
                return Err(ControlError::Conflict(reasons));
            }
            at_tier(&mut next, plan.tier + 1);
        }
        (Command::Advance, Status::Complete) => {
            return refuse("already at the top tier (100 %)".into())
        }
        (Command::Advance, s) => return refuse(format!("not started ({}); use start", s.as_str())),
        (Command::Pause, Status::Active) => next.status = Status::Paused,
        (Command::Pause, s) => {
            return refuse(format!(
                "only an active plan can pause (this one is {})",
                s.as_str()
            ))
        }
        (Command::Resume, Status::Paused) => next.status = Status::Active,
        (Command::Resume, s) => {
            return refuse(format!(
                "only a paused plan can resume (this one is {})",
                s.as_str()
            ))
        }
        (Command::Rollback, Status::Active | Status::Paused | Status::Complete) => {
            next.tier = 0;
            next.tier_since_ms = now_ms;
            next.status = Status::RolledBack;
        }
        (Command::Rollback, s) => {
            return refuse(format!("nothing to roll back ({} at tier 0)", s.as_str()))
        }
        (Command::Back { to }, Status::Active | Status::Paused | Status::Complete) => {
            if to == 0 {
                return refuse("back goes to a tier above 0; rollback turns everyone off".into());
            }
            if to >= plan.tier {
                return refuse(format!(
                    "tier {to} is not below the current tier {} ({} %)",
                    plan.tier,
                    plan.pct()
                ));
            }
            next.tier = to;
            next.tier_since_ms = now_ms;
            if plan.status == Status::Complete {
                next.status = Status::Active;
            }
        }
        (Command::Back { .. }, s) => {
            return refuse(format!(
                "nothing to step back from ({} at tier 0)",
                s.as_str()
            ))
        }
    }
    Ok(next)
}

/// The commands the state machine allows from `plan`'s status and tier (what the admin page
/// offers): `advance` while the dwell time or the guards still refuse it counts (a forced
/// advance may go), and `back` when a tier above 0 is below the current one.
pub fn available(plan: &Plan, now_ms: u64) -> Vec<&'static str> {
    let order = Order {
        reason: Some("available?".into()),
        force: true,
    };
    let back = Command::Back {
        to: plan.tier.saturating_sub(1),
    };
    Command::ALL
        .into_iter()
        .chain([back])
        .filter(|c| apply(plan, *c, &order, now_ms).is_ok())
        .map(Command::as_str)
        .collect()
}

/// Why `advance` must wait, the reasons that `force` overrides: the pause, the dwell time and
/// the guards' objections (empty: it may go).
pub fn advance_refusals(plan: &Plan, now_ms: u64) -> Vec<String> {
    let mut reasons = Vec::new();
    if plan.status == Status::Paused {
        reasons.push("paused; resume first".to_owned());
    }
    let dwelt_s = now_ms.saturating_sub(plan.tier_since_ms) / 1000;
    if dwelt_s < plan.min_dwell_s {
        reasons.push(format!(
            "dwell: {dwelt_s} s of {} s at tier {} ({} %)",
            plan.min_dwell_s,
            plan.tier,
            plan.pct()
        ));
    }
    reasons.extend(plan.objections.iter().cloned());
    reasons
}

fn refuse<T>(reason: String) -> Result<T, ControlError> {
    Err(ControlError::Conflict(vec![reason]))
}
