//! `PUT /api/admin/flagset`: a whole flagd document (plus `plans` and `metrics`) becomes the
//! state. A flag
//! whose targeting does not compile is kept, as flagd loads it: it answers `PARSE_ERROR` for
//! itself alone, and the answer lists every such flag with the path of its bad rule.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::control::error::ControlError;
use crate::control::input::{parse_flag, valid_key, Origin, SetContext};
use crate::control::plan::ControlledFlag;
use crate::control::state::{Caller, Change, ControlState};
use crate::evidence::metric;

impl ControlState {
    /// `PUT /api/admin/flagset`: a whole flagd document (plus optional `plans` by flag key)
    /// becomes the set; flags without a plan enter at the top tier, complete.
    pub fn import(&mut self, doc: &Value, caller: &Caller) -> Result<Change, ControlError> {
        let Some(flags) = doc.get("flags").and_then(Value::as_object) else {
            return Err(ControlError::invalid(
                "/flags",
                "required: a flagd document has \"flags\": {...}",
            ));
        };
        let object = |field: &str| -> Result<Map<String, Value>, ControlError> {
            match doc.get(field) {
                None => Ok(Map::new()),
                Some(Value::Object(m)) => Ok(m.clone()),
                Some(_) => Err(ControlError::invalid(
                    format!("/{field}"),
                    "must be an object",
                )),
            }
        };
        let (evaluators, metadata, plans) = (
            object("$evaluators")?,
            object("metadata")?,
            object("plans")?,
        );
        if let Some(key) = plans.keys().find(|k| !flags.contains_key(*k)) {
            return Err(ControlError::invalid(
                format!("/plans/{key}"),
                "no such flag in /flags",
            ));
        }
        let metrics = metric::parse(doc.get("metrics")).map_err(ControlError::fields)?;
        let mut next = ControlState {
            evaluators,
            metadata,
            metrics,
            kill: self.kill.clone(),
            pending: self.pending.clone(),
            next_request: self.next_request,
            revision: self.revision,
            flags: BTreeMap::new(),
        };
        // Flags whose targeting does not compile: kept, as flagd keeps them (each answers
        // PARSE_ERROR for itself alone), and listed in the answer with their paths.
        let mut parse_errors = Vec::new();
        for (key, definition) in flags {
            if !valid_key(key) {
                return Err(ControlError::invalid(
                    format!("/flags/{key}"),
                    "a flag key is 1 to 64 of A-Z a-z 0-9 _ - .",
                ));
            }
            // Without a plan the flag stays exactly as defined: at the top tier, serving its
            // default variant (or its own rule) to everyone.
            let plan =
                plans
                    .get(key)
                    .cloned()
                    .unwrap_or_else(|| match definition.get("defaultVariant") {
                        Some(Value::String(d)) => json!({"on": d}),
                        // No default variant: none is served, as flagd serves none.
                        _ => json!({"on": null}),
                    });
            let body = json!({"definition": definition, "plan": plan});
            let known = |k: &str| flags.contains_key(k);
            let set = SetContext {
                evaluators: &next.evaluators,
                metrics: &next.metrics,
                known: &known,
            };
            let (definition, mut plan, rule_error) =
                parse_flag(key, &body, "", None, Origin::Import, &set)
                    .map_err(|e| rebase(e, key))?;
            if let Some(e) = rule_error {
                let path = rebase_path(&e.path, key);
                parse_errors.push(json!({"flag": key, "path": path, "detail": e.detail}));
            }
            plan.tier_since_ms = caller.now_ms;
            let revision = self.flags.get(key).map_or(1, |f| f.revision + 1);
            next.flags.insert(
                key.clone(),
                ControlledFlag {
                    definition,
                    plan,
                    revision,
                },
            );
        }
        next.check_requires()?;
        let before: Vec<String> = self.flags.keys().cloned().collect();
        let evidence = json!({
            "flags": next.flags.keys().collect::<Vec<_>>(),
            "removed": before.iter().filter(|k| !next.flags.contains_key(*k)).collect::<Vec<_>>(),
            "parseErrors": parse_errors,
        });
        *self = next;
        self.revision += 1;
        let audit = self.entry(
            caller,
            "import",
            None,
            Value::Null,
            json!({"revision": self.revision}),
            None,
            evidence,
        );
        let mut body = self.list_view(caller.now_ms);
        body["parseErrors"] = json!(parse_errors);
        Ok(Change {
            status: 200,
            body,
            audit: vec![audit],
        })
    }
}

/// An import error's path, under `/flags/{key}` or `/plans/{key}`.
fn rebase(e: ControlError, key: &str) -> ControlError {
    match e {
        ControlError::Invalid { path, detail } => ControlError::Invalid {
            path: rebase_path(&path, key),
            detail,
        },
        e => e,
    }
}

/// A path under one flag's `/definition` or `/plan`, as a path in the imported document.
fn rebase_path(path: &str, key: &str) -> String {
    match path.strip_prefix("/definition") {
        Some(rest) => format!("/flags/{key}{rest}"),
        None => format!("/plans/{key}{}", path.strip_prefix("/plan").unwrap_or(path)),
    }
}
