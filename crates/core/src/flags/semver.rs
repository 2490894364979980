//! `sem_ver` as flagd's reference evaluator reads versions: a leading `v`/`V` is dropped,
//! `1` and `1.2` are `1.0.0` and `1.2.0`, anything else must be strict SemVer 2.0. Build
//! metadata does not count in comparisons.

use semver::Version;
use serde_json::Value;

use crate::flags::coerce::to_js_string;

/// A version operand (a string or a number), normalized; `None` when it is not a version.
///
/// ```
/// use pilot_gate_core::flags::semver::normalize;
/// use serde_json::json;
/// assert_eq!(normalize(&json!("v1.2.3")).unwrap().to_string(), "1.2.3");
/// assert_eq!(normalize(&json!(1.5)).unwrap().to_string(), "1.5.0");
/// assert!(normalize(&json!("1.2.3.4")).is_none());
/// ```
pub fn normalize(raw: &Value) -> Option<Version> {
    let text = match raw {
        Value::String(_) | Value::Number(_) => to_js_string(raw),
        _ => return None,
    };
    let text = text.trim();
    let text = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('V'))
        .unwrap_or(text);
    if let Ok(v) = Version::parse(text) {
        return Some(v);
    }
    let mut parts = text.split('.');
    let major = parts.next()?;
    let minor = parts.next();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if parts.next().is_some() || !numeric(major) || minor.is_some_and(|m| !numeric(m)) {
        return None;
    }
    Some(Version::new(
        major.parse().ok()?,
        minor.map_or(Ok(0), str::parse).ok()?,
        0,
    ))
}

/// `{"sem_ver": [a, op, b]}`: `=`, `!=`, `<`, `<=`, `>`, `>=`, `^` (same major), `~` (same
/// major and minor); `None` for anything else (flagd then answers the default variant).
pub fn compare(a: &Value, op: &Value, b: &Value) -> Option<bool> {
    let (x, y) = (normalize(a)?, normalize(b)?);
    let ord = x.cmp_precedence(&y);
    Some(match to_js_string(op).as_str() {
        "=" => ord.is_eq(),
        "!=" => ord.is_ne(),
        "<" => ord.is_lt(),
        "<=" => ord.is_le(),
        ">" => ord.is_gt(),
        ">=" => ord.is_ge(),
        "^" => x.major == y.major,
        "~" => x.major == y.major && x.minor == y.minor,
        _ => return None,
    })
}
