//! Counting per unit. What the evidence knows of one unit for one flag in one window (a tier)
//! is a [`UnitState`]; what that unit adds to its arm is its [`Contribution`]; an arm's figures
//! are the sums of its units' contributions ([`Tally`]). When a fact changes a unit, the tally
//! takes its old contribution back and adds the new one, so:
//!
//! - a unit with a hundred errors is one unit with an error (facts that change nothing add
//!   nothing, which also makes redeliveries and re-sends harmless);
//! - a unit belongs to the arm of its first exposure in the window; one exposed to a second
//!   variant leaves its arm and is counted apart as mixed; one that an allow- or deny-list or
//!   `requires` placed (outside the random split) is counted apart as outside;
//! - a client event counts only for a unit exposed in the window (it may arrive first: it is
//!   kept on the unit and counts once the exposure does), once per name, and a value (a prop
//!   that a metric reads) is the unit's first.
//!
//! An arm counts, besides units with each event, units with each pair of events (so a
//! proportion counts its numerator among its denominator's units), and a sketch per value.
//! What a unit contributes depends on its state alone, never on the metrics' definitions, so
//! a contribution taken back is always the one that was added.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::evidence::metric::{value_key, ERROR, SERVER_ERROR};
use crate::evidence::record::{FlagDelta, Sighting, Upstream};
use crate::evidence::sketch::{bucket_of, Sketch};
use crate::evidence::unit::{Net, Unit};

/// The client event that marks an error on the page.
pub const ERROR_EVENT: &str = "error";

/// The longest error delay (minutes after the unit's first exposure) that the tally tells
/// apart: later errors are counted together, one minute past it. The breaker's tenure is at
/// most this.
pub const MAX_TENURE_MIN: u64 = 60;

/// One thing the evidence learns about a unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fact<'a> {
    /// The edge handed it `variant` (and maybe passed its request through).
    Exposed {
        /// The variant served.
        variant: &'a str,
        /// The minute it was served.
        minute: u64,
        /// What the upstream answered, for a passed-through gated route.
        upstream: Upstream,
        /// Placed outside the flag's random split (denied, allowlisted, a required flag off).
        outside: bool,
        /// The network the request came from.
        net: Option<Net>,
    },
    /// It sent a client event that a metric names.
    Event {
        /// The event's name.
        name: &'a str,
        /// The numeric props a metric reads, by name.
        values: &'a BTreeMap<String, f64>,
        /// The minute it was received.
        minute: u64,
        /// The network the beacon's request came from.
        net: Option<Net>,
    },
}

/// What the evidence knows of one unit for one flag in one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitState {
    /// The variant of its first exposure (`None` until it is exposed).
    #[serde(rename = "a", skip_serializing_if = "Option::is_none", default)]
    pub arm: Option<String>,
    /// The minute of its first exposure (where the per-minute series count it).
    #[serde(rename = "m", skip_serializing_if = "Option::is_none", default)]
    pub first_minute: Option<u64>,
    /// Exposed to a second variant in the window.
    #[serde(rename = "x", skip_serializing_if = "is_false", default)]
    pub mixed: bool,
    /// Placed outside the random split (by an allow- or deny-list or `requires`).
    #[serde(rename = "o", skip_serializing_if = "is_false", default)]
    pub outside: bool,
    /// An upstream answered it 5xx or failed.
    #[serde(rename = "s", skip_serializing_if = "is_false", default)]
    pub server_error: bool,
    /// The minute of its first server error.
    #[serde(rename = "sm", skip_serializing_if = "Option::is_none", default)]
    pub server_error_minute: Option<u64>,
    /// The names of the counted events it sent (each counts once).
    #[serde(rename = "e", skip_serializing_if = "BTreeSet::is_empty", default)]
    pub events: BTreeSet<String>,
    /// The minute its first counted client `error` event was received.
    #[serde(rename = "cm", skip_serializing_if = "Option::is_none", default)]
    pub client_error_minute: Option<u64>,
    /// Its first value of each prop a metric reads, by `event.prop`.
    #[serde(rename = "v", skip_serializing_if = "BTreeMap::is_empty", default)]
    pub values: BTreeMap<String, f64>,
    /// The upstream's first time to first byte for it, in ms.
    #[serde(rename = "b", skip_serializing_if = "Option::is_none", default)]
    pub ttfb_ms: Option<u32>,
    /// Its net: its first exposure's, or, until it is exposed, the net of the events it sent
    /// first (events from any other net are not its own).
    #[serde(rename = "n", skip_serializing_if = "Option::is_none", default)]
    pub net: Option<Net>,
    /// The first unit of its net in its arm in this window: it alone speaks for the net when
    /// client evidence is weighed.
    #[serde(rename = "r", skip_serializing_if = "is_false", default)]
    pub rep: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// Whether a net's first unit in an arm is still to be named: called once per unit, at its
/// first exposure in the window; `true` makes it the net's representative there.
pub type Claim<'c> = &'c mut dyn FnMut(Net, &str) -> bool;

impl UnitState {
    /// Applies a fact; whether the state changed. `claim` names a net's representative in an
    /// arm (see [`Claim`]).
    pub fn apply(&mut self, fact: Fact<'_>, claim: Claim<'_>) -> bool {
        let before = self.clone();
        match fact {
            Fact::Exposed {
                variant,
                minute,
                upstream,
                outside,
                net,
            } => {
                self.outside |= outside;
                match &self.arm {
                    None => {
                        // Events sent before the exposure from another net are not its own.
                        if self.net.is_some() && self.net != net {
                            self.events.clear();
                            self.values.clear();
                            self.client_error_minute = None;
                        }
                        self.arm = Some(variant.to_owned());
                        self.first_minute = Some(minute);
                        self.net = net;
                        self.rep = match net {
                            Some(n) if !self.outside => claim(n, variant),
                            _ => false,
                        };
                    }
                    Some(arm) if arm != variant => self.mixed = true,
                    Some(_) => {}
                }
                if upstream.server_errors > 0 && !self.server_error {
                    self.server_error = true;
                    self.server_error_minute = Some(minute);
                }
                self.ttfb_ms = self.ttfb_ms.or(upstream.first_ttfb_ms);
            }
            Fact::Event {
                name,
                values,
                minute,
                net,
            } => {
                if self.arm.is_none() && self.net.is_none() {
                    self.net = net;
                }
                if net != self.net {
                    return false;
                }
                for (prop, v) in values.iter().filter(|(_, v)| v.is_finite() && **v >= 0.0) {
                    self.values.entry(value_key(name, prop)).or_insert(*v);
                }
                if !self.events.contains(name) {
                    self.events.insert(name.to_owned());
                    if name == ERROR_EVENT {
                        self.client_error_minute = Some(minute);
                    }
                }
            }
        }
        *self != before
    }

    /// Applies a fact and answers how the unit's contribution moved (before, after), or `None`
    /// when the fact changed nothing.
    pub fn learn(
        &mut self,
        fact: Fact<'_>,
        claim: Claim<'_>,
    ) -> Option<(Option<Contribution>, Option<Contribution>)> {
        let before = self.contribution();
        self.apply(fact, claim)
            .then(|| (before, self.contribution()))
    }

    /// What it adds to the tally: nothing until it is exposed.
    pub fn contribution(&self) -> Option<Contribution> {
        let arm = self.arm.clone()?;
        let first = self.first_minute.unwrap_or(0);
        let client_error = self.events.contains(ERROR_EVENT);
        let delay = |m: Option<u64>| m.map(|m| m.saturating_sub(first).min(MAX_TENURE_MIN + 1));
        let in_arm = !self.mixed && !self.outside;
        Some(Contribution {
            arm: in_arm.then_some(arm),
            outside: self.outside && !self.mixed,
            minute: first,
            error: self.server_error || client_error,
            client_error,
            server_error: self.server_error,
            server_error_delay_min: delay(self.server_error_minute.filter(|_| self.server_error)),
            client_error_delay_min: delay(self.client_error_minute.filter(|_| client_error)),
            observed: self.ttfb_ms.is_some(),
            events: self.events.clone(),
            value_buckets: self
                .values
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), bucket_of(*v)?)))
                .collect(),
            ttfb_bucket: self.ttfb_ms.and_then(|v| bucket_of(f64::from(v))),
            rep: self.rep && in_arm,
        })
    }
}

/// What one exposed unit adds to its arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// Its arm (`None`: mixed or outside the split, counted apart).
    pub arm: Option<String>,
    /// Outside the random split (and not mixed).
    pub outside: bool,
    /// The minute of its first exposure.
    pub minute: u64,
    /// It had an error (a client `error` event or a server error).
    pub error: bool,
    /// It sent a client `error` event.
    pub client_error: bool,
    /// It had a server error.
    pub server_error: bool,
    /// Minutes from its first exposure to its first server error (at most
    /// [`MAX_TENURE_MIN`] + 1).
    pub server_error_delay_min: Option<u64>,
    /// Minutes from its first exposure to its first client `error` event (likewise).
    pub client_error_delay_min: Option<u64>,
    /// An upstream answered it at least once (the edge passed a request of it through).
    pub observed: bool,
    /// The counted events it sent.
    pub events: BTreeSet<String>,
    /// The sketch bucket of each of its values, by `event.prop`.
    pub value_buckets: BTreeMap<String, i32>,
    /// The sketch bucket of its upstream TTFB.
    pub ttfb_bucket: Option<i32>,
    /// It speaks for its net in its arm (see [`UnitState::rep`]).
    pub rep: bool,
}

impl Contribution {
    /// The names it holds for pairs: its events, and `$error`, `$server_error` when it had one.
    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.events.iter().map(String::as_str).collect();
        if self.error {
            names.push(ERROR);
        }
        if self.server_error {
            names.push(SERVER_ERROR);
        }
        names
    }

    /// The pairs of names it holds, by [`pair_key`].
    fn pairs(&self) -> Vec<String> {
        let names = self.names();
        let mut out = Vec::new();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                out.push(pair_key(a, b));
            }
        }
        out
    }
}

/// The key of a pair of names in [`ArmTally::pair_units`], the same in either order.
pub fn pair_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}&{b}")
    } else {
        format!("{b}&{a}")
    }
}

/// One arm's figures, over units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArmTally {
    /// Exposed units.
    pub units: u64,
    /// Units with an error (client or server).
    pub error_units: u64,
    /// Units with a client `error` event.
    pub client_error_units: u64,
    /// Units with a server error.
    pub server_error_units: u64,
    /// Units an upstream answered (their requests were passed through).
    pub observed_units: u64,
    /// Units that sent each counted event.
    pub event_units: BTreeMap<String, u64>,
    /// Units with both of a pair of events (or `$error`, `$server_error`), by [`pair_key`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pair_units: BTreeMap<String, u64>,
    /// One value per unit of each prop a metric reads, by `event.prop`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, Sketch>,
    /// One upstream TTFB per unit.
    pub ttfb: Sketch,
    /// Units with a server error, by minutes from their first exposure to it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub server_error_delays: BTreeMap<u64, u64>,
    /// Units with a client `error` event, by minutes from their first exposure to it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub client_error_delays: BTreeMap<u64, u64>,
    /// The same figures over one unit per net: each net's first unit in the arm (what client
    /// evidence may weigh; `None` until the arm has one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reps: Option<Box<ArmTally>>,
}

/// A flag's arms (by variant) over one window, and the units counted apart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// The arms: units the random split placed.
    pub arms: BTreeMap<String, ArmTally>,
    /// Units exposed to more than one variant.
    pub mixed: u64,
    /// Units placed outside the random split (denied, allowlisted, a required flag off).
    #[serde(default)]
    pub outside: u64,
    /// Sightings of units first seen from their net beyond its per-minute cap: in no arm and
    /// with no row of their own, so they are sightings, not distinct units.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub capped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a flag's evidence object reports for `/metrics`: its tally over the current window and
/// the size of its storage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceFigures {
    /// The arms and mixed units of the current window.
    pub tally: Tally,
    /// The object's SQLite database, in bytes (an object may hold 10 GB).
    pub storage_bytes: u64,
}

impl ArmTally {
    /// Adds (`add`) or takes back one unit's contribution (to [`ArmTally::reps`] as well, when
    /// it speaks for its net).
    pub fn step(&mut self, c: &Contribution, add: bool) {
        self.step_own(c, add);
        if c.rep {
            self.reps.get_or_insert_default().step_own(c, add);
        }
    }

    /// The figures of one unit per net (empty when none).
    pub fn reps(&self) -> ArmTally {
        self.reps.as_deref().cloned().unwrap_or_default()
    }

    /// Units with an error of this kind (`server`: a server error, else a client `error`
    /// event) within `tenure_min` of their first exposure.
    pub fn errors_within(&self, server: bool, tenure_min: u64) -> u64 {
        let delays = if server {
            &self.server_error_delays
        } else {
            &self.client_error_delays
        };
        delays.range(..=tenure_min).map(|(_, n)| n).sum()
    }

    fn step_own(&mut self, c: &Contribution, add: bool) {
        let step = |n: &mut u64, on: bool| {
            if on {
                *n = if add { *n + 1 } else { n.saturating_sub(1) };
            }
        };
        step(&mut self.units, true);
        step(&mut self.error_units, c.error);
        step(&mut self.client_error_units, c.client_error);
        step(&mut self.server_error_units, c.server_error);
        step(&mut self.observed_units, c.observed);
        let count = |map: &mut BTreeMap<String, u64>, key: String| {
            let n = map.entry(key.clone()).or_default();
            step(n, true);
            if *n == 0 {
                map.remove(&key);
            }
        };
        for name in &c.events {
            count(&mut self.event_units, name.clone());
        }
        if let Some(d) = c.server_error_delay_min {
            count_at(&mut self.server_error_delays, d, add);
        }
        if let Some(d) = c.client_error_delay_min {
            count_at(&mut self.client_error_delays, d, add);
        }
        for key in c.pairs() {
            count(&mut self.pair_units, key);
        }
        let value = |sketch: &mut Sketch, b: i32| {
            if add {
                sketch.add_bucket(b, 1);
            } else {
                sketch.remove_bucket(b, 1);
            }
        };
        for (key, &b) in &c.value_buckets {
            let sketch = self.values.entry(key.clone()).or_default();
            value(sketch, b);
            if sketch.count() == 0 {
                self.values.remove(key);
            }
        }
        if let Some(b) = c.ttfb_bucket {
            value(&mut self.ttfb, b);
        }
    }

    /// Adds every unit of `other` (for windows and roll-ups).
    pub fn merge(&mut self, other: &ArmTally) {
        self.units += other.units;
        self.error_units += other.error_units;
        self.client_error_units += other.client_error_units;
        self.server_error_units += other.server_error_units;
        self.observed_units += other.observed_units;
        for (name, n) in &other.event_units {
            *self.event_units.entry(name.clone()).or_default() += n;
        }
        for (key, n) in &other.pair_units {
            *self.pair_units.entry(key.clone()).or_default() += n;
        }
        for (key, sketch) in &other.values {
            self.values.entry(key.clone()).or_default().merge(sketch);
        }
        self.ttfb.merge(&other.ttfb);
        for (d, n) in &other.server_error_delays {
            *self.server_error_delays.entry(*d).or_default() += n;
        }
        for (d, n) in &other.client_error_delays {
            *self.client_error_delays.entry(*d).or_default() += n;
        }
        if let Some(r) = &other.reps {
            self.reps.get_or_insert_default().merge(r);
        }
    }
}

/// Adds one to (or takes one from) a count kept by key, removing it at 0.
fn count_at(map: &mut BTreeMap<u64, u64>, key: u64, add: bool) {
    let n = map.entry(key).or_default();
    *n = if add { *n + 1 } else { n.saturating_sub(1) };
    if *n == 0 {
        map.remove(&key);
    }
}

impl Tally {
    /// Moves a unit from its contribution `before` to `after`.
    pub fn update(&mut self, before: Option<&Contribution>, after: Option<&Contribution>) {
        if before == after {
            return;
        }
        for (c, add) in [(before, false), (after, true)] {
            let Some(c) = c else { continue };
            let apart = if c.outside {
                &mut self.outside
            } else {
                &mut self.mixed
            };
            match &c.arm {
                Some(arm) => self.arms.entry(arm.clone()).or_default().step(c, add),
                None if add => *apart += 1,
                None => *apart = apart.saturating_sub(1),
            }
        }
    }
}

/// The per-minute series of one window: each unit counts in the minute of its first exposure,
/// with everything it has done since, so the units "first seen in the last hour" and their
/// errors are a sum of the last 60 minutes.
pub type Series = BTreeMap<(u64, String), ArmTally>;

/// Moves a unit in a series from its contribution `before` to `after` (mixed units are not
/// in the series).
pub fn update_series(
    series: &mut Series,
    before: Option<&Contribution>,
    after: Option<&Contribution>,
) {
    if before == after {
        return;
    }
    for (c, add) in [(before, false), (after, true)] {
        if let Some((c, arm)) = c.and_then(|c| Some((c, c.arm.as_ref()?))) {
            series
                .entry((c.minute, arm.clone()))
                .or_default()
                .step(c, add);
        }
    }
}

/// The arms of the series' minutes from `from_minute` on, summed.
pub fn arms_since(series: &Series, from_minute: u64) -> BTreeMap<String, ArmTally> {
    let mut out: BTreeMap<String, ArmTally> = BTreeMap::new();
    for ((_, arm), t) in series.range((from_minute, String::new())..) {
        out.entry(arm.clone()).or_default().merge(t);
    }
    out
}

/// Per-unit states of one flag in one window and their tally, kept together so the two never
/// disagree (the in-memory form; a store keeps the same things as rows).
#[derive(Debug, Clone, Default)]
pub struct Window {
    units: BTreeMap<Unit, UnitState>,
    tally: Tally,
    series: Series,
    /// The nets that have a representative, by arm.
    nets: BTreeSet<(Net, String)>,
}

impl Window {
    /// Applies a fact about `unit`; whether anything changed.
    pub fn apply(&mut self, unit: Unit, fact: Fact<'_>) -> bool {
        let nets = &mut self.nets;
        let mut claim = |net: Net, arm: &str| nets.insert((net, arm.to_owned()));
        let state = self.units.entry(unit).or_default();
        let Some((before, after)) = state.learn(fact, &mut claim) else {
            return false;
        };
        self.tally.update(before.as_ref(), after.as_ref());
        update_series(&mut self.series, before.as_ref(), after.as_ref());
        true
    }

    /// Applies a flag's delta to the window that began at `tier_revision` (see [`facts_of`]);
    /// how many facts changed something.
    pub fn apply_delta(&mut self, delta: &FlagDelta, tier_revision: u64) -> usize {
        self.tally.capped += capped_of(delta, tier_revision);
        facts_of(delta, tier_revision)
            .filter(|(unit, fact)| self.apply(*unit, *fact))
            .count()
    }

    /// The per-minute series so far.
    pub fn series(&self) -> &Series {
        &self.series
    }

    /// The figures so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Units known (exposed or not yet).
    pub fn units(&self) -> usize {
        self.units.len()
    }

    /// What is known of `unit`.
    pub fn unit(&self, unit: Unit) -> Option<&UnitState> {
        self.units.get(&unit)
    }
}

/// Whether a sighting is this window's: served under the window's revision or a later one (the
/// edge's cache may still hold the old split for a few seconds).
fn in_window(s: &Sighting, tier_revision: u64) -> bool {
    s.key.revision >= tier_revision
}

/// The facts a flag's delta teaches the window that began at the flag set's `tier_revision`:
/// sightings served under an older revision are not this window's, nor are capped units'
/// (counted apart, [`capped_of`]); events always are (their unit's own exposure decides where
/// they count).
pub fn facts_of(delta: &FlagDelta, tier_revision: u64) -> impl Iterator<Item = (Unit, Fact<'_>)> {
    let sightings = delta
        .sightings
        .iter()
        .filter(move |s| in_window(s, tier_revision) && !s.key.capped)
        .map(|s| {
            let fact = Fact::Exposed {
                variant: &s.key.variant,
                minute: s.key.minute,
                upstream: s.upstream,
                outside: s.key.outside,
                net: s.key.net,
            };
            (s.key.unit, fact)
        });
    let events = delta.events.iter().map(|e| {
        let fact = Fact::Event {
            name: &e.name,
            values: &e.values,
            minute: e.minute,
            net: e.net,
        };
        (e.unit, fact)
    });
    sightings.chain(events)
}

/// The sightings of capped units in a delta that are the window's (see [`SightingKey::capped`](crate::evidence::record::SightingKey::capped)).
pub fn capped_of(delta: &FlagDelta, tier_revision: u64) -> u64 {
    delta
        .sightings
        .iter()
        .filter(|s| in_window(s, tier_revision) && s.key.capped)
        .count() as u64
}
