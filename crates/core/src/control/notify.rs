//! Notifications: every audit entry (an operator's change, a guard's automatic decision) as a
//! JSON POST to `NOTIFY_URL`, with a `text` line that chat tools show, signed with
//! `NOTIFY_SECRET` (`X-Pilot-Signature: sha256=<hex>`, the beacon's scheme). The control plane
//! enqueues one message per entry; the consumer delivers a batch in `seq` order and retries the
//! first that fails and every later one (after a delay that grows with the message's age), so a receiver sees them in order unless it failed in
//! between (then `seq` orders them, and a redelivered one repeats its `seq`).

use serde::{Deserialize, Serialize};

use crate::control::audit::AuditEntry;
use crate::vars::{ConfigError, Vars};

/// The longest `text`, in characters (chat tools cut long lines; the JSON has the rest).
pub const MAX_TEXT_CHARS: usize = 300;

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// `NOTIFY_URL`: an `https://` (or, for local receivers, `http://`) URL.
    pub url: String,
    /// `NOTIFY_SECRET`: the HMAC-SHA256 key of `X-Pilot-Signature`; none sends no signature.
    pub secret: Option<Vec<u8>>,
}

impl NotifyConfig {
    /// Parses the section: `None` without `NOTIFY_URL`.
    pub fn from_vars(vars: &Vars<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(url) = vars.get("NOTIFY_URL") else {
            return Ok(None);
        };
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or_default();
        if host.is_empty() || host.starts_with('/') || url.contains(char::is_whitespace) {
            return Err(ConfigError::invalid(
                "NOTIFY_URL",
                &url,
                "an https:// URL (http:// for a local receiver)",
            ));
        }
        Ok(Some(Self {
            url,
            secret: vars.get("NOTIFY_SECRET").map(String::into_bytes),
        }))
    }
}

/// What is POSTed for one audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// One line for people: who did what to which flag, and why.
    pub text: String,
    /// The entry's number in the audit log (increasing: the order of the changes).
    pub seq: u64,
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// The operator, or `guard` / `system`.
    pub actor: String,
    /// Whether the control plane decided it itself (a guard, an automatic climb).
    pub automatic: bool,
    /// The command.
    pub action: String,
    /// The flag, for commands on one flag.
    pub flag: Option<String>,
    /// The reason given.
    pub reason: Option<String>,
}

/// The notice of audit entry `seq`.
///
/// ```
/// use pilot_gate_core::control::audit::{Actor, AuditEntry};
/// use pilot_gate_core::control::notify::notice;
/// let mut e = AuditEntry::new(&Actor::Guard, 1_000, "rollback");
/// e.flag = Some("pilot".into());
/// e.reason = Some("breaker tripped".into());
/// let n = notice(7, &e);
/// assert_eq!(n.text, "pilot-gate: guard rollback on pilot (automatic): breaker tripped");
/// assert!(n.automatic);
/// ```
pub fn notice(seq: u64, e: &AuditEntry) -> Notice {
    let automatic = e.role.is_none();
    let who = match e.role {
        Some(role) => format!("{} ({})", e.actor, role.as_str()),
        None => e.actor.clone(),
    };
    let mut text = format!("pilot-gate: {who} {}", e.action);
    if let Some(flag) = &e.flag {
        text.push_str(&format!(" on {flag}"));
    }
    if automatic {
        text.push_str(" (automatic)");
    }
    if let Some(reason) = &e.reason {
        text.push_str(&format!(": {reason}"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        text = text.chars().take(MAX_TEXT_CHARS - 1).collect::<String>() + "…";
    }
    Notice {
        text,
        seq,
        at_ms: e.at_ms,
        actor: e.actor.clone(),
        automatic,
        action: e.action.clone(),
        flag: e.flag.clone(),
        reason: e.reason.clone(),
    }
}

/// How a batch is delivered: its messages' indexes in `seq` order.
pub fn delivery_order(seqs: &[u64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| seqs[i]);
    order
}
