//! The single-look statistics the guards and the stats API rest on: Wilson intervals (shown,
//! never acted on), the likelihood ratio of the error share, the exact test of the sample
//! ratio, the Farrington-Manning score of a drop, and exact quantiles. Pure functions of
//! counts; `pilot_gate_core::control::sequential` makes the guards' tests valid under continuous
//! monitoring.

/// The Wilson score interval of `x` successes in `n` trials at `z`, as `(low, high)`; `(0, 1)`
/// without trials.
///
/// ```
/// use pilot_gate_core::control::stats::wilson;
/// let (lo, hi) = wilson(5, 100, 1.96);
/// assert!((lo - 0.0215).abs() < 1e-4 && (hi - 0.1118).abs() < 1e-4);
/// ```
pub fn wilson(x: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p) = (n as f64, x.min(n) as f64 / n as f64);
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let margin = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z2 / n;
    (
        ((centre - margin) / denom).max(0.0),
        ((centre + margin) / denom).min(1.0),
    )
}

/// The log-likelihood ratio Λ of "the pilot's error rate is `r` times control's" against "the
/// same rate", from the share of errors that land in the pilot arm: with exposures `n_p`, `n_c`
/// and errors `x_p`, `x_c`, π0 = n_p/(n_p+n_c), π1 = r·n_p/(r·n_p+n_c),
/// Λ = x_p·ln(π1/π0) + x_c·ln((1−π1)/(1−π0)). `None` while either arm has no exposures.
///
/// ```
/// use pilot_gate_core::control::stats::sprt_lambda;
/// // Equal arms, R = 3: π0 = 1/2, π1 = 3/4; 6 pilot errors and 1 control error.
/// let l = sprt_lambda(1000, 1000, 6, 1, 3.0).unwrap();
/// assert!((l - (6.0 * 1.5f64.ln() + 0.5f64.ln())).abs() < 1e-12);
/// ```
pub fn sprt_lambda(n_p: u64, n_c: u64, x_p: u64, x_c: u64, r: f64) -> Option<f64> {
    if n_p == 0 || n_c == 0 {
        return None;
    }
    let (np, nc) = (n_p as f64, n_c as f64);
    let pi0 = np / (np + nc);
    let pi1 = r * np / (r * np + nc);
    Some(x_p as f64 * (pi1 / pi0).ln() + x_c as f64 * ((1.0 - pi1) / (1.0 - pi0)).ln())
}

/// The SPRT's bounds `(lower, upper)`: healthy at or below `lower` = ln(β/(1−α)); roll back at
/// or above `upper` = ln(1/α).
pub fn sprt_bounds(alpha: f64, beta: f64) -> (f64, f64) {
    ((beta / (1.0 - alpha)).ln(), (1.0 / alpha).ln())
}

/// Samples up to which [`srm`] computes the exact binomial p-value (above, the χ² one, which
/// is then accurate).
pub const SRM_EXACT_MAX: u64 = 20_000;

/// A test of `n_p` pilot and `n_c` control exposures against an expected pilot share: the
/// statistic (χ², 1 degree of freedom) and its p-value, two-sided. Up to [`SRM_EXACT_MAX`]
/// exposures the p-value is the exact binomial one (the probability of every split no more
/// likely than the one observed), because the χ² approximation is anti-conservative at small
/// expected counts; above, the χ² tail. `None` without exposures or with a share of 0 or 1.
///
/// ```
/// use pilot_gate_core::control::stats::srm;
/// let (chi2, p) = srm(500, 500, 0.5).unwrap();
/// assert_eq!(chi2, 0.0);
/// assert!(p > 0.99);
/// let (_, p) = srm(600, 400, 0.5).unwrap();
/// assert!(p < 1e-9);
/// let (_, p) = srm(9, 91, 0.02).unwrap(); // χ² would say 5.7e-7
/// assert!((p - 1.9e-4).abs() < 0.2e-4, "{p}");
/// ```
pub fn srm(n_p: u64, n_c: u64, expected_share: f64) -> Option<(f64, f64)> {
    let n = (n_p + n_c) as f64;
    if n == 0.0 || !(expected_share > 0.0 && expected_share < 1.0) {
        return None;
    }
    let (e_p, e_c) = (n * expected_share, n * (1.0 - expected_share));
    let chi2 = (n_p as f64 - e_p).powi(2) / e_p + (n_c as f64 - e_c).powi(2) / e_c;
    let p = if n_p + n_c <= SRM_EXACT_MAX {
        binomial_two_sided(n_p, n_p + n_c, expected_share)
    } else {
        chi2_sf_1(chi2)
    };
    Some((chi2, p))
}

/// The exact two-sided binomial p-value of `x` successes in `n` trials at rate `p`: the sum of
/// the probabilities of every outcome no more likely than `x` (computed in logs).
fn binomial_two_sided(x: u64, n: u64, p: f64) -> f64 {
    let ln_pmf = |k: u64| {
        let (k, nf) = (k as f64, n as f64);
        libm::lgamma(nf + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(nf - k + 1.0)
            + k * p.ln()
            + (nf - k) * (1.0 - p).ln()
    };
    // A relative tolerance, so that outcomes as likely as x (ties) are counted.
    let observed = ln_pmf(x) + 1e-7;
    let (mut as_likely, mut more_likely) = (0.0, 0.0);
    for l in (0..=n).map(ln_pmf) {
        if l <= observed {
            as_likely += l.exp();
        } else {
            more_likely += l.exp();
        }
    }
    // The smaller sum is the accurate one: a tail near 0 directly, a p-value near 1 as the
    // complement of the few outcomes more likely than x.
    if as_likely <= more_likely {
        as_likely
    } else {
        (1.0 - more_likely).max(0.0)
    }
}

/// The upper tail of the chi-squared distribution with 1 degree of freedom.
fn chi2_sf_1(chi2: f64) -> f64 {
    libm::erfc((chi2 / 2.0).sqrt())
}

/// The Farrington-Manning score of proportion `a` (`x_a` of `n_a`) against `(1 − margin)`
/// times proportion `b` (`x_b` of `n_b`), see [`drop_score`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropScore {
    /// `p_a − (1 − margin)·p_b` (negative: `a` is further below than the margin).
    pub difference: f64,
    /// Its variance under the null (the restricted maximum-likelihood rates).
    pub variance: f64,
    /// `difference / sqrt(variance)`.
    pub z: f64,
}

/// The Farrington-Manning score test of the ratio (Farrington and Manning, Statistics in
/// Medicine 9, 1990) that proportion `a` is below `(1 − margin)` times proportion `b`: its
/// variance is taken under the null (the restricted maximum-likelihood rates with
/// `p_a = (1 − margin)·p_b`), so it holds at rates of 0 and 1 where a Wald test's standard
/// error vanishes. `None` when it is undefined: an empty sample, more successes than trials,
/// or no variance even under the null (both rates 0); a guard reads `None` as undecided,
/// never as healthy.
pub fn drop_score(x_a: u64, n_a: u64, x_b: u64, n_b: u64, margin: f64) -> Option<DropScore> {
    if n_a == 0 || n_b == 0 || x_a > n_a || x_b > n_b || !(0.0..1.0).contains(&margin) {
        return None;
    }
    let (na, nb) = (n_a as f64, n_b as f64);
    let (pa, pb) = (x_a as f64 / na, x_b as f64 / nb);
    let rho = 1.0 - margin;
    // The restricted MLE of p_b under p_a = ρ·p_b: the smaller root of A·p² + B·p + C = 0.
    let a = rho * (na + nb);
    let b = -(rho * na + x_a as f64 + nb + rho * x_b as f64);
    let c = (x_a + x_b) as f64;
    let disc = (b * b - 4.0 * a * c).max(0.0);
    let rb = ((-b - disc.sqrt()) / (2.0 * a)).clamp(0.0, 1.0);
    let ra = (rho * rb).clamp(0.0, 1.0);
    let variance = ra * (1.0 - ra) / na + rho * rho * rb * (1.0 - rb) / nb;
    if variance.is_nan() || variance <= 0.0 {
        return None;
    }
    let difference = pa - rho * pb;
    let z = difference / variance.sqrt();
    z.is_finite().then_some(DropScore {
        difference,
        variance,
        z,
    })
}

/// The single-look one-sided p-value of [`drop_score`]: `P(Z ≤ z)` for a standard normal.
/// (The guardrails do not use it: checked every minute, a single-look p-value is not valid;
/// they make the score always valid, see `pilot_gate_core::control::sequential`.)
///
/// ```
/// use pilot_gate_core::control::stats::drop_p_value;
/// assert!(drop_p_value(60, 100, 90, 100, 0.10).unwrap() < 0.01); // 60 % vs 90 %
/// assert!(drop_p_value(88, 100, 90, 100, 0.10).unwrap() > 0.5);  // 88 % vs 90 %
/// assert!(drop_p_value(0, 40, 40, 40, 0.10).unwrap() < 1e-6);    // 0 % vs 100 %
/// assert_eq!(drop_p_value(0, 40, 0, 40, 0.10), None);            // nothing to compare
/// assert_eq!(drop_p_value(120, 100, 90, 100, 0.10), None);       // not a proportion
/// ```
pub fn drop_p_value(x_a: u64, n_a: u64, x_b: u64, n_b: u64, margin: f64) -> Option<f64> {
    let s = drop_score(x_a, n_a, x_b, n_b, margin)?;
    let p = 0.5 * libm::erfc(-s.z / std::f64::consts::SQRT_2);
    p.is_finite().then_some(p)
}

/// The exact `q`-quantile (nearest rank) of `sorted` values; `None` when empty.
///
/// ```
/// use pilot_gate_core::control::stats::quantile;
/// assert_eq!(quantile(&[1, 2, 3, 4], 0.5), Some(2));
/// assert_eq!(quantile(&[1, 2, 3, 4], 0.9), Some(4));
/// ```
pub fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}
