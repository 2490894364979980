//! The beacon's ingest latency histogram: bounds inclusive, the overflow bucket, cumulative
//! buckets, merging across batches.

use pilot_gate_core::events::latency::{Latency, INGEST_BUCKETS_MS};

#[test]
fn each_latency_lands_in_the_first_bucket_at_or_above_it() {
    let mut l = Latency::default();
    for ms in INGEST_BUCKETS_MS {
        l.add(ms);
    }
    l.add(INGEST_BUCKETS_MS[INGEST_BUCKETS_MS.len() - 1] + 1);
    assert_eq!(l.buckets, vec![1; INGEST_BUCKETS_MS.len() + 1]);
    let cumulative = l.cumulative();
    assert_eq!(
        cumulative,
        (1..=INGEST_BUCKETS_MS.len() as u64).collect::<Vec<_>>()
    );
    assert_eq!(l.count, INGEST_BUCKETS_MS.len() as u64 + 1);
    assert_eq!(l.sum_ms, INGEST_BUCKETS_MS.iter().sum::<u64>() + 60_001);
}

#[test]
fn batches_add_up_and_a_histogram_of_other_buckets_counts_nothing() {
    let mut total = Latency::default();
    let mut a = Latency::default();
    a.add(10);
    a.add(400);
    let mut b = Latency::default();
    b.add(3_000);
    total.merge(&a);
    total.merge(&b);
    assert_eq!(total.count, 3);
    assert_eq!(total.sum_ms, 3_410);
    assert_eq!(total.cumulative()[0], 1);
    assert_eq!(total.cumulative()[3], 2);
    assert_eq!(total.cumulative()[6], 3);
    let odd = Latency {
        buckets: vec![5; 3],
        sum_ms: 1,
        count: 15,
    };
    total.merge(&odd);
    assert_eq!(total.count, 3, "a histogram of other buckets is refused");
    // An empty one (as stored before any batch) reads as zeros.
    assert_eq!(
        Latency::default().cumulative(),
        vec![0; INGEST_BUCKETS_MS.len()]
    );
}
