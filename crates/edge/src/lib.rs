//! # pilot-gate's edge worker
//!
//! The Workers shell: reads the request, resolves its route in the core's one route table,
//! calls the core ([`pilot_gate_core`]), does the I/O and writes the response. No business
//! rules live here.
#![cfg(target_arch = "wasm32")]

mod consumer;
mod events;
mod flags;
mod mints;
mod ofrep;
mod outcomes;
mod reconcile;
mod sightings;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::future_to_promise;
use worker::worker_sys::Context as RawContext;
use worker::{web_sys, Context, Env};

use pilot_gate_core::config::Config;
use pilot_gate_core::flags::source::Published;
use pilot_gate_core::gate::answer::{healthz, page, page_fail_closed};
use pilot_gate_core::gate::cohort::{effective_rollout, Decider};
use pilot_gate_core::gate::config::GateConfig;
use pilot_gate_core::gate::identity;
use pilot_gate_core::http::answers;
use pilot_gate_core::http::outcome::{Action, Outcome};
use pilot_gate_core::http::problem::ApiError;
use pilot_gate_core::http::request::{request_id, Entropy};
use pilot_gate_core::http::route::{resolve, EventsRoute, Route, Worker};
use pilot_gate_shell::request::Facts;
use pilot_gate_shell::{config, log, random, respond};
use sightings::Visitor;

/// The fetch handler: every request the worker runs first on (gated, API and OFREP routes).
///
/// A page whose answer needs no I/O (an ungated page, or a gated one while this isolate's
/// flag set is fresh) is answered synchronously: the response, or the upstream's promise for a
/// pass-through, goes back without Rust's futures machinery. Everything else runs as a future.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: RawContext) -> JsValue {
    let ctx = Context::new(ctx);
    respond::on_upstream(sightings::upstream);
    let mut facts = Facts::read(&req);
    #[cfg(feature = "trap")]
    if facts.view().path == "/api/__trap" {
        sightings::trap_while_recording();
    }
    let rnd = random::entropy();
    let id = request_id(facts.view().cf_ray, &rnd.request_id);
    // Whole milliseconds since the epoch: an f64 that converts exactly.
    let now_ms = worker::js_sys::Date::now() as u64;
    let cfg = config::get(&env);
    let resolved = resolve(facts.view().method, facts.view().path);
    let label = answers::label(resolved.as_ref().ok().copied());
    // Writes the response (recording the upstream's answer under a gated pass-through's
    // token), counts it, and sends what this isolate buffered (answers, beacon outcomes,
    // sightings) when it is due, after the response.
    let finish =
        move |outcome: Outcome, token: Option<String>, req: &web_sys::Request, env: &Env| {
            if let Some(status) = answers::status_of(&outcome) {
                outcomes::answered(label, status);
            }
            outcomes::flush_if_due(env, &ctx, now_ms, respond::take_passed);
            sightings::flush_if_due(env, &ctx, now_ms);
            respond::write(outcome, req, env, token, label)
        };
    let route = match resolved {
        Ok(route) => route,
        Err(e) => return finish(Outcome::api(Err(e), id), None, &req, &env),
    };
    // The operators' routes and /metrics are the control worker's: relayed as they came.
    if route.worker() == Worker::Control {
        return finish(Outcome::relay(id), None, &req, &env);
    }
    // Every route needs the gate's section (identity); pages fail closed without it.
    let gate = match &cfg.gate {
        Ok(gate) => gate,
        Err(down) if route == Route::Page => {
            log::config_invalid(&id, "gate", &down.error);
            let outcome = page_fail_closed(&facts.view(), &down.fallback, id);
            return finish(outcome, None, &req, &env);
        }
        Err(_) => return finish(misconfigured(cfg, id), None, &req, &env),
    };
    // An ungated page needs neither flags nor `cf` (bot management, country).
    let path = facts.view().path;
    if route == Route::Page && !gate.gated_routes.iter().any(|r| r.pattern.matches(path)) {
        let decider = Decider::new(effective_rollout(gate.rollout_bp), None, now_ms, None);
        let outcome = page(&facts.view(), gate, &decider, &rnd, id).outcome;
        return finish(outcome, None, &req, &env);
    }
    facts.read_cf();
    // A visitor about to be minted first asks its net's cap (the limiter is I/O), so only a
    // page of a visitor who has a valid identity is answered without I/O.
    if route == Route::Page && !identity::would_mint(&gate.identity, &facts.view()) {
        if let Some(published) = flags::cached(gate, now_ms) {
            let (outcome, token) = gated_page(&facts, gate, published.as_deref(), now_ms, &rnd, id);
            return finish(outcome, token, &req, &env);
        }
    }
    let io = Io {
        env,
        cfg,
        gate,
        facts,
        rnd,
        now_ms,
    };
    future_to_promise(async move {
        // The routes that read a body use the worker crate's request.
        let mut req = worker::Request::from(req);
        let (outcome, token) = io.answer(&mut req, route, id).await;
        Ok(finish(outcome, token, req.inner(), &io.env))
    })
    .into()
}

/// The outcome of a gated page under the flag set in force; the exposure is recorded, and a
/// pass-through gets the token under which its upstream's answer is recorded.
fn gated_page(
    facts: &Facts,
    gate: &GateConfig,
    published: Option<&Published>,
    now_ms: u64,
    rnd: &Entropy,
    id: String,
) -> (Outcome, Option<String>) {
    let rollout = effective_rollout(gate.rollout_bp);
    let decider = Decider::new(rollout, published, now_ms, facts.country());
    let answer = page(&facts.view(), gate, &decider, rnd, id);
    let Some(e) = answer.exposure else {
        return (answer.outcome, None);
    };
    let secret = &gate.identity.cookie_secret;
    let revision = published.map_or(0, Published::revision);
    let who = Visitor {
        key: &e.targeting_key,
        net: e.net,
        capped: e.capped,
    };
    let token = match answer.outcome.action {
        Action::PassThrough(_) => Some(sightings::expose_passed(
            secret, who, &e.handed, revision, now_ms,
        )),
        _ => {
            sightings::expose(secret, who, [&e.handed], revision, now_ms);
            None
        }
    };
    (answer.outcome, token)
}

/// A request whose answer needs I/O (KV, the queue, the control plane, a body).
struct Io {
    env: Env,
    cfg: &'static Config,
    gate: &'static GateConfig,
    facts: Facts,
    rnd: Entropy,
    now_ms: u64,
}

impl Io {
    /// The outcome, and the token of a gated pass-through (see [`gated_page`]).
    async fn answer(
        &self,
        req: &mut worker::Request,
        route: Route,
        id: String,
    ) -> (Outcome, Option<String>) {
        if matches!(route, Route::Page | Route::Config | Route::Ofrep(_)) {
            let capped = mints::capped(&self.env, &self.gate.identity, &self.facts, &id).await;
            self.facts.set_mint_capped(capped);
        }
        let outcome = match route {
            Route::Page => {
                let published = flags::current(&self.env, self.gate, self.now_ms, &id).await;
                let (facts, gate, rnd) = (&self.facts, self.gate, &self.rnd);
                return gated_page(facts, gate, published.as_deref(), self.now_ms, rnd, id);
            }
            route => self.answer_api(req, route, id).await,
        };
        (outcome, None)
    }

    async fn answer_api(&self, req: &mut worker::Request, route: Route, id: String) -> Outcome {
        let Io {
            env, facts, rnd, ..
        } = self;
        let (cfg, gate, now_ms) = (self.cfg, self.gate, self.now_ms);
        let rollout = effective_rollout(gate.rollout_bp);
        let flags_ctx = |id| {
            cfg.flags.as_ref().ok().map(|flags| ofrep::Ctx {
                env,
                rollout,
                now_ms,
                gate,
                flags,
                facts,
                request_id: id,
                fresh_id: rnd.uid,
            })
        };
        match route {
            // Io::answer answers pages before it comes here.
            Route::Page => Outcome::api(Err(ApiError::Internal), id),
            Route::Healthz if cfg.errors().is_empty() => {
                let published = flags::current(env, gate, now_ms, &id).await;
                let version = published.as_deref().map(|p| p.version.as_str());
                let answer = healthz(rollout.as_ref(), version);
                Outcome::api(Ok::<_, ApiError>(answer), id)
            }
            Route::Healthz => misconfigured(cfg, id),
            Route::Events(route) => match &cfg.events {
                Ok(events_cfg) => {
                    let ctx = events::Ctx {
                        env,
                        gate,
                        rollout,
                        events: events_cfg,
                        facts,
                        request_id: id,
                        fresh_id: rnd.uid,
                        now_ms,
                    };
                    let out = events::answer(route, req, ctx).await;
                    if route == EventsRoute::Ingest {
                        outcomes::record(&out);
                    }
                    out
                }
                Err(_) => misconfigured(cfg, id),
            },
            Route::Config => match flags_ctx(id.clone()) {
                Some(ctx) => ofrep::config(ctx).await,
                None => misconfigured(cfg, id),
            },
            // Relayed to the control worker before they come here.
            Route::Admin(_) | Route::Metrics => Outcome::api(Err(ApiError::Internal), id),
            Route::Ofrep(route) => match flags_ctx(id.clone()) {
                Some(ctx) => ofrep::answer(route, req, ctx).await,
                None => misconfigured(cfg, id),
            },
        }
    }
}

/// 503 for a route whose config section is invalid; each invalid section is logged with the
/// request id (the body stays generic).
fn misconfigured(cfg: &Config, id: String) -> Outcome {
    for (section, e) in cfg.errors() {
        log::config_invalid(&id, section, e);
    }
    Outcome::api(Err(ApiError::Misconfigured), id)
}
