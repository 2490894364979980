//! The `RolloutControl` Durable Object: one per deployment, SQLite-backed, the single writer of
//! flag state. It stores the state, the append-only audit log and the idempotency records,
//! answers the admin API through the core, publishes the compiled flag set to `CONFIG_KV`
//! (retried by alarm until it lands), and tells each flag's evidence object (`FlagEvidence`) of
//! every change. It counts nothing: the evidence objects count and check the guards, and call
//! it only to act or to report the guards' states. The rules live in `pilot_gate_core::control`.

mod aggregates;
mod dead_letters;
mod faults;
mod health;
mod store;

use std::cell::{Cell, RefCell};

use futures_util::future::join_all;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use crate::admin::{OPERATOR_HEADER, ROLE_HEADER};
use crate::live;
use pilot_gate_core::control::api::{handle, is_change};
use pilot_gate_core::control::audit::Actor;
use pilot_gate_core::control::compile::compile;
use pilot_gate_core::control::error::ControlError;
use pilot_gate_core::control::guards::Verdict;
use pilot_gate_core::control::publish::retry_delay_ms;
use pilot_gate_core::control::state::{Caller, Change, ControlState};
use pilot_gate_core::control::watch::{Acted, GuardReport, Watch};
use pilot_gate_core::events::dead_letter::DeadLetter;
use pilot_gate_core::events::latency::Latency;
use pilot_gate_core::flags::source::{envelope, FLAGSET_KEY};
use pilot_gate_core::hex;
use pilot_gate_core::http::answers::AnswerCounts;
use pilot_gate_core::http::auth::{valid_name, Operator, Role};
use pilot_gate_core::http::problem::ApiError;
use pilot_gate_core::http::problem::{reply, Problem};
use pilot_gate_core::http::query::pairs;
use pilot_gate_core::http::route::{path_key, resolve, AdminRoute, Route};
use pilot_gate_core::metrics::render;
use pilot_gate_shell::config::CONFIG_KV;
use pilot_gate_shell::internal::{self, INTERNAL};
use pilot_gate_shell::log;

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
            .and_then(|_| sql.exec(dead_letters::SCHEMA, None))
            .and_then(|_| sql.exec(health::SCHEMA, None))
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
        // A test build only: the object traps with its wasm object made (see Cargo.toml).
        #[cfg(feature = "trap")]
        if url.ends_with("/api/admin/status?trap") {
            panic!("the trap route of a test build (control)");
        }
        let path = req.path();
        let method = req.method().to_string();
        let headers = req.headers().clone();
        let header = |name: &str| headers.get(name).ok().flatten();
        let request_id = header("X-Request-Id").unwrap_or_default();
        let now_ms = worker::Date::now().as_millis();
        let idempotency_key = header("Idempotency-Key");
        let text = req.text().await?;
        let answer = match path.strip_prefix(INTERNAL) {
            Some(route) => self.internal(&method, route, &text, now_ms).await,
            None => {
                let Ok(Route::Admin(route)) = resolve(&method, &path) else {
                    let e = ControlError::BadRequest("not an admin route".into());
                    return respond(problem(&e));
                };
                // The worker verified the operator and their role, and set these headers
                // itself; the object checks the role again, so no other caller can skip it.
                let operator = verified_operator(
                    header(OPERATOR_HEADER).as_deref(),
                    header(ROLE_HEADER).as_deref(),
                    Route::Admin(route),
                );
                let operator = match operator {
                    Ok(operator) => operator,
                    Err(e) => return respond(problem(&e)),
                };
                let caller = Caller {
                    actor: Actor::Operator(operator),
                    now_ms,
                    if_match: header("If-Match"),
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

    /// Publishes a pending revision (the retry of a failed publish).
    async fn alarm(&self) -> Result<Response> {
        self.publish().await;
        Response::ok("")
    }
}

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
            AdminRoute::Stats => return self.stats(r.key.unwrap_or_default(), r.url).await,
            AdminRoute::DeadLetters => return self.list_dead_letters(r.url),
            AdminRoute::ReplayDeadLetters => {
                return self.replay_dead_letters(r.text, &r.caller).await
            }
            AdminRoute::DiscardDeadLetters => return self.discard_dead_letters(r.text, &r.caller),
            AdminRoute::Faults => return self.fault(r.text).await,
            route if !is_change(route) => {
                let mut state = self.load()?;
                self.note_verdicts(&mut state)?;
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
        let before = self.load()?;
        let mut next = before.clone();
        // An advance needs the guards' latest verdicts (SQL reads: still no await).
        self.note_verdicts(&mut next)?;
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
            let watches = changed_watches(&before, &next);
            // A request, an approval that is not the last, a rejection: no new flag set.
            let republish = next.revision != before.revision;
            *self.cache.borrow_mut() = Some(next);
            if republish {
                self.publish().await;
            }
            let telling = tell_evidence(self.env.clone(), self.sql(), watches);
            if matches!(r.route, AdminRoute::Kill | AdminRoute::Unkill) {
                // Every flag changes: the kill's answer waits for no evidence object. Their new
                // windows are judged after it (an advance waits for that).
                self.state.wait_until(telling);
            } else {
                // The changed flag's new tier gets its verdicts before the answer, so the next
                // advance is judged on them.
                telling.await;
            }
        }
        Ok(answer)
    }

    /// The worker's own calls: the evidence objects' reports and actions, their reads of a
    /// flag's watch, the beacon's outcome counts, the dead letters, `/metrics`.
    async fn internal(
        &self,
        method: &str,
        path: &str,
        text: &str,
        now_ms: u64,
    ) -> Result<Response> {
        let bad = |e: String| Response::error(e, 400);
        match (method, path) {
            ("POST", "act") => {
                let report: GuardReport = match serde_json::from_str(text) {
                    Ok(r) => r,
                    Err(e) => return bad(format!("act: {e}")),
                };
                self.act(&report, now_ms).await
            }
            ("POST", "verdicts") => {
                let report: GuardReport = match serde_json::from_str(text) {
                    Ok(r) => r,
                    Err(e) => return bad(format!("verdicts: {e}")),
                };
                aggregates::keep_verdicts(
                    &self.sql(),
                    &report.flag,
                    report.tier_revision,
                    &report.verdicts,
                )?;
                Response::ok("{}")
            }
            ("POST", "beacon") => {
                #[derive(serde::Deserialize)]
                struct Flushed {
                    beacon: Vec<(String, u64)>,
                    answers: AnswerCounts,
                }
                let flushed: Flushed = match serde_json::from_str(text) {
                    Ok(o) => o,
                    Err(e) => return bad(format!("beacon: {e}")),
                };
                self.add_outcomes(&flushed.beacon)?;
                self.add_answers(&flushed.answers)?;
                Response::ok("{}")
            }
            ("POST", "ingest") => {
                #[derive(serde::Deserialize)]
                struct Ingested {
                    latency: Latency,
                    minutes: std::collections::BTreeMap<u64, u64>,
                }
                let ingested: Ingested = match serde_json::from_str(text) {
                    Ok(l) => l,
                    Err(e) => return bad(format!("ingest: {e}")),
                };
                self.add_ingest(&ingested.latency)?;
                let minutes: Vec<(u64, u64)> = ingested.minutes.into_iter().collect();
                self.add_ingested(&minutes)?;
                Response::ok("{}")
            }
            ("POST", "reconcile") => respond(self.take_scan(text, now_ms)?),
            ("POST", "dead-letters") => {
                let letters: Vec<DeadLetter> = match serde_json::from_str(text) {
                    Ok(l) => l,
                    Err(e) => return bad(format!("dead-letters: {e}")),
                };
                self.take_dead_letters(&letters)?;
                Response::ok("{}")
            }
            ("GET", "published") => Response::ok(published(&self.load()?).to_string()),
            ("GET", "metrics") => {
                let state = self.load()?;
                Response::ok(render(&self.snapshot(&state, now_ms).await?))
            }
            ("POST", "reconcile/next") => {
                // The run's scheduled time, which the window is cut at.
                let at = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v.get("nowMs")?.as_u64())
                    .unwrap_or(now_ms);
                Response::from_json(&self.next_scan(at)?)
            }
            ("GET", route) => match route.strip_prefix("watch/") {
                Some(flag) => Response::from_json(&Watch::of(&self.load()?, flag)),
                None => Response::error("no such internal route", 404),
            },
            _ => Response::error("no such internal route", 404),
        }
    }

    /// A flag's evidence reports a tripped guard (or, for a plan with autoAdvance, guards all
    /// healthy after the dwell time): carries out the action or the climb (stored, audited,
    /// counted, published) when the report is on the flag's current tier, and answers the
    /// flag's watch afterwards. A report on an older tier changes nothing.
    async fn act(&self, report: &GuardReport, now_ms: u64) -> Result<Response> {
        let mut state = self.load()?;
        let current = state
            .flags
            .get(&report.flag)
            .is_some_and(|f| f.plan.tier_revision == report.tier_revision);
        let acted = if current {
            state.act_on(&report.flag, &report.verdicts, now_ms)
        } else {
            None
        };
        if let Some((change, decision)) = &acted {
            self.store(&state, change)?;
            self.count_decision(&report.flag, decision)?;
        }
        // No guard acted: a plan with autoAdvance may climb.
        let climbed = match (&acted, current) {
            (None, true) => {
                state.auto_advance(&report.flag, report.tier_revision, &report.verdicts, now_ms)
            }
            _ => None,
        };
        if let Some(change) = &climbed {
            self.store(&state, change)?;
        }
        if acted.is_some() || climbed.is_some() {
            *self.cache.borrow_mut() = Some(state.clone());
            self.publish().await;
        }
        let watch = Watch::of(&state, &report.flag);
        if let Some(w) = &watch {
            // The new tier has no verdicts yet; the evidence reports them on its next check.
            aggregates::keep_verdicts(&self.sql(), &w.flag, w.tier_revision, &[])?;
        }
        Response::from_json(&Acted {
            watch,
            acted: acted.is_some() || climbed.is_some(),
        })
    }

    /// `GET /api/admin/stats/{key}?window=`: answered by the flag's evidence object, with the
    /// flag's watch.
    async fn stats(&self, key: &str, url: &str) -> Result<(u16, Value)> {
        let state = self.load()?;
        let Some(watch) = Watch::of(&state, key) else {
            return Ok(problem(&ControlError::FlagNotFound(key.to_owned())));
        };
        let window = pairs(url).find(|(k, _)| k == "window").map(|(_, v)| v);
        let stub = internal::evidence(&self.env, key)?;
        let ask = json!({"window": window, "watch": watch});
        let mut init = worker::RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(ask.to_string().into()));
        let req = Request::new_with_init(&format!("https://object{INTERNAL}stats/{key}"), &init)?;
        let mut resp = stub.fetch_with_request(req).await?;
        let status = resp.status_code();
        let mut body: Value = resp.json().await?;
        if status == 200 {
            // The deployment's health beside the flag's figures (the dashboard's health card).
            body["health"] = json!({"reconciled": self.reconciled()?});
        }
        Ok((status, body))
    }

    /// Writes the compiled set of the current revision to `CONFIG_KV`, again while a newer
    /// revision appeared meanwhile; a failure schedules an alarm that retries with backoff.
    async fn publish(&self) {
        if self.publishing.replace(true) {
            return; // the loop in flight publishes the newest revision before it stops
        }
        loop {
            let Ok(state) = self.load() else { break };
            let text = published(&state).to_string();
            match self.put_kv(&text).await {
                Ok(()) => {
                    self.retries.set(0);
                    let now_ms = worker::Date::now().as_millis();
                    // Connected clients re-fetch now; the edge reads this set from the streams'
                    // objects when a re-fetch names it, before KV has it everywhere.
                    live::tell_publish(&self.env, state.revision, now_ms, &text).await;
                    let _ = self.set_meta("published", &state.revision.to_string());
                    let _ = self.set_meta("published_at", &now_ms.to_string());
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

    async fn put_kv(&self, doc: &str) -> Result<()> {
        let kv = self.env.kv(CONFIG_KV)?;
        kv.put(FLAGSET_KEY, doc)
            .map_err(|e| worker::Error::RustError(e.to_string()))?
            .execute()
            .await
            .map_err(|e| worker::Error::RustError(e.to_string()))
    }
}

/// What the control plane publishes for `state`: the compiled set under its revision, with the
/// metrics (as KV and the streams' objects hold it).
fn published(state: &ControlState) -> Value {
    envelope(&state.revision.to_string(), compile(state), &state.metrics)
}

/// The watches that a change moved (every field but the control plane's revision).
fn changed_watches(before: &ControlState, after: &ControlState) -> Vec<Watch> {
    let same = |a: &Watch, b: &Watch| {
        Watch {
            revision: b.revision,
            ..a.clone()
        } == *b
    };
    after
        .flags
        .keys()
        .filter_map(|key| {
            let now = Watch::of(after, key)?;
            match Watch::of(before, key) {
                Some(was) if same(&was, &now) => None,
                _ => Some(now),
            }
        })
        .collect()
}

/// Tells each flag's evidence object its new watch, and keeps the verdicts each answers (the
/// objections to its next advance). An object that cannot be reached is logged; its flag's
/// advance waits until its verdicts on the tier arrive.
async fn tell_evidence(env: Env, sql: worker::SqlStorage, watches: Vec<Watch>) {
    let calls = watches.iter().map(|watch| {
        let (env, sql) = (&env, &sql);
        async move {
            let stub = internal::evidence(env, &watch.flag)?;
            let route = format!("watch/{}", watch.flag);
            let verdicts: Vec<Verdict> = internal::post_json(&stub, &route, watch).await?;
            aggregates::keep_verdicts(sql, &watch.flag, watch.tier_revision, &verdicts)
        }
    });
    for r in join_all(calls).await {
        if let Err(e) = r {
            log::error("control", "evidence_unreachable", &e.to_string());
        }
    }
}

/// The operator of an admin request as the worker passed them on, when their role may call
/// `route`.
fn verified_operator(
    name: Option<&str>,
    role: Option<&str>,
    route: Route,
) -> std::result::Result<Operator, ApiError> {
    let (Some(name), Some(role)) = (name, role.and_then(Role::parse)) else {
        return Err(ApiError::Unauthorized {
            token: "ADMIN_TOKENS",
        });
    };
    if !valid_name(name) {
        return Err(ApiError::Unauthorized {
            token: "ADMIN_TOKENS",
        });
    }
    route.needs().admits(role)?;
    Ok(Operator {
        name: name.to_owned(),
        role,
    })
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
