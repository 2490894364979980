//! The events' KV namespace as both workers read it: the edge's hourly reconciliation counts
//! from its listing, the control worker's admin reads page through it.

use pilot_gate_core::events::record::RequestMeta;
use worker::kv::KvStore;

/// KV namespace of stored events.
pub const EVENTS_KV: &str = "EVENTS_KV";
/// Keys in one KV list page (KV's largest).
pub const KV_LIST_PAGE: usize = 1000;

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
