//! `/metrics`: the Prometheus text exposition (format 0.0.4) of a snapshot that the control
//! plane takes of its state and of every flag's evidence (counted per unit), so every isolate
//! and every scrape agree.

use crate::control::measure::measure;
use crate::events::dead_letter::{DeadCounts, DeadKind};
use crate::events::latency::{Latency, INGEST_BUCKETS_MS};
use crate::events::reconcile::Reconciled;
use crate::evidence::metric::{Condition, Metric, Metrics, Quantile, Threshold};
use crate::evidence::sketch::{value_of, Sketch};
use crate::evidence::tally::ArmTally;
use crate::http::answers::{AnswerCounts, CLASSES};

use std::fmt::Write;

/// Upper bounds of the TTFB histogram's buckets, in ms (`le` in seconds).
pub const TTFB_BUCKETS_MS: [u64; 9] = [250, 500, 1_000, 2_000, 3_000, 5_000, 8_000, 13_000, 30_000];

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
    /// The set's metrics (measured on every arm).
    pub metrics: Metrics,
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
    /// The worker's answers by route and status class.
    pub answers: AnswerCounts,
    /// The beacon's ingest latency (accepted request -> events stored).
    pub ingest: Latency,
    /// The last reconciliation of stored events against counted ones.
    pub reconciled: Option<Reconciled>,
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

/// One sample: its labels and value.
type Sample<'a> = (Vec<(&'a str, &'a str)>, String);

/// The exposition text, one family at a time.
struct Out(String);

impl Out {
    /// A family: its `HELP` and `TYPE` lines, then every sample of `name`.
    fn family<'a>(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: impl IntoIterator<Item = Sample<'a>>,
    ) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (l, value) in samples {
            self.sample(name, &l, value);
        }
    }

    /// A family whose label values are owned.
    fn owned_family(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: Vec<(Vec<(&str, String)>, String)>,
    ) {
        let samples = samples.iter().map(|(l, v)| {
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            (l, v.clone())
        });
        self.family(name, kind, help, samples);
    }

    fn sample(&mut self, name: &str, l: &[(&str, &str)], value: impl std::fmt::Display) {
        let l = if l.is_empty() {
            String::new()
        } else {
            labels(l)
        };
        let _ = writeln!(self.0, "{name}{l} {value}");
    }

    /// A histogram family in seconds over [`TTFB_BUCKETS_MS`]: per flag and variant, the sketch
    /// that `pick` takes from its arm.
    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        arms: &[ArmGauge],
        pick: fn(&ArmTally) -> &Sketch,
    ) {
        self.family(name, "histogram", help, []);
        for a in arms {
            let (buckets, count, sum_ms) = histogram(pick(&a.tally), &TTFB_BUCKETS_MS);
            let (flag, variant) = (("flag", a.flag.as_str()), ("variant", a.variant.as_str()));
            let bounds = TTFB_BUCKETS_MS
                .iter()
                .map(|b| format!("{}", *b as f64 / 1000.0));
            for (le, n) in bounds
                .chain(["+Inf".to_owned()])
                .zip(buckets.iter().chain([&count]))
            {
                self.sample(&format!("{name}_bucket"), &[flag, variant, ("le", &le)], n);
            }
            self.sample(&format!("{name}_sum"), &[flag, variant], sum_ms / 1000.0);
            self.sample(&format!("{name}_count"), &[flag, variant], count);
        }
    }
}

/// A sample labelled by flag.
fn by_flag<'a>(flag: &'a str, value: impl ToString) -> Sample<'a> {
    (vec![("flag", flag)], value.to_string())
}

/// A sample labelled by flag and variant (and more).
fn by_arm<'a>(a: &'a ArmGauge, more: &[(&'a str, &'a str)], value: impl ToString) -> Sample<'a> {
    let mut l = vec![("flag", a.flag.as_str()), ("variant", a.variant.as_str())];
    l.extend_from_slice(more);
    (l, value.to_string())
}

/// The exposition text of `s`.
///
/// ```
/// use pilot_gate_core::metrics::{render, Snapshot};
/// let text = render(&Snapshot { beacon: vec![("accepted".into(), 3)], ..Snapshot::default() });
/// assert!(text.contains("pilot_gate_beacon_requests_total{outcome=\"accepted\"} 3\n"));
/// ```
pub fn render(s: &Snapshot) -> String {
    let mut o = Out(String::new());
    let flags = &s.flags;
    o.family(
        "pilot_gate_flag_tier",
        "gauge",
        "Current tier of each flag's rollout plan.",
        flags.iter().map(|f| by_flag(&f.flag, f.tier)),
    );
    o.family(
        "pilot_gate_flag_rollout_ratio",
        "gauge",
        "Share of visitors admitted at the current tier (0 to 1).",
        flags
            .iter()
            .map(|f| by_flag(&f.flag, f64::from(f.pct) / 100.0)),
    );
    o.family(
        "pilot_gate_flag_status",
        "gauge",
        "Status of each flag's plan (1 for the current one).",
        flags.iter().map(|f| {
            (
                vec![("flag", f.flag.as_str()), ("status", f.status)],
                "1".into(),
            )
        }),
    );
    o.family(
        "pilot_gate_kill_switch",
        "gauge",
        "1 while the kill switch turns every flag off.",
        [(vec![], u8::from(s.killed).to_string())],
    );
    o.family(
        "pilot_gate_exposed_units",
        "gauge",
        "Units (visitors) the edge exposed to each variant in the current tier's window.",
        s.arms.iter().map(|a| by_arm(a, &[], a.tally.units)),
    );
    o.family(
        "pilot_gate_error_units",
        "gauge",
        "Exposed units with an error, by kind: any (client or server), client (an error event), server (the upstream answered 5xx or failed).",
        s.arms.iter().flat_map(|a| {
            let t = &a.tally;
            [
                ("any", t.error_units),
                ("client", t.client_error_units),
                ("server", t.server_error_units),
            ]
            .map(|(kind, n)| by_arm(a, &[("kind", kind)], n))
        }),
    );
    o.family(
        "pilot_gate_event_units",
        "gauge",
        "Exposed units that sent each counted event (once per unit).",
        s.arms.iter().flat_map(|a| {
            a.tally
                .event_units
                .iter()
                .map(move |(name, n)| by_arm(a, &[("name", name.as_str())], n))
        }),
    );
    for (name, help, per_flag) in [
        (
            "pilot_gate_mixed_units",
            "Units exposed to more than one variant in the tier (counted apart; they hold the plan).",
            &s.mixed,
        ),
        (
            "pilot_gate_outside_units",
            "Units an allow- or deny-list or a required flag placed outside the random split in the tier (counted apart).",
            &s.outside,
        ),
        (
            "pilot_gate_evidence_storage_bytes",
            "The SQLite storage of each flag's evidence object, in bytes (an object may hold 10 GB).",
            &s.evidence_storage_bytes,
        ),
    ] {
        o.family(name, "gauge", help, per_flag.iter().map(|(f, n)| by_flag(f, n)));
    }
    render_metrics(&mut o, s);
    o.histogram(
        "pilot_gate_ttfb_seconds",
        "The upstream's time to first byte, one per unit (its first passed-through request).",
        &s.arms,
        |t| &t.ttfb,
    );
    o.family(
        "pilot_gate_guard_state",
        "gauge",
        "Each guard's current state (1 for the current one).",
        s.guards.iter().map(|(flag, guard, state)| {
            let l = vec![
                ("flag", flag.as_str()),
                ("guard", guard.as_str()),
                ("state", state.as_str()),
            ];
            (l, "1".to_owned())
        }),
    );
    o.family(
        "pilot_gate_guard_decisions_total",
        "counter",
        "Automatic decisions by flag, action and the guard that took them.",
        s.decisions.iter().map(|(flag, action, guard, n)| {
            let l = vec![
                ("flag", flag.as_str()),
                ("action", action.as_str()),
                ("reason", guard.as_str()),
            ];
            (l, n.to_string())
        }),
    );
    o.family(
        "pilot_gate_beacon_requests_total",
        "counter",
        "Beacon requests by outcome: accepted, or the rejection's error code.",
        s.beacon
            .iter()
            .map(|(outcome, n)| (vec![("outcome", outcome.as_str())], n.to_string())),
    );
    o.family(
        "pilot_gate_responses_total",
        "counter",
        "The worker's answers by route and status class (a pass-through's: its upstream's).",
        s.answers.0.iter().flat_map(|(route, counts)| {
            CLASSES.iter().zip(counts).map(move |(class, n)| {
                (
                    vec![("route", route.as_str()), ("class", *class)],
                    n.to_string(),
                )
            })
        }),
    );
    let name = "pilot_gate_ingest_latency_seconds";
    o.family(
        name,
        "histogram",
        "Beacon ingest latency: from the accepted request to its events stored in KV.",
        [],
    );
    let bounds = INGEST_BUCKETS_MS
        .iter()
        .map(|b| format!("{}", *b as f64 / 1000.0));
    for (le, n) in bounds
        .chain(["+Inf".to_owned()])
        .zip(s.ingest.cumulative().into_iter().chain([s.ingest.count]))
    {
        o.sample(&format!("{name}_bucket"), &[("le", &le)], n);
    }
    o.sample(&format!("{name}_sum"), &[], s.ingest.sum_ms as f64 / 1000.0);
    o.sample(&format!("{name}_count"), &[], s.ingest.count);
    let runs = s.reconciled.iter();
    o.family(
        "pilot_gate_reconcile_drift_ratio",
        "gauge",
        "Drift of the events KV holds against those counted, over the last reconciled window: |counted - stored| / counted.",
        runs.clone().map(|r| (vec![], r.drift.to_string())),
    );
    o.family(
        "pilot_gate_reconcile_last_run_timestamp_seconds",
        "gauge",
        "When the last reconciliation finished, Unix seconds.",
        runs.clone().map(|r| (vec![], (r.at_ms / 1000).to_string())),
    );
    o.family(
        "pilot_gate_reconcile_events",
        "gauge",
        "Events in the last reconciled window: counted by the control plane, stored in KV.",
        runs.flat_map(|r| {
            [("counted", r.counted), ("stored", r.stored)]
                .map(|(side, n)| (vec![("side", side)], n.to_string()))
        }),
    );
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
        let samples = s
            .dead_letters
            .iter()
            .map(|(k, c)| (vec![("kind", k.as_str())], pick(c).to_string()));
        o.family(name, kind, help, samples);
    }
    let age = s.published_age_s.map(|a| {
        let help = "Seconds since the flag set was last written to CONFIG_KV.";
        ("pilot_gate_flagset_published_age_seconds", help, a)
    });
    let scalars = [
        (
            "pilot_gate_flagset_revision",
            "The control plane's revision of the flag set.",
            s.revision,
        ),
        (
            "pilot_gate_flagset_published_revision",
            "The revision written to CONFIG_KV.",
            s.published_revision,
        ),
    ];
    for (name, help, v) in scalars.into_iter().chain(age) {
        o.family(name, "gauge", help, [(vec![], v.to_string())]);
    }
    o.0
}

/// The configured metrics: each arm's value (a quantile metric's per quantile), its units and
/// its standing, and each metric's goal and warning thresholds.
fn render_metrics(o: &mut Out, s: &Snapshot) {
    let fraction = |q: &str| Quantile::parse(q).map_or(String::new(), |q| q.q.to_string());
    let arm = |a: &ArmGauge, metric: &str| -> Vec<(&'static str, String)> {
        vec![
            ("flag", a.flag.clone()),
            ("variant", a.variant.clone()),
            ("metric", metric.to_owned()),
        ]
    };
    let (mut values, mut units, mut standings) = (Vec::new(), Vec::new(), Vec::new());
    for a in &s.arms {
        for (name, metric) in &s.metrics {
            let m = measure(metric, &a.tally);
            if let Some(v) = m.value {
                values.push((arm(a, name), v.to_string()));
            }
            for (q, v) in &m.quantiles {
                if let Some(v) = v {
                    let mut l = arm(a, name);
                    l.push(("quantile", fraction(q)));
                    values.push((l, v.to_string()));
                }
            }
            units.push((arm(a, name), m.units.to_string()));
            let mut l = arm(a, name);
            l.push(("standing", m.standing.as_str().to_owned()));
            standings.push((l, "1".to_owned()));
        }
    }
    o.owned_family(
        "pilot_gate_metric_value",
        "gauge",
        "Each configured metric on each arm over the tier's window: a proportion's rate, a mean, or a quantile metric's quantiles (label quantile, within 1 %).",
        values,
    );
    o.owned_family(
        "pilot_gate_metric_units",
        "gauge",
        "Units each configured metric is measured over: a proportion's denominator, or units with a value.",
        units,
    );
    o.owned_family(
        "pilot_gate_metric_standing",
        "gauge",
        "Where each metric stands on each arm against its goal and warning sign (1 for the current standing: green, amber, red, unknown).",
        standings,
    );
    let goal: fn(&Metric) -> Option<&Threshold> = |m| m.goal.as_ref();
    let warn: fn(&Metric) -> Option<&Threshold> = |m| m.warn.as_ref();
    for (family, help, pick) in [
        (
            "pilot_gate_metric_goal",
            "Each metric's acceptance threshold (label op: the comparison that must hold).",
            goal,
        ),
        (
            "pilot_gate_metric_warn",
            "Each metric's warning sign (label op: the comparison that must hold, else the sign is raised).",
            warn,
        ),
    ] {
        let mut samples = Vec::new();
        for (name, m) in &s.metrics {
            let conditions: Vec<(Option<&String>, Condition)> = match pick(m) {
                None => Vec::new(),
                Some(Threshold::Value(c)) => vec![(None, *c)],
                Some(Threshold::Quantiles(qs)) => qs.iter().map(|(q, c)| (Some(q), *c)).collect(),
            };
            for (q, c) in conditions {
                let mut l = vec![("metric", name.clone()), ("op", c.op.as_str().to_owned())];
                if let Some(q) = q {
                    l.push(("quantile", fraction(q)));
                }
                samples.push((l, c.bound.to_string()));
            }
        }
        o.owned_family(family, "gauge", help, samples);
    }
}
