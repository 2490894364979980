//! `GET /api/events` and `DELETE /api/events`: the operators' reads of the stored events,
//! paged within one invocation's 1,000 KV operations (the worker checked the operator's role
//! before). The edge relays them here.

use futures_util::future::join_all;
use serde_json::json;
use worker::kv::KvStore;
use worker::Env;

use pilot_gate_core::events::error::EventsError;
use pilot_gate_core::events::listing::{
    parse_list_query, ListQuery, PagePlan, Pager, PagerMode, Resume, KV_OPS_PER_INVOCATION,
};
use pilot_gate_core::events::record::REQUEST_KEY_PREFIX;
use pilot_gate_core::http::outcome::{Action, Outcome};
use pilot_gate_core::http::problem::ApiError;
use pilot_gate_core::http::route::EventsRoute;
use pilot_gate_shell::events_kv::{list_page, EVENTS_KV};
use pilot_gate_shell::log;

/// Keys fetched from KV at once.
const KV_CONCURRENCY: usize = 50;

/// What an admin read needs.
pub struct Ctx<'a> {
    /// Bindings.
    pub env: &'a Env,
    /// The request id.
    pub request_id: String,
}

/// Answers `GET` (a page of events, or their count) or `DELETE` (every stored event) on
/// `/api/events`.
pub async fn answer(route: EventsRoute, url: &str, ctx: Ctx<'_>) -> Outcome {
    let answer = match route {
        EventsRoute::List => list(url, &ctx).await,
        EventsRoute::Delete => delete(&ctx).await,
        // The beacon's routes are the edge's.
        EventsRoute::Ingest | EventsRoute::Preflight => Err(ApiError::Internal.into()),
    };
    Outcome::api(answer, ctx.request_id)
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
