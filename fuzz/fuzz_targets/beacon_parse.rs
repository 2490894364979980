//! Any body: parsing never panics, and an accepted batch always satisfies the schema.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pilot_gate_core::events::limits::Limits;
use pilot_gate_core::events::schema::parse_batch;

const NOW_MS: u64 = 1_800_000_000_000;

fuzz_target!(|body: &[u8]| {
    let limits = Limits::default();
    if let Ok(events) = parse_batch(body, NOW_MS, &limits) {
        assert!(!events.is_empty() && events.len() <= limits.max_events);
        for e in &events {
            assert!((1..=64).contains(&e.name.len()));
            assert!((8..=128).contains(&e.id.len()) || e.id.starts_with("h-"));
            assert!(e.ts + 7 * 24 * 3_600_000 >= NOW_MS && e.ts <= NOW_MS + 300_000);
            assert!(serde_json::to_vec(&e.props).map_or(false, |p| p.len() <= limits.max_props_bytes));
        }
    }
});
