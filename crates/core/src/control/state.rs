//! The control plane's whole state and every operation on it. The Durable Object loads the
//! state, calls one operation, stores the result with its audit entries, and publishes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::control::approval::Pending;
use crate::control::audit::{Actor, AuditEntry};
use crate::control::command::{advance_refusals, apply, available, Command, Order};
use crate::control::error::ControlError;
use crate::control::input::{parse_flag, valid_key, Origin, SetContext};
use crate::control::plan::{ControlledFlag, Plan};
use crate::evidence::metric::{self, Metrics};

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
    /// The set's metrics: what the evidence counts, the stats show and guardrails judge.
    #[serde(default, deserialize_with = "metric::deserialize")]
    pub metrics: Metrics,
    /// The kill switch: every flag off while set.
    pub kill: Option<Kill>,
    /// Commands waiting for approvals (at most
    /// [`MAX_PENDING`](crate::control::approval::MAX_PENDING)); expired ones are dropped on
    /// the next change.
    #[serde(default)]
    pub pending: Vec<Pending>,
    /// The number of the last request filed.
    #[serde(default)]
    pub next_request: u64,
    /// Bumped by every change; the version of the set it publishes.
    pub revision: u64,
}

/// Who asks, when, and with which preconditions.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who: a verified operator, or the control plane itself.
    pub actor: Actor,
    /// Now, in ms since the epoch.
    pub now_ms: u64,
    /// `If-Match`: the flag's `ETag` as the caller last read it.
    pub if_match: Option<String>,
}

impl Caller {
    /// The control plane itself at `now_ms` (`system` in the audit log), without preconditions.
    pub fn system(now_ms: u64) -> Self {
        Self {
            actor: Actor::System,
            now_ms,
            if_match: None,
        }
    }
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
            "commands": available(&flag.plan, now_ms),
        }))
    }

    /// Every flag as the API shows it, with the kill switch and the revision.
    pub fn list_view(&self, now_ms: u64) -> Value {
        let flags: Vec<Value> = self
            .flags
            .keys()
            .filter_map(|k| self.flag_view(k, now_ms).ok())
            .collect();
        json!({
            "flags": flags,
            "kill": self.kill,
            "revision": self.revision,
            "pending": self.pending_at(now_ms).collect::<Vec<_>>(),
        })
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
        let set = SetContext {
            evaluators: &self.evaluators,
            metrics: &self.metrics,
            known: &known,
        };
        let (definition, plan, _) = parse_flag(key, body, "", previous, Origin::Put, &set)?;
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
            actor: caller.actor.name().to_owned(),
            at_ms: caller.now_ms,
        });
        self.revision += 1;
        self.restart_windows(caller.now_ms);
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
        self.restart_windows(caller.now_ms);
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

    /// What each flag serves now, to tell afterwards whose served share changed.
    pub fn tier_starts(&self) -> BTreeMap<String, Served> {
        self.flags
            .iter()
            .map(|(k, f)| (k.clone(), Served::of(f)))
            .collect()
    }

    /// Starts a new evidence window at the current revision and `now_ms` for every flag whose
    /// served share changed since `before` was taken (or that is new): a new tier, a step back,
    /// a ladder edit, a `requires` or targeting change. A flag that left tier 0 begins a new
    /// run (window 1); any other change opens the run's next window, so a step back and a
    /// re-climb draw on the run's α rather than reopen it.
    pub fn mark_tier_revisions(&mut self, before: &BTreeMap<String, Served>, now_ms: u64) {
        let revision = self.revision;
        for (key, flag) in &mut self.flags {
            let was = before.get(key);
            if was == Some(&Served::of(flag)) {
                continue;
            }
            let plan = &mut flag.plan;
            plan.tier_revision = revision;
            plan.window_since_ms = now_ms;
            plan.window = match was {
                Some(w) if w.tier > 0 => plan.window.saturating_add(1),
                _ => 1,
            };
        }
    }

    /// Starts every flag's evidence window at the current revision and `now_ms`: a kill serves
    /// everyone the off variant, so what is served from a kill on is no tier's evidence, and an
    /// unkill starts each tier's window afresh (the run's next window).
    fn restart_windows(&mut self, now_ms: u64) {
        let revision = self.revision;
        for flag in self.flags.values_mut() {
            flag.plan.tier_revision = revision;
            flag.plan.window_since_ms = now_ms;
            flag.plan.window = flag.plan.window.saturating_add(1);
        }
    }

    /// The kill switch and the revision.
    pub fn status_view(&self) -> Value {
        json!({"kill": self.kill, "revision": self.revision, "flags": self.flags.len()})
    }

    /// Refuses a `requires` cycle (422 at the first flag on it).
    pub(super) fn check_requires(&self) -> Result<(), ControlError> {
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
    pub(super) fn entry(
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
            flag: flag.map(str::to_owned),
            from,
            to,
            reason,
            evidence,
            ..AuditEntry::new(&caller.actor, caller.now_ms, action)
        }
    }
}

/// What an `advance` now would be refused for (empty: it would go).
fn blockers(plan: &Plan, now_ms: u64) -> Vec<String> {
    match apply(plan, Command::Advance, &Order::default(), now_ms) {
        Err(ControlError::Conflict(reasons)) => reasons,
        _ => Vec::new(),
    }
}

/// What a flag serves, as far as its evidence window cares: the tier and when it began, the
/// tier's share, `requires` and the flag's own targeting. When it changes, so does the share
/// the edge serves, and a new window begins.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    tier: usize,
    tier_since_ms: u64,
    pct: u8,
    requires: Vec<String>,
    targeting: Option<Value>,
}

impl Served {
    /// What `flag` serves.
    pub fn of(flag: &ControlledFlag) -> Self {
        Served {
            tier: flag.plan.tier,
            tier_since_ms: flag.plan.tier_since_ms,
            pct: flag.plan.pct(),
            requires: flag.plan.requires.clone(),
            targeting: flag.own_rule().cloned(),
        }
    }
}
