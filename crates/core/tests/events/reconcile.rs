//! Reconciliation: keys back to their `received_at`, the window of a run and the one KV prefix
//! that holds it, a scan that counts only the window's events and stops where the listing
//! passes it, the KV budget of a run (paging over several when it must), the drift ratio.

use proptest::prelude::*;

use pilot_gate_core::events::listing::KV_OPS_PER_INVOCATION;
use std::collections::BTreeMap;

use pilot_gate_core::events::reconcile::{
    drift, received_at_of_key, HourCount, Reconciled, Scan, Window, HOUR_MS, LIST_BUDGET,
    LIST_PAGE_KEYS, MINUTE_MS, SETTLE_MS,
};
use pilot_gate_core::events::record::request_key;

proptest! {
    #[test]
    fn a_key_names_its_received_at(ms in 0u64..9_999_999_999_999, id in "[a-z0-9]{1,20}") {
        prop_assert_eq!(received_at_of_key(&request_key(ms, &id)), Some(ms));
    }

    #[test]
    fn the_prefix_holds_every_key_of_the_window(now in 2 * HOUR_MS..4_000_000_000_000u64, offset in 0u64..2 * HOUR_MS) {
        let w = Window::of_run(now);
        let p = w.prefix();
        let span = w.to_ms - w.from_ms;
        prop_assume!(span > 0);
        let at = w.from_ms + offset % span;
        prop_assert!(w.holds(at));
        prop_assert!(request_key(at, "r").starts_with(&p));
        prop_assert!(request_key(w.from_ms, "r").starts_with(&p));
        prop_assert!(request_key(w.to_ms - 1, "r").starts_with(&p));
    }
}

#[test]
fn malformed_keys_name_no_time() {
    for k in [
        "",
        "req:",
        "req:12",
        "req:abcdefghijklm:x",
        "ev:8299999999999:x",
    ] {
        assert_eq!(received_at_of_key(k), None, "{k}");
    }
}

#[test]
fn a_run_checks_the_previous_hour_and_this_one_until_a_minute_ago() {
    let now = 100 * HOUR_MS + 17 * MINUTE_MS + 30_000;
    let w = Window::of_run(now);
    assert_eq!(w.from_ms, 99 * HOUR_MS);
    assert_eq!(w.to_ms, 100 * HOUR_MS + 16 * MINUTE_MS);
    assert!(w.to_ms <= now - SETTLE_MS);
    assert_eq!(w.minutes().count(), 76);
    // Right after the hour: the previous hour, less its last settling minute.
    let w = Window::of_run(100 * HOUR_MS + 5_000);
    assert_eq!(
        (w.from_ms, w.to_ms),
        (99 * HOUR_MS, 100 * HOUR_MS - MINUTE_MS)
    );
}

#[test]
fn a_scan_counts_the_window_and_stops_where_the_listing_passes_it() {
    let w = Window {
        from_ms: 10 * HOUR_MS,
        to_ms: 11 * HOUR_MS,
    };
    // Newest first, as KV lists them: after the window, in it, before it.
    let keys = [
        (request_key(11 * HOUR_MS + 5, "later"), 4),
        (request_key(11 * HOUR_MS - 1, "a"), 3),
        (request_key(10 * HOUR_MS + 30 * MINUTE_MS, "b"), 2),
        (request_key(10 * HOUR_MS, "c"), 1),
        (request_key(10 * HOUR_MS - 1, "older"), 100),
        (request_key(9 * HOUR_MS, "much older"), 100),
    ];
    let mut scan = Scan::new(w);
    let page = |i: std::ops::Range<usize>| {
        keys[i]
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect::<Vec<_>>()
    };
    assert!(!scan.take_page(page(0..2), Some("c1".into())), "more pages");
    assert_eq!(scan.stored, BTreeMap::from([(10, 3)]));
    assert_eq!(scan.cursor.as_deref(), Some("c1"));
    assert!(
        scan.take_page(page(2..6), Some("c2".into())),
        "passed the window"
    );
    assert_eq!(scan.stored, BTreeMap::from([(10, 6)]));
    assert_eq!((scan.cursor.clone(), scan.lists), (None, 2));
    // The last page ends a scan too; keys that are not request keys count nothing.
    let mut scan = Scan::new(w);
    assert!(scan.take_page([("ev:x", 9), (keys[1].0.as_str(), 3)], None));
    assert_eq!(scan.stored, BTreeMap::from([(10, 3)]));
}

#[test]
fn a_run_stays_within_the_kv_budget_and_pages_over_runs() {
    // A run makes only list calls, fewer than the platform allows (checked at compile time).
    const { assert!(LIST_BUDGET < KV_OPS_PER_INVOCATION) };
    // A window of 2.5 million requests: every run lists at most LIST_BUDGET pages of
    // LIST_PAGE_KEYS, so three runs cover it.
    let keys: u64 = 2_500_000;
    let per_run = (LIST_BUDGET * LIST_PAGE_KEYS) as u64;
    assert_eq!(keys.div_ceil(per_run), 3);
    assert!(per_run >= 800_000, "{per_run} keys a run");
}

#[test]
fn drift_sums_each_hours_missing_or_extra_events_over_those_counted() {
    let h = |counted, stored| HourCount {
        hour_ms: 0,
        counted,
        stored,
    };
    assert_eq!(drift(&[h(1000, 1000)]), 0.0);
    assert_eq!(drift(&[h(1000, 990)]), 0.01);
    assert_eq!(drift(&[h(1000, 1010)]), 0.01);
    // A loss in one hour and a surplus in the next do not cancel.
    assert_eq!(drift(&[h(500, 490), h(500, 510)]), 0.02);
    assert_eq!(drift(&[h(1000, 0)]), 1.0);
    assert_eq!(drift(&[]), 0.0);
    assert_eq!(drift(&[h(0, 3)]), 1.0);
}

#[test]
fn a_reconciliation_lists_every_hour_either_side_saw() {
    let w = Window {
        from_ms: 9 * HOUR_MS,
        to_ms: 10 * HOUR_MS + 20 * MINUTE_MS,
    };
    let counted = BTreeMap::from([(9, 100), (10, 40)]);
    let stored = BTreeMap::from([(9, 98), (11, 1)]);
    let r = Reconciled::of(w, &counted, &stored, 123, 4);
    let hours: Vec<(u64, u64, u64)> = r
        .hours
        .iter()
        .map(|h| (h.hour_ms / HOUR_MS, h.counted, h.stored))
        .collect();
    assert_eq!(hours, vec![(9, 100, 98), (10, 40, 0), (11, 0, 1)]);
    assert_eq!((r.counted, r.stored, r.at_ms, r.lists), (140, 99, 123, 4));
    assert_eq!(r.drift, 43.0 / 140.0);
}
