//! Plans → a pure flagd flag set. A tier becomes `fractional` on an explicit bucketing key
//! (`flag key + targetingKey`, flagd's own default, so raising a tier never moves a visitor out),
//! the allowlist becomes `in`, the denylist a negated `in` that wins, and `requires` inlines the
//! required flag's rule. The result is plain flagd: any flagd evaluator gives the same answers.

use serde_json::{json, Map, Value};

use crate::control::error::ControlError;
use crate::control::plan::{is_rule, ControlledFlag, Status};
use crate::control::state::{Caller, ControlState};
use crate::flags::logic::Rule;
use crate::flags::split::{ROLLOUT_SALT, SHARE_BUCKETS};

/// flagd's schema URL, stamped on every compiled set.
pub const FLAGD_SCHEMA: &str = "https://flagd.dev/schema/v0/flags.json";
/// How deep `requires` may chain (validation refuses cycles; this bounds the inlining).
pub const MAX_REQUIRES_DEPTH: usize = 8;

/// The flagd document of the state: every flag with its plan applied, the kill switch over all.
pub fn compile(state: &ControlState) -> Value {
    // The set's own metadata only: flagd hands it to every flag's answer, so a key of ours
    // would show in each OFREP answer's metadata. The revision travels in the KV envelope.
    let metadata = state.metadata.clone();
    let flags: Map<String, Value> = state
        .flags
        .iter()
        .map(|(key, flag)| (key.clone(), compile_flag(state, key, flag)))
        .collect();
    let mut doc = json!({"$schema": FLAGD_SCHEMA, "metadata": metadata, "flags": flags});
    if !state.evaluators.is_empty() {
        doc["$evaluators"] = Value::Object(state.evaluators.clone());
    }
    doc
}

/// What the control plane publishes for `doc` (a flagd document, plus `plans` by flag key) once
/// imported: `scripts/dev`'s flag set, compiled without a server.
///
/// ```
/// use pilot_gate_core::control::compile::compile_document;
/// let doc = serde_json::json!({"flags": {"f": {"state": "ENABLED",
///     "variants": {"on": true, "off": false}, "defaultVariant": "off"}},
///     "plans": {"f": {"tier": 0}}});
/// assert_eq!(compile_document(&doc).unwrap()["flags"]["f"]["defaultVariant"], "off");
/// ```
pub fn compile_document(doc: &Value) -> Result<Value, ControlError> {
    let mut state = ControlState::default();
    state.import(doc, &Caller::system(0))?;
    Ok(compile(&state))
}

fn compile_flag(state: &ControlState, key: &str, flag: &ControlledFlag) -> Value {
    let mut def = flag.definition.clone();
    let Some(obj) = def.as_object_mut() else {
        return def;
    };
    let condition = if state.kill.is_some() {
        Value::Bool(false)
    } else {
        admitted(state, key, 0)
    };
    let own = obj.remove("targeting").filter(is_rule);
    match (condition, own) {
        (Value::Bool(true), Some(own)) => {
            obj.insert("targeting".into(), own);
        }
        (Value::Bool(true), None) => {
            obj.insert("defaultVariant".into(), variant(&flag.plan.on));
        }
        (Value::Bool(false), _) => {
            let off = flag.plan.fallback.as_ref().unwrap_or(&flag.plan.off);
            obj.insert("defaultVariant".into(), variant(off));
        }
        (cond, own) => {
            let on = own.unwrap_or_else(|| variant(&flag.plan.on));
            let off = variant(&flag.plan.off);
            obj.insert("targeting".into(), json!({"if": [cond, on, off]}));
        }
    }
    def
}

/// A plan's variant as flagd names it: its name, or `null` for none (an empty name, see
/// [`Plan::on`](crate::control::plan::Plan::on)), which leaves the caller's own default.
fn variant(name: &str) -> Value {
    if name.is_empty() {
        Value::Null
    } else {
        Value::from(name)
    }
}

/// The JsonLogic condition under which `key`'s plan admits a context (before the flag's own
/// targeting): `true`/`false` when it does not depend on the context.
pub fn admitted(state: &ControlState, key: &str, depth: usize) -> Value {
    let Some(flag) = state.flags.get(key) else {
        return Value::Bool(false);
    };
    let plan = &flag.plan;
    let disabled = flag.definition.get("state").and_then(Value::as_str) == Some("DISABLED");
    if plan.tier == 0 || matches!(plan.status, Status::Draft | Status::RolledBack) || disabled {
        return Value::Bool(false);
    }
    let mut all = Vec::new();
    if !plan.deny.is_empty() {
        all.push(json!({"!": {"in": [{"var": "targetingKey"}, plan.deny]}}));
    }
    for required in &plan.requires {
        match required_on(state, required, depth + 1) {
            Value::Bool(true) => {}
            Value::Bool(false) => return Value::Bool(false),
            cond => all.push(cond),
        }
    }
    // A flag that splits by its own rule is rolled out on a separate bucketing key, so the
    // rollout's share and the flag's own split are independent.
    let salted = flag.own_rule().is_some();
    match (share(key, plan.pct(), salted), plan.allow.is_empty()) {
        (Value::Bool(true), _) => {}
        (Value::Bool(false), true) => return Value::Bool(false),
        (Value::Bool(false), false) => all.push(allowed(&plan.allow)),
        (cond, true) => all.push(cond),
        (cond, false) => all.push(json!({"or": [allowed(&plan.allow), cond]})),
    }
    match all.len() {
        0 => Value::Bool(true),
        1 => all.remove(0),
        _ => json!({"and": all}),
    }
}

/// True when `key` is on for the context: it resolves to a variant whose value is `true` (a
/// boolean flag), or to its plan's `on` variant (any other flag). Its own rule is inlined; a
/// rule that picks nothing falls to the default variant, as in flagd.
fn required_on(state: &ControlState, key: &str, depth: usize) -> Value {
    let Some(flag) = state.flags.get(key) else {
        return Value::Bool(false);
    };
    if depth > MAX_REQUIRES_DEPTH || state.kill.is_some() {
        return Value::Bool(false);
    }
    let on_variants = on_variants(flag);
    let is_on = |v: &str| on_variants.iter().any(|o| o == v);
    let own = match flag.own_rule() {
        // A rule that does not compile answers PARSE_ERROR: never "on", and not inlined, so
        // the flags that require it stay loadable.
        Some(t) if Rule::compile(&pin(state, key, t, 0)).is_err() => Value::Bool(false),
        Some(t) => {
            let mut picks: Vec<Value> = on_variants
                .iter()
                .map(|v| Value::from(v.as_str()))
                .collect();
            if flag
                .definition
                .get("defaultVariant")
                .and_then(Value::as_str)
                .is_some_and(is_on)
            {
                picks.push(Value::Null);
            }
            json!({"in": [pin(state, key, t, 0), picks]})
        }
        None => Value::Bool(!flag.plan.on.is_empty() && is_on(&flag.plan.on)),
    };
    match (admitted(state, key, depth), own) {
        (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
        (a, Value::Bool(true)) => a,
        (Value::Bool(true), o) => o,
        (a, o) => json!({"and": [a, o]}),
    }
}

/// The variants that mean "on": those valued `true` in a boolean flag, else the plan's `on`.
fn on_variants(flag: &ControlledFlag) -> Vec<String> {
    let variants = flag.definition.get("variants").and_then(Value::as_object);
    match variants {
        Some(v) if v.values().all(Value::is_boolean) => v
            .iter()
            .filter(|(_, value)| value.as_bool() == Some(true))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => vec![flag.plan.on.clone()],
    }
}

/// `rule` made to mean in another flag what it means in `key`'s: `$ref`s inlined, implicit
/// `fractional` buckets given `key`'s bucketing key, `$flagd.flagKey` replaced by `key`.
fn pin(state: &ControlState, key: &str, rule: &Value, depth: usize) -> Value {
    if depth > MAX_PIN_DEPTH {
        return Value::Null;
    }
    match rule {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| pin(state, key, v, depth + 1))
                .collect(),
        ),
        Value::Object(o) if o.len() == 1 => {
            let (op, args) = o.iter().next().expect("one entry");
            match (op.as_str(), args) {
                ("$ref", Value::String(name)) => match state.evaluators.get(name) {
                    Some(r) => pin(state, key, r, depth + 1),
                    None => Value::Null,
                },
                ("var", Value::String(v)) if v == "$flagd.flagKey" => Value::String(key.to_owned()),
                ("fractional", Value::Array(a)) if a.first().is_some_and(Value::is_array) => {
                    let mut a: Vec<Value> =
                        a.iter().map(|v| pin(state, key, v, depth + 1)).collect();
                    a.insert(0, json!({"cat": [key, {"var": "targetingKey"}]}));
                    json!({"fractional": a})
                }
                _ => json!({op.clone(): pin(state, key, args, depth + 1)}),
            }
        }
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), pin(state, key, v, depth + 1)))
                .collect(),
        ),
        v => v.clone(),
    }
}

/// How deep [`pin`] follows a rule (and `$ref`s within it).
const MAX_PIN_DEPTH: usize = 64;

/// `pct` % of targeting keys, by flagd's `fractional` on `key + targetingKey` (flagd's default
/// key, and the gate's `in_rollout`), or on `key + "/rollout/" + targetingKey` when `salted`.
fn share(key: &str, pct: u8, salted: bool) -> Value {
    let bucketing = if salted {
        json!({"cat": [key, ROLLOUT_SALT, {"var": "targetingKey"}]})
    } else {
        json!({"cat": [key, {"var": "targetingKey"}]})
    };
    match pct {
        0 => Value::Bool(false),
        100 => Value::Bool(true),
        p => json!({"==": [
            {"fractional": [
                bucketing,
                [SHARE_BUCKETS[0], p],
                [SHARE_BUCKETS[1], 100 - p]
            ]},
            SHARE_BUCKETS[0]
        ]}),
    }
}

fn allowed(allow: &[String]) -> Value {
    json!({"in": [{"var": "targetingKey"}, allow]})
}
