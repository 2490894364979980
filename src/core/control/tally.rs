//! What the queue consumer reports to the control plane for each batch (one delta per batch),
//! and the per-arm counts that the object reads back over a window. The object counts an event
//! only the first time it sees its id, so the aggregates are exact under redelivery, client
//! re-sends and consumer retries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::events::record::{event_ref, StoredEvent};

/// `page_view`: one exposure of the sender to each of its flags' variants.
pub const PAGE_VIEW: &str = "page_view";
/// `error`: an error on the page.
pub const ERROR: &str = "error";
/// `ttv`: time to value, `props.ms`.
pub const TTV: &str = "ttv";
/// `mic_prompt`: the microphone permission was asked for.
pub const MIC_PROMPT: &str = "mic_prompt";
/// `mic_granted`: and granted.
pub const MIC_GRANTED: &str = "mic_granted";
/// `activated`: the visitor reached the product's value.
pub const ACTIVATED: &str = "activated";
/// The event names the control plane counts; others are stored but not aggregated, so a client
/// cannot grow the aggregates (or `/metrics`) with names of its own.
pub const COUNTED: [&str; 7] = [
    PAGE_VIEW,
    ERROR,
    TTV,
    MIC_PROMPT,
    MIC_GRANTED,
    ACTIVATED,
    "mic_denied",
];
/// Longest TTV sample kept, in ms (10 minutes); longer ones count at this value.
pub const MAX_TTV_MS: u64 = 600_000;

/// A name and the sender's variants: what a group of events shares.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    /// The event name (one of [`COUNTED`]).
    pub name: String,
    /// The sender's variant of each flag, as the edge evaluated it at receipt.
    pub flags: BTreeMap<String, String>,
}

/// One event, by reference to its [`Key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    /// The event's storage key (`ev:<reversed ts>:<id>`): the same event always has the same.
    pub id: String,
    /// Minute of receipt (ms since the epoch / 60 000).
    pub minute: u64,
    /// Index into [`Delta::keys`].
    pub key: usize,
    /// For `ttv`: the sample, in ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ttv_ms: Option<u64>,
}

/// One queue batch's report: the groups, the events, and the accepted requests they came in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Distinct (name, variants) groups.
    pub keys: Vec<Key>,
    /// Every counted event of the batch.
    pub events: Vec<Counted>,
    /// The request ids of the accepted requests in the batch (for `/metrics`).
    pub requests: Vec<String>,
}

impl Delta {
    /// Adds the events of one stored request; events of names not in [`COUNTED`] and events
    /// of senders without flags are skipped.
    pub fn add(&mut self, events: &[StoredEvent]) {
        let mut index: BTreeMap<Key, usize> = self
            .keys
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect();
        for e in events {
            if !self.requests.contains(&e.request_id) {
                self.requests.push(e.request_id.clone());
            }
            if !COUNTED.contains(&e.event.name.as_str()) || e.flags.is_empty() {
                continue;
            }
            let key = Key {
                name: e.event.name.clone(),
                flags: e.flags.clone(),
            };
            let i = *index.entry(key.clone()).or_insert_with(|| {
                self.keys.push(key);
                self.keys.len() - 1
            });
            let ttv_ms = (e.event.name == TTV)
                .then(|| e.event.props.get("ms").and_then(serde_json::Value::as_f64))
                .flatten()
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .map(|ms| (ms as u64).min(MAX_TTV_MS));
            self.events.push(Counted {
                id: event_ref(e.event.ts, &e.event.id),
                minute: e.received_at / 60_000,
                key: i,
                ttv_ms,
            });
        }
    }

    /// Whether there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.requests.is_empty()
    }
}

/// What a delta adds to the aggregates once the events counted before are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Increments {
    /// Events by (flag, minute, variant, name).
    pub counts: BTreeMap<(String, u64, String, String), u64>,
    /// TTV samples: (flag, minute, variant, ms).
    pub ttv: Vec<(String, u64, String, u64)>,
    /// Accepted requests not counted before.
    pub accepted: u64,
}

impl Increments {
    /// The flags whose counts change.
    pub fn flags(&self) -> Vec<String> {
        let mut flags: Vec<String> = self.counts.keys().map(|k| k.0.clone()).collect();
        flags.dedup();
        flags
    }
}

impl Delta {
    /// The increments of this delta: `first_time(id)` says (and remembers) whether an id is
    /// counted for the first time; events and requests seen before add nothing. Request ids
    /// are asked as `req:<id>`.
    pub fn increments<E>(
        &self,
        mut first_time: impl FnMut(&str) -> Result<bool, E>,
    ) -> Result<Increments, E> {
        let mut out = Increments::default();
        for request in &self.requests {
            out.accepted += u64::from(first_time(&format!("req:{request}"))?);
        }
        for e in &self.events {
            let Some(key) = self.keys.get(e.key) else {
                continue;
            };
            if !first_time(&e.id)? {
                continue;
            }
            for (flag, variant) in &key.flags {
                *out.counts
                    .entry((flag.clone(), e.minute, variant.clone(), key.name.clone()))
                    .or_default() += 1;
                if let Some(ms) = e.ttv_ms {
                    out.ttv.push((flag.clone(), e.minute, variant.clone(), ms));
                }
            }
        }
        Ok(out)
    }
}

/// One arm's counts over a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Arm {
    /// `page_view` events.
    pub exposures: u64,
    /// `error` events.
    pub errors: u64,
    /// `mic_prompt` events.
    pub mic_prompts: u64,
    /// `mic_granted` events.
    pub mic_granted: u64,
    /// `activated` events.
    pub activated: u64,
    /// TTV samples, sorted, in ms.
    #[serde(skip)]
    pub ttv_ms: Vec<u64>,
}

impl Arm {
    /// Adds `n` events named `name`.
    pub fn add(&mut self, name: &str, n: u64) {
        match name {
            PAGE_VIEW => self.exposures += n,
            ERROR => self.errors += n,
            MIC_PROMPT => self.mic_prompts += n,
            MIC_GRANTED => self.mic_granted += n,
            ACTIVATED => self.activated += n,
            _ => {}
        }
    }
}

/// A flag's arms (by variant) over one window.
pub type Arms = BTreeMap<String, Arm>;

/// Stored counts: `(minute, variant, name, n)`.
pub type CountRows = Vec<(u64, String, String, u64)>;
/// Stored TTV samples: `(minute, variant, ms)`.
pub type TtvRows = Vec<(u64, String, u64)>;

/// Arms from stored rows, grouped by `group(minute)` (rows it gives `None` are left out), in one
/// pass; TTV samples sorted.
pub fn arms_by<K: Ord>(
    counts: &[(u64, String, String, u64)],
    ttv: &[(u64, String, u64)],
    group: impl Fn(u64) -> Option<K>,
) -> BTreeMap<K, Arms> {
    let mut out: BTreeMap<K, Arms> = BTreeMap::new();
    for (minute, variant, name, n) in counts {
        if let Some(k) = group(*minute) {
            out.entry(k)
                .or_default()
                .entry(variant.clone())
                .or_default()
                .add(name, *n);
        }
    }
    for (minute, variant, ms) in ttv {
        if let Some(k) = group(*minute) {
            out.entry(k)
                .or_default()
                .entry(variant.clone())
                .or_default()
                .ttv_ms
                .push(*ms);
        }
    }
    for arm in out.values_mut().flat_map(|arms| arms.values_mut()) {
        arm.ttv_ms.sort_unstable();
    }
    out
}

/// The arms of the rows from `from_minute` on.
pub fn arms_since(
    counts: &[(u64, String, String, u64)],
    ttv: &[(u64, String, u64)],
    from_minute: u64,
) -> Arms {
    arms_by(counts, ttv, |m| (m >= from_minute).then_some(()))
        .remove(&())
        .unwrap_or_default()
}
