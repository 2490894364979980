//! Metrics are configuration: the flag-set document's top-level `metrics` names what the
//! evidence counts per unit and what the stats API, `/metrics`, the dashboard and the guardrails
//! show and judge. Three kinds:
//!
//! - `proportion`: units with the `numerator` event among units with the `denominator` event
//!   (a unit counts in the numerator only if it is in the denominator);
//! - `quantile`: quantiles of one value per unit (its first) of an event's numeric prop;
//! - `mean`: the mean of one value per unit (its first, capped at `cap`) of a numeric prop.
//!
//! Built-ins: `$exposure` (exposed units), `$error` (a client `error` event or a server error),
//! `$server_error` (the upstream answered 5xx or failed), `$ttfb_ms` (the upstream's time to
//! first byte). `goal` is the acceptance threshold, `warn` the warning sign; neither acts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use serde_json::{Map, Value};

use crate::evidence::provenance::Provenance;
use crate::evidence::tally::ERROR_EVENT;

/// Exposed units (a denominator).
pub const EXPOSURE: &str = "$exposure";
/// Units with a client `error` event or a server error.
pub const ERROR: &str = "$error";
/// Units the upstream answered 5xx or failed.
pub const SERVER_ERROR: &str = "$server_error";
/// The upstream's time to first byte, in ms (a value).
pub const TTFB_MS: &str = "$ttfb_ms";
/// Most metrics in a set.
pub const MAX_METRICS: usize = 32;
/// Most distinct client events the metrics may name (each unit keeps one flag per name, and
/// each arm a count per pair of names).
pub const MAX_EVENTS: usize = 16;

/// A comparison: `>= 0.85`, `<= 2000`, `< 0.05`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    /// The operator.
    pub op: Op,
    /// The bound.
    pub bound: f64,
}

/// A comparison's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Condition {
    /// Parses `"<op> <number>"`.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let (op, rest) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .into_iter()
            .find_map(|(s, op)| Some((op, t.strip_prefix(s)?)))?;
        let bound: f64 = rest.trim().parse().ok()?;
        bound.is_finite().then_some(Condition { op, bound })
    }

    /// Whether `x` satisfies it.
    pub fn holds(&self, x: f64) -> bool {
        match self.op {
            Op::Lt => x < self.bound,
            Op::Le => x <= self.bound,
            Op::Gt => x > self.bound,
            Op::Ge => x >= self.bound,
        }
    }

    /// Whether larger values are the good side.
    pub fn higher_is_better(&self) -> bool {
        matches!(self.op, Op::Gt | Op::Ge)
    }
}

impl Op {
    /// As written: `<`, `<=`, `>`, `>=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.bound)
    }
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A quantile by its name, `p50`, `p90`, `p99.9`: the name and the fraction.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub struct Quantile {
    /// As written (`p90`).
    pub name: String,
    /// As a fraction (0.9).
    pub q: f64,
}

impl Quantile {
    /// `p` and a percentage strictly between 0 and 100.
    pub fn parse(name: &str) -> Option<Self> {
        let pct: f64 = name.strip_prefix('p')?.parse().ok()?;
        (pct > 0.0 && pct < 100.0).then(|| Quantile {
            name: name.to_owned(),
            q: pct / 100.0,
        })
    }
}

/// A threshold: one condition on the metric's value, or one per quantile.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Threshold {
    /// On a proportion's or a mean's value.
    Value(Condition),
    /// On a quantile metric's quantiles, by name (`p90`).
    Quantiles(BTreeMap<String, Condition>),
}

/// What a metric measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MetricKind {
    /// Units with `numerator` among units with `denominator`.
    Proportion {
        /// An event name, `$error` or `$server_error`.
        numerator: String,
        /// An event name, `$exposure`, `$error` or `$server_error`.
        denominator: String,
    },
    /// Quantiles of one value per unit.
    Quantile {
        /// An event name or `$ttfb_ms`.
        event: String,
        /// The event's numeric prop (none for `$ttfb_ms`).
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// The mean of one value per unit.
    Mean {
        /// An event name or `$ttfb_ms`.
        event: String,
        /// The event's numeric prop (none for `$ttfb_ms`).
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        /// A unit's value counts at most this.
        #[serde(skip_serializing_if = "Option::is_none")]
        cap: Option<f64>,
    },
}

/// One metric. Written as JSON by `Serialize`; read back only through [`parse`] (see
/// [`deserialize`]), so every copy of a set is validated the same way.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    /// What it measures.
    #[serde(flatten)]
    pub kind: MetricKind,
    /// The acceptance threshold (green when met).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<Threshold>,
    /// The warning sign (red when it fails).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warn: Option<Threshold>,
    /// The unit of its values, for display (`ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// What it means, for display.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Metric {
    /// The event names it reads (built-ins included).
    pub fn names(&self) -> Vec<&str> {
        match &self.kind {
            MetricKind::Proportion {
                numerator,
                denominator,
            } => vec![numerator, denominator],
            MetricKind::Quantile { event, .. } | MetricKind::Mean { event, .. } => vec![event],
        }
    }

    /// Where its evidence comes from: the edge when it reads only `$exposure`,
    /// `$server_error` and `$ttfb_ms`, else browsers (client events, and `$error`, which counts
    /// client `error` events).
    pub fn provenance(&self) -> Provenance {
        if self
            .names()
            .iter()
            .all(|n| [EXPOSURE, SERVER_ERROR, TTFB_MS].contains(n))
        {
            Provenance::Edge
        } else {
            Provenance::Client
        }
    }
}

/// The set's metrics, by name.
pub type Metrics = BTreeMap<String, Metric>;

/// Reads a set's metrics (as [`Serialize`] wrote them, or as a document gives them) through
/// [`parse`]: for `#[serde(deserialize_with)]` on a field of type [`Metrics`].
pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Metrics, D::Error> {
    let v = Value::deserialize(d)?;
    parse(Some(&v)).map_err(|errors| {
        let first = errors
            .first()
            .map_or(String::new(), |e| format!("{}: {}", e.path, e.detail));
        serde::de::Error::custom(format!("invalid metrics: {first}"))
    })
}

/// A bad field of a `metrics` object: its JSON pointer and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer (`/metrics/ttv/goal/p90`).
    pub path: String,
    /// What is wrong.
    pub detail: String,
}

/// Whether `name` is a client event name (`[a-z0-9_.:-]{1,64}`, as the beacon takes them).
pub fn is_event_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b':' | b'-'))
}

fn is_metric_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

fn is_prop_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

const KINDS: &str = "proportion, quantile or mean";

/// Parses and validates a document's `metrics` (absent or `null`: none), every bad field
/// reported with its path.
pub fn parse(v: Option<&Value>) -> Result<Metrics, Vec<FieldError>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Metrics::new());
    };
    let mut errors = Vec::new();
    let mut bad = |path: String, detail: &str| {
        errors.push(FieldError {
            path,
            detail: detail.to_owned(),
        })
    };
    let Some(map) = v.as_object() else {
        bad("/metrics".into(), "must be an object of metrics by name");
        return Err(errors);
    };
    if map.len() > MAX_METRICS {
        bad("/metrics".into(), &format!("at most {MAX_METRICS} metrics"));
    }
    let mut out = Metrics::new();
    for (name, m) in map {
        let at = format!("/metrics/{name}");
        if !is_metric_name(name) {
            bad(
                at.clone(),
                "a metric name is 1 to 64 of a-z 0-9 _, from a letter",
            );
        }
        let Some(obj) = m.as_object() else {
            bad(at, "must be an object with a kind");
            continue;
        };
        if let Some(metric) = metric(obj, &at, &mut bad) {
            out.insert(name.clone(), metric);
        }
    }
    let events = events_named(&out);
    if events.len() > MAX_EVENTS {
        bad(
            "/metrics".into(),
            &format!(
                "the metrics name {} client events; at most {MAX_EVENTS}",
                events.len()
            ),
        );
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

const FIELDS: [&str; 10] = [
    "kind",
    "numerator",
    "denominator",
    "event",
    "value",
    "cap",
    "goal",
    "warn",
    "unit",
    "description",
];

/// One metric, its errors added to `bad`.
fn metric(
    obj: &Map<String, Value>,
    at: &str,
    bad: &mut impl FnMut(String, &str),
) -> Option<Metric> {
    let errors_before = std::cell::Cell::new(0u32);
    let mut fail = |path: String, detail: &str| {
        errors_before.set(errors_before.get() + 1);
        bad(path, detail);
    };
    for k in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        fail(format!("{at}/{k}"), "unknown field");
    }
    let text = |field: &str, fail: &mut dyn FnMut(String, &str)| -> Option<String> {
        match obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                fail(format!("{at}/{field}"), "must be a string");
                None
            }
        }
    };
    let kind_name = text("kind", &mut fail);
    let source = |field: &str, allowed: &[&str], fail: &mut dyn FnMut(String, &str)| {
        let s = text(field, fail);
        match &s {
            None => fail(format!("{at}/{field}"), "required"),
            Some(s) if s.starts_with('$') && !allowed.contains(&s.as_str()) => fail(
                format!("{at}/{field}"),
                &format!("the built-ins here are {}", allowed.join(", ")),
            ),
            Some(s) if !s.starts_with('$') && !is_event_name(s) => fail(
                format!("{at}/{field}"),
                "an event name is 1 to 64 of a-z 0-9 _ . : -",
            ),
            Some(_) => {}
        }
        s
    };
    let kind = match kind_name.as_deref() {
        Some("proportion") => {
            let numerator = source("numerator", &[ERROR, SERVER_ERROR], &mut fail);
            let denominator = source("denominator", &[EXPOSURE, ERROR, SERVER_ERROR], &mut fail);
            MetricKind::Proportion {
                numerator: numerator.unwrap_or_default(),
                denominator: denominator.unwrap_or_default(),
            }
        }
        Some(k @ ("quantile" | "mean")) => {
            let event = source("event", &[TTFB_MS], &mut fail);
            let value = text("value", &mut fail);
            match (&event, &value) {
                (Some(e), None) if !e.starts_with('$') => {
                    fail(format!("{at}/value"), "required: the event's numeric prop")
                }
                (Some(e), Some(_)) if e.starts_with('$') => {
                    fail(format!("{at}/value"), "a built-in has no prop")
                }
                (_, Some(v)) if !is_prop_name(v) => fail(
                    format!("{at}/value"),
                    "a prop name is 1 to 64 of A-Z a-z 0-9 _ -",
                ),
                _ => {}
            }
            let cap = match (k, obj.get("cap")) {
                (_, None | Some(Value::Null)) => None,
                ("mean", Some(c)) => match c.as_f64().filter(|c| *c > 0.0 && c.is_finite()) {
                    Some(c) => Some(c),
                    None => {
                        fail(format!("{at}/cap"), "must be a positive number");
                        None
                    }
                },
                _ => {
                    fail(format!("{at}/cap"), "only a mean has a cap");
                    None
                }
            };
            let event = event.unwrap_or_default();
            if k == "quantile" {
                MetricKind::Quantile { event, value }
            } else {
                MetricKind::Mean { event, value, cap }
            }
        }
        Some(_) => {
            fail(format!("{at}/kind"), &format!("must be {KINDS}"));
            return None;
        }
        None => {
            fail(format!("{at}/kind"), &format!("required: {KINDS}"));
            return None;
        }
    };
    let quantile = matches!(kind, MetricKind::Quantile { .. });
    let goal = threshold(obj.get("goal"), &format!("{at}/goal"), quantile, &mut fail);
    let warn = threshold(obj.get("warn"), &format!("{at}/warn"), quantile, &mut fail);
    let unit = text("unit", &mut fail);
    let description = text("description", &mut fail);
    (errors_before.get() == 0).then_some(Metric {
        kind,
        goal,
        warn,
        unit,
        description,
    })
}

fn threshold(
    v: Option<&Value>,
    at: &str,
    quantile: bool,
    fail: &mut impl FnMut(String, &str),
) -> Option<Threshold> {
    let cond = |v: &Value, at: String, fail: &mut dyn FnMut(String, &str)| {
        let c = v.as_str().and_then(Condition::parse);
        if c.is_none() {
            fail(at, "must be a condition such as \">= 0.85\" or \"<= 2000\"");
        }
        c
    };
    match (v, quantile) {
        (None | Some(Value::Null), _) => None,
        (Some(Value::Object(m)), true) => {
            let mut out = BTreeMap::new();
            for (q, c) in m {
                if Quantile::parse(q).is_none() {
                    fail(
                        format!("{at}/{q}"),
                        "a quantile is p and a percentage: p50, p90, p99.9",
                    );
                } else if let Some(c) = cond(c, format!("{at}/{q}"), fail) {
                    out.insert(q.clone(), c);
                }
            }
            Some(Threshold::Quantiles(out))
        }
        (Some(_), true) => {
            fail(
                at.to_owned(),
                "must be an object of conditions by quantile: {\"p90\": \"<= 5000\"}",
            );
            None
        }
        (Some(v), false) => cond(v, at.to_owned(), fail).map(Threshold::Value),
    }
}

/// The client events the metrics name: the events the evidence counts (the client `error`
/// event always, for `$error`).
pub fn events_named(metrics: &Metrics) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for m in metrics.values() {
        out.extend(
            m.names()
                .into_iter()
                .filter(|n| !n.starts_with('$'))
                .map(str::to_owned),
        );
    }
    out
}

/// What the consumer reads of client events: the names that count and, per name, the numeric
/// props that a metric reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// Event names that count (the client `error` event always does).
    pub events: BTreeSet<String>,
    /// Props read, by event name.
    pub props: BTreeMap<String, BTreeSet<String>>,
}

impl Reads {
    /// What `metrics` read.
    pub fn of(metrics: &Metrics) -> Self {
        let mut events = events_named(metrics);
        events.insert(ERROR_EVENT.to_owned());
        let mut props: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for m in metrics.values() {
            if let MetricKind::Quantile {
                event,
                value: Some(p),
            }
            | MetricKind::Mean {
                event,
                value: Some(p),
                ..
            } = &m.kind
            {
                props.entry(event.clone()).or_default().insert(p.clone());
            }
        }
        Reads { events, props }
    }
}

/// The key of a value a unit keeps: `event.prop`.
pub fn value_key(event: &str, prop: &str) -> String {
    format!("{event}.{prop}")
}
