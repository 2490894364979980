//! The audit log's entries: who did what to which flag, from which state to which, why, and on
//! what evidence. Entries are appended, never changed or removed.

use serde::Serialize;
use serde_json::Value;

use crate::core::http::auth::{Operator, Role};

/// Who a change is made by: a verified operator, or the control plane itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An operator, as the worker verified them (token or Cloudflare Access).
    Operator(Operator),
    /// A guard's automatic decision (`guard`).
    Guard,
    /// The control plane's own climb under `autoAdvance` (`system`).
    System,
}

impl Actor {
    /// The name the audit log shows: the operator's, or `guard` / `system` (which no operator
    /// may carry).
    pub fn name(&self) -> &str {
        match self {
            Actor::Operator(o) => &o.name,
            Actor::Guard => "guard",
            Actor::System => "system",
        }
    }

    /// The operator's role; `None` for the control plane's own decisions.
    pub fn role(&self) -> Option<Role> {
        match self {
            Actor::Operator(o) => Some(o.role),
            Actor::Guard | Actor::System => None,
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When, in ms since the epoch.
    pub at_ms: u64,
    /// Who: the verified operator's name, or `guard` / `system` for automatic decisions.
    pub actor: String,
    /// The operator's role when they acted; `null` for automatic decisions.
    pub role: Option<Role>,
    /// The command (`advance`, `kill`, `put`, `import`...).
    pub action: String,
    /// The flag, for commands on one flag.
    pub flag: Option<String>,
    /// The state before (`{"status", "tier", "pct"}`, or `{"killed"}`).
    pub from: Value,
    /// The state after.
    pub to: Value,
    /// The operator's reason, when one was given.
    pub reason: Option<String>,
    /// What the decision rested on (dwell time, forced refusals, counts).
    pub evidence: Value,
}

impl AuditEntry {
    /// An entry of `action` by `actor` at `at_ms`, on no flag, with no states, reason or
    /// evidence yet.
    pub fn new(actor: &Actor, at_ms: u64, action: &str) -> Self {
        Self {
            at_ms,
            actor: actor.name().to_owned(),
            role: actor.role(),
            action: action.to_owned(),
            flag: None,
            from: Value::Null,
            to: Value::Null,
            reason: None,
            evidence: Value::Null,
        }
    }
}
