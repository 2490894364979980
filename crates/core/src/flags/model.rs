//! A flag set in flagd's flag-definition format (schema `https://flagd.dev/schema/v0/flags.json`),
//! loaded as flagd loads it: a document that is not JSON or not a flag set is refused whole;
//! inside a readable set, a broken flag is kept, answers an error for itself alone, and is
//! reported by name and field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::flags::logic::{Rule, MAX_RULE_DEPTH};
use crate::flags::split::holds_share;

/// A loaded flag set: every rule compiled once.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagSet {
    /// The flags, by key.
    pub flags: BTreeMap<String, Flag>,
    /// The flag set's own `metadata`.
    pub metadata: Map<String, Value>,
    /// What is wrong with individual flags (each still answers, with an error).
    pub issues: Vec<LoadIssue>,
}

/// `ENABLED` or `DISABLED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Evaluated.
    Enabled,
    /// Answers `DISABLED` with no value.
    Disabled,
}

/// What a flag's targeting is.
#[derive(Debug, Clone, PartialEq)]
pub enum Targeting {
    /// No targeting (absent or `{}`): the default variant, `STATIC`.
    None,
    /// A compiled rule.
    Rule(Rule),
    /// A rule that does not compile (unknown operator or `$ref`): `PARSE_ERROR`.
    Broken(String),
}

/// One flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// Whether it is evaluated.
    pub state: State,
    /// Variant name -> value.
    pub variants: Map<String, Value>,
    /// The variant when targeting gives none; flagd allows none.
    pub default_variant: Option<String>,
    /// The targeting rule.
    pub targeting: Targeting,
    /// The flag set's metadata merged with the flag's (the flag's wins).
    pub metadata: Map<String, Value>,
    /// `metadata.fractional == "v3"`: `fractional` hashes CBOR (flagd 1.0); else v2.
    pub fractional_v3: bool,
    /// A structural fault (state, variants, default variant): the flag answers `GENERAL`.
    pub fault: Option<String>,
    /// Its rule holds its rollout share (`pilot_gate_core::flags::split`): an evaluation that does not
    /// reach it placed the visitor outside the random split.
    pub share: bool,
}

/// A fault of one flag, found while loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadIssue {
    /// The flag's key.
    pub flag: String,
    /// The field at fault, as a path (`targeting/if/0`, `defaultVariant`).
    pub field: String,
    /// What is wrong.
    pub detail: String,
}

impl std::fmt::Display for LoadIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "flag {:?}, {}: {}", self.flag, self.field, self.detail)
    }
}

/// Why a document was refused whole (the set in force stays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Not JSON.
    NotJson(String),
    /// JSON, but not a flag set.
    NotAFlagSet(&'static str),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotJson(e) => write!(f, "the flag set is not JSON: {e}"),
            LoadError::NotAFlagSet(e) => write!(f, "the document is not a flag set: {e}"),
        }
    }
}

impl FlagSet {
    /// A set without flags: every key is `FLAG_NOT_FOUND`.
    pub fn empty() -> FlagSet {
        FlagSet {
            flags: BTreeMap::new(),
            metadata: Map::new(),
            issues: Vec::new(),
        }
    }

    /// Loads a flagd document.
    pub fn load(text: &str) -> Result<FlagSet, LoadError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| LoadError::NotJson(e.to_string()))?;
        FlagSet::from_value(&doc)
    }

    /// Loads a parsed flagd document.
    pub fn from_value(doc: &Value) -> Result<FlagSet, LoadError> {
        let Value::Object(doc) = doc else {
            return Err(LoadError::NotAFlagSet("expected an object"));
        };
        let Some(Value::Object(flags)) = doc.get("flags") else {
            return Err(LoadError::NotAFlagSet(r#"expected "flags": {...}"#));
        };
        let metadata = match doc.get("metadata") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        let evaluators = match doc.get("$evaluators") {
            Some(Value::Object(e)) => e.clone(),
            _ => Map::new(),
        };
        let mut issues = Vec::new();
        let flags = flags
            .iter()
            .map(|(key, def)| {
                let flag = load_flag(key, def, &metadata, &evaluators, |field, detail| {
                    issues.push(LoadIssue {
                        flag: key.clone(),
                        field,
                        detail,
                    })
                });
                (key.clone(), flag)
            })
            .collect();
        Ok(FlagSet {
            flags,
            metadata,
            issues,
        })
    }
}

fn load_flag(
    key: &str,
    def: &Value,
    set_metadata: &Map<String, Value>,
    evaluators: &Map<String, Value>,
    mut issue: impl FnMut(String, String),
) -> Flag {
    let empty = Map::new();
    let def = match def {
        Value::Object(d) => d,
        _ => {
            issue("".into(), "a flag must be an object".into());
            &empty
        }
    };
    let mut fault = None;
    let mut fail = |field: &str, detail: String, issue: &mut dyn FnMut(String, String)| {
        fault.get_or_insert_with(|| format!("{field}: {detail}"));
        issue(field.to_owned(), detail);
    };
    let state = match def.get("state").and_then(Value::as_str) {
        Some("ENABLED") => State::Enabled,
        Some("DISABLED") => State::Disabled,
        _ => {
            fail("state", "must be ENABLED or DISABLED".into(), &mut issue);
            State::Enabled
        }
    };
    let variants = match def.get("variants") {
        Some(Value::Object(v)) if !v.is_empty() => v.clone(),
        _ => {
            fail("variants", "must be a non-empty object".into(), &mut issue);
            Map::new()
        }
    };
    let default_variant = match def.get("defaultVariant") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => {
            if !variants.contains_key(d) {
                fail(
                    "defaultVariant",
                    format!("{d:?} is not one of the variants"),
                    &mut issue,
                );
            }
            Some(d.clone())
        }
        Some(_) => {
            fail("defaultVariant", "must be a string".into(), &mut issue);
            None
        }
    };
    let mut share = false;
    let targeting = match def.get("targeting") {
        None | Some(Value::Null) => Targeting::None,
        Some(Value::Object(t)) if t.is_empty() => Targeting::None,
        Some(t) => match resolve_refs(t, evaluators, 0).map_err(|e| ("targeting".to_owned(), e)) {
            Err((field, detail)) => {
                issue(field, detail.clone());
                Targeting::Broken(detail)
            }
            Ok(t) => match Rule::compile(&t) {
                Ok(rule) => {
                    share = holds_share(&t, key);
                    Targeting::Rule(rule)
                }
                Err(e) => {
                    let detail = e.detail.clone();
                    issue(format!("targeting{}", e.path), e.detail);
                    Targeting::Broken(detail)
                }
            },
        },
    };
    let mut metadata = set_metadata.clone();
    if let Some(Value::Object(m)) = def.get("metadata") {
        metadata.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let fractional_v3 = metadata.get("fractional").and_then(Value::as_str) == Some("v3");
    Flag {
        state,
        variants,
        default_variant,
        targeting,
        metadata,
        fractional_v3,
        fault,
        share,
    }
}

/// Replaces every `{"$ref": "name"}` with `$evaluators.name` (itself resolved).
fn resolve_refs(v: &Value, evaluators: &Map<String, Value>, depth: usize) -> Result<Value, String> {
    if depth > MAX_RULE_DEPTH {
        return Err("$ref evaluators nest too deep (or refer to themselves)".into());
    }
    Ok(match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("$ref") => {
            let name = m["$ref"].as_str().unwrap_or_default();
            let target = evaluators
                .get(name)
                .ok_or_else(|| format!("unknown $ref {name:?} (not in $evaluators)"))?;
            resolve_refs(target, evaluators, depth + 1)?
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), resolve_refs(x, evaluators, depth + 1)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| resolve_refs(x, evaluators, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}
