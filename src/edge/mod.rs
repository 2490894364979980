//! The Workers shell: reads the request, calls the pure core, does the I/O, writes the response.
//! No business rules live here.

mod config;
mod consumer;
mod events;
mod random;
mod request;
mod respond;

use worker::{event, Context, Date, Env, Request, Response, Result};

use crate::core::cohort::effective_rollout;
use crate::core::config::PassThrough;
use crate::core::gate::{self, Entropy};

/// The fetch handler: every request the worker runs first on (gated and API routes).
#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let facts = request::Facts::read(&req);
    let view = facts.view();
    let rnd = Entropy {
        uid: random::bytes(),
        request_id: random::bytes(),
    };
    let (outcome, pass_through) = match config::get(&env) {
        Ok(cfg) => {
            // Seam for the control-plane stage: the stored rollout, read from KV with a 30 s
            // cache, goes here. Until that stage lands, the vars decide.
            let rollout = effective_rollout(cfg.rollout_bp, None);
            if view.path == "/api/events" {
                let ctx = events::Ctx {
                    env: &env,
                    cfg,
                    facts: &facts,
                    rollout: &rollout,
                    request_id: gate::request_id(view.cf_ray, &rnd.request_id),
                    fresh_id: rnd.uid,
                    now_ms: Date::now().as_millis(),
                };
                let (req, outcome) = events::handle(req, ctx).await;
                return respond::finish(req, &env, outcome, cfg.pass_through).await;
            }
            (gate::handle(&view, cfg, &rollout, &rnd), cfg.pass_through)
        }
        Err(err) => {
            let outcome = gate::handle_misconfigured(&view, &rnd);
            respond::log_error(&outcome.request_id, "config_invalid", &err.to_string());
            (outcome, PassThrough::Assets)
        }
    };
    respond::finish(req, &env, outcome, pass_through).await
}
