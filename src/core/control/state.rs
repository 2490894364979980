//! The control plane's whole state and every operation on it. The Durable Object loads the
//! state, calls one operation, stores the result with its audit entries, and publishes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::core::control::audit::AuditEntry;
use crate::core::control::command::{advance_refusals, apply, Command, Order};
use crate::core::control::error::ControlError;
use crate::core::control::guards::{Action, GuardState, Verdict};
use crate::core::control::input::{parse_flag, valid_key, Origin};
use crate::core::control::plan::{ControlledFlag, Plan};

/// The kill switch, when thrown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kill {
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: String,
    /// When, in ms since the epoch.
    pub at_ms: u64,
}

/// Every flag with its plan, the set's `$evaluators` and metadata, the kill switch, and the
/// revision (the version every change publishes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlState {
    /// Flags by key.
    pub flags: BTreeMap<String, ControlledFlag>,
    /// The set's shared rules (`$ref` targets).
    pub evaluators: Map<String, Value>,
    /// The set's flagd metadata (`flagSetId`...); `version` is set on publish.
    pub metadata: Map<String, Value>,
    /// The kill switch: every flag off while set.
    pub kill: Option<Kill>,
    /// Bumped by every change; the version of the set it publishes.
    pub revision: u64,
    /// The breaker's consecutive checks over its threshold, by flag.
    #[serde(default)]
    pub breaker: BTreeMap<String, BreakerMemory>,
}

/// The breaker's memory of one flag: its checks count once per minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerMemory {
    /// The minute of the last check.
    pub minute: u64,
    /// Consecutive minutes over the threshold before that minute.
    pub before: u32,
    /// Whether the last check was over the threshold.
    pub over: bool,
}

impl BreakerMemory {
    /// Consecutive minutes over the threshold before `minute`.
    ///
    /// ```
    /// use pilot_gate::core::control::state::BreakerMemory;
    /// let mut m = BreakerMemory::default();
    /// m.record(10, true);
    /// m.record(10, true); // the same minute counts once
    /// assert_eq!(m.strikes_before(11), 1);
    /// m.record(11, true);
    /// assert_eq!(m.strikes_before(12), 2);
    /// assert_eq!(m.strikes_before(13), 0, "a minute without a check breaks the run");
    /// m.record(12, false);
    /// assert_eq!(m.strikes_before(13), 0);
    /// ```
    pub fn strikes_before(&self, minute: u64) -> u32 {
        match minute.checked_sub(self.minute) {
            Some(0) => self.before,
            Some(1) if self.over => self.before + 1,
            _ => 0,
        }
    }

    /// Records a check at `minute`.
    pub fn record(&mut self, minute: u64, over: bool) {
        let before = self.strikes_before(minute);
        *self = BreakerMemory {
            minute,
            before,
            over,
        };
    }
}

/// Who asks, when, and with which preconditions.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The operator's name.
    pub actor: String,
    /// Now, in ms since the epoch.
    pub now_ms: u64,
    /// `If-Match`: the flag's `ETag` as the caller last read it.
    pub if_match: Option<String>,
}

/// What a successful change answers and records.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The response status (200, 201).
    pub status: u16,
    /// The response body.
    pub body: Value,
    /// The audit entries to append.
    pub audit: Vec<AuditEntry>,
}

impl ControlState {
    /// One flag as the API shows it.
    pub fn flag_view(&self, key: &str, now_ms: u64) -> Result<Value, ControlError> {
        let flag = self.get(key)?;
        Ok(json!({
            "key": key,
            "definition": flag.definition,
            "plan": flag.plan,
            "pct": flag.plan.pct(),
            "etag": flag.etag(),
            "blockers": blockers(&flag.plan, now_ms),
        }))
    }

    /// Every flag as the API shows it, with the kill switch and the revision.
    pub fn list_view(&self, now_ms: u64) -> Value {
        let flags: Vec<Value> = self
            .flags
            .keys()
            .filter_map(|k| self.flag_view(k, now_ms).ok())
            .collect();
        json!({"flags": flags, "kill": self.kill, "revision": self.revision})
    }

    fn get(&self, key: &str) -> Result<&ControlledFlag, ControlError> {
        self.flags
            .get(key)
            .ok_or_else(|| ControlError::FlagNotFound(key.to_owned()))
    }

    fn check_if_match(
        &self,
        key: &str,
        caller: &Caller,
        conflict: bool,
    ) -> Result<(), ControlError> {
        let (Some(want), Some(flag)) = (&caller.if_match, self.flags.get(key)) else {
            return Ok(());
        };
        let current = flag.etag();
        if want.trim() == current || want.trim() == "*" {
            return Ok(());
        }
        Err(if conflict {
            ControlError::Conflict(vec![format!(
                "the flag changed since you read it (you had {}, it is now {current})",
                want.trim()
            )])
        } else {
            ControlError::PreconditionFailed { current }
        })
    }

    /// `PUT /api/admin/flags/{key}`: creates a draft or changes a flag's definition and plan
    /// (its tier and status stay; only commands move them).
    pub fn put(
        &mut self,
        key: &str,
        body: &Value,
        caller: &Caller,
    ) -> Result<Change, ControlError> {
        if !valid_key(key) {
            return Err(ControlError::invalid(
                "",
                "a flag key is 1 to 64 of A-Z a-z 0-9 _ - .",
            ));
        }
        if caller.if_match.is_some() && !self.flags.contains_key(key) {
            return Err(ControlError::PreconditionFailed {
                current: "none".into(),
            });
        }
        self.check_if_match(key, caller, false)?;
        let previous = self.flags.get(key).map(|f| &f.plan);
        let known = |k: &str| self.flags.contains_key(k);
        let (definition, plan) = parse_flag(
            key,
            body,
            "",
            previous,
            Origin::Put,
            &self.evaluators,
            &known,
        )?;
        let from = previous.map_or(Value::Null, Plan::snapshot);
        let created = previous.is_none();
        let mut next = self.clone();
        let revision = next.flags.get(key).map_or(1, |f| f.revision + 1);
        next.flags.insert(
            key.to_owned(),
            ControlledFlag {
                definition,
                plan,
                revision,
            },
        );
        next.check_requires()?;
        *self = next;
        self.revision += 1;
        let to = self.flags[key].plan.snapshot();
        let audit = self.entry(caller, "put", Some(key), from, to, None, Value::Null);
        Ok(Change {
            status: if created { 201 } else { 200 },
            body: self.flag_view(key, caller.now_ms)?,
            audit: vec![audit],
        })
    }

    /// `DELETE /api/admin/flags/{key}`: refused while another flag requires it.
    pub fn delete(&mut self, key: &str, caller: &Caller) -> Result<Change, ControlError> {
        let flag = self.get(key)?.clone();
        self.check_if_match(key, caller, false)?;
        let dependants: Vec<&String> = self
            .flags
            .iter()
            .filter(|(_, f)| f.plan.requires.iter().any(|r| r == key))
            .map(|(k, _)| k)
            .collect();
        if !dependants.is_empty() {
            return Err(ControlError::Conflict(vec![format!(
                "required by {dependants:?}"
            )]));
        }
        self.flags.remove(key);
        self.revision += 1;
        let audit = self.entry(
            caller,
            "delete",
            Some(key),
            flag.plan.snapshot(),
            Value::Null,
            None,
            Value::Null,
        );
        Ok(Change {
            status: 200,
            body: json!({"deleted": key, "revision": self.revision}),
            audit: vec![audit],
        })
    }

    /// A ladder command on one flag.
    pub fn command(
        &mut self,
        key: &str,
        command: Command,
        order: &Order,
        caller: &Caller,
    ) -> Result<Change, ControlError> {
        let flag = self.get(key)?;
        self.check_if_match(key, caller, true)?;
        let overridden = if command == Command::Advance && order.force {
            advance_refusals(&flag.plan, caller.now_ms)
        } else {
            Vec::new()
        };
        let from = flag.plan.snapshot();
        let dwelt_s = caller.now_ms.saturating_sub(flag.plan.tier_since_ms) / 1000;
        let next = apply(&flag.plan, command, order, caller.now_ms)?;
        let flag = self.flags.get_mut(key).expect("checked above");
        flag.plan = next;
        flag.revision += 1;
        self.revision += 1;
        let to = self.flags[key].plan.snapshot();
        let evidence = json!({"dwellS": dwelt_s, "forced": order.force, "overridden": overridden});
        let audit = self.entry(
            caller,
            command.as_str(),
            Some(key),
            from,
            to,
            order.reason.clone(),
            evidence,
        );
        Ok(Change {
            status: 200,
            body: self.flag_view(key, caller.now_ms)?,
            audit: vec![audit],
        })
    }

    /// `POST /api/admin/kill`: every flag off at once; needs a reason.
    pub fn kill(&mut self, order: &Order, caller: &Caller) -> Result<Change, ControlError> {
        let Some(reason) = order.reason.clone() else {
            return Err(ControlError::BadRequest(
                "kill needs a reason: {\"reason\": \"...\"}".into(),
            ));
        };
        if let Some(k) = &self.kill {
            return Err(ControlError::Conflict(vec![format!(
                "already killed by {} ({})",
                k.actor, k.reason
            )]));
        }
        self.kill = Some(Kill {
            reason: reason.clone(),
            actor: caller.actor.clone(),
            at_ms: caller.now_ms,
        });
        self.revision += 1;
        let evidence = json!({"flags": self.flags.len()});
        let audit = self.entry(
            caller,
            "kill",
            None,
            json!({"killed": false}),
            json!({"killed": true}),
            Some(reason),
            evidence,
        );
        Ok(Change {
            status: 200,
            body: self.status_view(),
            audit: vec![audit],
        })
    }

    /// `POST /api/admin/unkill`: every flag back as its plan says, the same visitors in the same
    /// cohorts (plans are untouched by the kill).
    pub fn unkill(&mut self, order: &Order, caller: &Caller) -> Result<Change, ControlError> {
        let Some(kill) = self.kill.take() else {
            return Err(ControlError::Conflict(vec!["not killed".into()]));
        };
        self.revision += 1;
        let evidence = json!({"killedForS": caller.now_ms.saturating_sub(kill.at_ms) / 1000});
        let audit = self.entry(
            caller,
            "unkill",
            None,
            json!({"killed": true}),
            json!({"killed": false}),
            order.reason.clone(),
            evidence,
        );
        Ok(Change {
            status: 200,
            body: self.status_view(),
            audit: vec![audit],
        })
    }

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
        let mut next = ControlState {
            breaker: BTreeMap::new(),
            evaluators,
            metadata,
            kill: self.kill.clone(),
            revision: self.revision,
            flags: BTreeMap::new(),
        };
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
                        _ => json!({}),
                    });
            let body = json!({"definition": definition, "plan": plan});
            let known = |k: &str| flags.contains_key(k);
            let (definition, mut plan) = parse_flag(
                key,
                &body,
                "",
                None,
                Origin::Import,
                &next.evaluators,
                &known,
            )
            .map_err(|e| rebase(e, key))?;
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
        Ok(Change {
            status: 200,
            body: self.list_view(caller.now_ms),
            audit: vec![audit],
        })
    }

    /// The kill switch and the revision.
    pub fn status_view(&self) -> Value {
        json!({"kill": self.kill, "revision": self.revision, "flags": self.flags.len()})
    }

    /// Refuses a `requires` cycle (422 at the first flag on it).
    fn check_requires(&self) -> Result<(), ControlError> {
        for start in self.flags.keys() {
            let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
            while let Some((key, depth)) = stack.pop() {
                let Some(flag) = self.flags.get(key) else {
                    continue;
                };
                for (i, r) in flag.plan.requires.iter().enumerate() {
                    if r == start || depth > self.flags.len() {
                        return Err(ControlError::invalid(
                            format!("/plan/requires/{i}"),
                            format!("{start:?} would require itself through {key:?}"),
                        ));
                    }
                    stack.push((r, depth + 1));
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        caller: &Caller,
        action: &str,
        flag: Option<&str>,
        from: Value,
        to: Value,
        reason: Option<String>,
        evidence: Value,
    ) -> AuditEntry {
        AuditEntry {
            at_ms: caller.now_ms,
            actor: caller.actor.clone(),
            action: action.to_owned(),
            flag: flag.map(str::to_owned),
            from,
            to,
            reason,
            evidence,
        }
    }
}

/// The actor of automatic decisions in the audit log.
pub const GUARD_ACTOR: &str = "guard";

impl ControlState {
    /// Notes what the guards hold against an advance of `key` (what `advance` and the views
    /// report), without acting.
    pub fn note(&mut self, key: &str, verdicts: &[Verdict]) {
        if let Some(flag) = self.flags.get_mut(key) {
            flag.plan.objections = verdicts.iter().filter_map(Verdict::objection).collect();
        }
    }

    /// Records the guards' verdicts on `key` at `now_ms` (the breaker's check, the objections
    /// to an advance) and carries out the first tripped guard's action: the change and its
    /// audit entry, or `None`.
    pub fn act_on(&mut self, key: &str, verdicts: &[Verdict], now_ms: u64) -> Option<Change> {
        let minute = now_ms / 60_000;
        if let Some(b) = verdicts.iter().find(|v| v.guard == "breaker") {
            let over = matches!(b.state, GuardState::Warning | GuardState::Tripped);
            self.breaker
                .entry(key.to_owned())
                .or_default()
                .record(minute, over);
        }
        self.note(key, verdicts);
        let flag = self.flags.get_mut(key)?;
        let (verdict, action) = verdicts.iter().find_map(|v| Some((v, v.action.clone()?)))?;
        let (command, name) = match &action {
            Action::Rollback => (Command::Rollback, "rollback"),
            Action::Pause => (Command::Pause, "pause"),
            Action::Fallback(_) => (Command::Rollback, "fallback"),
        };
        let reason = format!("guard {} tripped: {}", verdict.guard, summary(verdict));
        let order = Order {
            reason: Some(reason.clone()),
            force: false,
        };
        let next = apply(&flag.plan, command, &order, now_ms).ok()?;
        let from = flag.plan.snapshot();
        flag.plan = Plan {
            fallback: match &action {
                Action::Fallback(v) => Some(v.clone()),
                _ => None,
            },
            ..next
        };
        flag.revision += 1;
        let to = flag.plan.snapshot();
        self.revision += 1;
        let caller = Caller {
            actor: GUARD_ACTOR.into(),
            now_ms,
            if_match: None,
        };
        let evidence = json!({"guard": verdict.guard, "figures": verdict.figures, "action": action, "verdicts": verdicts});
        let audit = self.entry(&caller, name, Some(key), from, to, Some(reason), evidence);
        Some(Change {
            status: 200,
            body: Value::Null,
            audit: vec![audit],
        })
    }
}

/// A verdict's deciding figures in one line, for the audit log's reason.
fn summary(v: &Verdict) -> String {
    let f = &v.figures;
    let num = |k: &str| {
        f.get(k)
            .and_then(Value::as_f64)
            .map_or("-".to_owned(), |x| format!("{x:.4}"))
    };
    match v.guard.as_str() {
        "comparative" => format!(
            "Λ = {} ≥ ln(1/α) = {} with {} pilot and {} control errors in {} and {} exposures",
            num("lambda"),
            num("upper"),
            f["pilotErrors"],
            f["controlErrors"],
            f["pilotExposures"],
            f["controlExposures"]
        ),
        "breaker" => format!(
            "Wilson lower bound {} > {} on {} errors in {} exposures, two checks running",
            num("wilsonLow"),
            num("maxErrorRate"),
            f["pilotErrors"],
            f["pilotExposures"]
        ),
        _ => format!(
            "pilot {} vs control {} (p = {:.2e}, more than {} % below)",
            f["pilot"]["rate"],
            f["control"]["rate"],
            f["pValue"].as_f64().unwrap_or(f64::NAN),
            f["maxDropPct"]
        ),
    }
}

/// What an `advance` now would be refused for (empty: it would go).
fn blockers(plan: &Plan, now_ms: u64) -> Vec<String> {
    match apply(plan, Command::Advance, &Order::default(), now_ms) {
        Err(ControlError::Conflict(reasons)) => reasons,
        _ => Vec::new(),
    }
}

/// An import error's path, under `/flags/{key}` or `/plans/{key}`.
fn rebase(e: ControlError, key: &str) -> ControlError {
    match e {
        ControlError::Invalid { path, detail } => {
            let path = match path.strip_prefix("/definition") {
                Some(rest) => format!("/flags/{key}{rest}"),
                None => format!(
                    "/plans/{key}{}",
                    path.strip_prefix("/plan").unwrap_or(&path)
                ),
            };
            ControlError::Invalid { path, detail }
        }
        e => e,
    }
}
