//! The Workers shell: reads the request, resolves its route in the core's one route table,
//! calls the core, does the I/O and writes the response. No business rules live here.

mod config;
mod consumer;
mod events;
mod log;
mod random;
mod request;
mod respond;

use worker::{event, Context, Date, Env, Request, Response, Result};

use crate::core::config::Config;
use crate::core::gate::answer::{healthz, page, page_fail_closed};
use crate::core::gate::cohort::{effective_rollout, Rollout};
use crate::core::gate::config::GateConfig;
use crate::core::http::outcome::Outcome;
use crate::core::http::problem::ApiError;
use crate::core::http::request::{request_id, Entropy};
use crate::core::http::route::{resolve, Route};

/// The fetch handler: every request the worker runs first on (gated and API routes).
#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let facts = request::Facts::read(&req);
    let view = facts.view();
    let rnd = Entropy {
        uid: random::bytes(),
        request_id: random::bytes(),
    };
    let id = request_id(view.cf_ray, &rnd.request_id);
    let cfg = config::get(&env);
    let outcome = match resolve(view.method, view.path) {
        Err(e) => Outcome::api(Err(e), id),
        Ok(Route::Page) => match &cfg.gate {
            Ok(gate) => page(&view, gate, &rollout(gate), &rnd, id).outcome,
            Err(down) => {
                log::config_invalid(&id, "gate", &down.error);
                page_fail_closed(&view, &down.fallback, id)
            }
        },
        Ok(Route::Healthz) => match (&cfg.gate, cfg.errors().is_empty()) {
            (Ok(gate), true) => Outcome::api(Ok::<_, ApiError>(healthz(&rollout(gate))), id),
            _ => misconfigured(cfg, id),
        },
        Ok(Route::Events(route)) => match (&cfg.gate, &cfg.events) {
            (Ok(gate), Ok(events_cfg)) => {
                let ctx = events::Ctx {
                    env: &env,
                    gate,
                    rollout: rollout(gate),
                    events: events_cfg,
                    admin_token: cfg.admin_token.as_deref(),
                    facts: &facts,
                    request_id: id,
                    fresh_id: rnd.uid,
                    now_ms: Date::now().as_millis(),
                };
                events::answer(route, &mut req, ctx).await
            }
            _ => misconfigured(cfg, id),
        },
    };
    respond::finish(req, &env, outcome).await
}

/// The rollout in force. The seam of the control-plane stage: the stored rollout, read from KV
/// with a 30 s cache, goes where this passes `None`; until that stage lands, the vars decide.
fn rollout(gate: &GateConfig) -> Rollout {
    effective_rollout(gate.rollout_bp, None)
}

/// 503 for a route whose config section is invalid; each invalid section is logged with the
/// request id (the body stays generic).
fn misconfigured(cfg: &Config, id: String) -> Outcome {
    for (section, e) in cfg.errors() {
        log::config_invalid(&id, section, e);
    }
    Outcome::api(Err(ApiError::Misconfigured), id)
}
