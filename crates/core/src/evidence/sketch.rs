//! A mergeable log-bucket quantile sketch with a stated relative error (DDSketch's mapping):
//! a value `x` goes to bucket `ceil(log_γ x)` with `γ = (1 + α) / (1 − α)`, and a bucket
//! answers `2γ^i / (γ + 1)`, within `α` of every value in it. Buckets are plain counters, so
//! two sketches merge by adding them, a unit's value is taken back by subtracting it, and a
//! store can keep them as `(bucket, count)` rows summed by SQL. Memory grows with the log of
//! the value range, never with the number of values: values of 1 ms to 10 minutes span about
//! 670 buckets at α = 1 %.
//!
//! Written here rather than taken from a DDSketch crate because the store needs the bucket
//! index itself (stable across versions, summable in SQL) and signed updates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The relative error of every quantile the sketch answers (1 %).
pub const RELATIVE_ERROR: f64 = 0.01;
/// Values at or below this go to the zero bucket and answer 0.
pub const MIN_VALUE: f64 = 1e-3;
/// The bucket of values at or below [`MIN_VALUE`].
pub const ZERO_BUCKET: i32 = i32::MIN;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)
}

/// The bucket of a value (non-finite and negative values have none).
///
/// ```
/// use pilot_gate_core::evidence::sketch::{bucket_of, value_of};
/// let b = bucket_of(1234.0).unwrap();
/// assert!((value_of(b) - 1234.0).abs() <= 0.01 * 1234.0);
/// assert_eq!(bucket_of(f64::NAN), None);
/// ```
pub fn bucket_of(value: f64) -> Option<i32> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    if value <= MIN_VALUE {
        return Some(ZERO_BUCKET);
    }
    Some((value.ln() / gamma().ln()).ceil() as i32)
}

/// The value a bucket answers: within [`RELATIVE_ERROR`] of every value in it.
pub fn value_of(bucket: i32) -> f64 {
    if bucket == ZERO_BUCKET {
        return 0.0;
    }
    let g = gamma();
    2.0 * g.powi(bucket) / (g + 1.0)
}

/// Counts per bucket: one sketch of the values of some units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sketch {
    buckets: BTreeMap<i32, u64>,
}

impl Sketch {
    /// A sketch of these values (those without a bucket are left out).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut s = Sketch::default();
        for b in values.into_iter().filter_map(bucket_of) {
            s.add_bucket(b, 1);
        }
        s
    }

    /// Adds `n` values of bucket `b`.
    pub fn add_bucket(&mut self, b: i32, n: u64) {
        if n > 0 {
            *self.buckets.entry(b).or_default() += n;
        }
    }

    /// Takes back `n` values of bucket `b` (no further than it holds).
    pub fn remove_bucket(&mut self, b: i32, n: u64) {
        if let Some(c) = self.buckets.get_mut(&b) {
            *c = c.saturating_sub(n);
            if *c == 0 {
                self.buckets.remove(&b);
            }
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        for (&b, &n) in &other.buckets {
            self.add_bucket(b, n);
        }
    }

    /// How many values it holds.
    pub fn count(&self) -> u64 {
        self.buckets.values().sum()
    }

    /// Its buckets and counts, lowest first.
    pub fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.buckets.iter().map(|(&b, &n)| (b, n))
    }

    /// The `q`-quantile (0..=1) by the lower rank, as exact quantiles of sorted values are
    /// taken here (`sorted[ceil(q·n) − 1]`), within [`RELATIVE_ERROR`] of it; `None` when
    /// empty or `q` is not in 0..=1.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (&b, &c) in &self.buckets {
            seen += c;
            if seen >= rank {
                return Some(value_of(b));
            }
        }
        None
    }
}
