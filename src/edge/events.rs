//! `/api/events`: the beacon (POST, OPTIONS) and its admin reads (GET, DELETE). The checks run
//! in the order of DESIGN.md's table; the decisions are the core's, the I/O is here.

use futures_util::future::join_all;
use serde_json::json;
use worker::kv::KvStore;
use worker::wasm_bindgen::JsValue;
use worker::{Env, QueueContentType, RawMessageBuilder, Request, SendMessage};

use crate::core::events::config::EventsConfig;
use crate::core::events::error::EventsError;
use crate::core::events::ingest::{self, accept, check_headers, rate_limit_key, Accepted, Sender};
use crate::core::events::listing::{
    parse_list_query, ListQuery, PagePlan, Pager, PagerMode, Resume, KV_OPS_PER_INVOCATION,
};
use crate::core::events::record::{RequestMeta, REQUEST_KEY_PREFIX};
use crate::core::evidence::unit::Unit;
use crate::core::gate::cohort::{Decider, Rollout};
use crate::core::gate::config::GateConfig;
use crate::core::gate::identity;
use crate::core::gate::identity::KeySource;
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
/// Keys in one KV list page (KV's largest).
const KV_LIST_PAGE: usize = 1000;

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
    let unit = (identity.source == KeySource::UidCookie)
        .then(|| Unit::of(&ctx.gate.identity.cookie_secret, &identity.targeting_key));
    let sender = Sender {
        unit,
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

/// The events KV, for the admin reads (the worker checked the operator's role before).
fn admin_kv(ctx: &Ctx<'_>) -> Result<KvStore, EventsError> {
    ctx.env
        .kv(EVENTS_KV)
        .map_err(|e| unavailable(ctx, "kv_missing", e))
}

/// One listed page: its keys with their metadata, and the cursor of the next page.
pub struct Page {
    /// The keys, in KV's order (newest request first).
    pub keys: Vec<String>,
    /// Each key's metadata, when it reads as one.
    pub metas: Vec<Option<RequestMeta>>,
    /// The cursor of the next page; `None` after the last.
    pub next: Option<String>,
}

/// One page of request keys under `prefix` (one KV operation).
pub async fn list_page(
    kv: &KvStore,
    prefix: &str,
    cursor: Option<&str>,
) -> Result<Page, worker::kv::KvError> {
    let mut list = kv
        .list()
        .prefix(prefix.to_owned())
        .limit(KV_LIST_PAGE as u64);
    if let Some(c) = cursor {
        list = list.cursor(c.to_owned());
    }
    let page = list.execute().await?;
    let (keys, metas) = page
        .keys
        .into_iter()
        .map(|k| {
            let meta = k.metadata.and_then(|m| serde_json::from_value(m).ok());
            (k.name, meta)
        })
        .unzip();
    Ok(Page {
        keys,
        metas,
        next: page.cursor.filter(|_| !page.list_complete),
    })
}

/// A paged walk over the stored requests under a [`Pager`]'s budget: each call of
/// [`Walk::next`] lists one page and plans it; [`Walk::stop`] marks where the caller stopped.
struct Walk<'k> {
    kv: &'k KvStore,
    pager: Pager,
    /// The page to list next.
    at: Resume,
    /// The page listed last.
    current: Resume,
    /// No page is left, or the caller stopped.
    done: bool,
    stopped: bool,
}

impl<'k> Walk<'k> {
    fn new(kv: &'k KvStore, pager: Pager, from: Resume) -> Self {
        Walk {
            kv,
            pager,
            current: from.clone(),
            at: from,
            done: false,
            stopped: false,
        }
    }

    /// The next page's keys and plan, while the budget allows and keys are left.
    async fn next(
        &mut self,
        ctx: &Ctx<'_>,
    ) -> Result<Option<(PagePlan, Vec<String>)>, EventsError> {
        if self.done || !self.pager.list() {
            return Ok(None);
        }
        let page = list_page(self.kv, REQUEST_KEY_PREFIX, self.at.page.as_deref())
            .await
            .map_err(|e| unavailable(ctx, "kv_list_failed", e))?;
        let plan = self.pager.page(&page.metas, self.at.skip);
        self.current = self.at.clone();
        match page.next {
            Some(next) => {
                self.at = Resume {
                    page: Some(next),
                    skip: 0,
                }
            }
            None => self.done = true,
        }
        if let Some(i) = plan.stop_at {
            self.stop(i);
        }
        Ok(Some((plan, page.keys)))
    }

    /// The caller stopped at index `i` of the page listed last.
    fn stop(&mut self, i: usize) {
        self.at = Resume {
            page: self.current.page.clone(),
            skip: i,
        };
        self.done = true;
        self.stopped = true;
    }

    /// Where to resume, unless every key was done.
    fn resume(self) -> Option<Resume> {
        (self.stopped || !self.done).then_some(self.at)
    }
}

async fn delete(ctx: &Ctx<'_>) -> Result<Action, EventsError> {
    let kv = admin_kv(ctx)?;
    let pager = Pager::new(PagerMode::Delete, None, KV_OPS_PER_INVOCATION);
    // Deleted keys leave the listing, so a second call starts from the first page again.
    let mut walk = Walk::new(&kv, pager, Resume::default());
    let mut deleted = 0;
    while let Some((plan, keys)) = walk.next(ctx).await? {
        for chunk in plan.keys.chunks(KV_CONCURRENCY) {
            for r in join_all(chunk.iter().map(|&i| kv.delete(&keys[i]))).await {
                r.map_err(|e| unavailable(ctx, "kv_delete_failed", e))?;
            }
            deleted += chunk.len();
        }
    }
    let complete = walk.resume().is_none();
    Ok(Action::Json(
        200,
        json!({"deleted": deleted, "complete": complete}),
    ))
}

async fn list(url: &str, ctx: &Ctx<'_>) -> Result<Action, EventsError> {
    let kv = admin_kv(ctx)?;
    let query: ListQuery = parse_list_query(url)?;
    let from = match &query.cursor {
        Some(c) => Resume::parse(c)?,
        None => Resume::default(),
    };
    let name = query.name.as_deref();
    let mode = if query.count_only {
        PagerMode::Count
    } else {
        PagerMode::Read { limit: query.limit }
    };
    let pager = Pager::new(mode, query.name.clone(), KV_OPS_PER_INVOCATION);
    let mut walk = Walk::new(&kv, pager, from);
    let mut events: Vec<serde_json::Value> = Vec::new();
    let mut counted = 0;
    'pages: while let Some((plan, keys)) = walk.next(ctx).await? {
        counted += plan.counted;
        for chunk in plan.keys.chunks(KV_CONCURRENCY) {
            let reads = join_all(chunk.iter().map(|&i| kv.get(&keys[i]).text())).await;
            for (&i, r) in chunk.iter().zip(reads) {
                // A key can expire between list and get; skip it rather than fail.
                let Some(text) = r.map_err(|e| unavailable(ctx, "kv_get_failed", e))? else {
                    continue;
                };
                let matching = stored_events(&text, name);
                if mode == PagerMode::Count {
                    counted += matching.len();
                    continue;
                }
                // A request is never split: stop before one that would pass the limit.
                if !events.is_empty() && events.len() + matching.len() > query.limit {
                    walk.stop(i);
                    break 'pages;
                }
                events.extend(matching);
            }
        }
    }
    let cursor = walk.resume().map(|r| r.encode());
    if query.count_only {
        return Ok(Action::Json(
            200,
            json!({"count": counted, "complete": cursor.is_none(), "cursor": cursor}),
        ));
    }
    Ok(Action::Json(
        200,
        json!({"count": events.len(), "events": events, "cursor": cursor}),
    ))
}

/// The events of one stored request named `name` (all when `None`); an unreadable value (which
/// the consumer never writes) holds none.
fn stored_events(text: &str, name: Option<&str>) -> Vec<serde_json::Value> {
    #[derive(serde::Deserialize)]
    struct Stored {
        events: Vec<serde_json::Value>,
    }
    serde_json::from_str::<Stored>(text)
        .map(|s| s.events)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| name.is_none_or(|n| e.get("name").and_then(|v| v.as_str()) == Some(n)))
        .collect()
}
