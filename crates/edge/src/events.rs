//! `/api/events`: the beacon (POST, OPTIONS). The checks run in the order of the README's table
//! ("Events beacon"); the decisions are the core's, the I/O is here. Its admin reads (GET,
//! DELETE) are the control worker's, which the edge relays them to.

use serde_json::json;
use worker::{Env, Request};

use crate::flags;
use pilot_gate_core::events::config::EventsConfig;
use pilot_gate_core::events::error::EventsError;
use pilot_gate_core::events::ingest::{
    self, accept, check_headers, rate_limit_key, Accepted, Sender,
};
use pilot_gate_core::evidence::unit::Unit;
use pilot_gate_core::gate::cohort::{Decider, Rollout};
use pilot_gate_core::gate::config::GateConfig;
use pilot_gate_core::gate::identity;
use pilot_gate_core::gate::identity::KeySource;
use pilot_gate_core::http::cors::{self, origin_allowed, origin_of};
use pilot_gate_core::http::outcome::{Action, Outcome};
use pilot_gate_core::http::problem::ApiError;
use pilot_gate_core::http::route::EventsRoute;
use pilot_gate_shell::log;
use pilot_gate_shell::queue::text_message;
use pilot_gate_shell::request::{read_body, BodyError, Facts};

/// Binding names, as in wrangler.toml.
pub const EVENTS_QUEUE: &str = "EVENTS_QUEUE";
const RATE_LIMITER: &str = "EVENTS_RATE_LIMITER";
/// The period of the rate limiter binding, in seconds (wrangler.toml `simple.period`).
const RATE_PERIOD_S: u32 = 60;

/// Everything one `/api/events` request needs besides the request itself.
pub struct Ctx<'a> {
    /// Worker bindings.
    pub env: &'a Env,
    /// The gate's section (identity) for the sender's cohorts.
    pub gate: &'a GateConfig,
    /// `PILOT_ROLLOUT_PCT`'s rollout, when set.
    pub rollout: Option<Rollout>,
    /// The beacon's section.
    pub events: &'a EventsConfig,
    /// The request's facts.
    pub facts: &'a Facts,
    /// The request id.
    pub request_id: String,
    /// Fresh random bytes (identity resolution needs some; no cookie is minted here).
    pub fresh_id: [u8; 16],
    /// Now, ms since the epoch.
    pub now_ms: u64,
}

/// Answers one `/api/events` route.
pub async fn answer(route: EventsRoute, req: &mut Request, ctx: Ctx<'_>) -> Outcome {
    let origin = ctx.facts.header("origin");
    // The raw URL string: parsing it with the `url` crate would pull IDNA tables into the wasm.
    let url = req.inner().url();
    let self_origin = origin_of(&url);
    let allowed = origin_allowed(origin.as_deref(), self_origin, &ctx.events.allowed_origins);
    let answer = match route {
        EventsRoute::Ingest | EventsRoute::Preflight if !allowed => {
            Err(EventsError::OriginNotAllowed)
        }
        EventsRoute::Preflight => {
            let origin = origin.as_deref().unwrap_or(self_origin);
            return cors::preflight(ctx.request_id, origin, ingest::CORS);
        }
        EventsRoute::Ingest => ingest(req, &ctx).await,
        // Relayed to the control worker before they come here.
        EventsRoute::List | EventsRoute::Delete => Err(ApiError::Internal.into()),
    };
    let mut out = Outcome::api(answer, ctx.request_id);
    if let Some(origin) = origin.as_deref().filter(|_| allowed) {
        cors::allow_origin(&mut out, origin, ingest::CORS);
    }
    out
}

async fn ingest(req: &mut Request, ctx: &Ctx<'_>) -> Result<Action, EventsError> {
    let facts = ctx.facts.view();
    let identity = identity::resolve(&ctx.gate.identity, &facts, &ctx.fresh_id);
    match ctx.env.rate_limiter(RATE_LIMITER) {
        Ok(limiter) => match limiter.limit(rate_limit_key(&identity, facts.ip)).await {
            Ok(o) if !o.success => {
                return Err(ApiError::RateLimited {
                    retry_after_s: RATE_PERIOD_S,
                }
                .into())
            }
            Ok(_) => {}
            // Fail open: losing the limiter must not lose events. Logged for operators.
            Err(e) => log::error(&ctx.request_id, "rate_limiter_failed", &e.to_string()),
        },
        Err(e) => log::error(&ctx.request_id, "rate_limiter_missing", &e.to_string()),
    }
    let limits = &ctx.events.limits;
    check_headers(
        ctx.facts.header("content-type").as_deref(),
        ctx.facts.header("content-length").as_deref(),
        limits,
    )?;
    let limit_bytes = limits.max_body_bytes;
    let body = read_body(req, limit_bytes).await.map_err(|e| match e {
        BodyError::TooLarge => EventsError::BodyTooLarge { limit_bytes },
        BodyError::Unreadable => EventsError::InvalidJson {
            detail: "the body could not be read".to_owned(),
        },
    })?;
    let country = ctx.facts.country();
    // The flag set is read after the body (an upload is consumed at once) and only for a
    // signed sender, the only one whose variants are recorded.
    let published = match identity.source {
        KeySource::UidCookie => {
            flags::current(ctx.env, ctx.gate, ctx.now_ms, &ctx.request_id).await
        }
        _ => None,
    };
    let decider = Decider::new(ctx.rollout, published.as_deref(), ctx.now_ms, country);
    // A capped identity (minted past its net's cap) is no unit: its events count nowhere.
    let unit = (identity.source == KeySource::UidCookie && !identity.capped)
        .then(|| Unit::of(&ctx.gate.identity.cookie_secret, &identity.targeting_key));
    let sender = Sender {
        unit,
        net: identity.net,
        identity: &identity,
        decider: &decider,
        country,
        request_id: &ctx.request_id,
    };
    let signature = ctx.facts.header("x-pilot-signature");
    match accept(&body, signature.as_deref(), ctx.now_ms, ctx.events, &sender)? {
        Accepted::IgnoreBot { events } => {
            Ok(Action::Json(202, json!({"accepted": 0, "ignored": events})))
        }
        Accepted::Enqueue { message, events } => {
            let queue = ctx
                .env
                .queue(EVENTS_QUEUE)
                .map_err(|e| unavailable(ctx, "queue_missing", e))?;
            queue
                .send_raw(text_message(&message))
                .await
                .map_err(|e| unavailable(ctx, "enqueue_failed", e))?;
            Ok(Action::Json(202, json!({"accepted": events})))
        }
    }
}

fn unavailable(ctx: &Ctx<'_>, event: &str, e: impl std::fmt::Display) -> EventsError {
    log::error(&ctx.request_id, event, &e.to_string());
    ApiError::Unavailable.into()
}
