//! The audit log's entries: who did what to which flag, from which state to which, why, and on
//! what evidence. Entries are appended, never changed or removed.

use serde::Serialize;
use serde_json::Value;

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When, in ms since the epoch.
    pub at_ms: u64,
    /// Who: the operator's name as the client gave it (`X-Pilot-Actor`), or `system`.
    pub actor: String,
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
