//! The queue consumer: writes each accepted request's events to KV as one value under its pure
//! key, with a TTL, then sends the batch's delta to the control plane, which counts each event
//! once. A batch of at most 100 messages is at most 100 KV writes (within the 1,000 operations
//! of one invocation). A message is acked when its write landed and the delta was taken;
//! otherwise it comes back after a growing delay (`core::events::delivery`): the write is
//! idempotent and the object ignores what it has counted. A poison message goes to the
//! dead-letter queue at once, without holding its batch back.

use futures_util::future::join_all;
use worker::{
    event, Context, Env, Message, MessageBatch, MessageExt, QueueRetryOptionsBuilder, Result,
};

use crate::core::control::tally::Delta;
use crate::core::events::delivery::retry_delay_s;
use crate::core::events::record::{plan_writes, Planned};
use crate::edge::admin::post_internal;
use crate::edge::config;
use crate::edge::events::{text_message, EVENTS_KV};
use crate::edge::log;

const DLQ: &str = "EVENTS_DLQ";

/// Asks for a message again after the delay its age calls for.
fn retry_later(message: &Message<String>) {
    let age_ms = worker::Date::now()
        .as_millis()
        .saturating_sub(message.timestamp().as_millis());
    let delay_s = retry_delay_s(age_ms / 1000);
    message.retry_with_options(
        &QueueRetryOptionsBuilder::new()
            .with_delay_seconds(delay_s)
            .build(),
    );
}

/// Consumes batches of accepted requests (one message each).
#[event(queue)]
pub async fn consume(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    let cfg = match &config::get(&env).events {
        Ok(c) => c,
        Err(e) => {
            // Nothing can be stored without the section; redeliver later rather than lose events.
            log::config_invalid("-", "events", e);
            batch.messages()?.iter().for_each(retry_later);
            return Ok(());
        }
    };
    let kv = env.kv(EVENTS_KV)?;
    let mut planned: Vec<(Message<String>, Planned)> = Vec::new();
    for message in batch.messages()? {
        match plan_writes(message.body()) {
            Ok(plan) => planned.push((message, plan)),
            Err(poison) => {
                log::error(&message.id(), "poison_message", &poison.detail);
                match env.queue(DLQ) {
                    Ok(q) if q.send_raw(text_message(message.body())).await.is_ok() => {
                        message.ack()
                    }
                    // The platform moves it to the dead-letter queue after max_retries.
                    _ => retry_later(&message),
                }
            }
        }
    }
    let puts = planned.iter().map(|(_, plan)| async {
        let Some(w) = &plan.write else { return Ok(()) };
        kv.put(&w.key, w.value.as_str())?
            .expiration_ttl(cfg.ttl_s)
            .metadata(&w.meta)?
            .execute()
            .await
    });
    let results = join_all(puts).await;
    let mut delta = Delta::default();
    let mut stored = Vec::new();
    for ((message, plan), result) in planned.into_iter().zip(results) {
        match result {
            // The write is idempotent (same key), so a retry of the message is safe.
            Err(e) => {
                log::error(&message.id(), "kv_put_failed", &e.to_string());
                retry_later(&message);
            }
            Ok(()) => {
                delta.add(&plan.events);
                stored.push(message);
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
        // Stored but not counted: a retry stores again (same key) and the object counts once.
        Err(e) => {
            log::error("consumer", "delta_failed", &e.to_string());
            stored.iter().for_each(retry_later);
        }
    }
    Ok(())
}
