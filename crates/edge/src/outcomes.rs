//! Beacon answers by outcome (`accepted`, `ignored` for a bot's, or the rejection's error
//! code) and every answer by route and status class, counted in the isolate and flushed to the
//! control plane (which serves them in `/metrics`) at most every 5 s, on the next request of
//! any kind. These counts lose what an isolate held when it was evicted (at most its last 5 s
//! of answers); the events themselves are stored and counted through the queue, which loses
//! nothing.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Serialize;
use worker::{Context, Env};

use pilot_gate_core::http::answers::AnswerCounts;
use pilot_gate_core::http::outcome::{Action, Outcome};
use pilot_gate_shell::internal::post_control;
use pilot_gate_shell::log;

/// Least time between two flushes of one isolate, in ms.
pub const FLUSH_MS: u64 = 5_000;

#[derive(Default)]
struct Pending {
    counts: BTreeMap<String, u64>,
    answers: AnswerCounts,
    flushed_at_ms: u64,
}

/// What an isolate sends: the beacon's outcomes and the answers.
#[derive(Serialize)]
struct Flush<'a> {
    beacon: Vec<(&'a String, &'a u64)>,
    answers: &'a AnswerCounts,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
}

/// Counts a beacon answer by its outcome.
pub fn record(outcome: &Outcome) {
    let Action::Json(status, body) = &outcome.action else {
        return;
    };
    let name = match (*status, body.get("error").and_then(|c| c.as_str())) {
        (202, _) if body.get("accepted").and_then(|n| n.as_u64()) > Some(0) => "accepted",
        (202, _) => "ignored",
        (_, Some(code)) => code,
        _ => return,
    };
    PENDING.with(|p| *p.borrow_mut().counts.entry(name.to_owned()).or_default() += 1);
}

/// Counts an answer of the worker's own on `route` (a label of `pilot_gate_core::http::answers`).
pub fn answered(route: &'static str, status: u16) {
    PENDING.with(|p| p.borrow_mut().answers.add(route, status, 1));
}

/// Sends the pending counts to the control plane after the response, when due, with the
/// pass-throughs' answers that `passed` takes from the JS side.
pub fn flush_if_due(env: &Env, ctx: &Context, now_ms: u64, passed: impl FnOnce() -> AnswerCounts) {
    let due = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if now_ms.saturating_sub(p.flushed_at_ms) < FLUSH_MS {
            return None;
        }
        p.answers.merge(&passed());
        if p.counts.is_empty() && p.answers.is_empty() {
            return None;
        }
        p.flushed_at_ms = now_ms;
        Some((
            std::mem::take(&mut p.counts),
            std::mem::take(&mut p.answers),
        ))
    });
    let Some((counts, answers)) = due else { return };
    let env = env.clone();
    ctx.wait_until(async move {
        let body = Flush {
            beacon: counts.iter().collect(),
            answers: &answers,
        };
        let sent = match serde_json::to_string(&body) {
            Ok(text) => post_control(&env, "beacon", text).await,
            Err(e) => Err(worker::Error::RustError(e.to_string())),
        };
        if let Err(e) = sent {
            // Put them back for the next flush.
            log::error("outcomes", "outcomes_flush_failed", &e.to_string());
            PENDING.with(|p| {
                let mut p = p.borrow_mut();
                for (code, n) in counts {
                    *p.counts.entry(code).or_default() += n;
                }
                p.answers.merge(&answers);
            });
        }
    });
}
