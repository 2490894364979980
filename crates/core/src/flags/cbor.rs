//! Deterministic CBOR (RFC 8949 §4.2.1, preferred serialization) of JSON values: the byte input
//! of `fractional` v3, as flagd's accepted ADR "fractional-non-string-rand-units" specifies.
//! Integral numbers within [-2^63, 2^64-1] are integers; others are the shortest float that
//! holds them exactly; map keys are sorted by their encoded bytes.

use serde_json::Value;

/// The deterministic CBOR encoding of `v`, or `None` for `null` (not a bucketing input; a
/// `null` inside an object or array is CBOR's `null`).
///
/// ```
/// use pilot_gate_core::flags::cbor::encode;
/// use serde_json::json;
/// assert_eq!(encode(&json!("a")), Some(vec![0x61, b'a']));
/// assert_eq!(encode(&json!(["f", "k"])), Some(vec![0x82, 0x61, b'f', 0x61, b'k']));
/// assert_eq!(encode(&json!(1.5)), Some(vec![0xf9, 0x3e, 0x00]));
/// assert_eq!(encode(&json!(-1)), Some(vec![0x20]));
/// ```
pub fn encode(v: &Value) -> Option<Vec<u8>> {
    if v.is_null() {
        return None;
    }
    let mut out = Vec::new();
    write(v, &mut out);
    Some(out)
}

fn write(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0xf6),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                head(0, u, out);
            } else if let Some(i) = n.as_i64() {
                // Negative: major type 1 carries -1 - i.
                head(1, (-1 - i) as u64, out);
            } else if let Some(f) = n.as_f64() {
                number(f, out);
            }
        }
        Value::String(s) => {
            head(3, s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            head(4, items.len() as u64, out);
            for item in items {
                write(item, out);
            }
        }
        Value::Object(map) => {
            let mut entries: Vec<(Vec<u8>, &Value)> = map
                .iter()
                .map(|(k, v)| {
                    let mut key = Vec::new();
                    head(3, k.len() as u64, &mut key);
                    key.extend_from_slice(k.as_bytes());
                    (key, v)
                })
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            head(5, entries.len() as u64, out);
            for (key, value) in entries {
                out.extend_from_slice(&key);
                write(value, out);
            }
        }
    }
}

/// A float: as an integer when it is one within range, else the shortest exact float.
fn number(f: f64, out: &mut Vec<u8>) {
    if f.fract() == 0.0 && f.is_finite() {
        if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
            return head(0, f as u64, out); // -0.0 lands here as 0
        }
        if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
            return head(1, (-1 - f as i64) as u64, out);
        }
    }
    let single = f as f32;
    if f64::from(single) == f || f.is_nan() {
        if let Some(half) = to_half(single) {
            out.push(0xf9);
            out.extend_from_slice(&half.to_be_bytes());
            return;
        }
        out.push(0xfa);
        out.extend_from_slice(&single.to_bits().to_be_bytes());
        return;
    }
    out.push(0xfb);
    out.extend_from_slice(&f.to_bits().to_be_bytes());
}

/// `f` as an IEEE half when that holds it exactly.
fn to_half(f: f32) -> Option<u16> {
    let bits = f.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x7f_ffff;
    if exp == 0xff {
        // Infinity or NaN (NaN canonical).
        return Some(if mant == 0 { sign | 0x7c00 } else { 0x7e00 });
    }
    if exp == 0 && mant == 0 {
        return Some(sign);
    }
    let e = exp - 127;
    if (-14..=15).contains(&e) {
        // Normal half: 10 mantissa bits.
        if mant & 0x1fff != 0 {
            return None;
        }
        return Some(sign | (((e + 15) as u16) << 10) | (mant >> 13) as u16);
    }
    if (-24..-14).contains(&e) {
        // Subnormal half: value = m * 2^-24.
        let full = mant | 0x80_0000; // implicit bit
        let shift = (-e - 14 + 13) as u32;
        if full & ((1 << shift) - 1) != 0 {
            return None;
        }
        return Some(sign | (full >> shift) as u16);
    }
    None
}

/// A major type and its argument, in the shortest form.
fn head(major: u8, arg: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    match arg {
        0..=23 => out.push(m | arg as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, arg as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(arg as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    }
}
