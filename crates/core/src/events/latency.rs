//! The beacon's ingest latency: from an accepted request (its queue message's timestamp) to its
//! events stored in KV, as a histogram in fixed buckets that the consumer fills per batch and
//! the control plane adds up for `/metrics` (`pilot_gate_ingest_latency_seconds`).

use serde::{Deserialize, Serialize};

/// Upper bounds of the buckets, in ms (`le` in seconds); one more bucket counts the rest.
pub const INGEST_BUCKETS_MS: [u64; 10] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
];

/// Counts per bucket (not cumulative; the last is above every bound), their sum and count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// One count per bound of [`INGEST_BUCKETS_MS`], then the count above them all.
    pub buckets: Vec<u64>,
    /// The sum of the latencies, in ms.
    pub sum_ms: u64,
    /// How many.
    pub count: u64,
}

impl Latency {
    /// Counts one latency.
    ///
    /// ```
    /// use pilot_gate_core::events::latency::Latency;
    /// let mut l = Latency::default();
    /// l.add(120);
    /// l.add(70_000);
    /// assert_eq!(l.cumulative()[2], 1); // at most 250 ms
    /// assert_eq!(l.count, 2);
    /// ```
    pub fn add(&mut self, ms: u64) {
        self.fit();
        let i = INGEST_BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(INGEST_BUCKETS_MS.len());
        self.buckets[i] += 1;
        self.sum_ms += ms;
        self.count += 1;
    }

    /// Adds another histogram of the same buckets (one of another length counts nothing).
    pub fn merge(&mut self, other: &Latency) {
        if other.buckets.len() != INGEST_BUCKETS_MS.len() + 1 {
            return;
        }
        self.fit();
        for (m, o) in self.buckets.iter_mut().zip(&other.buckets) {
            *m += o;
        }
        self.sum_ms += other.sum_ms;
        self.count += other.count;
    }

    /// The cumulative counts at each bound, as Prometheus's `le` buckets (without `+Inf`,
    /// which is `count`).
    pub fn cumulative(&self) -> Vec<u64> {
        let mut total = 0;
        (0..INGEST_BUCKETS_MS.len())
            .map(|i| {
                total += self.buckets.get(i).copied().unwrap_or(0);
                total
            })
            .collect()
    }

    fn fit(&mut self) {
        self.buckets.resize(INGEST_BUCKETS_MS.len() + 1, 0);
    }
}
