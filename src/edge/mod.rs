//! The Workers shell: reads the request, resolves its route in the core's one route table,
//! calls the core, does the I/O and writes the response. No business rules live here.

mod admin;
mod config;
mod consumer;
mod control;
mod events;
mod flags;
mod log;
mod ofrep;
mod outcomes;
mod random;
mod request;
mod respond;

use worker::{event, Context, Date, Env, Request, Response, Result};

use crate::core::config::Config;
use crate::core::gate::answer::{healthz, page, page_fail_closed};
use crate::core::gate::cohort::{effective_rollout, Decider};
use crate::core::http::outcome::Outcome;
use crate::core::http::problem::ApiError;
use crate::core::http::request::{request_id, Entropy};
use crate::core::http::route::{resolve, EventsRoute, Route};

/// The fetch handler: every request the worker runs first on (gated, API and OFREP routes).
#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let facts = request::Facts::read(&req);
    let view = facts.view();
    let rnd = Entropy {
        uid: random::bytes(),
        request_id: random::bytes(),
    };
    let id = request_id(view.cf_ray, &rnd.request_id);
    let cfg = config::get(&env);
    let route = match resolve(view.method, view.path) {
        Ok(route) => route,
        Err(e) => return respond::finish(req, &env, Outcome::api(Err(e), id)).await,
    };
    // Every route needs the gate's section (identity); pages fail closed without it.
    let gate = match &cfg.gate {
        Ok(gate) => gate,
        Err(down) if route == Route::Page => {
            log::config_invalid(&id, "gate", &down.error);
            let outcome = page_fail_closed(&view, &down.fallback, id);
            return respond::finish(req, &env, outcome).await;
        }
        Err(_) => return respond::finish(req, &env, misconfigured(cfg, id)).await,
    };
    let now_ms = Date::now().as_millis();
    let rollout = effective_rollout(gate.rollout_bp);
    let flags_ctx = |id| {
        cfg.flags.as_ref().ok().map(|flags| ofrep::Ctx {
            env: &env,
            rollout,
            now_ms,
            gate,
            flags,
            facts: &facts,
            request_id: id,
            fresh_id: rnd.uid,
        })
    };
    let outcome = match route {
        Route::Page => {
            // Only a gated page consults flags: the flag set and the country (a call into the
            // runtime) are read for those alone.
            let gated = gate
                .gated_routes
                .iter()
                .any(|r| r.pattern.matches(view.path));
            let (published, country) = if gated {
                let published = flags::current(&env, gate, now_ms, &id).await;
                (published, req.cf().and_then(|cf| cf.country()))
            } else {
                (None, None)
            };
            let decider = Decider::new(rollout, published.as_deref(), now_ms, country.as_deref());
            page(&view, gate, &decider, &rnd, id).outcome
        }
        Route::Healthz if cfg.errors().is_empty() => {
            let published = flags::current(&env, gate, now_ms, &id).await;
            let version = published.as_deref().map(|p| p.version.as_str());
            let answer = healthz(rollout.as_ref(), version);
            Outcome::api(Ok::<_, ApiError>(answer), id)
        }
        Route::Healthz => misconfigured(cfg, id),
        Route::Events(route) => match &cfg.events {
            Ok(events_cfg) => {
                let ctx = events::Ctx {
                    env: &env,
                    gate,
                    rollout,
                    events: events_cfg,
                    admin_token: cfg.admin_token.as_deref(),
                    facts: &facts,
                    request_id: id,
                    fresh_id: rnd.uid,
                    now_ms,
                };
                let out = events::answer(route, &mut req, ctx).await;
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
        Route::Admin(_) => {
            let ctx = admin::Ctx {
                env: &env,
                admin_token: cfg.admin_token.as_deref(),
                facts: &facts,
                request_id: id,
            };
            admin::answer(&mut req, ctx).await
        }
        Route::Metrics => admin::metrics(&env, &facts, cfg.metrics_token.as_deref(), id).await,
        Route::Ofrep(route) => match flags_ctx(id.clone()) {
            Some(ctx) => ofrep::answer(route, &mut req, ctx).await,
            None => misconfigured(cfg, id),
        },
    };
    outcomes::flush_if_due(&env, &ctx, now_ms);
    respond::finish(req, &env, outcome).await
}

/// 503 for a route whose config section is invalid; each invalid section is logged with the
/// request id (the body stays generic).
fn misconfigured(cfg: &Config, id: String) -> Outcome {
    for (section, e) in cfg.errors() {
        log::config_invalid(&id, section, e);
    }
    Outcome::api(Err(ApiError::Misconfigured), id)
}
