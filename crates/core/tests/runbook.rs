//! RUNBOOK.md's thresholds table is the demo flag set's `metrics`: each metric, what it
//! measures, its goal and its warning sign, in the order of the set. When a threshold changes
//! in flags/demo.json, this test fails and prints the table to paste.

use pilot_gate_core::evidence::metric::{parse, Metric, MetricKind, Threshold};

fn condition(t: &Option<Threshold>) -> String {
    match t {
        None => "—".to_owned(),
        Some(Threshold::Value(c)) => format!("`{c}`"),
        Some(Threshold::Quantiles(qs)) => qs
            .iter()
            .map(|(q, c)| format!("{q} `{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn measures(m: &Metric) -> String {
    let value = |event: &str, value: &Option<String>| match value {
        Some(v) => format!("`{event}.{v}`"),
        None => format!("`{event}`"),
    };
    match &m.kind {
        MetricKind::Proportion {
            numerator,
            denominator,
        } => format!("visitors with `{numerator}` among visitors with `{denominator}`"),
        MetricKind::Quantile { event, value: v } => {
            format!("quantiles of {}, one per visitor", value(event, v))
        }
        MetricKind::Mean {
            event,
            value: v,
            cap,
        } => {
            let cap = cap.map_or(String::new(), |c| format!(", capped at {c}"));
            format!("mean of {}, one per visitor{cap}", value(event, v))
        }
    }
}

#[test]
fn the_runbooks_thresholds_table_is_the_demo_sets_metrics() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let demo: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{root}/flags/demo.json")).unwrap())
            .unwrap();
    let metrics = parse(demo.get("metrics")).expect("the demo's metrics are valid");
    assert!(!metrics.is_empty());
    let mut table = String::from(
        "| metric | measures | goal (green) | warning sign (red when it fails) |\n|---|---|---|---|\n",
    );
    for (name, m) in &metrics {
        table += &format!(
            "| `{name}` | {} | {} | {} |\n",
            measures(m),
            condition(&m.goal),
            condition(&m.warn)
        );
    }
    let runbook = std::fs::read_to_string(format!("{root}/RUNBOOK.md")).unwrap();
    assert!(
        runbook.contains(&table),
        "RUNBOOK.md must carry the demo's metrics as this table:\n\n{table}"
    );
}
