//! Statistics that stay valid when they are looked at on every delta and every minute, for as
//! long as a tier lasts: e-values (likelihood ratios and mixtures of them, nonnegative
//! supermartingales under the null) compared with thresholds from Ville's inequality, so the
//! chance that one ever crosses `1/α` while the null holds is at most `α`, however often it is
//! checked. Pure functions of unit counts.
//!
//! **Restarts, so detection does not go stale.** A statistic summed since a tier began drifts
//! ever further from its threshold while the pilot is healthy; a regression that starts after
//! hours must first climb out of that hole. So every test that acts is computed over several
//! stretches of the window: the whole window, and the stretch from each of the last
//! [`LOOKBACK_MIN`] minutes to now (the units first exposed in them). Each stretch gets its own
//! share of `α` (a union bound over every stretch that can ever be looked at): the whole window
//! [`WINDOW_SHARE`] (1/4), the minute `j` after the window began `3/4 / (60 · (k+1) · (k+2))`
//! with `k = j / 60` (its hour), which sum to 1. A regression after 6 hours is judged from the
//! minute it began at a threshold about `ln(60 · 56 · 4/3) = 8.4` above `ln(1/α)`, a cost in
//! units that grows with the log of the time, instead of a hole that grows linearly.
//!
//! **One α over a plan's run, by window.** A window is a stretch in which the served share
//! stays the same: every tier starts one, and so do a ladder edit, a step back, a re-climb and
//! a `requires` change. The `k`-th window of a run gets [`per_window`]: nine tenths of `α`
//! shared evenly by the ladder's first windows, the last tenth by any further ones (a step
//! back and a re-climb draw from it, never reopen `α`). A run begins when the plan starts at
//! tier 1 (after a draft or a rollback).

/// The whole window's share of a test's α; the restarts share the rest.
pub const WINDOW_SHARE: f64 = 0.25;

/// How many of the latest minutes each start a stretch of their own.
pub const LOOKBACK_MIN: u64 = 60;

/// One arm's counts over a stretch, in units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Exposed units.
    pub units: u64,
    /// Of them, with the event (an error, a success).
    pub hits: u64,
}

impl Counts {
    /// Counts of `hits` among `units`.
    pub fn new(units: u64, hits: u64) -> Self {
        Counts { units, hits }
    }

    /// Both stretches together.
    pub fn plus(self, other: Counts) -> Counts {
        Counts::new(self.units + other.units, self.hits + other.hits)
    }

    /// Whether they are a proportion (no more hits than units).
    pub fn valid(self) -> bool {
        self.hits <= self.units
    }
}

/// Where a stretch begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the window's beginning.
    Window,
    /// At this minute after the window began (0 is its first minute).
    Minute(u64),
}

/// The log-threshold of a stretch from `start` for a test at level `alpha`: `ln(1 / (alpha ·
/// w))` with `w` its share (see the module's docs). `None` for a level outside (0, 1).
///
/// ```
/// use pilot_gate_core::control::sequential::{threshold, Start};
/// let whole = threshold(0.01, Start::Window).unwrap();
/// assert!((whole - (400f64).ln()).abs() < 1e-12);
/// // The first hour's minutes: 3/4 / (60 · 1 · 2) each.
/// assert!((threshold(0.01, Start::Minute(59)).unwrap() - (16_000f64).ln()).abs() < 1e-9);
/// // After 6 hours: 3/4 / (60 · 7 · 8).
/// assert!((threshold(0.01, Start::Minute(360)).unwrap() - (448_000f64).ln()).abs() < 1e-9);
/// ```
pub fn threshold(alpha: f64, start: Start) -> Option<f64> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return None;
    }
    let share = match start {
        Start::Window => WINDOW_SHARE,
        Start::Minute(j) => {
            let k = (j / 60) as f64;
            (1.0 - WINDOW_SHARE) / (60.0 * (k + 1.0) * (k + 2.0))
        }
    };
    Some((1.0 / (alpha * share)).ln())
}

/// The share of a plan's `alpha` that the `window`-th window of a run (1 is the first) may
/// spend, for a ladder of `tiers` tiers above 0: `0.9 · alpha / tiers` for the first `tiers`
/// windows, then `0.1 · alpha / (j · (j + 1))` for the `j`-th window after them, so the shares
/// of every window a run can ever open sum to at most `alpha`.
///
/// ```
/// use pilot_gate_core::control::sequential::per_window;
/// assert!((per_window(0.01, 1, 4) - 0.00225).abs() < 1e-15);
/// assert!((per_window(0.01, 5, 4) - 0.0005).abs() < 1e-15); // j = 1: 0.1 · α / 2
/// let spent: f64 = (1..100_000).map(|k| per_window(0.01, k, 4)).sum();
/// assert!(spent <= 0.01);
/// ```
pub fn per_window(alpha: f64, window: u32, tiers: usize) -> f64 {
    let tiers = tiers.max(1) as f64;
    let k = f64::from(window.max(1));
    if k <= tiers {
        0.9 * alpha / tiers
    } else {
        let j = k - tiers;
        0.1 * alpha / (j * (j + 1.0))
    }
}

/// The log-likelihood ratio that a rate is `alt` rather than `theta`, from `c`'s hits among its
/// units: `hits · ln(alt/theta) + misses · ln((1−alt)/(1−theta))`. With `alt > theta` it is
/// an e-value against "the rate is at most `theta`" (under any rate at or below `theta` its
/// exponential is a supermartingale); with `alt < theta`, against "at least `theta`". `None`
/// for invalid counts or rates outside (0, 1).
///
/// ```
/// use pilot_gate_core::control::sequential::{ln_rate_ratio, Counts};
/// let l = ln_rate_ratio(Counts::new(100, 10), 0.05, 0.10).unwrap();
/// assert!((l - (10.0 * 2f64.ln() + 90.0 * (0.9f64 / 0.95).ln())).abs() < 1e-12);
/// assert_eq!(ln_rate_ratio(Counts::new(1, 2), 0.05, 0.10), None);
/// ```
pub fn ln_rate_ratio(c: Counts, theta: f64, alt: f64) -> Option<f64> {
    let unit = |x: f64| x > 0.0 && x < 1.0;
    if !c.valid() || !unit(theta) || !unit(alt) {
        return None;
    }
    let misses = (c.units - c.hits) as f64;
    Some(c.hits as f64 * (alt / theta).ln() + misses * ((1.0 - alt) / (1.0 - theta)).ln())
}

/// The log Bayes factor of a mismatched split, after Lindon and Malek ("Anytime-valid inference
/// for multinomial count data", NeurIPS 2022): `pilot` of `pilot + control` units against an
/// expected share `share`, the alternative's share drawn from Beta(`strength`·share,
/// `strength`·(1−share)). Its exponential is a test martingale under the expected share, so it
/// crosses `1/α` with probability at most `α` however often it is checked. `None` for a share
/// outside (0, 1).
///
/// ```
/// use pilot_gate_core::control::sequential::ln_split_factor;
/// assert!(ln_split_factor(500, 500, 0.5, 100.0).unwrap() < 0.0);
/// assert!(ln_split_factor(50, 950, 0.1, 100.0).unwrap() > 13.0); // 5 % against 10 %
/// ```
pub fn ln_split_factor(pilot: u64, control: u64, share: f64, strength: f64) -> Option<f64> {
    if !(share > 0.0 && share < 1.0 && strength > 0.0) {
        return None;
    }
    let (a, b) = (strength * share, strength * (1.0 - share));
    let (x, y) = (pilot as f64, control as f64);
    let ln_beta = |p: f64, q: f64| libm::lgamma(p) + libm::lgamma(q) - libm::lgamma(p + q);
    let mixture = ln_beta(a + x, b + y) - ln_beta(a, b);
    let null = x * share.ln() + y * (1.0 - share).ln();
    Some(mixture - null)
}

/// The log of Johari et al.'s mixture likelihood ratio ("Always valid inference", Operations
/// Research 70, 2022) for a difference `d` with variance `var`, mixed over true differences
/// drawn from N(0, `tau`²): `½·ln(var/(var+τ²)) + τ²·d² / (2·var·(var+τ²))`. Compared with
/// `ln(1/α)` it is an always-valid test of "no difference" (asymptotically: `d` normal).
/// `None` when `var` or `tau` is not positive.
///
/// ```
/// use pilot_gate_core::control::sequential::ln_normal_mixture;
/// assert!(ln_normal_mixture(0.0, 0.01, 0.1).unwrap() < 0.0);
/// assert!(ln_normal_mixture(-0.5, 0.001, 0.1).unwrap() > 50.0);
/// ```
pub fn ln_normal_mixture(d: f64, var: f64, tau: f64) -> Option<f64> {
    if !(var > 0.0 && tau > 0.0 && d.is_finite()) {
        return None;
    }
    let t2 = tau * tau;
    Some(0.5 * (var / (var + t2)).ln() + t2 * d * d / (2.0 * var * (var + t2)))
}

/// A stretch's statistic against its threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossing<T> {
    /// Where the stretch begins.
    pub start: Start,
    /// Its figures (counts).
    pub counts: T,
    /// Its log e-value.
    pub ln_e: f64,
    /// Its log-threshold.
    pub threshold: f64,
}

impl<T> Crossing<T> {
    /// Whether the statistic reached its threshold.
    pub fn crossed(&self) -> bool {
        self.ln_e >= self.threshold
    }
}

/// The stretch whose statistic is nearest to (or furthest past) its threshold: the whole window
/// (`whole`) and the stretch from each of `recent` (minutes after the window began, with their
/// counts, oldest first) to now, summed with `plus`, scored by `stat` (`None`: the stretch says
/// nothing). `None` when no stretch says anything, or `alpha` is not a level.
pub fn scan<T: Copy>(
    whole: T,
    recent: &[(u64, T)],
    plus: impl Fn(T, T) -> T,
    stat: impl Fn(T) -> Option<f64>,
    alpha: f64,
) -> Option<Crossing<T>> {
    let mut best: Option<Crossing<T>> = None;
    let mut consider = |start: Start, counts: T| {
        let (Some(ln_e), Some(threshold)) = (stat(counts), threshold(alpha, start)) else {
            return;
        };
        let c = Crossing {
            start,
            counts,
            ln_e,
            threshold,
        };
        if best.is_none_or(|b| c.ln_e - c.threshold > b.ln_e - b.threshold) {
            best = Some(c);
        }
    };
    consider(Start::Window, whole);
    let mut suffix: Option<T> = None;
    for &(minute, counts) in recent.iter().rev() {
        let s = suffix.map_or(counts, |s| plus(s, counts));
        suffix = Some(s);
        consider(Start::Minute(minute), s);
    }
    best
}
