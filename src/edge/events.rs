//! `/api/events`: the beacon (POST, OPTIONS) and its admin reads (GET, DELETE). The checks run
//! in the order of DESIGN.md's table; the decisions are the core's, the I/O is here.

use futures_util::future::join_all;
use serde_json::json;
use worker::wasm_bindgen::JsValue;
use worker::{Env, QueueContentType, RawMessageBuilder, Request, SendMessage};

use crate::core::events::config::EventsConfig;
use crate::core::events::error::EventsError;
use crate::core::events::ingest::{self, accept, check_headers, rate_limit_key, Accepted, Sender};
use crate::core::events::listing::{parse_list_query, ListQuery};
use crate::core::events::record::{EventMeta, EVENT_KEY_PREFIX};
use crate::core::gate::cohort::{Decider, Rollout};
use crate::core::gate::config::GateConfig;
use crate::core::gate::identity;
use crate::core::gate::identity::KeySource;
use crate::core::http::auth::bearer_ok;
use crate::core::http::cors::{self, origin_allowed, origin_of};
use crate::core::http::outcome::{Action, Outcome};
use crate::core::http::problem::ApiError;
use crate::core::http::route::EventsRoute;
use crate::edge::request::{read_body, BodyError, Facts};
use crate::edge::{flags, log};

/// Binding names, as in wrangler.toml.
pub const EVENTS_QUEUE: &str = "EVENTS_QUEUE";
/// KV namespace of stored events.
pub const EVENTS_KV: &str = "EVENTS_KV";
const RATE_LIMITER: &str = "EVENTS_RATE_LIMITER";
/// The period of the rate limiter binding, in seconds (wrangler.toml `simple.period`).
const RATE_PERIOD_S: u32 = 60;
/// Keys fetched from KV at once by admin reads.
const KV_CONCURRENCY: usize = 50;

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
    /// `ADMIN_TOKEN`, for the admin reads.
    pub admin_token: Option<&'a str>,
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
        EventsRoute::List => list(&url, &ctx).await,
        EventsRoute::Delete => delete(&ctx).await,
    };
    let mut out = Outcome::api(answer, ctx.request_id);
    if let Some(origin) = origin.as_deref().filter(|_| allowed) {
        cors::allow_origin(&mut out, origin, ingest::CORS);
    }
    out
}

async fn ingest(req: &mut Request, ctx: &Ctx<'_>) -> Result<Action, EventsError> {
    let facts = ctx.facts.view();
    match ctx.env.rate_limiter(RATE_LIMITER) {
        Ok(limiter) => match limiter.limit(rate_limit_key(&facts)).await {
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
    let identity = identity::resolve(&ctx.gate.identity, &facts, &ctx.fresh_id);
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
    let sender = Sender {
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

/// A queue message sent as UTF-8 text, so its size is its bytes (which `accept` bounded),
/// not those of a JSON string that quotes them again.
pub fn text_message(text: &str) -> SendMessage<JsValue> {
    RawMessageBuilder::new(text.into()).build_with_content_type(QueueContentType::Text)
}

fn unavailable(ctx: &Ctx<'_>, event: &str, e: impl std::fmt::Display) -> EventsError {
    log::error(&ctx.request_id, event, &e.to_string());
    ApiError::Unavailable.into()
}

/// The events KV, once the admin token is checked.
fn admin_kv(ctx: &Ctx<'_>) -> Result<worker::kv::KvStore, EventsError> {
    let auth = ctx.facts.header("authorization");
    if !bearer_ok(auth.as_deref(), ctx.admin_token) {
        return Err(ApiError::Unauthorized {
            token: "ADMIN_TOKEN",
        }
        .into());
    }
    ctx.env
        .kv(EVENTS_KV)
        .map_err(|e| unavailable(ctx, "kv_missing", e))
}

async fn delete(ctx: &Ctx<'_>) -> Result<Action, EventsError> {
    let kv = admin_kv(ctx)?;
    let keys = list_keys(&kv, usize::MAX, None)
        .await
        .map_err(|e| unavailable(ctx, "kv_list_failed", e))?;
    for chunk in keys.chunks(KV_CONCURRENCY) {
        for r in join_all(chunk.iter().map(|k| kv.delete(k))).await {
            r.map_err(|e| unavailable(ctx, "kv_delete_failed", e))?;
        }
    }
    Ok(Action::Json(200, json!({"deleted": keys.len()})))
}

async fn list(url: &str, ctx: &Ctx<'_>) -> Result<Action, EventsError> {
    let kv = admin_kv(ctx)?;
    let query: ListQuery = parse_list_query(url)?;
    let limit = if query.count_only {
        usize::MAX
    } else {
        query.limit
    };
    let keys = list_keys(&kv, limit, query.name.as_deref())
        .await
        .map_err(|e| unavailable(ctx, "kv_list_failed", e))?;
    if query.count_only {
        return Ok(Action::Json(200, json!({"count": keys.len()})));
    }
    let mut events = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(KV_CONCURRENCY) {
        for r in join_all(chunk.iter().map(|k| kv.get(k).json::<serde_json::Value>())).await {
            // A key can expire between list and get; skip it rather than fail the listing.
            if let Some(v) = r.map_err(|e| unavailable(ctx, "kv_get_failed", e))? {
                events.push(v);
            }
        }
    }
    Ok(Action::Json(
        200,
        json!({"count": events.len(), "events": events}),
    ))
}

/// Up to `limit` event keys, newest first, optionally only those named `name`.
async fn list_keys(
    kv: &worker::kv::KvStore,
    limit: usize,
    name: Option<&str>,
) -> Result<Vec<String>, worker::kv::KvError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut list = kv.list().prefix(EVENT_KEY_PREFIX.to_owned()).limit(1000);
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list.execute().await?;
        for key in page.keys {
            let matches = name.is_none_or(|n| {
                key.metadata
                    .and_then(|m| serde_json::from_value::<EventMeta>(m).ok())
                    .is_some_and(|m| m.name == n)
            });
            if matches {
                out.push(key.name);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        match page.cursor.filter(|_| !page.list_complete) {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}
