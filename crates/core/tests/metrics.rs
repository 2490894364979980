//! `/metrics` text: one `HELP` and `TYPE` per family before its samples, every family of a full
//! snapshot, histogram buckets cumulative in seconds, the configured metrics with their values,
//! units, standing and thresholds; the worker's answers by route and status class, and the
//! beacon's ingest latency.

use pilot_gate_core::events::dead_letter::{DeadCounts, DeadKind};
use pilot_gate_core::events::latency::Latency;
use pilot_gate_core::events::reconcile::{Reconciled, Window};
use pilot_gate_core::evidence::sketch::Sketch;
use pilot_gate_core::evidence::tally::{pair_key, ArmTally};
use pilot_gate_core::http::answers::AnswerCounts;
use pilot_gate_core::metrics::{render, ArmGauge, FlagGauge, Snapshot};

fn snapshot() -> Snapshot {
    let tally = ArmTally {
        units: 10,
        error_units: 3,
        client_error_units: 2,
        server_error_units: 1,
        event_units: [("mic_prompt".to_owned(), 4), ("mic_granted".to_owned(), 3)].into(),
        pair_units: [(pair_key("mic_granted", "mic_prompt"), 3)].into(),
        values: [("ttv.ms".to_owned(), Sketch::of([300.0, 1_500.0, 40_000.0]))].into(),
        ttfb: Sketch::of([300.0, 1_500.0, 40_000.0]),
        ..ArmTally::default()
    };
    let metrics = pilot_gate_core::evidence::metric::parse(Some(&serde_json::json!({
        "mic_grant": {"kind": "proportion", "numerator": "mic_granted", "denominator": "mic_prompt",
                      "goal": ">= 0.85", "warn": ">= 0.80"},
        "ttv": {"kind": "quantile", "event": "ttv", "value": "ms",
                "goal": {"p50": "<= 2000", "p90": "<= 5000"}, "warn": {"p90": "<= 8000"}},
    })))
    .unwrap();
    Snapshot {
        metrics,
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
        answers: {
            let mut a = AnswerCounts::default();
            a.add("page", 200, 9);
            a.add("ofrep", 503, 1);
            a
        },
        ingest: {
            let mut l = Latency::default();
            for ms in [40, 120, 800, 90_000] {
                l.add(ms);
            }
            l
        },
        reconciled: Some(Reconciled {
            window: Window {
                from_ms: 0,
                to_ms: 60_000,
            },
            hours: vec![],
            counted: 200,
            stored: 198,
            drift: 0.01,
            at_ms: 1_800_000_000_000,
            lists: 1,
        }),
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
    assert_eq!(declared.len(), 32, "{declared:?}");
    for line in [
        "pilot_gate_flag_rollout_ratio{flag=\"pilot\"} 0.1",
        "pilot_gate_error_units{flag=\"pilot\",variant=\"on\",kind=\"server\"} 1",
        "pilot_gate_outside_units{flag=\"pilot\"} 2",
        "pilot_gate_ttfb_seconds_bucket{flag=\"pilot\",variant=\"on\",le=\"0.5\"} 1",
        "pilot_gate_ttfb_seconds_bucket{flag=\"pilot\",variant=\"on\",le=\"+Inf\"} 3",
        "pilot_gate_ttfb_seconds_count{flag=\"pilot\",variant=\"on\"} 3",
        "pilot_gate_metric_value{flag=\"pilot\",variant=\"on\",metric=\"mic_grant\"} 0.75",
        "pilot_gate_metric_units{flag=\"pilot\",variant=\"on\",metric=\"mic_grant\"} 4",
        "pilot_gate_metric_units{flag=\"pilot\",variant=\"on\",metric=\"ttv\"} 3",
        "pilot_gate_metric_standing{flag=\"pilot\",variant=\"on\",metric=\"mic_grant\",standing=\"red\"} 1",
        "pilot_gate_metric_standing{flag=\"pilot\",variant=\"on\",metric=\"ttv\",standing=\"red\"} 1",
        "pilot_gate_metric_goal{metric=\"ttv\",op=\"<=\",quantile=\"0.9\"} 5000",
        "pilot_gate_metric_warn{metric=\"mic_grant\",op=\">=\"} 0.8",
        "pilot_gate_guard_decisions_total{flag=\"pilot\",action=\"rollback\",reason=\"breaker\"} 1",
        "pilot_gate_dead_letters_stored{kind=\"events\"} 0",
        "pilot_gate_kill_switch 0",
        "pilot_gate_flagset_published_age_seconds 3",
        "pilot_gate_responses_total{route=\"page\",class=\"2xx\"} 9",
        "pilot_gate_responses_total{route=\"page\",class=\"5xx\"} 0",
        "pilot_gate_responses_total{route=\"ofrep\",class=\"5xx\"} 1",
        "pilot_gate_ingest_latency_seconds_bucket{le=\"0.05\"} 1",
        "pilot_gate_ingest_latency_seconds_bucket{le=\"0.25\"} 2",
        "pilot_gate_ingest_latency_seconds_bucket{le=\"1\"} 3",
        "pilot_gate_ingest_latency_seconds_bucket{le=\"60\"} 3",
        "pilot_gate_ingest_latency_seconds_bucket{le=\"+Inf\"} 4",
        "pilot_gate_ingest_latency_seconds_sum 90.96",
        "pilot_gate_ingest_latency_seconds_count 4",
        "pilot_gate_reconcile_drift_ratio 0.01",
        "pilot_gate_reconcile_last_run_timestamp_seconds 1800000000",
        "pilot_gate_reconcile_events{side=\"counted\"} 200",
        "pilot_gate_reconcile_events{side=\"stored\"} 198",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

#[test]
fn a_quantile_metric_exports_each_quantile_within_the_sketch_error() {
    let text = render(&snapshot());
    let value = |q: &str| -> f64 {
        let prefix = format!(
            "pilot_gate_metric_value{{flag=\"pilot\",variant=\"on\",metric=\"ttv\",quantile=\"{q}\"}} "
        );
        let line = text.lines().find(|l| l.starts_with(&prefix));
        line.and_then(|l| l[prefix.len()..].parse().ok())
            .unwrap_or_else(|| panic!("{prefix} in\n{text}"))
    };
    // Three units: 300, 1,500 and 40,000 ms; the lower-rank p50 is 1,500, the p90 40,000.
    assert!((value("0.5") - 1_500.0).abs() <= 15.0);
    assert!((value("0.9") - 40_000.0).abs() <= 400.0);
}
