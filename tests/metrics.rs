//! `/metrics` text: one `HELP` and `TYPE` per family before its samples, every family of a full
//! snapshot, histogram buckets cumulative in seconds.

use pilot_gate::core::events::dead_letter::{DeadCounts, DeadKind};
use pilot_gate::core::evidence::sketch::Sketch;
use pilot_gate::core::evidence::tally::ArmTally;
use pilot_gate::core::metrics::{render, ArmGauge, FlagGauge, Snapshot};

fn snapshot() -> Snapshot {
    let tally = ArmTally {
        units: 10,
        error_units: 3,
        client_error_units: 2,
        server_error_units: 1,
        event_units: [("ttv".to_owned(), 4)].into(),
        ttv: Sketch::of([300.0, 1_500.0, 40_000.0]),
        ..ArmTally::default()
    };
    Snapshot {
        flags: vec![FlagGauge {
            flag: "pilot".into(),
            tier: 2,
            pct: 10,
            status: "active",
        }],
        killed: false,
        arms: vec![ArmGauge {
            flag: "pilot".into(),
            variant: "on".into(),
            tally,
        }],
        mixed: vec![("pilot".into(), 1)],
        outside: vec![("pilot".into(), 2)],
        evidence_storage_bytes: vec![("pilot".into(), 4096)],
        guards: vec![("pilot".into(), "breaker".into(), "healthy".into())],
        decisions: vec![("pilot".into(), "rollback".into(), "breaker".into(), 1)],
        beacon: vec![("accepted".into(), 7)],
        dead_letters: vec![(DeadKind::Events, DeadCounts::default())],
        revision: 5,
        published_revision: 5,
        published_age_s: Some(3),
    }
}

#[test]
fn every_family_is_declared_once_before_its_samples() {
    let text = render(&snapshot());
    let mut declared: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_owned();
            assert!(!declared.contains(&name), "{name} declared twice");
            declared.push(name);
        } else if !line.starts_with("# TYPE ") {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| declared.iter().any(|d| d == f))
                })
                .unwrap_or(name);
            assert_eq!(declared.last().map(String::as_str), Some(family), "{line}");
        }
    }
    assert_eq!(declared.len(), 23, "{declared:?}");
    for line in [
        "pilot_gate_flag_rollout_ratio{flag=\"pilot\"} 0.1",
        "pilot_gate_error_units{flag=\"pilot\",variant=\"on\",kind=\"server\"} 1",
        "pilot_gate_outside_units{flag=\"pilot\"} 2",
        "pilot_gate_ttv_seconds_bucket{flag=\"pilot\",variant=\"on\",le=\"0.5\"} 1",
        "pilot_gate_ttv_seconds_bucket{flag=\"pilot\",variant=\"on\",le=\"+Inf\"} 3",
        "pilot_gate_ttv_seconds_count{flag=\"pilot\",variant=\"on\"} 3",
        "pilot_gate_guard_decisions_total{flag=\"pilot\",action=\"rollback\",reason=\"breaker\"} 1",
        "pilot_gate_dead_letters_stored{kind=\"events\"} 0",
        "pilot_gate_kill_switch 0",
        "pilot_gate_flagset_published_age_seconds 3",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}
