//! Four eyes: a plan's `approvals` (`{"advance": 1, "kill": 1, "expiresS": 3600}`) turn those
//! commands into pending requests that run only once other operators (different names) approve
//! them. Requests expire; the audit log records each request, approval, rejection and expiry.
//! Automatic actions (guards, `autoAdvance`) never wait for approval.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::control::audit::{Actor, AuditEntry};
use crate::control::error::ControlError;
use crate::control::state::{Caller, Change, ControlState};
use crate::http::auth::Operator;
use crate::http::route::AdminRoute;

/// Most requests pending at once (a bound on the state's size).
pub const MAX_PENDING: usize = 64;
/// Most approvals a command may need.
pub const MAX_APPROVALS: u8 = 3;
/// How long a request waits by default, in seconds.
pub const DEFAULT_EXPIRES_S: u64 = 3600;
/// The longest a request may wait, in seconds (a week).
pub const MAX_EXPIRES_S: u64 = 7 * 86_400;
/// The shortest a request may wait, in seconds.
pub const MIN_EXPIRES_S: u64 = 60;

/// A command that a plan may put behind approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gated {
    /// `start`.
    Start,
    /// `advance`.
    Advance,
    /// `back`.
    Back,
    /// `pause`.
    Pause,
    /// `resume`.
    Resume,
    /// `rollback`.
    Rollback,
    /// `kill` (every flag: needed when any plan asks for it).
    Kill,
    /// `unkill` (likewise).
    Unkill,
}

impl Gated {
    /// The command of an admin route, when a plan may gate it.
    pub fn of(route: AdminRoute) -> Option<Gated> {
        Some(match route {
            AdminRoute::Start => Gated::Start,
            AdminRoute::Advance => Gated::Advance,
            AdminRoute::Back => Gated::Back,
            AdminRoute::Pause => Gated::Pause,
            AdminRoute::Resume => Gated::Resume,
            AdminRoute::Rollback => Gated::Rollback,
            AdminRoute::Kill => Gated::Kill,
            AdminRoute::Unkill => Gated::Unkill,
            _ => return None,
        })
    }

    /// The admin route that runs the command.
    pub fn route(self) -> AdminRoute {
        match self {
            Gated::Start => AdminRoute::Start,
            Gated::Advance => AdminRoute::Advance,
            Gated::Back => AdminRoute::Back,
            Gated::Pause => AdminRoute::Pause,
            Gated::Resume => AdminRoute::Resume,
            Gated::Rollback => AdminRoute::Rollback,
            Gated::Kill => AdminRoute::Kill,
            Gated::Unkill => AdminRoute::Unkill,
        }
    }

    /// Whether the command acts on every flag at once.
    pub fn is_global(self) -> bool {
        matches!(self, Gated::Kill | Gated::Unkill)
    }
}

/// A plan's `approvals`: how many other operators each command needs, and how long a request
/// waits for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approvals {
    /// Approvals needed, by command (0 to 3; absent: none).
    #[serde(flatten)]
    pub needs: BTreeMap<Gated, u8>,
    /// Seconds a request waits before it expires (60 to 604800; default 3600).
    #[serde(default = "default_expires_s")]
    pub expires_s: u64,
}

fn default_expires_s() -> u64 {
    DEFAULT_EXPIRES_S
}

/// Parses a plan's `approvals` (absent or `null`: none), with the path of what is wrong.
pub fn parse(v: Option<&Value>, path: &str) -> Result<Option<Approvals>, ControlError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let a: Approvals = serde_json::from_value(v.clone()).map_err(|e| {
        ControlError::invalid(
            path,
            format!("{e}; expected {{\"advance\": 1, \"kill\": 1, \"expiresS\": 3600}}"),
        )
    })?;
    if let Some((command, _)) = a.needs.iter().find(|(_, n)| **n > MAX_APPROVALS) {
        let name = serde_json::to_value(command).unwrap_or_default();
        return Err(ControlError::invalid(
            format!("{path}/{}", name.as_str().unwrap_or_default()),
            format!("at most {MAX_APPROVALS} approvals"),
        ));
    }
    if !(MIN_EXPIRES_S..=MAX_EXPIRES_S).contains(&a.expires_s) {
        return Err(ControlError::invalid(
            format!("{path}/expiresS"),
            format!("must be {MIN_EXPIRES_S} to {MAX_EXPIRES_S} seconds"),
        ));
    }
    Ok(Some(a))
}

/// A command waiting for approvals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    /// The request's number (`/api/admin/requests/{id}/approve`).
    pub id: u64,
    /// The command.
    pub command: Gated,
    /// Its flag (`None` for kill and unkill).
    pub flag: Option<String>,
    /// The command's body as the requester sent it (reason, force, `to`), run as sent.
    pub body: Value,
    /// Who asked; the command runs in their name.
    pub requested_by: Operator,
    /// When, in ms since the epoch.
    pub at_ms: u64,
    /// When it expires unapproved, in ms since the epoch.
    pub expires_at_ms: u64,
    /// How many approvals it needs.
    pub needs: u8,
    /// Who approved it so far (never the requester; each name once).
    pub approved_by: Vec<String>,
}

/// What an approval came to.
#[derive(Debug)]
pub enum Approval {
    /// More approvals are needed: the change records this one.
    Waiting(Change),
    /// The last approval: the request, taken off the list, to run now in its requester's name,
    /// and the approval's audit entry.
    Ready(Box<(Pending, AuditEntry)>),
}

impl ControlState {
    /// How many approvals `command` on `flag` needs: its plan's, or for kill and unkill the most
    /// that any plan asks for.
    pub fn approvals_needed(&self, command: Gated, flag: Option<&str>) -> u8 {
        let of = |plan: &crate::control::plan::Plan| {
            plan.approvals
                .as_ref()
                .and_then(|a| a.needs.get(&command).copied())
                .unwrap_or(0)
        };
        if command.is_global() {
            self.flags.values().map(|f| of(&f.plan)).max().unwrap_or(0)
        } else {
            flag.and_then(|k| self.flags.get(k))
                .map_or(0, |f| of(&f.plan))
        }
    }

    /// How long a request for `command` on `flag` waits, in ms (the shortest any plan it concerns
    /// sets).
    fn expires_ms(&self, command: Gated, flag: Option<&str>) -> u64 {
        let plans: Vec<_> = if command.is_global() {
            self.flags.values().collect()
        } else {
            flag.and_then(|k| self.flags.get(k)).into_iter().collect()
        };
        plans
            .iter()
            .filter_map(|f| f.plan.approvals.as_ref().map(|a| a.expires_s))
            .min()
            .unwrap_or(DEFAULT_EXPIRES_S)
            * 1000
    }

    /// Files `command` on `flag` by `operator` as a pending request needing `needs` approvals
    /// (the caller checked that the command would run now): 202 with the request, and its
    /// `request` audit entry. Refused while the same command on the same flag is pending, or
    /// [`MAX_PENDING`] requests are.
    pub fn request(
        &mut self,
        command: Gated,
        flag: Option<&str>,
        body: &Value,
        operator: &Operator,
        needs: u8,
        caller: &Caller,
    ) -> Result<Change, ControlError> {
        let now = caller.now_ms;
        if let Some(p) = self
            .pending_at(now)
            .find(|p| p.command == command && p.flag.as_deref() == flag)
        {
            return Err(ControlError::Conflict(vec![format!(
                "request {} by {} to {} is already pending",
                p.id,
                p.requested_by.name,
                describe(p)
            )]));
        }
        if self.pending_at(now).count() >= MAX_PENDING {
            return Err(ControlError::Conflict(vec![format!(
                "{MAX_PENDING} requests are pending; approve, reject or let some expire first"
            )]));
        }
        self.next_request += 1;
        let pending = Pending {
            id: self.next_request,
            command,
            flag: flag.map(str::to_owned),
            body: body.clone(),
            requested_by: operator.clone(),
            at_ms: now,
            expires_at_ms: now + self.expires_ms(command, flag),
            needs,
            approved_by: Vec::new(),
        };
        let mut entry = self.request_entry(caller, "request", &pending);
        entry.reason = body
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let view = json!({"pending": pending});
        self.pending.push(pending);
        Ok(Change {
            status: 202,
            body: view,
            audit: vec![entry],
        })
    }

    /// `POST /api/admin/requests/{id}/approve`: one more approval by `operator` (never the
    /// requester, never twice).
    pub fn approve(
        &mut self,
        id: u64,
        operator: &Operator,
        caller: &Caller,
    ) -> Result<Approval, ControlError> {
        let now = caller.now_ms;
        let i = self
            .pending
            .iter()
            .position(|p| p.id == id && p.expires_at_ms > now)
            .ok_or(ControlError::RequestNotFound(id))?;
        let p = &self.pending[i];
        if p.requested_by.name == operator.name {
            return Err(ControlError::OwnRequest);
        }
        if p.approved_by.contains(&operator.name) {
            return Err(ControlError::Conflict(vec![format!(
                "you approved request {id} already; it needs another operator"
            )]));
        }
        self.pending[i].approved_by.push(operator.name.clone());
        let entry = self.request_entry(caller, "approve", &self.pending[i]);
        if self.pending[i].approved_by.len() < usize::from(self.pending[i].needs) {
            let body = json!({"pending": self.pending[i]});
            return Ok(Approval::Waiting(Change {
                status: 200,
                body,
                audit: vec![entry],
            }));
        }
        Ok(Approval::Ready(Box::new((self.pending.remove(i), entry))))
    }

    /// `POST /api/admin/requests/{id}/reject`: the request is dropped (by its requester too).
    pub fn reject(&mut self, id: u64, caller: &Caller) -> Result<Change, ControlError> {
        let now = caller.now_ms;
        let i = self
            .pending
            .iter()
            .position(|p| p.id == id && p.expires_at_ms > now)
            .ok_or(ControlError::RequestNotFound(id))?;
        let p = self.pending.remove(i);
        let mut entry = self.request_entry(caller, "reject", &p);
        entry.to = json!({"pending": false});
        Ok(Change {
            status: 200,
            body: json!({"rejected": p}),
            audit: vec![entry],
        })
    }

    /// Drops the requests expired by `now_ms`: an `expire` audit entry each, by `system`, at
    /// the time it expired.
    pub fn expire_requests(&mut self, now_ms: u64) -> Vec<AuditEntry> {
        let (gone, kept): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.expires_at_ms <= now_ms);
        self.pending = kept;
        gone.iter()
            .map(|p| {
                let mut e = self.request_entry(&Caller::system(p.expires_at_ms), "expire", p);
                e.to = json!({"pending": false});
                e
            })
            .collect()
    }

    /// The requests pending at `now_ms`.
    pub fn pending_at(&self, now_ms: u64) -> impl Iterator<Item = &Pending> {
        self.pending
            .iter()
            .filter(move |p| p.expires_at_ms > now_ms)
    }

    /// `GET /api/admin/requests`: the requests pending now, oldest first.
    pub fn requests_view(&self, now_ms: u64) -> Value {
        json!({"pending": self.pending_at(now_ms).collect::<Vec<_>>()})
    }

    fn request_entry(&self, caller: &Caller, action: &str, p: &Pending) -> AuditEntry {
        AuditEntry {
            flag: p.flag.clone(),
            from: json!({"pending": action != "request"}),
            to: json!({"pending": true}),
            evidence: json!({
                "request": p.id,
                "command": p.command,
                "body": p.body,
                "requestedBy": p.requested_by.name,
                "approvedBy": p.approved_by,
                "needs": p.needs,
                "expiresAtMs": p.expires_at_ms,
            }),
            ..AuditEntry::new(&caller.actor, caller.now_ms, action)
        }
    }
}

/// "advance pilot", "kill".
fn describe(p: &Pending) -> String {
    let command = serde_json::to_value(p.command).unwrap_or_default();
    let command = command.as_str().unwrap_or_default();
    match &p.flag {
        Some(flag) => format!("{command} {flag}"),
        None => command.to_owned(),
    }
}

/// The operator behind a caller, if an operator (not the control plane) makes the call.
pub fn operator_of(caller: &Caller) -> Option<&Operator> {
    match &caller.actor {
        Actor::Operator(o) => Some(o),
        Actor::Guard | Actor::System => None,
    }
}
