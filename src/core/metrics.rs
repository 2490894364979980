//! `/metrics`: the Prometheus text exposition (format 0.0.4) of a snapshot that the control
//! plane takes of its state and of every flag's evidence (counted per unit), so every isolate
//! and every scrape agree.

use crate::core::events::dead_letter::{DeadCounts, DeadKind};
use crate::core::evidence::sketch::{value_of, Sketch};
use crate::core::evidence::tally::ArmTally;

use std::fmt::Write;

/// Upper bounds of the TTV and TTFB histograms' buckets, in ms (`le` in seconds).
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

/// One arm of one flag: its figures over the units of the current tier's window.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmGauge {
    /// The flag.
    pub flag: String,
    /// The variant.
    pub variant: String,
    /// Its per-unit tally.
    pub tally: ArmTally,
}

/// A histogram's buckets from a sketch: values at or below each bound (cumulative, within the
/// sketch's 1 % relative error), their count and sum.
pub fn histogram(sketch: &Sketch, bounds: &[u64]) -> (Vec<u64>, u64, f64) {
    let mut cumulative = vec![0; bounds.len()];
    let mut sum = 0.0;
    for (b, n) in sketch.buckets() {
        let v = value_of(b);
        sum += v * n as f64;
        for (i, bound) in bounds.iter().enumerate() {
            if v <= *bound as f64 {
                cumulative[i] += n;
            }
        }
    }
    (cumulative, sketch.count(), sum)
}

/// What `/metrics` shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Every flag's rollout.
    pub flags: Vec<FlagGauge>,
    /// Whether the kill switch is on.
    pub killed: bool,
    /// Every flag's arms over the current tier's window.
    pub arms: Vec<ArmGauge>,
    /// Units exposed to two variants of a flag in the tier: (flag, units).
    pub mixed: Vec<(String, u64)>,
    /// Units placed outside a flag's random split in the tier: (flag, units).
    pub outside: Vec<(String, u64)>,
    /// Each flag's evidence object's storage: (flag, bytes).
    pub evidence_storage_bytes: Vec<(String, u64)>,
    /// Each guard's state now: (flag, guard, state).
    pub guards: Vec<(String, String, String)>,
    /// Automatic decisions: (flag, action, guard, n).
    pub decisions: Vec<(String, String, String, u64)>,
    /// Beacon requests by outcome: (outcome, n).
    pub beacon: Vec<(String, u64)>,
    /// The dead letters' counters, by kind (every kind, zeros included).
    pub dead_letters: Vec<(DeadKind, DeadCounts)>,
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
        "pilot_gate_exposed_units",
        "gauge",
        "Units (visitors) the edge exposed to each variant in the current tier's window.",
    );
    for a in &s.arms {
        let l = [("flag", a.flag.as_str()), ("variant", a.variant.as_str())];
        o.sample("pilot_gate_exposed_units", &l, a.tally.units);
    }
    o.family(
        "pilot_gate_error_units",
        "gauge",
        "Exposed units with an error, by kind: any (client or server), client (an error event), server (the upstream answered 5xx or failed).",
    );
    for a in &s.arms {
        for (kind, n) in [
            ("any", a.tally.error_units),
            ("client", a.tally.client_error_units),
            ("server", a.tally.server_error_units),
        ] {
            let l = [
                ("flag", a.flag.as_str()),
                ("variant", a.variant.as_str()),
                ("kind", kind),
            ];
            o.sample("pilot_gate_error_units", &l, n);
        }
    }
    o.family(
        "pilot_gate_event_units",
        "gauge",
        "Exposed units that sent each counted event (once per unit).",
    );
    for a in &s.arms {
        for (name, n) in &a.tally.event_units {
            let l = [
                ("flag", a.flag.as_str()),
                ("variant", a.variant.as_str()),
                ("name", name.as_str()),
            ];
            o.sample("pilot_gate_event_units", &l, n);
        }
    }
    o.family(
        "pilot_gate_mixed_units",
        "gauge",
        "Units exposed to more than one variant in the tier (counted apart; they hold the plan).",
    );
    for (flag, n) in &s.mixed {
        o.sample("pilot_gate_mixed_units", &[("flag", flag)], n);
    }
    o.family(
        "pilot_gate_outside_units",
        "gauge",
        "Units an allow- or deny-list or a required flag placed outside the random split in the tier (counted apart).",
    );
    for (flag, n) in &s.outside {
        o.sample("pilot_gate_outside_units", &[("flag", flag)], n);
    }
    o.family(
        "pilot_gate_evidence_storage_bytes",
        "gauge",
        "The SQLite storage of each flag's evidence object, in bytes (an object may hold 10 GB).",
    );
    for (flag, n) in &s.evidence_storage_bytes {
        o.sample("pilot_gate_evidence_storage_bytes", &[("flag", flag)], n);
    }
    for (name, help, pick) in [
        (
            "pilot_gate_ttv_seconds",
            "Time to value, one per unit (its first ttv event), by flag and variant.",
            (|t: &ArmTally| &t.ttv) as fn(&ArmTally) -> &Sketch,
        ),
        (
            "pilot_gate_ttfb_seconds",
            "The upstream's time to first byte, one per unit (its first passed-through request).",
            |t: &ArmTally| &t.ttfb,
        ),
    ] {
        o.family(name, "histogram", help);
        for a in &s.arms {
            let (buckets, count, sum_ms) = histogram(pick(&a.tally), &TTV_BUCKETS_MS);
            let (flag, variant) = (("flag", a.flag.as_str()), ("variant", a.variant.as_str()));
            for (bound, n) in TTV_BUCKETS_MS.iter().zip(&buckets) {
                let le = format!("{}", *bound as f64 / 1000.0);
                o.sample(&format!("{name}_bucket"), &[flag, variant, ("le", &le)], n);
            }
            o.sample(
                &format!("{name}_bucket"),
                &[flag, variant, ("le", "+Inf")],
                count,
            );
            o.sample(&format!("{name}_sum"), &[flag, variant], sum_ms / 1000.0);
            o.sample(&format!("{name}_count"), &[flag, variant], count);
        }
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
    for (name, kind, help, pick) in [
        (
            "pilot_gate_dead_letters_total",
            "counter",
            "Messages that reached the dead-letter queue, by kind (events, sightings, unreadable).",
            (|c: &DeadCounts| c.received) as fn(&DeadCounts) -> u64,
        ),
        (
            "pilot_gate_dead_letters_replayed_total",
            "counter",
            "Dead letters an operator sent back to their queue.",
            |c: &DeadCounts| c.replayed,
        ),
        (
            "pilot_gate_dead_letters_discarded_total",
            "counter",
            "Dead letters an operator discarded.",
            |c: &DeadCounts| c.discarded,
        ),
        (
            "pilot_gate_dead_letters_dropped_total",
            "counter",
            "Dead letters lost because the store of dead letters was full.",
            |c: &DeadCounts| c.dropped,
        ),
        (
            "pilot_gate_dead_letters_stored",
            "gauge",
            "Dead letters waiting for an operator (scripts/pilot dlq).",
            |c: &DeadCounts| c.stored,
        ),
    ] {
        o.family(name, kind, help);
        for (k, counts) in &s.dead_letters {
            o.sample(name, &[("kind", k.as_str())], pick(counts));
        }
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
