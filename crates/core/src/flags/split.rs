//! Which visitors a flag's rollout share placed. The control plane compiles a tier into a
//! `fractional` over `flag key + targetingKey` (or `flag key + ROLLOUT_SALT + targetingKey` for
//! a flag with a rule of its own) with the buckets `in` and `out`, after the deny-list and every
//! `requires`, and beside the allowlist. An evaluation that reaches the share placed the visitor
//! at random (pilot or control); one that never reaches it (denied, allowlisted, a required flag
//! off) placed the visitor outside the random split, and the guards count such visitors apart:
//! an arm holds eligible visitors only, so its expected share is the tier's.

use serde_json::Value;

/// Between the flag key and the targeting key in the rollout's bucketing key of a flag that has
/// its own targeting.
pub const ROLLOUT_SALT: &str = "/rollout/";
/// The share's buckets: admitted, not admitted.
pub const SHARE_BUCKETS: [&str; 2] = ["in", "out"];

/// Whether `rule` holds `key`'s rollout share (as the control plane compiles it).
///
/// ```
/// use pilot_gate_core::flags::split::holds_share;
/// use serde_json::json;
/// let share = json!({"==": [{"fractional": [
///     {"cat": ["pilot", {"var": "targetingKey"}]}, ["in", 10], ["out", 90]]}, "in"]});
/// assert!(holds_share(&json!({"if": [share, "on", "off"]}), "pilot"));
/// assert!(!holds_share(&json!({"if": [share, "on", "off"]}), "other"));
/// ```
pub fn holds_share(rule: &Value, key: &str) -> bool {
    match rule {
        Value::Object(m) => m.iter().any(|(op, args)| {
            (op == "fractional" && is_compiled_share(args, key)) || holds_share(args, key)
        }),
        Value::Array(a) => a.iter().any(|v| holds_share(v, key)),
        _ => false,
    }
}

/// `fractional`'s arguments as the compiler writes `key`'s share.
fn is_compiled_share(args: &Value, key: &str) -> bool {
    let Some([bucketing, rest @ ..]) = args.as_array().map(Vec::as_slice) else {
        return false;
    };
    let Some(cat) = bucketing.get("cat").and_then(Value::as_array) else {
        return false;
    };
    let targeting_key = serde_json::json!({"var": "targetingKey"});
    let bucketing_ok = match cat.as_slice() {
        [k, tk] => k == key && *tk == targeting_key,
        [k, salt, tk] => k == key && salt == ROLLOUT_SALT && *tk == targeting_key,
        _ => false,
    };
    bucketing_ok && buckets_are_share(rest.iter().map(|b| b.get(0).and_then(Value::as_str)))
}

/// Whether `names` are the share's buckets, in order.
fn buckets_are_share<'a>(names: impl Iterator<Item = Option<&'a str>>) -> bool {
    names.eq(SHARE_BUCKETS.iter().map(|s| Some(*s)))
}

/// Whether a `fractional` evaluated on `input` into `buckets` (their names) is `flag_key`'s
/// share for `targeting_key`.
pub fn is_share<'a>(
    input: &str,
    buckets: impl Iterator<Item = Option<&'a str>>,
    flag_key: &str,
    targeting_key: &str,
) -> bool {
    let Some(rest) = input.strip_prefix(flag_key) else {
        return false;
    };
    let tk = rest.strip_prefix(ROLLOUT_SALT).unwrap_or(rest);
    (tk == targeting_key) && buckets_are_share(buckets)
}
