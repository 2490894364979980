//! Evaluates every flag of a flagd flag set for each context read from standard input (one
//! JSON object per line) and prints one JSON object per line: `{flagKey: {value, variant,
//! reason, errorCode}}`. The differential test feeds the same contexts to flagd-core.
//!
//!     cargo run --example flags_eval -- flags/demo.json < contexts.jsonl

use std::io::{BufRead, Write};

use pilot_gate_core::flags::evaluate::Context;
use pilot_gate_core::flags::model::FlagSet;
use serde_json::{json, Map, Value};

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: flags_eval FLAGSET.json < contexts.jsonl");
        std::process::exit(2)
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("flags_eval: {path}: {e}");
        std::process::exit(2)
    });
    let set = FlagSet::load(&text).unwrap_or_else(|e| {
        eprintln!("flags_eval: {path}: {e}");
        std::process::exit(1)
    });
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin is readable");
        if line.trim().is_empty() {
            continue;
        }
        let ctx: Value = serde_json::from_str(&line).expect("each line is a JSON context");
        let mut ctx = Context::new(ctx, now_s);
        let mut answers = Map::new();
        for key in set.flags.keys().map(String::as_str).chain(["no-such-flag"]) {
            let r = set.evaluate(key, &mut ctx);
            answers.insert(
                key.to_owned(),
                json!({
                    "value": r.value,
                    "variant": r.variant,
                    "reason": r.reason.as_str(),
                    "errorCode": r.error.as_ref().map(|(code, _)| code.as_str()),
                }),
            );
        }
        writeln!(out, "{}", Value::Object(answers)).expect("stdout is writable");
    }
}
