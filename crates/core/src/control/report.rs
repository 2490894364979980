//! What the stats API answers for a flag: per arm its errors and every configured metric over
//! units (visitors), with intervals or quantiles and where each stands against its goal and
//! warning sign, over a window; a time series of them; the metrics' definitions; and every
//! guard's verdict. A window holds the units first exposed in it (a unit counts in the
//! minute of its first exposure of the tier, with all it did since).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::control::error::ControlError;
use crate::control::guards::Verdict;
use crate::control::measure::{measure, rate};
use crate::control::stats::wilson;
use crate::control::tally::{arms_of, Arm, Arms};
use crate::control::watch::Watch;
use crate::evidence::metric::Metrics;
use crate::evidence::sketch::Sketch;
use crate::evidence::tally::{ArmTally, Series};

/// Most points of a time series.
pub const MAX_POINTS: u64 = 120;

/// A stats window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last hour.
    Hour,
    /// The last 24 hours.
    Day,
    /// Since the current tier began.
    Tier,
}

impl Window {
    /// `?window=1h|24h|tier` (default `tier`).
    pub fn parse(v: Option<&str>) -> Result<Window, ControlError> {
        match v {
            None | Some("tier") => Ok(Window::Tier),
            Some("1h") => Ok(Window::Hour),
            Some("24h") => Ok(Window::Day),
            Some(other) => Err(ControlError::BadRequest(format!(
                "window {other:?}: use 1h, 24h or tier"
            ))),
        }
    }

    /// The name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Hour => "1h",
            Window::Day => "24h",
            Window::Tier => "tier",
        }
    }

    /// The window's first minute at `now_minute`.
    pub fn start_minute(self, tier_since_ms: u64, now_minute: u64) -> u64 {
        match self {
            Window::Hour => now_minute.saturating_sub(59),
            Window::Day => now_minute.saturating_sub(24 * 60 - 1),
            Window::Tier => (tier_since_ms / 60_000).min(now_minute),
        }
    }
}

/// Minutes per point for a window of `span_min` minutes: at most [`MAX_POINTS`] points.
///
/// ```
/// use pilot_gate_core::control::report::bucket_minutes;
/// assert_eq!((bucket_minutes(60), bucket_minutes(1440), bucket_minutes(0)), (1, 12, 1));
/// ```
pub fn bucket_minutes(span_min: u64) -> u64 {
    span_min.div_ceil(MAX_POINTS).max(1)
}

/// The arms of the units first exposed from `from_minute` on, and the same per point (its
/// first minute) of `bucket_min` minutes.
pub fn series_of(
    series: &Series,
    from_minute: u64,
    bucket_min: u64,
) -> (Arms, BTreeMap<u64, Arms>) {
    let mut total: BTreeMap<String, ArmTally> = BTreeMap::new();
    let mut points: BTreeMap<u64, BTreeMap<String, ArmTally>> = BTreeMap::new();
    for ((minute, arm), t) in series.range((from_minute, String::new())..) {
        let point = from_minute + (minute - from_minute) / bucket_min * bucket_min;
        points
            .entry(point)
            .or_default()
            .entry(arm.clone())
            .or_default()
            .merge(t);
        total.entry(arm.clone()).or_default().merge(t);
    }
    (
        arms_of(&total),
        points.iter().map(|(m, arms)| (*m, arms_of(arms))).collect(),
    )
}

/// What a stats window says about a flag.
pub struct Report<'a> {
    /// The flag's plan as its evidence sees it.
    pub watch: &'a Watch,
    /// The window.
    pub window: Window,
    /// Its first and last minute.
    pub minutes: (u64, u64),
    /// Its arms (in units).
    pub arms: &'a Arms,
    /// Units exposed to more than one variant in the tier.
    pub mixed: u64,
    /// Units placed outside the random split in the tier.
    pub outside: u64,
    /// Sightings of capped units (minted past their net's cap) in the tier.
    pub capped: u64,
    /// Its series, and minutes per point.
    pub series: (&'a BTreeMap<u64, Arms>, u64),
    /// Every guard's verdict now.
    pub verdicts: &'a [Verdict],
}

impl Report<'_> {
    /// The stats API's answer.
    pub fn view(&self) -> Value {
        let metrics = &self.watch.metrics;
        let arms: serde_json::Map<String, Value> = self
            .arms
            .iter()
            .map(|(v, a)| (v.clone(), arm_view(a, metrics)))
            .collect();
        let points: Vec<Value> = self
            .series
            .0
            .iter()
            .map(|(m, arms)| {
                let arms: serde_json::Map<String, Value> = arms
                    .iter()
                    .map(|(v, a)| (v.clone(), arm_view(a, metrics)))
                    .collect();
                json!({"minute": m, "arms": arms})
            })
            .collect();
        let w = self.watch;
        json!({
            "flag": w.flag,
            "unit": "visitor",
            "window": self.window.as_str(),
            "fromMinute": self.minutes.0,
            "toMinute": self.minutes.1,
            "pilot": w.pilot,
            "control": w.control,
            "status": w.status,
            "tier": w.tier,
            "pct": w.pct,
            "tierRevision": w.tier_revision,
            "arms": arms,
            "mixed": self.mixed,
            "outside": self.outside,
            "capped": self.capped,
            // The evidence window: its number in the plan's run (its share of α) and start.
            "evidenceWindow": {"number": w.window, "sinceMs": w.window_start_ms()},
            "metrics": metrics,
            "guards": self.verdicts,
            "series": {"bucketMin": self.series.1, "points": points},
        })
    }
}

/// A sketch's quantile in whole ms.
fn quantile_ms(s: &Sketch, q: f64) -> Option<u64> {
    s.quantile(q).map(|v| v.round() as u64)
}

/// An arm as the stats API shows it: the errors the guards read, the upstream's TTFB, and
/// every configured metric (counts are units).
pub fn arm_view(arm: &Arm, metrics: &Metrics) -> Value {
    let (lo, hi) = wilson(arm.errors, arm.exposures, 1.96);
    let measured: serde_json::Map<String, Value> = metrics
        .iter()
        .map(|(name, m)| (name.clone(), json!(measure(m, &arm.tally))))
        .collect();
    json!({
        "exposures": arm.exposures,
        "errors": arm.errors,
        "clientErrors": arm.client_errors,
        "serverErrors": arm.server_errors,
        // One unit per net: what client-reported evidence may weigh.
        "nets": arm.tally.reps.as_ref().map_or(0, |r| r.units),
        "clientErrorNets": arm.tally.reps.as_ref().map_or(0, |r| r.client_error_units),
        "errorRate": rate(arm.errors, arm.exposures),
        "errorRateWilson95": (arm.exposures > 0).then_some([lo, hi]),
        "ttfbP50Ms": quantile_ms(&arm.tally.ttfb, 0.5),
        "ttfbP90Ms": quantile_ms(&arm.tally.ttfb, 0.9),
        "metrics": measured,
    })
}
