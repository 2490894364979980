//! ops/prometheus/alerts.yml against RUNBOOK.md: every alert has a severity (`page` or `warn`),
//! a priority of the launch's escalation matrix that agrees with it, a summary and a runbook
//! link to a section of RUNBOOK.md that exists, and the matrix lists it under its priority.
//! (`promtool check rules` and `promtool test rules` check the rules themselves in scripts/test.)

struct Alert {
    name: String,
    severity: Option<String>,
    priority: Option<String>,
    summary: bool,
    runbook: Option<String>,
}

/// The alerts of the rules file, read line by line (its shape is fixed: one `- alert:` per
/// rule, then its fields).
fn alerts(text: &str) -> Vec<Alert> {
    let mut out: Vec<Alert> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- alert: ") {
            out.push(Alert {
                name: name.to_owned(),
                severity: None,
                priority: None,
                summary: false,
                runbook: None,
            });
            continue;
        }
        let Some(a) = out.last_mut() else { continue };
        if let Some(v) = line.strip_prefix("severity: ") {
            a.severity = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("priority: ") {
            a.priority = Some(v.to_owned());
        } else if line.starts_with("summary: ") {
            a.summary = true;
        } else if let Some(v) = line.strip_prefix("runbook_url: ") {
            a.runbook = Some(v.to_owned());
        }
    }
    out
}

/// GitHub's anchor of a heading: lower case, spaces to `-`, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_has_a_severity_a_priority_a_summary_and_a_runbook_section() {
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../ops/prometheus/alerts.yml"
    ))
    .unwrap();
    let runbook =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../RUNBOOK.md")).unwrap();
    let anchors: Vec<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect();
    let alerts = alerts(&rules);
    assert_eq!(
        alerts.len(),
        9,
        "the seed's four, a guard, the kill switch, a stale set, drift, 4xx"
    );
    for a in &alerts {
        let severity = a.severity.as_deref();
        let priority = a.priority.as_deref();
        match (severity, priority) {
            (Some("page"), Some("P0" | "P1")) | (Some("warn"), Some("P2")) => {}
            other => panic!("{}: severity and priority {other:?}", a.name),
        }
        assert!(a.summary, "{}: no summary", a.name);
        let link = a.runbook.as_deref().unwrap_or_default();
        let section = link
            .strip_prefix("RUNBOOK.md#")
            .unwrap_or_else(|| panic!("{}: runbook_url {link:?}", a.name));
        assert_eq!(section, a.name.to_lowercase(), "{}", a.name);
        assert!(
            anchors.iter().any(|x| x == section),
            "{}: no RUNBOOK section #{section}",
            a.name
        );
        // The escalation matrix names it in its priority's row.
        let row = runbook
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", priority.unwrap())))
            .unwrap_or_else(|| panic!("no matrix row for {priority:?}"));
        assert!(
            row.contains(&a.name),
            "{} missing from the {priority:?} row",
            a.name
        );
    }
}
