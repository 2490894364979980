//! The sketch answers every quantile within 1 % of the exact one, merges by adding, and takes a
//! unit's value back exactly.

use pilot_gate_core::control::stats::quantile;
use pilot_gate_core::evidence::sketch::{bucket_of, value_of, Sketch, RELATIVE_ERROR};
use proptest::prelude::*;

use crate::rng::Rng;

fn within(estimate: f64, exact: f64) -> bool {
    (estimate - exact).abs() <= RELATIVE_ERROR * exact + 1e-9
}

#[test]
fn quantiles_are_within_one_percent_of_the_exact_ones() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut worst: f64 = 0.0;
    for _ in 0..50 {
        let values: Vec<u64> = (0..2_000)
            .map(|_| rng.log_normal(1_500.0, 1.0).round().clamp(1.0, 600_000.0) as u64)
            .collect();
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let sketch = Sketch::of(values.iter().map(|&v| v as f64));
        for q in [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0] {
            let exact = quantile(&sorted, q).unwrap() as f64;
            let est = sketch.quantile(q).unwrap();
            worst = worst.max((est - exact).abs() / exact);
            assert!(within(est, exact), "q {q}: {est} vs {exact}");
        }
    }
    println!("sketch: worst relative error {worst:.5} over 50 x 2,000 log-normal TTVs (bound {RELATIVE_ERROR})");
}

#[test]
fn memory_grows_with_the_range_not_the_count() {
    let mut rng = Rng(7);
    let sketch = Sketch::of((0..200_000).map(|_| rng.unit() * 600_000.0));
    let buckets = sketch.buckets().count();
    println!("sketch: 200,000 values of 0..10 min in {buckets} buckets");
    assert!(buckets <= 700, "{buckets}");
    assert_eq!(sketch.count(), 200_000);
}

#[test]
fn no_value_no_quantile_and_bad_values_have_no_bucket() {
    assert_eq!(Sketch::default().quantile(0.5), None);
    assert_eq!(Sketch::of([1.0]).quantile(1.5), None);
    assert_eq!(Sketch::of([1.0]).quantile(f64::NAN), None);
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        assert_eq!(bucket_of(bad), None, "{bad}");
    }
    assert_eq!(Sketch::of([0.0]).quantile(0.5), Some(0.0));
    assert_eq!(value_of(bucket_of(0.0).unwrap()), 0.0);
}

proptest! {
    #[test]
    fn merging_is_adding_and_removal_undoes_an_add(
        a in proptest::collection::vec(0.0f64..1e6, 0..200),
        b in proptest::collection::vec(0.0f64..1e6, 1..200),
    ) {
        let mut merged = Sketch::of(a.iter().copied());
        merged.merge(&Sketch::of(b.iter().copied()));
        prop_assert_eq!(&merged, &Sketch::of(a.iter().chain(&b).copied()));
        for &v in &b {
            merged.remove_bucket(bucket_of(v).unwrap(), 1);
        }
        prop_assert_eq!(merged, Sketch::of(a.iter().copied()));
    }

    #[test]
    fn every_value_is_within_the_error_of_its_bucket(v in 0.002f64..1e9) {
        prop_assert!(within(value_of(bucket_of(v).unwrap()), v));
    }
}
