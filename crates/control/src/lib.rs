//! # pilot-gate's control worker
//!
//! A worker of its own, behind the edge's service binding (`CONTROL`): it holds the Durable
//! Objects ([`control::RolloutControl`], the evidence objects [`evidence::FlagEvidence`] and the
//! stream objects [`live::FlagEvents`]), answers the operators' routes (`/api/admin/*`, the
//! stored events' reads) and `/metrics`, and consumes the notifications' queue. No page and no
//! beacon request ever runs this code: the edge serves those, and binds the objects across
//! scripts.
#![cfg(target_arch = "wasm32")]

mod access;
mod admin;
mod control;
mod events_admin;
mod evidence;
mod live;
mod notify;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::future_to_promise;
use worker::worker_sys::Context as RawContext;
use worker::{event, web_sys, Context, Env, MessageBatch, Result};

use pilot_gate_core::events::queues::{kind_of, QueueKind};
use pilot_gate_core::http::answers;
use pilot_gate_core::http::auth::Operator;
use pilot_gate_core::http::outcome::{Action, Outcome, Upstream};
use pilot_gate_core::http::problem::ApiError;
use pilot_gate_core::http::request::request_id;
use pilot_gate_core::http::route::{resolve, AdminRoute, Needs, Route, Worker};
use pilot_gate_core::http::sse::Channel;
use pilot_gate_shell::queue::retry_later;
use pilot_gate_shell::request::Facts;
use pilot_gate_shell::{config, log, random, respond};

/// The fetch handler: the routes the edge relays (those of [`Worker::Control`]); any other
/// route is 404, since the edge serves it.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, _ctx: RawContext) -> JsValue {
    future_to_promise(async move {
        let facts = Facts::read(&req);
        let id = request_id(facts.view().cf_ray, &random::entropy().request_id);
        let resolved = resolve(facts.view().method, facts.view().path);
        let label = answers::label(resolved.as_ref().ok().copied());
        let mut req = worker::Request::from(req);
        let outcome = match resolved {
            Ok(route) if route.worker() == Worker::Control => {
                answer(&mut req, route, &facts, &env, id).await
            }
            Ok(_) => Outcome::api(Err(ApiError::NotFound), id),
            Err(e) => Outcome::api(Err(e), id),
        };
        Ok(respond::write(outcome, req.inner(), &env, None, label))
    })
    .into()
}

/// Answers one of the control worker's routes: who calls, whether their role may, then the
/// route.
async fn answer(
    req: &mut worker::Request,
    route: Route,
    facts: &Facts,
    env: &Env,
    id: String,
) -> Outcome {
    let cfg = config::get(env);
    let now_ms = worker::js_sys::Date::now() as u64;
    let operator: Option<Operator> = match route.needs() {
        Needs::Role(role) => match admin::authorize(&cfg.admin, facts, role, now_ms, &id).await {
            Ok(operator) => Some(operator),
            Err(e) => return Outcome::api(Err(e), id),
        },
        Needs::Anyone | Needs::MetricsToken => None,
    };
    match (route, operator) {
        (Route::Metrics, _) => admin::metrics(env, facts, cfg.metrics_token.as_deref(), id).await,
        (Route::Admin(AdminRoute::Me), Some(operator)) => Outcome::api(
            Ok::<_, ApiError>(Action::Json(200, serde_json::json!(operator))),
            id,
        ),
        (Route::Admin(AdminRoute::Events), Some(_)) => {
            let stream = Action::PassThrough(Upstream::Stream(Channel::Admin));
            Outcome::api(Ok::<_, ApiError>(stream), id)
        }
        (Route::Admin(_), Some(operator)) => {
            let ctx = admin::Ctx {
                env,
                operator,
                facts,
                request_id: id,
            };
            admin::answer(req, ctx).await
        }
        (Route::Events(route), Some(_)) => {
            let url = req.inner().url();
            events_admin::answer(
                route,
                &url,
                events_admin::Ctx {
                    env,
                    request_id: id,
                },
            )
            .await
        }
        // Every other route is the edge's, or needs an operator that authorize gave.
        _ => Outcome::api(Err(ApiError::Internal), id),
    }
}

/// Consumes the notifications' queue (`pilot-gate-notify`): audit entries POSTed to
/// `NOTIFY_URL` in order.
#[event(queue)]
pub async fn consume(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    let messages = batch.messages()?;
    match kind_of(&batch.queue()) {
        Some(QueueKind::Notify) => notify::deliver(&env, messages, retry_later).await,
        // A queue of the edge's bound here by mistake: its messages come back until it is fixed.
        _ => {
            log::error("consumer", "queue_of_the_edge", &batch.queue());
            messages.iter().for_each(retry_later);
        }
    }
    Ok(())
}
