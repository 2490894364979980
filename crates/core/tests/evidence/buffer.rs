//! The isolate's buffer: merged by (flag, variant, unit, minute, revision), due by count or
//! age, bounded, and a flush fits one queue message.

use pilot_gate_core::events::limits::QUEUE_MESSAGE_MAX_BYTES;
use pilot_gate_core::evidence::record::{
    Buffer, SightingKey, Upstream, FLUSH_AGE_MS, FLUSH_RECORDS, MAX_BUFFERED,
};
use pilot_gate_core::evidence::unit::Unit;

fn key(unit: u64, minute: u64) -> SightingKey {
    SightingKey {
        flag: "pilot".into(),
        variant: "on".into(),
        unit: Unit(unit),
        minute,
        revision: 7,
        outside: false,
        net: None,
        capped: false,
    }
}

#[test]
fn records_merge_by_key() {
    let mut b = Buffer::default();
    b.add(key(1, 10), Upstream::one(Some(200), 30), 0);
    b.add(key(1, 10), Upstream::one(Some(502), 60), 1);
    b.add(key(1, 10), Upstream::default(), 2);
    b.add(key(1, 11), Upstream::default(), 3);
    assert_eq!(b.len(), 2);
    let (records, dropped) = b.take();
    assert_eq!(dropped, 0);
    assert_eq!(records[0].upstream.requests, 2);
    assert_eq!(records[0].upstream.server_errors, 1);
    assert_eq!(records[0].upstream.first_ttfb_ms, Some(30));
    assert!(b.is_empty());
}

#[test]
fn due_by_count_or_age() {
    let mut b = Buffer::default();
    assert!(!b.due(1_000_000));
    b.add(key(1, 1), Upstream::default(), 1_000);
    assert!(!b.due(1_000 + FLUSH_AGE_MS - 1));
    assert!(b.due(1_000 + FLUSH_AGE_MS));
    b.take();
    for u in 0..FLUSH_RECORDS as u64 {
        assert!(!b.due(2_000), "{u} records");
        b.add(key(u, 1), Upstream::default(), 2_000);
    }
    assert!(b.due(2_000));
}

#[test]
fn the_buffer_is_bounded_and_counts_what_it_drops() {
    let mut b = Buffer::default();
    for u in 0..(MAX_BUFFERED as u64 + 100) {
        b.add(key(u, 1), Upstream::default(), 0);
    }
    assert_eq!(b.len(), MAX_BUFFERED);
    let (records, dropped) = b.take();
    assert_eq!(dropped, 100);
    // A failed send is put back, merged with what came meanwhile, within the bound.
    b.add(key(0, 1), Upstream::one(Some(500), 5), 0);
    b.put_back(records, 0);
    assert_eq!(b.len(), MAX_BUFFERED);
}

#[test]
fn a_full_flush_fits_one_queue_message() {
    let mut b = Buffer::default();
    for u in 0..FLUSH_RECORDS as u64 {
        let mut k = key(u64::MAX - u, u64::MAX);
        k.flag = "f".repeat(64);
        k.variant = "v".repeat(64);
        k.revision = u64::MAX;
        b.add(k, Upstream::one(None, u32::MAX), 0);
    }
    let (records, _) = b.take();
    let text = serde_json::to_string(&records).unwrap();
    println!(
        "evidence: a flush of {FLUSH_RECORDS} records at their longest is {} bytes (queue limit {QUEUE_MESSAGE_MAX_BYTES})",
        text.len()
    );
    assert!(text.len() <= QUEUE_MESSAGE_MAX_BYTES);
}
