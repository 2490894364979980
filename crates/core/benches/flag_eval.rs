//! Native cost of deciding `pilot` through the flag engine (the compiled demo set: allowlist,
//! then `fractional` at 10 %), next to the direct `in_rollout` call. Prints ns per evaluation; not a
//! test. Run: `cargo bench --bench flag_eval`.

use std::hint::black_box;
use std::time::Instant;

use pilot_gate_core::bucket::in_rollout;
use pilot_gate_core::flags::evaluate::Context;
use pilot_gate_core::flags::model::FlagSet;
use serde_json::json;

fn best_ns(calls: usize, mut run: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut hits = 0;
    for _ in 0..5 {
        let start = Instant::now();
        hits = run();
        best = best.min(start.elapsed().as_nanos() as f64 / calls as f64);
    }
    (best, hits)
}

fn main() {
    // The demo set as the control plane publishes it (pilot's plan compiled into its rule).
    let doc: serde_json::Value = serde_json::from_str(include_str!("../../../flags/demo.json"))
        .expect("the demo set is JSON");
    let compiled = pilot_gate_core::control::compile::compile_document(&doc).expect("it compiles");
    let set = FlagSet::from_value(&compiled).expect("the demo set loads");
    let keys: Vec<String> = (0..4_096u64)
        .map(|i| format!("{:032x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();
    let rounds = 100usize;
    let calls = rounds * keys.len();
    let (direct, a) = best_ns(calls, || {
        let mut n = 0;
        for _ in 0..rounds {
            for k in &keys {
                n += usize::from(in_rollout(black_box("pilot"), black_box(k), 1_000));
            }
        }
        n
    });
    let (engine, b) = best_ns(calls, || {
        let mut n = 0;
        for _ in 0..rounds {
            for k in &keys {
                // As the edge does per gated request: the context, then the flag.
                let mut ctx =
                    Context::new(json!({"targetingKey": k, "path": "/try", "bot": false}), 0);
                n += usize::from(
                    black_box(&set).evaluate("pilot", &mut ctx).value == Some(json!(true)),
                );
            }
        }
        n
    });
    assert_eq!(a, b, "the engine and in_rollout agree on every key");
    println!("in_rollout: {direct:.1} ns/call; pilot through the flag engine (context + evaluation): {engine:.1} ns/call ({b} of {calls} in)");
}
