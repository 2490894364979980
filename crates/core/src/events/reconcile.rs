//! Reconciliation: what `EVENTS_KV` holds against what the control plane counted, per minute of
//! `received_at`. The consumer tells the control plane how many events it stored (and acked)
//! per minute; an hourly Cron Trigger counts the events the keys of a window hold (from the
//! list pages' metadata alone), and the control plane compares the two hour by hour into a
//! drift ratio for
//! `/metrics`, the stats API and the dashboard. A window is the previous hour and the current
//! one up to [`SETTLE_MS`] before the run; a scan that would pass [`LIST_BUDGET`] list calls
//! stops with a cursor and the next run goes on from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::listing::KV_OPS_PER_INVOCATION;
use crate::events::record::REQUEST_KEY_PREFIX;

/// One minute, in ms.
pub const MINUTE_MS: u64 = 60_000;
/// One hour, in ms.
pub const HOUR_MS: u64 = 3_600_000;
/// How long before a run a request must have been accepted to be in its window: its events
/// are stored and counted by then.
pub const SETTLE_MS: u64 = 60_000;
/// How many minutes of counts the control plane keeps (two days).
pub const KEEP_MINUTES: u64 = 48 * 60;
/// KV list calls one run may make: the platform's 1,000 operations per invocation, less a
/// margin (a run makes no other KV call).
pub const LIST_BUDGET: usize = KV_OPS_PER_INVOCATION - 100;
/// Keys one list call returns at most.
pub const LIST_PAGE_KEYS: usize = 1000;
const MAX_KEY_TS_MS: u64 = 9_999_999_999_999;

/// The minute (since the epoch) of a time in ms.
pub fn minute_of(ms: u64) -> u64 {
    ms / MINUTE_MS
}

/// The `received_at` a request key names (`req:<13 digits reversed>:<id>`).
///
/// ```
/// use pilot_gate_core::events::reconcile::received_at_of_key;
/// use pilot_gate_core::events::record::request_key;
/// assert_eq!(received_at_of_key(&request_key(1_700_000_123_456, "r")), Some(1_700_000_123_456));
/// assert_eq!(received_at_of_key("ev:1:x"), None);
/// ```
pub fn received_at_of_key(key: &str) -> Option<u64> {
    let digits = key.strip_prefix(REQUEST_KEY_PREFIX)?.get(..13)?;
    let reversed: u64 = digits.parse().ok()?;
    MAX_KEY_TS_MS.checked_sub(reversed)
}

/// A window of `received_at`, `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    /// Its start, ms.
    pub from_ms: u64,
    /// Its end (excluded), ms: whole minutes, so both sides count the same requests.
    pub to_ms: u64,
}

impl Window {
    /// The window of a run at `now_ms`: from the start of the previous hour to [`SETTLE_MS`]
    /// before the run, in whole minutes.
    ///
    /// ```
    /// use pilot_gate_core::events::reconcile::{Window, HOUR_MS};
    /// let w = Window::of_run(10 * HOUR_MS + 30 * 60_000);
    /// assert_eq!((w.from_ms, w.to_ms), (9 * HOUR_MS, 10 * HOUR_MS + 29 * 60_000));
    /// ```
    pub fn of_run(now_ms: u64) -> Self {
        let to_ms = minute_of(now_ms.saturating_sub(SETTLE_MS)) * MINUTE_MS;
        let from_ms = (now_ms / HOUR_MS).saturating_sub(1) * HOUR_MS;
        Self {
            from_ms: from_ms.min(to_ms),
            to_ms,
        }
    }

    /// Whether a request accepted at `ms` is in the window.
    pub fn holds(&self, ms: u64) -> bool {
        (self.from_ms..self.to_ms).contains(&ms)
    }

    /// The minutes of the window.
    pub fn minutes(&self) -> std::ops::Range<u64> {
        minute_of(self.from_ms)..minute_of(self.to_ms)
    }

    /// The KV list prefix that holds every key of the window (and maybe keys around it, which
    /// [`Window::holds`] sets aside): the common start of its first and last keys.
    ///
    /// ```
    /// use pilot_gate_core::events::reconcile::Window;
    /// use pilot_gate_core::events::record::request_key;
    /// let w = Window { from_ms: 1_700_000_000_000, to_ms: 1_700_003_600_000 };
    /// let p = w.prefix();
    /// assert!(request_key(w.from_ms, "a").starts_with(&p));
    /// assert!(request_key(w.to_ms - 1, "b").starts_with(&p));
    /// ```
    pub fn prefix(&self) -> String {
        let last = self.to_ms.saturating_sub(1).max(self.from_ms);
        let a = format!("{:013}", MAX_KEY_TS_MS - self.from_ms.min(MAX_KEY_TS_MS));
        let b = format!("{:013}", MAX_KEY_TS_MS - last.min(MAX_KEY_TS_MS));
        let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        format!("{REQUEST_KEY_PREFIX}{}", &a[..common])
    }

    /// Whether a listed key is already older than the window (listings go newest first, so
    /// every later key is too).
    pub fn passed(&self, received_at_ms: u64) -> bool {
        received_at_ms < self.from_ms
    }
}

/// A scan in progress: its window, where it stopped, and the events counted so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scan {
    /// The window it counts.
    pub window: Window,
    /// The KV cursor to go on from (`None`: the first page).
    pub cursor: Option<String>,
    /// Events the keys listed so far hold, by hour of `received_at` (hours since the epoch).
    #[serde(default)]
    pub stored: BTreeMap<u64, u64>,
    /// List calls made, over every run.
    pub lists: u64,
}

impl Scan {
    /// A new scan of `window`.
    pub fn new(window: Window) -> Self {
        Self {
            window,
            cursor: None,
            stored: BTreeMap::new(),
            lists: 0,
        }
    }

    /// Counts one listed page (each key with its metadata's event count); answers whether the
    /// scan is done (the page was the last, or it reached a key older than the window).
    pub fn take_page<'a>(
        &mut self,
        keys: impl IntoIterator<Item = (&'a str, u64)>,
        cursor: Option<String>,
    ) -> bool {
        self.lists += 1;
        for (key, events) in keys {
            let Some(at) = received_at_of_key(key) else {
                continue;
            };
            if self.window.passed(at) {
                self.cursor = None;
                return true;
            }
            if self.window.holds(at) {
                *self.stored.entry(at / HOUR_MS).or_default() += events;
            }
        }
        self.cursor = cursor;
        self.cursor.is_none()
    }
}

/// One hour of a reconciled window (the part of it inside the window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HourCount {
    /// The hour's start, ms.
    pub hour_ms: u64,
    /// Events the control plane counted in it.
    pub counted: u64,
    /// Events the keys in KV hold in it.
    pub stored: u64,
}

/// A finished reconciliation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciled {
    /// The window.
    pub window: Window,
    /// Per hour of `received_at`, oldest first.
    pub hours: Vec<HourCount>,
    /// Events counted in the window.
    pub counted: u64,
    /// Events stored in the window.
    pub stored: u64,
    /// The drift ratio of the hours ([`drift`]).
    pub drift: f64,
    /// When it finished, ms.
    pub at_ms: u64,
    /// List calls it took.
    pub lists: u64,
}

impl Reconciled {
    /// The reconciliation of `window`: what was counted and what is stored, each by hour.
    pub fn of(
        window: Window,
        counted: &BTreeMap<u64, u64>,
        stored: &BTreeMap<u64, u64>,
        at_ms: u64,
        lists: u64,
    ) -> Self {
        let hours: Vec<HourCount> = counted
            .keys()
            .chain(stored.keys())
            .copied()
            .collect::<std::collections::BTreeSet<u64>>()
            .into_iter()
            .map(|h| HourCount {
                hour_ms: h * HOUR_MS,
                counted: counted.get(&h).copied().unwrap_or(0),
                stored: stored.get(&h).copied().unwrap_or(0),
            })
            .collect();
        Self {
            window,
            counted: hours.iter().map(|h| h.counted).sum(),
            stored: hours.iter().map(|h| h.stored).sum(),
            drift: drift(&hours),
            hours,
            at_ms,
            lists,
        }
    }
}

/// The drift ratio of a window's hours: the events missing or extra in each hour, summed (so
/// that a loss in one hour and a surplus in another do not cancel), over the events counted;
/// 1 when nothing was counted but something is stored, 0 when neither.
///
/// ```
/// use pilot_gate_core::events::reconcile::{drift, HourCount};
/// let h = |counted, stored| HourCount { hour_ms: 0, counted, stored };
/// assert_eq!(drift(&[h(200, 198)]), 0.01);
/// assert_eq!(drift(&[h(100, 101), h(100, 99)]), 0.01);
/// assert_eq!(drift(&[]), 0.0);
/// assert_eq!(drift(&[h(0, 5)]), 1.0);
/// ```
pub fn drift(hours: &[HourCount]) -> f64 {
    let counted: u64 = hours.iter().map(|h| h.counted).sum();
    let off: u64 = hours.iter().map(|h| h.counted.abs_diff(h.stored)).sum();
    match (counted, off) {
        (_, 0) => 0.0,
        (0, _) => 1.0,
        (c, o) => (o as f64 / c as f64).min(1.0),
    }
}
