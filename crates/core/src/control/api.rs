//! The admin API over the state: one function from a route, its key and body to an answer.
//! The Durable Object answers `status`, `audit`, `stats`, the dead letters and faults itself
//! (they read its storage or other bindings); here they answer the state's status.

use serde_json::{json, Value};

use crate::control::approval::{operator_of, Approval, Gated};
use crate::control::audit::{attach_diffs, Actor};
use crate::control::command::{Command, Order};
use crate::control::compile::compile;
use crate::control::error::ControlError;
use crate::control::state::{Caller, Change, ControlState};
use crate::http::route::AdminRoute;

/// Longest reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1000;

/// Whether the route changes state (and so is audited, idempotent by key, and published).
pub fn is_change(route: AdminRoute) -> bool {
    !matches!(
        route,
        AdminRoute::Me
            | AdminRoute::Events
            | AdminRoute::Status
            | AdminRoute::Requests
            | AdminRoute::ListFlags
            | AdminRoute::GetFlag
            | AdminRoute::GetFlagset
            | AdminRoute::Audit
            | AdminRoute::Stats
            | AdminRoute::DeadLetters
    )
}

/// A command's body: `{"reason": "...", "force": true}`, both optional; an empty body is `{}`.
pub fn parse_order(body: &Value) -> Result<Order, ControlError> {
    parse_body(body, &[])
}

/// `back`'s body: `{"to": tier, "reason": "..."}`.
pub fn parse_back(body: &Value) -> Result<(Command, Order), ControlError> {
    let order = parse_body(body, &["to"])?;
    let to = body.get("to").and_then(Value::as_u64);
    let Some(to) = to.and_then(|t| usize::try_from(t).ok()) else {
        return Err(ControlError::BadRequest(
            "back needs the tier to go to: {\"to\": 1, \"reason\": \"...\"}".into(),
        ));
    };
    Ok((Command::Back { to }, order))
}

/// A command's body with `extra` fields besides reason and force.
fn parse_body(body: &Value, extra: &[&str]) -> Result<Order, ControlError> {
    let bad = |d: &str| Err(ControlError::BadRequest(d.to_owned()));
    let obj = match body {
        Value::Null => return Ok(Order::default()),
        Value::Object(o) => o,
        _ => return bad("expected {\"reason\": \"...\", \"force\": false}"),
    };
    let known = |k: &str| k == "reason" || k == "force" || extra.contains(&k);
    if let Some(field) = obj.keys().find(|k| !known(k)) {
        let takes = ["reason", "force"].iter().chain(extra).copied();
        return bad(&format!(
            "unknown field {field:?}; a command takes {}",
            takes.collect::<Vec<_>>().join(", ")
        ));
    }
    let reason = match obj.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r.trim().is_empty() => None,
        Some(Value::String(r)) if r.len() <= MAX_REASON_BYTES => Some(r.trim().to_owned()),
        Some(_) => {
            return bad(&format!(
                "reason must be a string of at most {MAX_REASON_BYTES} bytes"
            ))
        }
    };
    let force = match obj.get("force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(f)) => *f,
        Some(_) => return bad("force must be true or false"),
    };
    Ok(Order { reason, force })
}

/// Answers one admin route against the state (`status`, `audit` and `stats` are the object's).
pub fn handle(
    state: &mut ControlState,
    route: AdminRoute,
    key: Option<&str>,
    body: &Value,
    caller: &Caller,
) -> Result<Change, ControlError> {
    let read = |body: Value| Change {
        status: 200,
        body,
        audit: Vec::new(),
    };
    let flag = key;
    let key = || key.ok_or_else(|| ControlError::BadRequest("the path names no flag".into()));
    if !is_change(route) {
        return answer(state, route, key, body, caller, read);
    }
    let before = state.clone();
    let expired = state.expire_requests(caller.now_ms);
    let gated = Gated::of(route).zip(operator_of(caller));
    let mut change = match gated {
        Some((command, operator)) if state.approvals_needed(command, flag) > 0 => {
            // Filed only if it would run now (the same refusals, If-Match included).
            answer(&mut state.clone(), route, key, body, caller, read)?;
            let needs = state.approvals_needed(command, flag);
            state.request(command, flag, body, &operator.clone(), needs, caller)?
        }
        _ if route == AdminRoute::Approve => approve(state, request_id(flag)?, caller, read)?,
        _ if route == AdminRoute::Reject => state.reject(request_id(flag)?, caller)?,
        _ => answer(state, route, key, body, caller, read)?,
    };
    change.audit.splice(0..0, expired);
    state.mark_tier_revisions(&before.tier_starts(), caller.now_ms);
    attach_diffs(&before, state, &mut change.audit);
    // The answer shows the plans as they are stored now.
    if route == AdminRoute::PutFlagset {
        let parse_errors = change.body["parseErrors"].take();
        change.body = state.list_view(caller.now_ms);
        change.body["parseErrors"] = parse_errors;
    } else if change.body.get("plan").is_some() {
        let key = change.body["key"].as_str().unwrap_or_default().to_owned();
        change.body = state.flag_view(&key, caller.now_ms)?;
    }
    Ok(change)
}

/// The number of a request in a path (`/api/admin/requests/{id}/approve`).
fn request_id(segment: Option<&str>) -> Result<u64, ControlError> {
    segment
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ControlError::BadRequest("a request is named by its number".into()))
}

/// One more approval of request `id`; the last one runs the command in its requester's name,
/// its audit entry naming the request and who approved it.
fn approve(
    state: &mut ControlState,
    id: u64,
    caller: &Caller,
    read: impl Fn(Value) -> Change,
) -> Result<Change, ControlError> {
    let Some(operator) = operator_of(caller) else {
        return Err(ControlError::BadRequest("only an operator approves".into()));
    };
    let (pending, approval) = match state.approve(id, &operator.clone(), caller)? {
        Approval::Waiting(change) => return Ok(change),
        Approval::Ready(ready) => *ready,
    };
    let requester = Caller {
        actor: Actor::Operator(pending.requested_by.clone()),
        now_ms: caller.now_ms,
        if_match: None,
    };
    let key = || {
        pending
            .flag
            .as_deref()
            .ok_or_else(|| ControlError::BadRequest("the request names no flag".into()))
    };
    let route = pending.command.route();
    let mut change = answer(state, route, key, &pending.body, &requester, read)?;
    for entry in &mut change.audit {
        entry.evidence["request"] = pending.id.into();
        entry.evidence["approvedBy"] = json!(pending.approved_by);
    }
    change.audit.insert(0, approval);
    Ok(change)
}

fn answer<'k>(
    state: &mut ControlState,
    route: AdminRoute,
    key: impl Fn() -> Result<&'k str, ControlError>,
    body: &Value,
    caller: &Caller,
    read: impl Fn(Value) -> Change,
) -> Result<Change, ControlError> {
    let mut command = |c: Command| state.command(key()?, c, &parse_order(body)?, caller);
    match route {
        AdminRoute::Start => command(Command::Start),
        AdminRoute::Advance => command(Command::Advance),
        AdminRoute::Pause => command(Command::Pause),
        AdminRoute::Resume => command(Command::Resume),
        AdminRoute::Rollback => command(Command::Rollback),
        AdminRoute::Back => {
            let (back, order) = parse_back(body)?;
            state.command(key()?, back, &order, caller)
        }
        AdminRoute::ListFlags => Ok(read(state.list_view(caller.now_ms))),
        AdminRoute::GetFlag => state.flag_view(key()?, caller.now_ms).map(read),
        AdminRoute::PutFlag => state.put(key()?, body, caller),
        AdminRoute::DeleteFlag => state.delete(key()?, caller),
        AdminRoute::Kill => state.kill(&parse_order(body)?, caller),
        AdminRoute::Unkill => state.unkill(&parse_order(body)?, caller),
        AdminRoute::GetFlagset => Ok(read(compile(state))),
        AdminRoute::PutFlagset => state.import(body, caller),
        AdminRoute::Requests => Ok(read(state.requests_view(caller.now_ms))),
        AdminRoute::Me
        | AdminRoute::Events
        | AdminRoute::Approve
        | AdminRoute::Reject
        | AdminRoute::Status
        | AdminRoute::Audit
        | AdminRoute::Stats
        | AdminRoute::DeadLetters
        | AdminRoute::ReplayDeadLetters
        | AdminRoute::DiscardDeadLetters
        | AdminRoute::Faults => Ok(read(state.status_view())),
    }
}
