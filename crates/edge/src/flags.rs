//! The flag set in force in this isolate: read from KV (`CONFIG_KV`, key `flagset`) at most
//! every `FLAGS_CACHE_S` (30 s by default), compiled once per version. When KV fails or holds something unreadable, the last
//! set this isolate knew stays; with none, the gate's built-in default (off) decides. Nothing
//! here can fail a request.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;
use worker::Env;

use pilot_gate_core::flags::source::{self, Published, CACHE_MS, FLAGSET_KEY};
use pilot_gate_core::gate::config::GateConfig;
use pilot_gate_shell::config::CONFIG_KV;
use pilot_gate_shell::log;

struct Cached {
    read_at_ms: u64,
    published: Option<Rc<Published>>,
}

thread_local! {
    static CURRENT: RefCell<Cached> = const {
        RefCell::new(Cached { read_at_ms: 0, published: None })
    };
}

/// The flag set in force when this isolate's copy is fresh (younger than the gate's
/// `flags_cache_ms`): `Some` of it, with no I/O; `None` when [`current`] must read KV.
pub fn cached(gate: &GateConfig, now_ms: u64) -> Option<Option<Rc<Published>>> {
    CURRENT.with(|c| {
        let c = c.borrow();
        let fresh = c.read_at_ms != 0 && now_ms.saturating_sub(c.read_at_ms) < gate.flags_cache_ms;
        fresh.then(|| c.published.clone())
    })
}

/// The flag set in force, reading KV when the isolate's copy is older than the gate's
/// `flags_cache_ms`.
pub async fn current(
    env: &Env,
    gate: &GateConfig,
    now_ms: u64,
    request_id: &str,
) -> Option<Rc<Published>> {
    if let Some(published) = cached(gate, now_ms) {
        return published;
    }
    let known = CURRENT.with(|c| c.borrow().published.clone());
    let published = match read(env, gate.flags_cache_ms).await {
        Ok(Some(doc)) => match (&known, source::version_of(&doc)) {
            (Some(k), Some(v)) if k.version == v => known.clone(),
            _ => match source::load(&doc) {
                // KV can lag behind a set that a stream's object handed over (see at_least).
                Ok(p)
                    if p.revision() > 0
                        && known
                            .as_deref()
                            .is_some_and(|k| k.revision() > p.revision()) =>
                {
                    known.clone()
                }
                Ok(p) => {
                    for issue in &p.set.issues {
                        log::error(request_id, "flag_invalid", &issue.to_string());
                    }
                    Some(Rc::new(p))
                }
                Err(e) => {
                    log::error(request_id, "flagset_refused", &e.to_string());
                    known.clone()
                }
            },
        },
        Ok(None) => known.clone(),
        Err(e) => {
            log::error(request_id, "flagset_read_failed", &e);
            known.clone()
        }
    };
    CURRENT.with(|c| {
        *c.borrow_mut() = Cached {
            read_at_ms: now_ms,
            published: published.clone(),
        }
    });
    published
}

/// The flag set in force, at least of `revision` when the control plane published it: a
/// re-fetch that an event stream triggered names the revision it announced (a signed tag), and
/// an isolate that holds an older set reads the new one from the stream's object, which the
/// control plane told first, rather than wait for KV. Once per isolate and revision.
pub async fn at_least(
    env: &Env,
    gate: &GateConfig,
    now_ms: u64,
    request_id: &str,
    revision: u64,
    shard: u16,
) -> Option<Rc<Published>> {
    let known = current(env, gate, now_ms, request_id).await;
    if known.as_deref().map_or(0, Published::revision) >= revision {
        return known;
    }
    let doc = match pilot_gate_shell::internal::published(env, shard).await {
        Ok(doc) => doc,
        Err(e) => {
            log::error(request_id, "stream_set_failed", &e.to_string());
            return known;
        }
    };
    match source::load(&doc) {
        Ok(p) if p.revision() > known.as_deref().map_or(0, Published::revision) => {
            let published = Some(Rc::new(p));
            CURRENT.with(|c| {
                *c.borrow_mut() = Cached {
                    read_at_ms: now_ms,
                    published: published.clone(),
                }
            });
            published
        }
        Ok(_) => known,
        Err(e) => {
            log::error(request_id, "flagset_refused", &e.to_string());
            known
        }
    }
}

/// KV's own edge cache keeps a value at least 30 s ([`CACHE_MS`]), so a shorter
/// `FLAGS_CACHE_S` only shortens this isolate's cache.
async fn read(env: &Env, cache_ms: u64) -> Result<Option<Value>, String> {
    let kv = env.kv(CONFIG_KV).map_err(|e| e.to_string())?;
    kv.get(FLAGSET_KEY)
        .cache_ttl(cache_ms.max(CACHE_MS) / 1000)
        .json::<Value>()
        .await
        .map_err(|e| e.to_string())
}
