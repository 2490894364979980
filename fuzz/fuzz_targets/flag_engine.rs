//! Any flag document and any context (the input split at its first NUL byte): loading and
//! evaluating never panic, and a resolved value is always the value of the variant it names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pilot_gate_core::flags::evaluate::Context;
use pilot_gate_core::flags::model::FlagSet;
use pilot_gate_core::flags::ofrep::bulk;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let (doc, ctx) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let Ok(doc) = std::str::from_utf8(doc) else { return };
    let Ok(set) = FlagSet::load(doc) else { return };
    let ctx: Value = serde_json::from_slice(ctx).unwrap_or(Value::Null);
    let mut context = Context::new(ctx, 1_800_000_000);
    for (key, flag) in &set.flags {
        let r = set.evaluate(key, &mut context);
        if let (Some(value), Some(variant)) = (&r.value, &r.variant) {
            assert_eq!(flag.variants.get(variant), Some(value), "{key}");
        }
        assert!(!(r.outside && !flag.share), "{key}: outside without a share");
    }
    let (body, handed) = bulk(&set, &mut context);
    assert_eq!(body["flags"].as_array().map(Vec::len), Some(set.flags.len()));
    assert!(handed.len() <= set.flags.len());
});
