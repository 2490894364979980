//! What the guards and the stats API read of an arm: its figures over units, taken from the
//! evidence's per-unit tally, and the client events the consumer passes on to the evidence
//! (only those that a configured metric names).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::events::record::StoredEvent;
use crate::evidence::metric::Reads;
use crate::evidence::record::{Deltas, UnitEvent};
use crate::evidence::tally::ArmTally;

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
    /// Everything counted, for the configured metrics
    /// ([`measure`](crate::control::measure::measure)).
    #[serde(skip)]
    pub tally: ArmTally,
}

impl Arm {
    /// The figures of a per-unit tally.
    pub fn of(t: &ArmTally) -> Self {
        Arm {
            exposures: t.units,
            errors: t.error_units,
            client_errors: t.client_error_units,
            server_errors: t.server_error_units,
            observed: t.observed_units,
            tally: t.clone(),
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
/// carries: only events from a signed identity (a unit), only names that `reads` counts, with
/// the numeric props it reads (finite and at least 0; others are left out).
pub fn add_events(deltas: &mut Deltas, events: &[StoredEvent], reads: &Reads) {
    for e in events {
        let Some(unit) = e.unit else { continue };
        if !reads.events.contains(&e.event.name) {
            continue;
        }
        let values: BTreeMap<String, f64> = reads
            .props
            .get(&e.event.name)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let v = e.event.props.get(p)?.as_f64()?;
                (v.is_finite() && v >= 0.0).then(|| (p.clone(), v))
            })
            .collect();
        for flag in e.flags.keys() {
            deltas
                .entry(flag.clone())
                .or_default()
                .events
                .push(UnitEvent {
                    unit,
                    minute: e.received_at / 60_000,
                    name: e.event.name.clone(),
                    values: values.clone(),
                    net: e.net,
                });
        }
    }
}
