//! A configured metric measured on an arm: a proportion with its 95 % Wilson interval, the
//! quantiles of a quantile metric (within the sketch's 1 %), the mean of a mean metric, and
//! where it stands against its `goal` and `warn`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::control::stats::wilson;
use crate::evidence::metric::{
    value_key, Condition, Metric, MetricKind, Quantile, Threshold, ERROR, EXPOSURE, SERVER_ERROR,
    TTFB_MS,
};
use crate::evidence::sketch::{value_of, Sketch};
use crate::evidence::tally::{pair_key, ArmTally};

/// The quantiles every quantile metric shows (besides those its thresholds name).
pub const SHOWN_QUANTILES: [&str; 3] = ["p50", "p90", "p99"];

/// Where a metric stands: green (goal met), amber (goal missed, warning sign not raised), red
/// (warning sign raised, or goal missed without one), unknown (no units yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// The goal is met (or there is none and no warning sign is raised).
    Green,
    /// The goal is missed; the warning sign is not raised.
    Amber,
    /// The warning sign is raised, or the goal is missed and there is no warning sign.
    Red,
    /// No units to judge by.
    Unknown,
}

impl Standing {
    /// Its name in the API and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Green => "green",
            Standing::Amber => "amber",
            Standing::Red => "red",
            Standing::Unknown => "unknown",
        }
    }
}

/// One metric on one arm.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// `proportion`, `quantile` or `mean`.
    pub kind: &'static str,
    /// Units measured: the denominator's, or units with a value.
    pub units: u64,
    /// A proportion's numerator units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<u64>,
    /// A proportion's rate or a mean (`None` without units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// A proportion's 95 % Wilson interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    /// A quantile metric's quantiles by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub quantiles: BTreeMap<String, Option<f64>>,
    /// Whether the goal is met (`None`: no goal, or no units).
    pub goal_met: Option<bool>,
    /// Whether the warning sign is raised (`None`: none, or no units).
    pub warn_raised: Option<bool>,
    /// Where it stands.
    pub standing: Standing,
}

/// Units with a built-in or an event in an arm.
fn units_with(t: &ArmTally, name: &str) -> u64 {
    match name {
        EXPOSURE => t.units,
        ERROR => t.error_units,
        SERVER_ERROR => t.server_error_units,
        event => t.event_units.get(event).copied().unwrap_or(0),
    }
}

/// A proportion's (numerator units among denominator units, denominator units) in an arm.
pub fn proportion(t: &ArmTally, numerator: &str, denominator: &str) -> (u64, u64) {
    let n = units_with(t, denominator);
    let x = if denominator == EXPOSURE || numerator == denominator {
        units_with(t, numerator)
    } else {
        t.pair_units
            .get(&pair_key(numerator, denominator))
            .copied()
            .unwrap_or(0)
    };
    (x.min(n), n)
}

/// The sketch of a value metric's values in an arm (`$ttfb_ms` or `event.prop`).
pub fn values<'a>(t: &'a ArmTally, event: &str, value: Option<&str>) -> Option<&'a Sketch> {
    match (event, value) {
        (TTFB_MS, _) => Some(&t.ttfb),
        (event, Some(prop)) => t.values.get(&value_key(event, prop)),
        (_, None) => None,
    }
}

/// The mean of a sketch's values, each at most `cap` (within the sketch's relative error).
pub fn mean(s: &Sketch, cap: Option<f64>) -> Option<f64> {
    let n = s.count();
    (n > 0).then(|| {
        let sum: f64 = s
            .buckets()
            .map(|(b, c)| value_of(b).min(cap.unwrap_or(f64::INFINITY)) * c as f64)
            .sum();
        sum / n as f64
    })
}

/// The quantile names a quantile metric shows: [`SHOWN_QUANTILES`] and those its thresholds
/// name.
pub fn quantile_names(m: &Metric) -> Vec<String> {
    let mut names: Vec<String> = SHOWN_QUANTILES.iter().map(|q| (*q).to_owned()).collect();
    for t in [&m.goal, &m.warn].into_iter().flatten() {
        if let Threshold::Quantiles(qs) = t {
            names.extend(qs.keys().cloned());
        }
    }
    names.sort_by(|a, b| {
        let q = |n: &str| Quantile::parse(n).map_or(0.0, |q| q.q);
        q(a).total_cmp(&q(b))
    });
    names.dedup();
    names
}

/// Whether a threshold holds for a value or for quantiles (`None`: nothing to judge by).
fn holds(
    t: &Threshold,
    value: Option<f64>,
    quantiles: &BTreeMap<String, Option<f64>>,
) -> Option<bool> {
    match t {
        Threshold::Value(c) => value.map(|v| c.holds(v)),
        Threshold::Quantiles(qs) => qs
            .iter()
            .map(|(q, c): (&String, &Condition)| {
                quantiles.get(q).copied().flatten().map(|v| c.holds(v))
            })
            .try_fold(true, |all, one| Some(all && one?)),
    }
}

/// `x` of `n` as a rate (`None` without `n`).
pub fn rate(x: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| x as f64 / n as f64)
}

/// A metric's units and value on an arm: a proportion's denominator units and rate, a mean's
/// units with a value and their mean, a quantile metric's units with a value and its `q`-quantile
/// (`None` without `q`).
pub fn value(m: &Metric, t: &ArmTally, q: Option<f64>) -> (u64, Option<f64>) {
    match &m.kind {
        MetricKind::Proportion {
            numerator,
            denominator,
        } => {
            let (x, n) = proportion(t, numerator, denominator);
            (n, rate(x, n))
        }
        MetricKind::Quantile { event, value } => match values(t, event, value.as_deref()) {
            Some(s) => (s.count(), q.and_then(|q| s.quantile(q))),
            None => (0, None),
        },
        MetricKind::Mean { event, value, cap } => match values(t, event, value.as_deref()) {
            Some(s) => (s.count(), mean(s, *cap)),
            None => (0, None),
        },
    }
}

/// A metric measured on an arm.
pub fn measure(m: &Metric, t: &ArmTally) -> Measurement {
    let mut out = Measurement {
        kind: "",
        units: 0,
        hits: None,
        value: None,
        interval: None,
        quantiles: BTreeMap::new(),
        goal_met: None,
        warn_raised: None,
        standing: Standing::Unknown,
    };
    (out.units, out.value) = value(m, t, None);
    match &m.kind {
        MetricKind::Proportion {
            numerator,
            denominator,
        } => {
            let (x, n) = proportion(t, numerator, denominator);
            out.kind = "proportion";
            out.hits = Some(x);
            out.interval = (n > 0).then(|| {
                let (lo, hi) = wilson(x, n, 1.96);
                [lo, hi]
            });
        }
        MetricKind::Quantile { event, value } => {
            let s = values(t, event, value.as_deref());
            out.kind = "quantile";
            for name in quantile_names(m) {
                let q = Quantile::parse(&name).map(|q| q.q).unwrap_or(f64::NAN);
                let v = s.and_then(|s| s.quantile(q));
                out.quantiles.insert(name, v);
            }
        }
        MetricKind::Mean { .. } => out.kind = "mean",
    }
    let judge =
        |t: &Option<Threshold>| t.as_ref().and_then(|t| holds(t, out.value, &out.quantiles));
    out.goal_met = judge(&m.goal);
    out.warn_raised = judge(&m.warn).map(|ok| !ok);
    out.standing = match (out.units, out.goal_met, out.warn_raised) {
        (0, _, _) => Standing::Unknown,
        (_, _, Some(true)) => Standing::Red,
        (_, Some(false), Some(false)) => Standing::Amber,
        (_, Some(false), None) => Standing::Red,
        _ => Standing::Green,
    };
    out
}
