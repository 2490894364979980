//! `/api/events`: the beacon (POST, OPTIONS) and its admin reads (GET, DELETE). The checks run
//! in the order of DESIGN.md's table; the decisions are the core's, the I/O is here.

use futures_util::future::join_all;
use futures_util::StreamExt;
use serde_json::json;
use worker::{Env, Request};

use crate::core::admin::{authorized, parse_list_query, ListQuery};
use crate::core::cohort::Rollout;
use crate::core::config::Config;
use crate::core::cors::{origin_allowed, origin_of};
use crate::core::error::BeaconError;
use crate::core::gate::Outcome;
use crate::core::identity;
use crate::core::ingest::{self, accept, check_headers, rate_limit_key, Accepted, Sender};
use crate::core::record::{EventMeta, EVENT_KEY_PREFIX};
use crate::edge::request::Facts;
use crate::edge::respond::log_error;

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
    /// Validated config.
    pub cfg: &'a Config,
    /// The request's facts.
    pub facts: &'a Facts,
    /// The rollout in force (for the sender's cohorts).
    pub rollout: &'a Rollout,
    /// The request id.
    pub request_id: String,
    /// Fresh random bytes (identity resolution needs some; no cookie is minted here).
    pub fresh_id: [u8; 16],
    /// Now, ms since the epoch.
    pub now_ms: u64,
}

/// Handles `/api/events` and returns the outcome to write.
pub async fn handle(mut req: Request, ctx: Ctx<'_>) -> (Request, Outcome) {
    let origin = ctx.facts.header("origin");
    // The raw URL string: parsing it with the `url` crate would pull IDNA tables into the wasm.
    let url = req.inner().url();
    let allowed = origin_allowed(
        origin.as_deref(),
        origin_of(&url),
        &ctx.cfg.events.allowed_origins,
    );
    let cors_origin = origin.as_deref().filter(|_| allowed);
    let answer = match ctx.facts.method() {
        "POST" if !allowed => Err(BeaconError::OriginNotAllowed),
        "POST" => ingest(&mut req, &ctx).await,
        "OPTIONS" if !allowed => Err(BeaconError::OriginNotAllowed),
        "OPTIONS" => {
            let origin = cors_origin.unwrap_or(origin_of(&url));
            return (req, ingest::preflight(ctx.request_id, origin));
        }
        "GET" | "DELETE" => admin(&url, &ctx).await,
        _ => Err(BeaconError::MethodNotAllowed),
    };
    (req, ingest::outcome(answer, ctx.request_id, cors_origin))
}

async fn ingest(req: &mut Request, ctx: &Ctx<'_>) -> Result<(u16, serde_json::Value), BeaconError> {
    let facts = ctx.facts;
    let view = facts.view();
    let key = rate_limit_key(view.identity.ip, view.identity.user_agent);
    match ctx.env.rate_limiter(RATE_LIMITER) {
        Ok(limiter) => match limiter.limit(key).await {
            Ok(o) if !o.success => {
                return Err(BeaconError::RateLimited {
                    retry_after_s: RATE_PERIOD_S,
                })
            }
            Ok(_) => {}
            // Fail open: losing the limiter must not lose events. Logged for operators.
            Err(e) => log_error(&ctx.request_id, "rate_limiter_failed", &e.to_string()),
        },
        Err(e) => log_error(&ctx.request_id, "rate_limiter_missing", &e.to_string()),
    }
    let limits = &ctx.cfg.events.limits;
    check_headers(
        facts.header("content-type").as_deref(),
        facts.header("content-length").as_deref(),
        limits,
    )?;
    let body = read_limited(req, limits.max_body_bytes).await?;
    let identity = identity::resolve(&ctx.cfg.identity, &view.identity, &ctx.fresh_id);
    // Read here, not for every request: only events record the country.
    let country = req.cf().and_then(|cf| cf.country());
    let sender = Sender {
        identity: &identity,
        rollout: ctx.rollout,
        country: country.as_deref(),
        request_id: &ctx.request_id,
    };
    let signature = facts.header("x-pilot-signature");
    match accept(
        &body,
        signature.as_deref(),
        ctx.now_ms,
        &ctx.cfg.events,
        &sender,
    )? {
        Accepted::IgnoreBot { events } => Ok((202, json!({"accepted": 0, "ignored": events}))),
        Accepted::Enqueue(batch) => {
            let n = batch.events.len();
            // Sent as JSON text: the consumer parses exactly what was validated here.
            let message =
                serde_json::to_string(&batch).map_err(|e| unavailable(ctx, "encode_failed", e))?;
            let queue = ctx
                .env
                .queue(EVENTS_QUEUE)
                .map_err(|e| unavailable(ctx, "queue_missing", e))?;
            queue
                .send(message)
                .await
                .map_err(|e| unavailable(ctx, "enqueue_failed", e))?;
            Ok((202, json!({"accepted": n})))
        }
    }
}

fn unavailable(ctx: &Ctx<'_>, event: &str, e: impl std::fmt::Display) -> BeaconError {
    log_error(&ctx.request_id, event, &e.to_string());
    BeaconError::Unavailable
}

/// Reads the body, counting while streaming: stops at `limit_bytes + 1`, so a chunked body
/// without `Content-Length` can neither pass the limit nor make the worker buffer more.
async fn read_limited(req: &mut Request, limit_bytes: usize) -> Result<Vec<u8>, BeaconError> {
    let Ok(mut stream) = req.stream() else {
        return Ok(Vec::new()); // no body
    };
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BeaconError::InvalidJson {
            detail: "the body could not be read".to_owned(),
        })?;
        if buf.len() + chunk.len() > limit_bytes {
            return Err(BeaconError::BodyTooLarge { limit_bytes });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

async fn admin(url: &str, ctx: &Ctx<'_>) -> Result<(u16, serde_json::Value), BeaconError> {
    let auth = ctx.facts.header("authorization");
    if !authorized(auth.as_deref(), ctx.cfg.events.admin_token.as_deref()) {
        return Err(BeaconError::Unauthorized);
    }
    let kv = ctx
        .env
        .kv(EVENTS_KV)
        .map_err(|e| unavailable(ctx, "kv_missing", e))?;
    if ctx.facts.method() == "DELETE" {
        let keys = list_keys(&kv, usize::MAX, None)
            .await
            .map_err(|e| unavailable(ctx, "kv_list_failed", e))?;
        for chunk in keys.chunks(KV_CONCURRENCY) {
            for r in join_all(chunk.iter().map(|k| kv.delete(k))).await {
                r.map_err(|e| unavailable(ctx, "kv_delete_failed", e))?;
            }
        }
        return Ok((200, json!({"deleted": keys.len()})));
    }
    let query: ListQuery = parse_list_query(url)?;
    if query.count_only {
        let keys = list_keys(&kv, usize::MAX, query.name.as_deref())
            .await
            .map_err(|e| unavailable(ctx, "kv_list_failed", e))?;
        return Ok((200, json!({"count": keys.len()})));
    }
    let keys = list_keys(&kv, query.limit, query.name.as_deref())
        .await
        .map_err(|e| unavailable(ctx, "kv_list_failed", e))?;
    let mut events = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(KV_CONCURRENCY) {
        for r in join_all(chunk.iter().map(|k| kv.get(k).json::<serde_json::Value>())).await {
            // A key can expire between list and get; skip it rather than fail the listing.
            if let Some(v) = r.map_err(|e| unavailable(ctx, "kv_get_failed", e))? {
                events.push(v);
            }
        }
    }
    Ok((200, json!({"count": events.len(), "events": events})))
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
