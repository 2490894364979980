//! The admin listing of stored events: the query of `GET /api/events`.

use crate::events::error::EventsError;
use crate::events::record::RequestMeta;
use crate::http::query;

/// `limit` of `GET /api/events` when the query has none.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest `limit` of `GET /api/events` (one KV list page).
pub const MAX_LIMIT: usize = 1000;

/// The query of `GET /api/events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// How many events, newest first (1..=1000, default 50).
    pub limit: usize,
    /// Only events with this name.
    pub name: Option<String>,
    /// Answer only the number of matching events (`count=true`), over all of them.
    pub count_only: bool,
    /// Where to resume: the `cursor` of the previous answer.
    pub cursor: Option<String>,
}

/// Parses `limit`, `name`, `count` and `cursor` from the query of an absolute URL
/// (`...?limit=10&name=ttv`); other keys are ignored.
pub fn parse_list_query(url: &str) -> Result<ListQuery, EventsError> {
    let mut q = ListQuery {
        limit: DEFAULT_LIMIT,
        name: None,
        count_only: false,
        cursor: None,
    };
    for (k, v) in query::pairs(url) {
        match k.as_str() {
            "limit" => {
                q.limit = query::limit(&v, MAX_LIMIT)
                    .map_err(|detail| EventsError::BadQuery { detail })?;
            }
            "name" => q.name = Some(v),
            "count" => q.count_only = matches!(v.as_str(), "true" | "1"),
            "cursor" => q.cursor = Some(v),
            _ => {}
        }
    }
    Ok(q)
}

/// Operations one Worker invocation may make on KV (reads, writes, lists, deletes), on every
/// plan. `wrangler dev` does not enforce it; [`Pager`] and the consumer's write plan do.
pub const KV_OPS_PER_INVOCATION: usize = 1000;

/// Where a paged admin read resumes: the KV list cursor of a page (none: the first page) and
/// how many of that page's keys were done. Sent to the client as `cursor`, opaque to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// The KV cursor that lists the page (`None` for the first).
    pub page: Option<String>,
    /// Keys of that page already done.
    pub skip: usize,
}

impl Resume {
    /// The text form: `<skip>.<kv cursor>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.skip, self.page.as_deref().unwrap_or(""))
    }

    /// Parses [`Resume::encode`]'s form.
    pub fn parse(text: &str) -> Result<Self, EventsError> {
        let bad = || EventsError::BadQuery {
            detail: "cursor is not one that this listing gave".to_owned(),
        };
        let (skip, page) = text.split_once('.').ok_or_else(bad)?;
        Ok(Resume {
            page: (!page.is_empty()).then(|| page.to_owned()),
            skip: skip.parse().map_err(|_| bad())?,
        })
    }
}

/// What a paged admin read does with each listed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagerMode {
    /// Read the values of matching keys and return their events, up to a number of events.
    Read {
        /// Most events to return.
        limit: usize,
    },
    /// Count the events of matching keys (from metadata; values are read only when their
    /// names are unknown and a name is asked for).
    Count,
    /// Delete every key.
    Delete,
}

/// The plan for one listed page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagePlan {
    /// Indexes (into the page) of the keys to read or delete, in order.
    pub keys: Vec<usize>,
    /// Events counted from metadata alone.
    pub counted: usize,
    /// The first index not planned when the budget or the limit stops the read here.
    pub stop_at: Option<usize>,
}

/// Plans a paged admin read of the stored requests within [`KV_OPS_PER_INVOCATION`]: every
/// list, get and delete is granted by it, and it stops (with a [`Resume`]) before the budget
/// would be passed or the limit is reached.
#[derive(Debug, Clone)]
pub struct Pager {
    mode: PagerMode,
    name: Option<String>,
    ops_left: usize,
    events: usize,
}

impl Pager {
    /// A pager for `mode`, of events named `name` (all when `None`), with `ops` KV operations.
    pub fn new(mode: PagerMode, name: Option<String>, ops: usize) -> Self {
        Pager {
            mode,
            name,
            ops_left: ops,
            events: 0,
        }
    }

    /// Operations not yet granted.
    pub fn ops_left(&self) -> usize {
        self.ops_left
    }

    /// Whether another list call fits (it takes one operation, and is worth it only when at
    /// least one more operation remains to act on what it lists, or in count mode).
    pub fn list(&mut self) -> bool {
        let needs = if self.mode == PagerMode::Count { 1 } else { 2 };
        if self.ops_left < needs || self.full() {
            return false;
        }
        self.ops_left -= 1;
        true
    }

    fn full(&self) -> bool {
        matches!(self.mode, PagerMode::Read { limit } if self.events >= limit)
    }

    /// The plan for a page of keys given by their metadata (`None`: none stored, so only the
    /// value can tell), from index `skip` on. Every planned key has its operation granted. A
    /// read never splits a stored request: it stops before one that would pass the limit,
    /// unless it is the first (a request holds at most 100 events).
    pub fn page(&mut self, metas: &[Option<RequestMeta>], skip: usize) -> PagePlan {
        let mut plan = PagePlan::default();
        for (i, meta) in metas.iter().enumerate().skip(skip) {
            let matching = meta.as_ref().and_then(|m| m.matching(self.name.as_deref()));
            let (needs_op, events) = match (self.mode, matching) {
                (PagerMode::Delete, _) => (true, 0),
                (PagerMode::Count, Some(k)) => {
                    plan.counted += k;
                    (false, 0)
                }
                (PagerMode::Count, None) => (true, 0),
                (PagerMode::Read { .. }, Some(0)) => (false, 0),
                (PagerMode::Read { .. }, Some(k)) => (true, k),
                // At least one matching event; the exact number is known once read.
                (PagerMode::Read { .. }, None) => (true, 1),
            };
            if !needs_op {
                continue;
            }
            let over_limit = match self.mode {
                PagerMode::Read { limit } => self.events > 0 && self.events + events > limit,
                _ => false,
            };
            if self.ops_left == 0 || over_limit {
                plan.stop_at = Some(i);
                return plan;
            }
            self.ops_left -= 1;
            self.events += events;
            plan.keys.push(i);
        }
        plan
    }
}
