//! flagd's operators on top of JsonLogic, applied to evaluated arguments. An invalid use gives
//! `null`, so the flag answers its default variant, as flagd does.

use serde_json::Value;

use crate::flags::cbor;
use crate::flags::coerce::to_js_string;
use crate::flags::logic::{var, Env};
use crate::flags::semver;
use crate::flags::split::is_share;
use crate::gate::bucket::{murmur3_x86_32, pick};

/// The largest sum of `fractional` weights (flagd: `math.MaxInt32`).
pub const MAX_TOTAL_WEIGHT: u64 = i32::MAX as u64;

/// `fractional`: `[bucketBy?, [variant, weight?]...]`. v2 hashes `bucketBy` (a string) or
/// `flagKey + targetingKey`; v3 hashes the deterministic CBOR of `bucketBy` (any non-array
/// value) or of `[flagKey, targetingKey]`.
pub fn fractional(args: &[Value], env: &Env<'_>) -> Value {
    fractional_variant(args, env).unwrap_or(Value::Null)
}

fn fractional_variant(args: &[Value], env: &Env<'_>) -> Option<Value> {
    let first = args.first()?;
    let explicit = if env.fractional_v3 {
        !matches!(first, Value::Array(_))
    } else {
        matches!(first, Value::String(_))
    };
    let (input, buckets) = if explicit {
        (first.clone(), &args[1..])
    } else {
        let key = var(
            env.data,
            &Value::String("targetingKey".into()),
            &Value::Null,
        );
        let Value::String(key) = key else { return None };
        if key.is_empty() {
            return None;
        }
        let input = if env.fractional_v3 {
            Value::Array(vec![
                Value::String(env.flag_key.to_owned()),
                Value::String(key),
            ])
        } else {
            Value::String(format!("{}{key}", env.flag_key))
        };
        (input, args)
    };
    if let Value::String(input) = &input {
        // Read in place: this runs on every string-bucketed `fractional` at the edge.
        let names = buckets.iter().map(|b| b.get(0).and_then(Value::as_str));
        let key = env.data.get("targetingKey").and_then(Value::as_str);
        if is_share(input, names, env.flag_key, key.unwrap_or_default()) {
            env.share_reached.set(true);
        }
    }
    let hash = if env.fractional_v3 {
        murmur3_x86_32(&cbor::encode(&input)?, 0)
    } else {
        let Value::String(s) = &input else {
            return None;
        };
        murmur3_x86_32(s.as_bytes(), 0)
    };
    let mut variants = Vec::with_capacity(buckets.len());
    let mut weights = Vec::with_capacity(buckets.len());
    for entry in buckets {
        let Value::Array(entry) = entry else {
            return None;
        };
        let variant = match entry.first()? {
            v @ (Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null) => v,
            _ => return None,
        };
        if entry.len() > 2 {
            return None;
        }
        let weight = match entry.get(1) {
            None => 1,
            Some(Value::Number(n)) => {
                let w = n.as_f64()?;
                if w.fract() != 0.0 {
                    return None;
                }
                // Negative weights (a rollout calculation) count as 0.
                w.clamp(0.0, MAX_TOTAL_WEIGHT as f64 + 1.0) as u64
            }
            Some(_) => return None,
        };
        variants.push(variant);
        weights.push(weight);
    }
    if weights.iter().sum::<u64>() > MAX_TOTAL_WEIGHT {
        return None;
    }
    let weights: Vec<u32> = weights.into_iter().map(|w| w as u32).collect();
    pick(hash, &weights).map(|i| variants[i].clone())
}

/// `sem_ver`: `[version, operator, version]`.
pub fn sem_ver(args: &[Value]) -> Value {
    match args {
        [a, op, b] => semver::compare(a, op, b).map_or(Value::Null, Value::Bool),
        _ => Value::Null,
    }
}

/// `starts_with` / `ends_with`: `[string, affix]`, both strings.
pub fn string_match(args: &[Value], test: fn(&str, &str) -> bool) -> Value {
    match args {
        [Value::String(s), Value::String(affix)] => Value::Bool(test(s, affix)),
        _ => Value::Null,
    }
}

/// The variant name a rule's result stands for (`true` names the variant `"true"`).
pub fn variant_name(result: &Value) -> String {
    to_js_string(result)
}
