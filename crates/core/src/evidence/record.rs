//! What the edge itself observes, and how an isolate buffers it: an exposure whenever it hands a
//! visitor their own variant of a flag (a gated route's decision, an OFREP answer,
//! `/api/config`), and, for a gated route it passes through, what the upstream answered. Records
//! are merged (one per flag, variant, unit, minute and revision) and sent through the Queue by
//! count or age, in the `waitUntil` of the request that fills the buffer, so recording does no
//! I/O on the request path. Time is passed in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::evidence::unit::{Net, Unit};

/// Records that make a buffer due.
pub const FLUSH_RECORDS: usize = 256;
/// Age of the oldest buffered record that makes a buffer due, in ms.
pub const FLUSH_AGE_MS: u64 = 5_000;
/// The most records an isolate holds (when sending keeps failing, newer ones are dropped and
/// counted rather than memory growing without bound).
pub const MAX_BUFFERED: usize = 8 * FLUSH_RECORDS;

/// What the upstream answered one unit's passed-through requests in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// Requests passed through.
    #[serde(rename = "q")]
    pub requests: u32,
    /// Of them, answered 5xx or failed.
    #[serde(rename = "e")]
    pub server_errors: u32,
    /// Time to first byte of the first, in ms.
    #[serde(rename = "t", skip_serializing_if = "Option::is_none", default)]
    pub first_ttfb_ms: Option<u32>,
}

impl Upstream {
    /// One passed-through request: its status (`None`: the fetch failed) and time to first
    /// byte.
    pub fn one(status: Option<u16>, ttfb_ms: u32) -> Self {
        Upstream {
            requests: 1,
            server_errors: u32::from(status.is_none_or(|s| s >= 500)),
            first_ttfb_ms: Some(ttfb_ms),
        }
    }

    fn merge(&mut self, other: Upstream) {
        self.requests = self.requests.saturating_add(other.requests);
        self.server_errors = self.server_errors.saturating_add(other.server_errors);
        self.first_ttfb_ms = self.first_ttfb_ms.or(other.first_ttfb_ms);
    }
}

/// Where a sighting belongs: the flag, the variant the edge handed out, the unit, the minute,
/// and the revision of the flag set it evaluated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SightingKey {
    /// The flag.
    #[serde(rename = "f")]
    pub flag: String,
    /// The variant served.
    #[serde(rename = "v")]
    pub variant: String,
    /// The visitor.
    #[serde(rename = "u")]
    pub unit: Unit,
    /// Minute of the decision (ms since the epoch / 60 000).
    #[serde(rename = "m")]
    pub minute: u64,
    /// Revision of the flag set the edge evaluated.
    #[serde(rename = "r")]
    pub revision: u64,
    /// Placed outside the flag's random split (denied, allowlisted, a required flag off): the
    /// guards count the unit apart (`pilot_gate_core::flags::split`).
    #[serde(rename = "o", default, skip_serializing_if = "is_false")]
    pub outside: bool,
    /// The network the request came from ([`Net`]; `None` from an edge that did not stamp it).
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub net: Option<Net>,
    /// A unit first seen from its net beyond the net's per-minute cap: it got its page but enters
    /// no arm, and the evidence keeps no row for it (it is counted apart, as capped).
    #[serde(rename = "c", default, skip_serializing_if = "is_false")]
    pub capped: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// One merged record: a unit exposed to a variant in a minute, and what the upstream answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    /// Where it belongs.
    #[serde(rename = "k")]
    pub key: SightingKey,
    /// Passed-through requests (none for OFREP, `/api/config` and redirects).
    #[serde(rename = "o", skip_serializing_if = "is_default", default)]
    pub upstream: Upstream,
}

fn is_default(u: &Upstream) -> bool {
    *u == Upstream::default()
}

/// An isolate's buffer of sightings, merged by key.
#[derive(Debug, Clone, Default)]
pub struct Buffer {
    records: BTreeMap<SightingKey, Upstream>,
    oldest_ms: Option<u64>,
    dropped: u64,
}

impl Buffer {
    /// Adds a sighting at `now_ms`; merged into the record of its key when there is one. Past
    /// [`MAX_BUFFERED`] records a new key is dropped (and counted).
    pub fn add(&mut self, key: SightingKey, upstream: Upstream, now_ms: u64) {
        if let Some(u) = self.records.get_mut(&key) {
            u.merge(upstream);
            return;
        }
        if self.records.len() >= MAX_BUFFERED {
            self.dropped += 1;
            return;
        }
        self.records.insert(key, upstream);
        self.oldest_ms.get_or_insert(now_ms);
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether it should be sent now: [`FLUSH_RECORDS`] records, or the oldest
    /// [`FLUSH_AGE_MS`] old.
    pub fn due(&self, now_ms: u64) -> bool {
        self.records.len() >= FLUSH_RECORDS
            || self
                .oldest_ms
                .is_some_and(|t| now_ms.saturating_sub(t) >= FLUSH_AGE_MS)
    }

    /// Takes every record, and the number dropped since the last take.
    pub fn take(&mut self) -> (Vec<Sighting>, u64) {
        self.oldest_ms = None;
        let records = std::mem::take(&mut self.records)
            .into_iter()
            .map(|(key, upstream)| Sighting { key, upstream })
            .collect();
        (records, std::mem::take(&mut self.dropped))
    }

    /// Puts back records whose sending failed (merged with what arrived meanwhile), as far as
    /// the bound allows.
    pub fn put_back(&mut self, records: Vec<Sighting>, now_ms: u64) {
        for r in records {
            self.add(r.key, r.upstream, now_ms);
        }
    }
}

/// A client event from a unit, as a flag's evidence counts it (in the arm of the unit's own
/// exposure, whatever the client says).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitEvent {
    /// The sender.
    #[serde(rename = "u")]
    pub unit: Unit,
    /// Minute of receipt.
    #[serde(rename = "m")]
    pub minute: u64,
    /// The event's name (one a metric counts).
    #[serde(rename = "n")]
    pub name: String,
    /// The numeric props a metric reads, by name.
    #[serde(rename = "x", skip_serializing_if = "BTreeMap::is_empty", default)]
    pub values: BTreeMap<String, f64>,
    /// The network the beacon's request came from: the event counts only when it is the net of
    /// the unit's first exposure.
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    pub net: Option<Net>,
}

/// What one flag's evidence object is sent at once: the sightings and client events of a queue
/// batch for that flag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlagDelta {
    /// Units the edge exposed (and what the upstream answered them).
    #[serde(rename = "s", default)]
    pub sightings: Vec<Sighting>,
    /// Client events of exposed (or soon exposed) units.
    #[serde(rename = "e", default)]
    pub events: Vec<UnitEvent>,
}

impl FlagDelta {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.sightings.is_empty() && self.events.is_empty()
    }
}

/// The deltas of a batch, by flag.
pub type Deltas = BTreeMap<String, FlagDelta>;

/// Adds sightings to the deltas of their flags.
pub fn add_sightings(deltas: &mut Deltas, sightings: Vec<Sighting>) {
    for s in sightings {
        deltas
            .entry(s.key.flag.clone())
            .or_default()
            .sightings
            .push(s);
    }
}
