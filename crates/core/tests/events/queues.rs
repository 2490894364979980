//! Every queue either worker's config names, in every environment, is one the consumers know.

use pilot_gate_core::events::queues::{kind_of, QueueKind};

#[test]
fn every_queue_of_every_environment_has_its_kind() {
    let config = crate::support::wrangler_config("wrangler.toml")
        + &crate::support::wrangler_config("wrangler.control.toml");
    let names: Vec<&str> = config
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("queue = ")
                .or_else(|| l.strip_prefix("dead_letter_queue = "))
        })
        .map(|v| v.trim_matches('"'))
        .collect();
    assert!(names.len() >= 3 * 12, "{names:?}");
    for name in &names {
        let kind = kind_of(name).unwrap_or_else(|| panic!("{name} is no queue of the worker"));
        let expected = if name.contains("-dlq") {
            QueueKind::DeadLetters
        } else if name.contains("notify") {
            QueueKind::Notify
        } else if name.contains("evidence") {
            QueueKind::Evidence
        } else {
            QueueKind::Events
        };
        assert_eq!(kind, expected, "{name}");
    }
    assert_eq!(kind_of("pilot-gate-events-qa"), None);
    assert_eq!(
        kind_of("pilot-gate-evidence-production"),
        Some(QueueKind::Evidence)
    );
}
