//! Any JSON as `PUT /api/admin/flagset`: the import never panics, and a set it accepts compiles
//! into a flagd document that the engine loads without a fault.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pilot_gate::core::control::compile::compile;
use pilot_gate::core::control::state::{Caller, ControlState};
use pilot_gate::core::flags::model::FlagSet;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else { return };
    let mut state = ControlState::default();
    let caller = Caller {
        actor: "fuzz".into(),
        now_ms: 1_800_000_000_000,
        if_match: None,
    };
    if state.import(&doc, &caller).is_ok() {
        let compiled = compile(&state);
        let set = FlagSet::from_value(&compiled).expect("a compiled set loads");
        assert!(set.issues.is_empty(), "{:?}", set.issues);
    }
});
