//! Which of the worker's queues a batch comes from, by the queue's name: `pilot-gate-events`,
//! `pilot-gate-evidence`, `pilot-gate-events-dlq` and `pilot-gate-notify`, each with the `-staging` or `-production`
//! suffix of its environment (wrangler.toml).

/// What a consumed batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// Accepted beacon requests.
    Events,
    /// The edge's sightings.
    Evidence,
    /// The dead letters of both.
    DeadLetters,
    /// Audit entries to POST to `NOTIFY_URL`.
    Notify,
}

/// The kind of the queue named `name`, or `None` for a queue that is not the worker's.
///
/// ```
/// use pilot_gate_core::events::queues::{kind_of, QueueKind};
/// assert_eq!(kind_of("pilot-gate-events-dlq-staging"), Some(QueueKind::DeadLetters));
/// assert_eq!(kind_of("pilot-gate-evidence"), Some(QueueKind::Evidence));
/// assert_eq!(kind_of("other"), None);
/// ```
pub fn kind_of(name: &str) -> Option<QueueKind> {
    let base = ["-staging", "-production"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    match base {
        "pilot-gate-events" => Some(QueueKind::Events),
        "pilot-gate-evidence" => Some(QueueKind::Evidence),
        "pilot-gate-events-dlq" => Some(QueueKind::DeadLetters),
        "pilot-gate-notify" => Some(QueueKind::Notify),
        _ => None,
    }
}
