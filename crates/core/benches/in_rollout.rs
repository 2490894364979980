//! Native cost of one `in_rollout` call (murmur3 over flag + 32-hex targeting key, scaling,
//! compare). Prints ns per call; not a test. Run: `cargo bench --bench in_rollout`.

use std::hint::black_box;
use std::time::Instant;

use pilot_gate_core::bucket::in_rollout;

fn main() {
    // Realistic keys: the 32-hex ids of pg_uid cookies.
    let keys: Vec<String> = (0..4_096u64)
        .map(|i| format!("{:032x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();
    let rounds = 2_000usize;
    let calls = rounds * keys.len();
    let mut best_ns = f64::MAX;
    let mut inside = 0usize;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..rounds {
            for k in &keys {
                inside += usize::from(in_rollout(
                    black_box("pilot"),
                    black_box(k),
                    black_box(1_000),
                ));
            }
        }
        best_ns = best_ns.min(start.elapsed().as_nanos() as f64 / calls as f64);
    }
    println!("in_rollout: {best_ns:.1} ns/call (best of 5 runs x {calls} calls; {inside} in)");
}
