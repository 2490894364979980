//! Bucketing: flagd testbed vectors, a differential check against the `murmur3` crate, and the
//! statistical properties of the rollout split.

use pilot_gate_core::gate::bucket::{
    bucket_bp, fractional, in_rollout, murmur3_x86_32, MAX_BASIS_POINTS,
};

/// A small deterministic generator (SplitMix64) for reproducible random keys.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn key(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }
}

#[test]
fn flagd_testbed_fractional_suits() {
    let suits = ["clubs", "diamonds", "hearts", "spades"];
    let cases = [
        ("jack", "hearts"),
        ("queen", "spades"),
        ("ten", "clubs"),
        ("nine", "diamonds"),
        ("3", "clubs"),
    ];
    for (name, want) in cases {
        let key = format!("fractional-flag{name}");
        let got = fractional(&key, &[25, 25, 25, 25]).map(|i| suits[i]);
        assert_eq!(got, Some(want), "key {key:?}");
    }
}

#[test]
fn flagd_testbed_fractional_shorthand() {
    assert_eq!(
        fractional("fractional-flag-shorthandjon@company.com", &[1, 1]),
        Some(0)
    );
    assert_eq!(
        fractional("fractional-flag-shorthandjane@company.com", &[1, 1]),
        Some(1)
    );
}

#[test]
fn zero_total_weight_has_no_variant() {
    assert_eq!(fractional("k", &[]), None);
    assert_eq!(fractional("k", &[0, 0, 0]), None);
    // A zero-weight variant is never chosen.
    let mut rng = SplitMix64(7);
    for _ in 0..1_000 {
        assert_ne!(fractional(&rng.key(), &[0, 5, 0, 5]), Some(0));
    }
}

#[test]
fn agrees_with_the_murmur3_crate_on_random_inputs() {
    let mut rng = SplitMix64(42);
    for len in 0..200usize {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let seed = rng.next() as u32;
        let want = murmur3::murmur3_32(&mut std::io::Cursor::new(&bytes), seed).unwrap();
        assert_eq!(murmur3_x86_32(&bytes, seed), want, "len {len}");
    }
}

#[test]
fn in_rollout_is_fractional_over_two_variants() {
    let mut rng = SplitMix64(1);
    for i in 0..5_000u32 {
        let key = rng.key();
        let bp = i * 7 % (MAX_BASIS_POINTS + 1);
        let via_fractional = fractional(&format!("pilot{key}"), &[bp, MAX_BASIS_POINTS - bp]);
        assert_eq!(
            in_rollout("pilot", &key, bp),
            via_fractional == Some(0),
            "bp {bp}"
        );
    }
}

#[test]
fn rollout_is_monotonic_in_basis_points() {
    let mut rng = SplitMix64(2);
    for _ in 0..2_000 {
        let key = rng.key();
        let first_in = (0..=MAX_BASIS_POINTS).find(|&bp| in_rollout("pilot", &key, bp));
        let first_in = first_in.expect("everyone is in at 100 %");
        // The whole curve is a step: out below the threshold, in from it on.
        assert_eq!(first_in, bucket_bp("pilot", &key) + 1);
        for bp in [0, 1, 100, 1_000, 5_000, 9_999, 10_000] {
            assert_eq!(in_rollout("pilot", &key, bp), bp >= first_in, "bp {bp}");
        }
    }
}

#[test]
fn observed_share_matches_the_rollout() {
    const N: u32 = 100_000;
    let mut rng = SplitMix64(3);
    let keys: Vec<String> = (0..N).map(|_| rng.key()).collect();
    for bp in [100u32, 1_000, 5_000, 9_999] {
        let p = f64::from(bp) / f64::from(MAX_BASIS_POINTS);
        let hits = keys.iter().filter(|k| in_rollout("pilot", k, bp)).count() as f64;
        let share = hits / f64::from(N);
        // Five standard deviations of a binomial share: fails by chance about once in 3.5M.
        let tolerance = 5.0 * (p * (1.0 - p) / f64::from(N)).sqrt();
        assert!(
            (share - p).abs() <= tolerance,
            "bp {bp}: share {share:.5}, want {p} +- {tolerance:.5}"
        );
    }
    assert!(keys.iter().all(|k| !in_rollout("pilot", k, 0)));
    assert!(keys
        .iter()
        .all(|k| in_rollout("pilot", k, MAX_BASIS_POINTS)));
}

#[test]
fn different_flags_split_independently() {
    const N: u32 = 100_000;
    let mut rng = SplitMix64(4);
    let (mut both, mut a_only, mut b_only) = (0u32, 0u32, 0u32);
    for _ in 0..N {
        let key = rng.key();
        match (
            in_rollout("pilot", &key, 5_000),
            in_rollout("checkout-v2", &key, 5_000),
        ) {
            (true, true) => both += 1,
            (true, false) => a_only += 1,
            (false, true) => b_only += 1,
            (false, false) => {}
        }
    }
    // Independent 50 % splits overlap on a quarter of the keys; identical splits would overlap
    // on half. Five standard deviations again.
    let share = f64::from(both) / f64::from(N);
    let tolerance = 5.0 * (0.25f64 * 0.75 / f64::from(N)).sqrt();
    assert!((share - 0.25).abs() <= tolerance, "overlap {share:.4}");
    assert!(a_only > 0 && b_only > 0);
}
