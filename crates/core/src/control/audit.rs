//! The audit log's entries: who did what to which flag, from which state to which, why, and on
//! what evidence. Entries are appended, never changed or removed.

use json_patch::Patch;
use serde::Serialize;
use serde_json::{json, Value};

use crate::control::diff::diff;
use crate::control::state::ControlState;
use crate::http::auth::{Operator, Role};

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
    /// For a change to a definition or plan, the RFC 6902 patch from the version before to the
    /// one after (`{definition, plan}` of the flag, or the whole set for an import), with a
    /// `test` before each `replace` and `remove`, so the version before can be rebuilt
    /// ([`crate::control::diff::invert`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Patch>,
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
            diff: None,
        }
    }
}

/// Largest part of a stored diff, in bytes: a Durable Object row holds at most 2 MB, and an
/// import's diff (the set before and after, each up to the 1 MB admin body and more) may not fit
/// one, so a diff is stored in parts of at most this size.
pub const DIFF_PART_BYTES: usize = 1_000_000;

/// `text` cut into parts of at most `max_bytes` bytes each (at least 4, so that any character
/// fits), at character boundaries; joined, they are `text` again.
///
/// ```
/// use pilot_gate_core::control::audit::parts;
/// assert_eq!(parts("abcdé", 4), vec!["abcd", "é"]);
/// assert_eq!(parts("", 4), Vec::<&str>::new());
/// ```
pub fn parts(text: &str, max_bytes: usize) -> Vec<&str> {
    let max_bytes = max_bytes.max(4);
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(max_bytes);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (part, tail) = rest.split_at(cut);
        out.push(part);
        rest = tail;
    }
    out
}

/// Actions that change no definition or plan (a request waits; the kill switch leaves plans be).
const NO_DIFF_ACTIONS: [&str; 6] = ["request", "approve", "reject", "expire", "kill", "unkill"];

/// Gives each entry that changed a definition or plan between `before` and `after` its diff:
/// an entry on one flag the diff of that flag's `{definition, plan}`, an import the diff of the
/// whole set. Entries that change neither (kill, unkill, dead letters) keep none.
pub fn attach_diffs(before: &ControlState, after: &ControlState, entries: &mut [AuditEntry]) {
    for entry in entries {
        if NO_DIFF_ACTIONS.contains(&entry.action.as_str()) {
            continue;
        }
        let (was, now) = match (&entry.flag, entry.action.as_str()) {
            (Some(key), _) => (flag_doc(before, key), flag_doc(after, key)),
            (None, "import") => (set_doc(before), set_doc(after)),
            (None, _) => continue,
        };
        entry.diff = Some(diff(&was, &now));
    }
}

/// A flag as its audit diffs see it: `{"definition", "plan"}`, or `null` when absent.
pub fn flag_doc(state: &ControlState, key: &str) -> Value {
    state.flags.get(key).map_or(
        Value::Null,
        |f| json!({"definition": f.definition, "plan": f.plan}),
    )
}

/// The whole set as an import's diff sees it: every flag's [`flag_doc`], the shared rules, the
/// metadata and the metrics.
pub fn set_doc(state: &ControlState) -> Value {
    let flags: serde_json::Map<String, Value> = state
        .flags
        .keys()
        .map(|k| (k.clone(), flag_doc(state, k)))
        .collect();
    json!({
        "flags": flags,
        "$evaluators": state.evaluators,
        "metadata": state.metadata,
        "metrics": state.metrics,
    })
}
