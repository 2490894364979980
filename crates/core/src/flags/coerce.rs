//! JavaScript's coercions, as the reference evaluator (flagd-core on json-logic-engine) applies
//! them: truthiness, numbers, strings, and loose equality.

use serde_json::{Number, Value};

/// JsonLogic truthiness: `null`, `false`, `0`, `""` and `[]` are false; everything else true.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// `+v` in JavaScript for a primitive; `None` for objects and arrays, which json-logic-engine
/// refuses in arithmetic and numeric comparisons (and for strings that are not numbers: NaN).
pub fn to_number(v: &Value) -> Option<f64> {
    match v {
        Value::Null => Some(0.0),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => string_to_number(s),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// `Number(s)` in JavaScript: trimmed; empty is 0; decimal, exponent, `0x`/`0o`/`0b`, Infinity.
pub fn string_to_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return Some(0.0);
    }
    for (lower, upper, radix) in [("0x", "0X", 16), ("0o", "0O", 8), ("0b", "0B", 2)] {
        if let Some(digits) = t.strip_prefix(lower).or_else(|| t.strip_prefix(upper)) {
            return u64::from_str_radix(digits, radix).ok().map(|n| n as f64);
        }
    }
    match t {
        "Infinity" | "+Infinity" => return Some(f64::INFINITY),
        "-Infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    // Rust accepts "inf"/"nan"; JavaScript does not.
    if t.bytes()
        .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
    {
        return None;
    }
    t.parse::<f64>().ok()
}

/// A number as JSON: an integer when it is one (as JavaScript prints `1.0` as `1`).
pub fn number_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        Value::Number(Number::from(f as i64))
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// `String(v)` in JavaScript, as `cat` and variant names use it.
pub fn to_js_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_string(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let mut out = String::new();
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                if !item.is_null() {
                    out.push_str(&to_js_string(item));
                }
            }
            out
        }
        Value::Object(_) => "[object Object]".to_owned(),
    }
}

fn number_string(n: &Number) -> String {
    if n.is_f64() {
        let f = n.as_f64().unwrap_or(0.0);
        // JavaScript prints integral values without a fraction (up to 1e21; beyond i64 this
        // falls back to Rust's form, a difference no flag rule meets).
        if f.fract() == 0.0 && f.abs() < 9.2e18 {
            return (f as i64).to_string();
        }
    }
    n.to_string()
}

/// JavaScript's `==` between JSON values (arrays and objects compare by identity in JavaScript,
/// so two of them are never equal here).
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(_) | Value::Object(_), Value::Array(_) | Value::Object(_)) => false,
        (Value::Array(_) | Value::Object(_), p) | (p, Value::Array(_) | Value::Object(_)) => {
            // The object becomes its string form, then compares as a primitive.
            let o = if matches!(a, Value::Array(_) | Value::Object(_)) {
                a
            } else {
                b
            };
            loose_eq(&Value::String(to_js_string(o)), p)
        }
        _ => match (to_number(a), to_number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// JavaScript's `===` between JSON values.
pub fn strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(_) | Value::Object(_), _) => false,
        _ => a == b,
    }
}
