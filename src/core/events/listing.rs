//! The admin listing of stored events: the query of `GET /api/events`.

use crate::core::events::error::EventsError;
use crate::core::http::query;

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
}

/// Parses `limit`, `name` and `count` from the query of an absolute URL
/// (`...?limit=10&name=ttv`); other keys are ignored.
pub fn parse_list_query(url: &str) -> Result<ListQuery, EventsError> {
    let mut q = ListQuery {
        limit: DEFAULT_LIMIT,
        name: None,
        count_only: false,
    };
    for (k, v) in query::pairs(url) {
        match k.as_str() {
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| EventsError::BadQuery {
                        detail: format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    })?;
            }
            "name" => q.name = Some(v),
            "count" => q.count_only = matches!(v.as_str(), "true" | "1"),
            _ => {}
        }
    }
    Ok(q)
}
