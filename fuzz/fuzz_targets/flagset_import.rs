//! Any JSON as `PUT /api/admin/flagset`: the import never panics, and a set it accepts compiles
//! into a flagd document that the engine loads, with a fault only in the flags whose rules the
//! import's answer lists as not compiling (each answers PARSE_ERROR for itself alone).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pilot_gate_core::control::compile::compile;
use pilot_gate_core::control::state::{Caller, ControlState};
use pilot_gate_core::flags::model::FlagSet;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else { return };
    let mut state = ControlState::default();
    let caller = Caller::system(1_800_000_000_000);
    if let Ok(change) = state.import(&doc, &caller) {
        let listed: Vec<&str> = change.body["parseErrors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["flag"].as_str()).collect())
            .unwrap_or_default();
        let compiled = compile(&state);
        let set = FlagSet::from_value(&compiled).expect("a compiled set loads");
        for issue in &set.issues {
            assert!(listed.contains(&issue.flag.as_str()), "{issue:?} not listed in {listed:?}");
        }
    }
});
