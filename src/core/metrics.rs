//! `/metrics`: the Prometheus text exposition (format 0.0.4) of a snapshot that the control
//! plane takes of its exact aggregates, so every isolate and every scrape agree.

use std::fmt::Write;

/// Upper bounds of the TTV histogram's buckets, in ms (`le` in seconds).
pub const TTV_BUCKETS_MS: [u64; 9] = [250, 500, 1_000, 2_000, 3_000, 5_000, 8_000, 13_000, 30_000];

/// One flag's rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagGauge {
    /// The flag's key.
    pub flag: String,
    /// The current tier.
    pub tier: usize,
    /// The share admitted at that tier, in percent.
    pub pct: u8,
    /// The plan's status.
    pub status: &'static str,
}

/// One arm's TTV histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct TtvHistogram {
    /// The flag.
    pub flag: String,
    /// The variant.
    pub variant: String,
    /// Samples at or below each bound of [`TTV_BUCKETS_MS`] (cumulative).
    pub buckets: Vec<u64>,
    /// Every sample.
    pub count: u64,
    /// Their sum, in ms.
    pub sum_ms: u64,
}

/// What `/metrics` shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Every flag's rollout.
    pub flags: Vec<FlagGauge>,
    /// Whether the kill switch is on.
    pub killed: bool,
    /// Counted events: (flag, variant, name, n).
    pub events: Vec<(String, String, String, u64)>,
    /// TTV per arm.
    pub ttv: Vec<TtvHistogram>,
    /// Each guard's state now: (flag, guard, state).
    pub guards: Vec<(String, String, String)>,
    /// Automatic decisions: (flag, action, guard, n).
    pub decisions: Vec<(String, String, String, u64)>,
    /// Beacon requests by outcome: (outcome, n).
    pub beacon: Vec<(String, u64)>,
    /// The control plane's revision.
    pub revision: u64,
    /// The revision in CONFIG_KV.
    pub published_revision: u64,
    /// How long ago it was written, in seconds.
    pub published_age_s: Option<u64>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, l: &[(&str, &str)], value: impl std::fmt::Display) {
        let l = if l.is_empty() {
            String::new()
        } else {
            labels(l)
        };
        let _ = writeln!(self.0, "{name}{l} {value}");
    }
}

/// The exposition text of `s`.
///
/// ```
/// use pilot_gate::core::metrics::{render, Snapshot};
/// let text = render(&Snapshot { beacon: vec![("accepted".into(), 3)], ..Snapshot::default() });
/// assert!(text.contains("pilot_gate_beacon_requests_total{outcome=\"accepted\"} 3\n"));
/// ```
pub fn render(s: &Snapshot) -> String {
    let mut o = Out(String::new());
    o.family(
        "pilot_gate_flag_tier",
        "gauge",
        "Current tier of each flag's rollout plan.",
    );
    for f in &s.flags {
        o.sample("pilot_gate_flag_tier", &[("flag", &f.flag)], f.tier);
    }
    o.family(
        "pilot_gate_flag_rollout_ratio",
        "gauge",
        "Share of visitors admitted at the current tier (0 to 1).",
    );
    for f in &s.flags {
        o.sample(
            "pilot_gate_flag_rollout_ratio",
            &[("flag", &f.flag)],
            f64::from(f.pct) / 100.0,
        );
    }
    o.family(
        "pilot_gate_flag_status",
        "gauge",
        "Status of each flag's plan (1 for the current one).",
    );
    for f in &s.flags {
        o.sample(
            "pilot_gate_flag_status",
            &[("flag", &f.flag), ("status", f.status)],
            1,
        );
    }
    o.family(
        "pilot_gate_kill_switch",
        "gauge",
        "1 while the kill switch turns every flag off.",
    );
    o.sample("pilot_gate_kill_switch", &[], u8::from(s.killed));
    o.family(
        "pilot_gate_events_total",
        "counter",
        "Counted beacon events by flag, variant and name, each event once.",
    );
    for (flag, variant, name, n) in &s.events {
        o.sample(
            "pilot_gate_events_total",
            &[("flag", flag), ("variant", variant), ("name", name)],
            n,
        );
    }
    o.family(
        "pilot_gate_exposures_total",
        "counter",
        "page_view events by flag and variant.",
    );
    for (flag, variant, _, n) in s.events.iter().filter(|e| e.2 == "page_view") {
        o.sample(
            "pilot_gate_exposures_total",
            &[("flag", flag), ("variant", variant)],
            n,
        );
    }
    o.family(
        "pilot_gate_errors_total",
        "counter",
        "error events by flag and variant.",
    );
    for (flag, variant, _, n) in s.events.iter().filter(|e| e.2 == "error") {
        o.sample(
            "pilot_gate_errors_total",
            &[("flag", flag), ("variant", variant)],
            n,
        );
    }
    o.family(
        "pilot_gate_ttv_seconds",
        "histogram",
        "Time to value (ttv events) by flag and variant.",
    );
    for h in &s.ttv {
        let (flag, variant) = (("flag", h.flag.as_str()), ("variant", h.variant.as_str()));
        for (bound, n) in TTV_BUCKETS_MS.iter().zip(&h.buckets) {
            let le = format!("{}", *bound as f64 / 1000.0);
            o.sample(
                "pilot_gate_ttv_seconds_bucket",
                &[flag, variant, ("le", &le)],
                n,
            );
        }
        o.sample(
            "pilot_gate_ttv_seconds_bucket",
            &[flag, variant, ("le", "+Inf")],
            h.count,
        );
        o.sample(
            "pilot_gate_ttv_seconds_sum",
            &[flag, variant],
            h.sum_ms as f64 / 1000.0,
        );
        o.sample("pilot_gate_ttv_seconds_count", &[flag, variant], h.count);
    }
    o.family(
        "pilot_gate_guard_state",
        "gauge",
        "Each guard's current state (1 for the current one).",
    );
    for (flag, guard, state) in &s.guards {
        o.sample(
            "pilot_gate_guard_state",
            &[("flag", flag), ("guard", guard), ("state", state)],
            1,
        );
    }
    o.family(
        "pilot_gate_guard_decisions_total",
        "counter",
        "Automatic decisions by flag, action and the guard that took them.",
    );
    for (flag, action, guard, n) in &s.decisions {
        o.sample(
            "pilot_gate_guard_decisions_total",
            &[("flag", flag), ("action", action), ("reason", guard)],
            n,
        );
    }
    o.family(
        "pilot_gate_beacon_requests_total",
        "counter",
        "Beacon requests by outcome: accepted, or the rejection's error code.",
    );
    for (outcome, n) in &s.beacon {
        o.sample(
            "pilot_gate_beacon_requests_total",
            &[("outcome", outcome)],
            n,
        );
    }
    o.family(
        "pilot_gate_flagset_revision",
        "gauge",
        "The control plane's revision of the flag set.",
    );
    o.sample("pilot_gate_flagset_revision", &[], s.revision);
    o.family(
        "pilot_gate_flagset_published_revision",
        "gauge",
        "The revision written to CONFIG_KV.",
    );
    o.sample(
        "pilot_gate_flagset_published_revision",
        &[],
        s.published_revision,
    );
    if let Some(age) = s.published_age_s {
        o.family(
            "pilot_gate_flagset_published_age_seconds",
            "gauge",
            "Seconds since the flag set was last written to CONFIG_KV.",
        );
        o.sample("pilot_gate_flagset_published_age_seconds", &[], age);
    }
    o.0
}
