//! The queue consumer: writes each accepted event to KV under its pure key, with a TTL, then
//! sends the batch's delta to the control plane, which counts each event once. A message is
//! acked when its writes landed and the delta was taken; otherwise it is retried (the writes
//! are idempotent and the object ignores ids it has counted). A poison message goes to the
//! dead-letter queue at once, without holding its batch back.

use futures_util::future::join_all;
use worker::{event, Context, Env, MessageBatch, MessageExt, Result};

use crate::core::control::tally::Delta;
use crate::core::events::record::plan_writes;
use crate::edge::admin::post_internal;
use crate::edge::config;
use crate::edge::events::{text_message, EVENTS_KV};
use crate::edge::log;

const DLQ: &str = "EVENTS_DLQ";

/// Consumes batches of accepted requests (one message each).
#[event(queue)]
pub async fn consume(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    let cfg = match &config::get(&env).events {
        Ok(c) => c,
        Err(e) => {
            // Nothing can be stored without the section; redeliver later rather than lose events.
            log::config_invalid("-", "events", e);
            batch.retry_all();
            return Ok(());
        }
    };
    let kv = env.kv(EVENTS_KV)?;
    let mut delta = Delta::default();
    let mut stored = Vec::new();
    for message in batch.messages()? {
        let id = message.id();
        match plan_writes(message.body()) {
            Err(poison) => {
                log::error(&id, "poison_message", &poison.detail);
                match env.queue(DLQ) {
                    Ok(q) if q.send_raw(text_message(message.body())).await.is_ok() => {
                        message.ack()
                    }
                    // The platform moves it to the dead-letter queue after max_retries.
                    _ => message.retry(),
                }
            }
            Ok(planned) => {
                let puts = planned.writes.iter().map(|w| async {
                    kv.put(&w.key, w.value.as_str())?
                        .expiration_ttl(cfg.ttl_s)
                        .metadata(&w.meta)?
                        .execute()
                        .await
                });
                let failed = join_all(puts)
                    .await
                    .into_iter()
                    .filter_map(|r| r.err())
                    .next();
                match failed {
                    // Writes are idempotent (same keys), so a retry of the whole message is safe.
                    Some(e) => {
                        log::error(&id, "kv_put_failed", &e.to_string());
                        message.retry();
                    }
                    None => {
                        delta.add(&planned.events);
                        stored.push(message);
                    }
                }
            }
        }
    }
    if stored.is_empty() {
        return Ok(());
    }
    let counted = match serde_json::to_string(&delta) {
        Ok(body) if !delta.is_empty() => post_internal(&env, "delta", body).await,
        Ok(_) => Ok(()),
        Err(e) => Err(worker::Error::RustError(e.to_string())),
    };
    match counted {
        Ok(()) => stored.iter().for_each(|m| m.ack()),
        // Stored but not counted: a retry stores again (same keys) and the object counts once.
        Err(e) => {
            log::error("consumer", "delta_failed", &e.to_string());
            stored.iter().for_each(|m| m.retry());
        }
    }
    Ok(())
}
