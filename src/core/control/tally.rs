//! What the guards and the stats API read of an arm: its figures over units, taken from the
//! evidence's per-unit tally. The launch's KPIs are named here (until metrics become
//! configuration): the events the evidence counts, and what each KPI divides.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::core::events::record::StoredEvent;
use crate::core::evidence::record::{Deltas, UnitEvent};
use crate::core::evidence::sketch::Sketch;
use crate::core::evidence::tally::{ArmTally, ERROR_EVENT, TTV_EVENT};

/// `mic_prompt`: the microphone permission was asked for.
pub const MIC_PROMPT: &str = "mic_prompt";
/// `mic_granted`: and granted.
pub const MIC_GRANTED: &str = "mic_granted";
/// `activated`: the visitor reached the product's value.
pub const ACTIVATED: &str = "activated";
/// The client events the evidence counts (once per unit each); others are stored but not
/// counted, so a client cannot grow the aggregates (or `/metrics`) with names of its own.
pub const COUNTED: [&str; 6] = [
    ERROR_EVENT,
    TTV_EVENT,
    MIC_PROMPT,
    MIC_GRANTED,
    "mic_denied",
    ACTIVATED,
];
/// Longest TTV kept, in ms (10 minutes); longer ones count at this value.
pub const MAX_TTV_MS: u64 = 600_000;

/// One arm's figures over a window, in units (visitors).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Arm {
    /// Exposed units.
    pub exposures: u64,
    /// Units with an error (a client `error` event or a server error).
    pub errors: u64,
    /// Units with a client `error` event.
    pub client_errors: u64,
    /// Units with a server error (the upstream answered 5xx or failed).
    pub server_errors: u64,
    /// Units whose requests an upstream answered.
    pub observed: u64,
    /// Units that were asked for the microphone.
    pub mic_prompts: u64,
    /// Units that granted it.
    pub mic_granted: u64,
    /// Units that reached the product's value.
    pub activated: u64,
    /// One TTV per unit, in ms.
    #[serde(skip)]
    pub ttv: Sketch,
    /// One upstream time to first byte per unit, in ms.
    #[serde(skip)]
    pub ttfb: Sketch,
}

impl Arm {
    /// The figures of a per-unit tally.
    pub fn of(t: &ArmTally) -> Self {
        let units = |name: &str| t.event_units.get(name).copied().unwrap_or(0);
        Arm {
            exposures: t.units,
            errors: t.error_units,
            client_errors: t.client_error_units,
            server_errors: t.server_error_units,
            observed: t.observed_units,
            mic_prompts: units(MIC_PROMPT),
            mic_granted: units(MIC_GRANTED),
            activated: units(ACTIVATED),
            ttv: t.ttv.clone(),
            ttfb: t.ttfb.clone(),
        }
    }
}

/// A flag's arms (by variant) over one window.
pub type Arms = BTreeMap<String, Arm>;

/// The arms of per-unit tallies.
pub fn arms_of(tallies: &BTreeMap<String, ArmTally>) -> Arms {
    tallies
        .iter()
        .map(|(v, t)| (v.clone(), Arm::of(t)))
        .collect()
}

/// Adds the counted events of one stored request to the deltas of the flags their sender
/// carries: only events from a signed identity (a unit), only names in [`COUNTED`], a TTV as
/// its `props.ms` (at most [`MAX_TTV_MS`]).
pub fn add_events(deltas: &mut Deltas, events: &[StoredEvent]) {
    for e in events {
        let Some(unit) = e.unit else { continue };
        if !COUNTED.contains(&e.event.name.as_str()) {
            continue;
        }
        let value = (e.event.name == TTV_EVENT)
            .then(|| e.event.props.get("ms").and_then(serde_json::Value::as_f64))
            .flatten()
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| ms.min(MAX_TTV_MS as f64));
        for flag in e.flags.keys() {
            deltas
                .entry(flag.clone())
                .or_default()
                .events
                .push(UnitEvent {
                    unit,
                    minute: e.received_at / 60_000,
                    name: e.event.name.clone(),
                    value,
                });
        }
    }
}
