//! The worker's answers counted by route and status class: what `/metrics` shows as
//! `pilot_gate_responses_total` and the error-rate alert reads. Each isolate counts its own and
//! sends them to the control plane with the beacon's outcomes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::http::outcome::{Action, Outcome};
use crate::http::route::{AdminRoute, EventsRoute, OfrepRoute, Route};

/// The status classes, in the order of [`AnswerCounts`]' arrays.
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Every route label [`label`] gives, in a fixed order (pass-throughs are counted in JS by
/// their label's index here).
pub const LABELS: [&str; 11] = [
    "unknown",
    "healthz",
    "beacon",
    "events_admin",
    "config",
    "ofrep_stream",
    "ofrep",
    "admin_stream",
    "admin",
    "metrics",
    "page",
];

/// The index of `label` in [`LABELS`] (that of `unknown` for a label not there).
///
/// ```
/// use pilot_gate_core::http::answers::{label_index, LABELS};
/// assert_eq!(LABELS[label_index("page")], "page");
/// ```
pub fn label_index(label: &str) -> usize {
    LABELS.iter().position(|l| *l == label).unwrap_or(0)
}

/// The label of a route a request resolved to (`unknown` for one that resolved to none).
///
/// ```
/// use pilot_gate_core::http::answers::label;
/// use pilot_gate_core::http::route::{OfrepRoute, Route};
/// assert_eq!(label(Some(Route::Ofrep(OfrepRoute::Bulk))), "ofrep");
/// assert_eq!(label(None), "unknown");
/// ```
pub fn label(route: Option<Route>) -> &'static str {
    match route {
        None => "unknown",
        Some(Route::Healthz) => "healthz",
        Some(Route::Events(EventsRoute::Ingest | EventsRoute::Preflight)) => "beacon",
        Some(Route::Events(EventsRoute::List | EventsRoute::Delete)) => "events_admin",
        Some(Route::Config) => "config",
        Some(Route::Ofrep(OfrepRoute::Stream | OfrepRoute::StreamPreflight)) => "ofrep_stream",
        Some(Route::Ofrep(_)) => "ofrep",
        Some(Route::Admin(AdminRoute::Events)) => "admin_stream",
        Some(Route::Admin(_)) => "admin",
        Some(Route::Metrics) => "metrics",
        Some(Route::Page) => "page",
    }
}

/// The status the worker answers with itself; `None` for a pass-through (its upstream's).
pub fn status_of(outcome: &Outcome) -> Option<u16> {
    match &outcome.action {
        Action::PassThrough(_) => None,
        Action::Redirect(_) => Some(302),
        Action::Json(status, _) | Action::Status(status) => Some(*status),
        Action::NoContent => Some(204),
        Action::Text(..) => Some(200),
    }
}

/// Answers by route label and status class (`[1xx, 2xx, 3xx, 4xx, 5xx]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerCounts(pub BTreeMap<String, [u64; 5]>);

impl AnswerCounts {
    /// Counts `n` answers of `status` on `route`; a status outside 100..=599 is not counted.
    ///
    /// ```
    /// use pilot_gate_core::http::answers::AnswerCounts;
    /// let mut c = AnswerCounts::default();
    /// c.add("page", 503, 2);
    /// assert_eq!(c.0["page"], [0, 0, 0, 0, 2]);
    /// ```
    pub fn add(&mut self, route: &str, status: u16, n: u64) {
        let Some(class) = (status / 100).checked_sub(1).filter(|c| *c < 5) else {
            return;
        };
        if n == 0 {
            return;
        }
        // Counted on every answer: the route's key is allocated once, not per answer.
        match self.0.get_mut(route) {
            Some(counts) => counts[usize::from(class)] += n,
            None => {
                let mut counts = [0; 5];
                counts[usize::from(class)] = n;
                self.0.insert(route.to_owned(), counts);
            }
        }
    }

    /// Adds another isolate's (or flush's) counts.
    pub fn merge(&mut self, other: &AnswerCounts) {
        for (route, counts) in &other.0 {
            let mine = self.0.entry(route.clone()).or_default();
            for (m, o) in mine.iter_mut().zip(counts) {
                *m += o;
            }
        }
    }

    /// Whether nothing is counted.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(|c| c.iter().all(|n| *n == 0))
    }
}
