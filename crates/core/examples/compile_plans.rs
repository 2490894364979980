//! Compiles a flag set with rollout plans (a flagd document plus `plans`, as
//! `PUT /api/admin/flagset` takes it) into the pure flagd document that the control plane
//! publishes, and prints it. The differential test feeds the output to flagd-core and to
//! pilot-gate's engine.
//!
//!     cargo run --example compile_plans -- flags/demo.json > compiled.json

use pilot_gate_core::control::compile::compile_document;
use pilot_gate_core::http::problem::Problem;
use serde_json::Value;

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: compile_plans FLAGSET.json > compiled.json");
        std::process::exit(2)
    });
    let doc: Value = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| {
            eprintln!("compile_plans: {path}: {e}");
            std::process::exit(2)
        });
    match compile_document(&doc) {
        Ok(compiled) => println!("{compiled}"),
        Err(e) => {
            eprintln!("compile_plans: {path}: {}", e.detail());
            std::process::exit(1);
        }
    }
}
