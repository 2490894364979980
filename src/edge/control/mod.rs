//! The `RolloutControl` Durable Object: one per deployment, SQLite-backed, the single writer of
//! flag state. It stores the state, the append-only audit log and the idempotency records,
//! answers the admin API through the core, and publishes the compiled flag set to `CONFIG_KV`
//! (retried by alarm until it lands). The rules live in `core::control`.

mod aggregates;
mod store;

use std::cell::{Cell, RefCell};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::core::control::api::{handle, is_change};
use crate::core::control::compile::compile;
use crate::core::control::error::ControlError;
use crate::core::control::publish::retry_delay_ms;
use crate::core::control::report::{bucket_minutes, series_of, Report, Window};
use crate::core::control::state::{Caller, Change, ControlState};
use crate::core::control::tally::{arms_since, Delta};
use crate::core::flags::source::{envelope, FLAGSET_KEY};
use crate::core::hex;
use crate::core::http::problem::{reply, Problem};
use crate::core::http::query::pairs;
use crate::core::http::route::{path_key, resolve, AdminRoute, Route};
use crate::core::metrics::render;
use crate::edge::flags::CONFIG_KV;
use crate::edge::log;

/// The control plane's Durable Object.
#[durable_object]
pub struct RolloutControl {
    state: State,
    env: Env,
    cache: RefCell<Option<ControlState>>,
    publishing: Cell<bool>,
    retries: Cell<u32>,
}

impl DurableObject for RolloutControl {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        if let Err(e) = sql
            .exec(store::SCHEMA, None)
            .and_then(|_| sql.exec(aggregates::SCHEMA, None))
        {
            log::error("control", "control_schema_failed", &e.to_string());
        }
        Self {
            state,
            env,
            cache: RefCell::new(None),
            publishing: Cell::new(false),
            retries: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.inner().url();
        let path = req.path();
        let method = req.method().to_string();
        let header = |name: &str| req.headers().get(name).ok().flatten();
        let request_id = header("X-Request-Id").unwrap_or_default();
        let caller = Caller {
            actor: header("X-Pilot-Actor")
                .map(|a| a.trim().chars().take(64).collect::<String>())
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| "admin".to_owned()),
            now_ms: worker::Date::now().as_millis(),
            if_match: header("If-Match"),
        };
        let idempotency_key = header("Idempotency-Key");
        let text = req.text().await?;
        let answer = match path.strip_prefix(INTERNAL) {
            Some(internal) => self.internal(&method, internal, &text, caller.now_ms).await,
            None => {
                let Ok(Route::Admin(route)) = resolve(&method, &path) else {
                    let e = ControlError::BadRequest("not an admin route".into());
                    return respond(problem(&e));
                };
                let request = Incoming {
                    route,
                    key: path_key(&path),
                    url: &url,
                    fingerprint: fingerprint(&method, &path, &text),
                    text: &text,
                    caller,
                    idempotency_key,
                };
                self.answer(&request).await.and_then(respond)
            }
        };
        answer.inspect_err(|e| log::error(&request_id, "control_failed", &e.to_string()))
    }

    /// Publishes a pending revision, checks every guarded flag (the one-minute check) and
    /// comes back in a minute while any flag is guarded.
    async fn alarm(&self) -> Result<Response> {
        let now_ms = worker::Date::now().as_millis();
        let keys: Vec<String> = self.load()?.flags.keys().cloned().collect();
        self.guard(&keys, now_ms).await?;
        self.publish().await;
        self.keep_watch(now_ms).await?;
        Response::ok("")
    }
}

/// Paths of the object that only the worker's own code reaches (the queue consumer, the beacon's
/// outcome counters, `/metrics`); the admin relay forwards `/api/admin/*` only.
pub const INTERNAL: &str = "/_internal/";
/// How often the guards are checked without new events, in ms.
pub const GUARD_CHECK_MS: u64 = 60_000;

/// One admin request as the object reads it.
struct Incoming<'a> {
    route: AdminRoute,
    key: Option<&'a str>,
    url: &'a str,
    text: &'a str,
    fingerprint: String,
    caller: Caller,
    idempotency_key: Option<String>,
}

impl RolloutControl {
    async fn answer(&self, r: &Incoming<'_>) -> Result<(u16, Value)> {
        let body = if r.text.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(r.text) {
                Ok(v) => v,
                Err(e) => {
                    return Ok(problem(&ControlError::BadRequest(format!(
                        "the body is not JSON: {e}"
                    ))))
                }
            }
        };
        match r.route {
            AdminRoute::Status => return self.status(),
            AdminRoute::Audit => return self.audit(r.url),
            AdminRoute::Stats => {
                return self.stats(r.key.unwrap_or_default(), r.url, r.caller.now_ms)
            }
            route if !is_change(route) => {
                let mut state = self.load()?;
                self.note_verdicts(&mut state, r.caller.now_ms)?;
                return Ok(answer_of(handle(
                    &mut state, route, r.key, &body, &r.caller,
                )));
            }
            _ => {}
        }
        if let Some(key) = &r.idempotency_key {
            if let Some(answer) = self.replay(key, &r.fingerprint)? {
                return Ok(answer);
            }
        }
        // No await from here to the last write: the object runs this change alone, and its
        // writes land together.
        let mut next = self.load()?;
        // An advance needs the guards' verdicts of now (SQL reads: still no await).
        self.note_verdicts(&mut next, r.caller.now_ms)?;
        let result = handle(&mut next, r.route, r.key, &body, &r.caller);
        let changed = result.is_ok();
        if let Ok(change) = &result {
            self.store(&next, change)?;
        }
        let answer = answer_of(result);
        if let Some(key) = &r.idempotency_key {
            self.remember(key, &r.fingerprint, &answer, r.caller.now_ms)?;
        }
        if changed {
            *self.cache.borrow_mut() = Some(next);
            self.publish().await;
            self.keep_watch(r.caller.now_ms).await?;
        }
        Ok(answer)
    }

    /// The worker's own calls: a queue batch's delta, the beacon's outcome counts, `/metrics`.
    async fn internal(
        &self,
        method: &str,
        path: &str,
        text: &str,
        now_ms: u64,
    ) -> Result<Response> {
        let bad = |e: String| Response::error(e, 400);
        match (method, path) {
            ("POST", "delta") => {
                let delta: Delta = match serde_json::from_str(text) {
                    Ok(d) => d,
                    Err(e) => return bad(format!("delta: {e}")),
                };
                let touched = self.count(&delta, now_ms)?;
                self.guard(&touched, now_ms).await?;
                self.keep_watch(now_ms).await?;
                Response::from_json(&json!({"flags": touched}))
            }
            ("POST", "beacon") => {
                let outcomes: Vec<(String, u64)> = match serde_json::from_str(text) {
                    Ok(o) => o,
                    Err(e) => return bad(format!("beacon: {e}")),
                };
                self.add_outcomes(&outcomes)?;
                Response::ok("")
            }
            ("GET", "metrics") => {
                let state = self.load()?;
                Response::ok(render(&self.snapshot(&state, now_ms)?))
            }
            _ => Response::error("no such internal route", 404),
        }
    }

    /// Checks the guards of `keys` and carries out what they decide: stored, audited, published.
    async fn guard(&self, keys: &[String], now_ms: u64) -> Result<()> {
        let mut state = self.load()?;
        let mut changes = Vec::new();
        for key in keys {
            let verdicts = self.verdicts(&state, key, now_ms)?;
            if let Some(change) = state.act_on(key, &verdicts, now_ms) {
                changes.push(change);
            }
        }
        let audit: Vec<_> = changes.into_iter().flat_map(|c| c.audit).collect();
        let acted = !audit.is_empty();
        self.store(
            &state,
            &Change {
                status: 200,
                body: Value::Null,
                audit,
            },
        )?;
        *self.cache.borrow_mut() = Some(state);
        if acted {
            self.publish().await;
        }
        Ok(())
    }

    /// Keeps a one-minute alarm set while any flag has guards above tier 0.
    async fn keep_watch(&self, now_ms: u64) -> Result<()> {
        let state = self.load()?;
        let watched = state
            .flags
            .values()
            .any(|f| f.plan.guards.is_some() && f.plan.tier > 0);
        let storage = self.state.storage();
        if watched && storage.get_alarm().await?.is_none() {
            storage.set_alarm((now_ms + GUARD_CHECK_MS) as i64).await?;
        }
        Ok(())
    }

    /// `GET /api/admin/stats/{key}?window=`.
    fn stats(&self, key: &str, url: &str, now_ms: u64) -> Result<(u16, Value)> {
        let mut state = self.load()?;
        let window = pairs(url).find(|(k, _)| k == "window").map(|(_, v)| v);
        let window = match Window::parse(window.as_deref()) {
            Ok(w) => w,
            Err(e) => return Ok(problem(&e)),
        };
        let verdicts = self.verdicts(&state, key, now_ms)?;
        state.note(key, &verdicts);
        let Some(flag) = state.flags.get(key) else {
            return Ok(problem(&ControlError::FlagNotFound(key.to_owned())));
        };
        let now_minute = now_ms / 60_000;
        let from = window.start_minute(flag.plan.tier_since_ms, now_minute);
        let (counts, ttv) = self.rows(key, from)?;
        let bucket = bucket_minutes(now_minute + 1 - from);
        let series = series_of(&counts, &ttv, from, bucket);
        let arms = arms_since(&counts, &ttv, from);
        let report = Report {
            key,
            flag,
            window,
            minutes: (from, now_minute),
            arms: &arms,
            series: (&series, bucket),
            verdicts: &verdicts,
        };
        Ok((200, report.view()))
    }

    /// Writes the compiled set of the current revision to `CONFIG_KV`, again while a newer
    /// revision appeared meanwhile; a failure schedules an alarm that retries with backoff.
    async fn publish(&self) {
        if self.publishing.replace(true) {
            return; // the loop in flight publishes the newest revision before it stops
        }
        loop {
            let Ok(state) = self.load() else { break };
            let doc = envelope(&state.revision.to_string(), compile(&state));
            match self.put_kv(&doc).await {
                Ok(()) => {
                    self.retries.set(0);
                    let _ = self.set_meta("published", &state.revision.to_string());
                    let _ =
                        self.set_meta("published_at", &worker::Date::now().as_millis().to_string());
                    let _ = self
                        .sql()
                        .exec("DELETE FROM meta WHERE name = 'publish_error'", None);
                    if self.load().map(|s| s.revision).unwrap_or(0) == state.revision {
                        break;
                    }
                }
                Err(e) => {
                    let failures = self.retries.get() + 1;
                    self.retries.set(failures);
                    let wait_ms = retry_delay_ms(failures);
                    log::error("control", "publish_failed", &e.to_string());
                    let _ = self.set_meta("publish_error", &e.to_string());
                    let at = worker::Date::now().as_millis() + wait_ms;
                    if let Err(e) = self.state.storage().set_alarm(at as i64).await {
                        log::error("control", "alarm_failed", &e.to_string());
                    }
                    break;
                }
            }
        }
        self.publishing.set(false);
    }

    async fn put_kv(&self, doc: &Value) -> Result<()> {
        let kv = self.env.kv(CONFIG_KV)?;
        kv.put(FLAGSET_KEY, doc.to_string())
            .map_err(|e| worker::Error::RustError(e.to_string()))?
            .execute()
            .await
            .map_err(|e| worker::Error::RustError(e.to_string()))
    }
}

/// A change's or a refusal's status and body.
fn answer_of(result: std::result::Result<Change, ControlError>) -> (u16, Value) {
    match result {
        Ok(change) => (change.status, change.body),
        Err(e) => problem(&e),
    }
}

/// A refusal's status and body; a 412 carries the flag's current `etag` in its body too.
fn problem(p: &dyn Problem) -> (u16, Value) {
    let mut r = reply(p);
    for (name, value) in r.headers {
        if name == "ETag" {
            r.body["etag"] = value.into();
        }
    }
    (r.status, r.body)
}

/// The JSON response, with the flag's `ETag` when the body is one flag.
fn respond((status, body): (u16, Value)) -> Result<Response> {
    let etag = body.get("etag").and_then(Value::as_str).map(str::to_owned);
    let mut resp = Response::from_json(&body)?.with_status(status);
    if let Some(etag) = etag {
        resp.headers_mut().set("ETag", &etag)?;
    }
    Ok(resp)
}

/// What an `Idempotency-Key` is bound to: method, path and body.
fn fingerprint(method: &str, path: &str, body: &str) -> String {
    let mut h = Sha256::new();
    for part in [method, path, body] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::hex(&h.finalize())
}
