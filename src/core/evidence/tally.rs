//! Counting per unit. What the evidence knows of one unit for one flag in one window (a tier)
//! is a [`UnitState`]; what that unit adds to its arm is its [`Contribution`]; an arm's figures
//! are the sums of its units' contributions ([`Tally`]). When a fact changes a unit, the tally
//! takes its old contribution back and adds the new one, so:
//!
//! - a unit with a hundred errors is one unit with an error (facts that change nothing add
//!   nothing, which also makes redeliveries and re-sends harmless);
//! - a unit belongs to the arm of its first exposure in the window; one exposed to a second
//!   variant leaves its arm and is counted apart as mixed;
//! - a client event counts only for a unit exposed in the window (it may arrive first: it is
//!   kept on the unit and counts once the exposure does), once per name, and a TTV is the
//!   unit's first.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::core::evidence::record::Upstream;
use crate::core::evidence::sketch::{bucket_of, Sketch};
use crate::core::evidence::unit::Unit;

/// The client event that marks an error on the page.
pub const ERROR_EVENT: &str = "error";
/// The client event whose `ms` is the unit's time to value.
pub const TTV_EVENT: &str = "ttv";

/// One thing the evidence learns about a unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fact<'a> {
    /// The edge handed it `variant` (and maybe passed its request through).
    Exposed {
        /// The variant served.
        variant: &'a str,
        /// What the upstream answered, for a passed-through gated route.
        upstream: Upstream,
    },
    /// It sent a client event that a metric names (its value, for `ttv`).
    Event {
        /// The event's name.
        name: &'a str,
        /// Its numeric value, when it has one.
        value: Option<f64>,
    },
}

/// What the evidence knows of one unit for one flag in one window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitState {
    /// The variant of its first exposure (`None` until it is exposed).
    #[serde(rename = "a", skip_serializing_if = "Option::is_none", default)]
    pub arm: Option<String>,
    /// Exposed to a second variant in the window.
    #[serde(rename = "x", skip_serializing_if = "is_false", default)]
    pub mixed: bool,
    /// An upstream answered it 5xx or failed.
    #[serde(rename = "s", skip_serializing_if = "is_false", default)]
    pub server_error: bool,
    /// The names of the counted events it sent (each counts once).
    #[serde(rename = "e", skip_serializing_if = "BTreeSet::is_empty", default)]
    pub events: BTreeSet<String>,
    /// Its first time to value, in ms.
    #[serde(rename = "t", skip_serializing_if = "Option::is_none", default)]
    pub ttv_ms: Option<u64>,
    /// The upstream's first time to first byte for it, in ms.
    #[serde(rename = "b", skip_serializing_if = "Option::is_none", default)]
    pub ttfb_ms: Option<u32>,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl UnitState {
    /// Applies a fact; whether the state changed.
    pub fn apply(&mut self, fact: Fact<'_>) -> bool {
        let before = self.clone();
        match fact {
            Fact::Exposed { variant, upstream } => {
                match &self.arm {
                    None => self.arm = Some(variant.to_owned()),
                    Some(arm) if arm != variant => self.mixed = true,
                    Some(_) => {}
                }
                self.server_error |= upstream.server_errors > 0;
                self.ttfb_ms = self.ttfb_ms.or(upstream.first_ttfb_ms);
            }
            Fact::Event { name, value } => {
                if name == TTV_EVENT && self.ttv_ms.is_none() {
                    self.ttv_ms = value
                        .filter(|v| v.is_finite() && *v >= 0.0)
                        .map(|v| v as u64);
                }
                if !self.events.contains(name) {
                    self.events.insert(name.to_owned());
                }
            }
        }
        *self != before
    }

    /// What it adds to the tally: nothing until it is exposed.
    pub fn contribution(&self) -> Option<Contribution> {
        let arm = self.arm.clone()?;
        Some(Contribution {
            arm: if self.mixed { None } else { Some(arm) },
            error: self.server_error || self.events.contains(ERROR_EVENT),
            server_error: self.server_error,
            events: self.events.clone(),
            ttv_bucket: self.ttv_ms.and_then(|v| bucket_of(v as f64)),
            ttfb_bucket: self.ttfb_ms.and_then(|v| bucket_of(f64::from(v))),
        })
    }
}

/// What one exposed unit adds to its arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// Its arm (`None`: mixed, counted apart).
    pub arm: Option<String>,
    /// It had an error (a client `error` event or a server error).
    pub error: bool,
    /// It had a server error.
    pub server_error: bool,
    /// The counted events it sent.
    pub events: BTreeSet<String>,
    /// The sketch bucket of its TTV.
    pub ttv_bucket: Option<i32>,
    /// The sketch bucket of its upstream TTFB.
    pub ttfb_bucket: Option<i32>,
}

/// One arm's figures, over units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmTally {
    /// Exposed units.
    pub units: u64,
    /// Units with an error (client or server).
    pub error_units: u64,
    /// Units with a server error.
    pub server_error_units: u64,
    /// Units that sent each counted event.
    pub event_units: BTreeMap<String, u64>,
    /// One TTV per unit.
    pub ttv: Sketch,
    /// One upstream TTFB per unit.
    pub ttfb: Sketch,
}

/// A flag's arms (by variant) over one window, and its mixed units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// The arms.
    pub arms: BTreeMap<String, ArmTally>,
    /// Units exposed to more than one variant.
    pub mixed: u64,
}

impl Tally {
    /// Moves a unit from its contribution `before` to `after`.
    pub fn update(&mut self, before: Option<&Contribution>, after: Option<&Contribution>) {
        if before == after {
            return;
        }
        if let Some(c) = before {
            self.apply(c, false);
        }
        if let Some(c) = after {
            self.apply(c, true);
        }
    }

    fn apply(&mut self, c: &Contribution, add: bool) {
        let step = |n: &mut u64, on: bool| {
            if on {
                *n = if add { *n + 1 } else { n.saturating_sub(1) };
            }
        };
        let Some(arm) = &c.arm else {
            step(&mut self.mixed, true);
            return;
        };
        let a = self.arms.entry(arm.clone()).or_default();
        step(&mut a.units, true);
        step(&mut a.error_units, c.error);
        step(&mut a.server_error_units, c.server_error);
        for name in &c.events {
            step(a.event_units.entry(name.clone()).or_default(), true);
        }
        for (sketch, bucket) in [(&mut a.ttv, c.ttv_bucket), (&mut a.ttfb, c.ttfb_bucket)] {
            match (bucket, add) {
                (Some(b), true) => sketch.add_bucket(b, 1),
                (Some(b), false) => sketch.remove_bucket(b, 1),
                (None, _) => {}
            }
        }
    }
}

/// Per-unit states of one flag in one window and their tally, kept together so the two never
/// disagree (the in-memory form; a store keeps the same two things as rows).
#[derive(Debug, Clone, Default)]
pub struct Window {
    units: BTreeMap<Unit, UnitState>,
    tally: Tally,
}

impl Window {
    /// Applies a fact about `unit`; whether anything changed.
    pub fn apply(&mut self, unit: Unit, fact: Fact<'_>) -> bool {
        let state = self.units.entry(unit).or_default();
        let before = state.contribution();
        if !state.apply(fact) {
            return false;
        }
        let after = state.contribution();
        self.tally.update(before.as_ref(), after.as_ref());
        true
    }

    /// The figures so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Units known (exposed or not yet).
    pub fn units(&self) -> usize {
        self.units.len()
    }
}
