//! The statistics the guards and the stats API rest on: Wilson intervals, the sequential
//! probability ratio test of the error share, the chi-squared test of the sample ratio, a
//! one-sided test of two proportions, and exact quantiles. Pure functions of counts.

/// z of the one-sided 99 % bound that the absolute breaker uses.
pub const Z_99: f64 = 2.33;

/// The Wilson score interval of `x` successes in `n` trials at `z`, as `(low, high)`; `(0, 1)`
/// without trials.
///
/// ```
/// use pilot_gate::core::control::stats::wilson;
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
/// use pilot_gate::core::control::stats::sprt_lambda;
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

/// The chi-squared statistic (1 degree of freedom) of `n_p` and `n_c` exposures against an
/// expected pilot share, and its p-value. `None` without exposures or with a share of 0 or 1.
///
/// ```
/// use pilot_gate::core::control::stats::srm;
/// let (chi2, p) = srm(500, 500, 0.5).unwrap();
/// assert_eq!((chi2, p), (0.0, 1.0));
/// let (_, p) = srm(600, 400, 0.5).unwrap();
/// assert!(p < 1e-9);
/// ```
pub fn srm(n_p: u64, n_c: u64, expected_share: f64) -> Option<(f64, f64)> {
    let n = (n_p + n_c) as f64;
    if n == 0.0 || !(expected_share > 0.0 && expected_share < 1.0) {
        return None;
    }
    let (e_p, e_c) = (n * expected_share, n * (1.0 - expected_share));
    let chi2 = (n_p as f64 - e_p).powi(2) / e_p + (n_c as f64 - e_c).powi(2) / e_c;
    Some((chi2, chi2_sf_1(chi2)))
}

/// The upper tail of the chi-squared distribution with 1 degree of freedom.
fn chi2_sf_1(chi2: f64) -> f64 {
    libm::erfc((chi2 / 2.0).sqrt())
}

/// One-sided p-value that proportion `a` (`x_a` of `n_a`) is below `(1 − margin)` times
/// proportion `b` (`x_b` of `n_b`): a z-test of `p_a − (1 − margin)·p_b` with the unpooled
/// standard error. `None` when either sample is empty or the error is zero.
///
/// ```
/// use pilot_gate::core::control::stats::drop_p_value;
/// assert!(drop_p_value(60, 100, 90, 100, 0.10).unwrap() < 0.01); // 60 % vs 90 %
/// assert!(drop_p_value(88, 100, 90, 100, 0.10).unwrap() > 0.5);  // 88 % vs 90 %
/// ```
pub fn drop_p_value(x_a: u64, n_a: u64, x_b: u64, n_b: u64, margin: f64) -> Option<f64> {
    if n_a == 0 || n_b == 0 {
        return None;
    }
    let (pa, pb) = (x_a as f64 / n_a as f64, x_b as f64 / n_b as f64);
    let k = 1.0 - margin;
    let se = (pa * (1.0 - pa) / n_a as f64 + k * k * pb * (1.0 - pb) / n_b as f64).sqrt();
    if se == 0.0 {
        return None;
    }
    let z = (pa - k * pb) / se;
    // P(Z <= z) for a standard normal.
    Some(0.5 * libm::erfc(-z / std::f64::consts::SQRT_2))
}

/// The exact `q`-quantile (nearest rank) of `sorted` values; `None` when empty.
///
/// ```
/// use pilot_gate::core::control::stats::quantile;
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
