//! The edge's queue consumer, for its three queues:
//!
//! - **events** (`pilot-gate-events`, one message per accepted beacon request): each request's
//!   events are written to KV as one value under its pure key, with a TTL (a batch of at most
//!   100 messages is at most 100 KV writes, within the 1,000 operations of one invocation); the
//!   counted events of signed senders go to the evidence of each flag they carry.
//! - **evidence** (`pilot-gate-evidence`, sightings that the edge buffered): they go to the
//!   evidence of their flags.
//! - **dead letters** (`pilot-gate-events-dlq`, of both): kept by the control plane, counted
//!   on `/metrics`, until an operator replays or discards them (`scripts/pilot dlq`).
//!
//! The notifications' queue (`pilot-gate-notify`) is the control worker's.
//!
//! Each flag's evidence object gets one delta per batch. A message is acked when its write
//! landed and its flags' evidence took the delta; otherwise it comes back after a delay that
//! grows with its age (`pilot_gate_core::events::delivery`). Both steps are idempotent (the same key;
//! facts about units that change nothing the second time), so a retry of the whole message is
//! safe. A poison message goes to the dead-letter queue at once, without holding its batch back.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use futures_util::future::join_all;
use worker::{event, Context, Env, Message, MessageBatch, MessageExt, Result};

use crate::flags;
use pilot_gate_core::control::tally::add_events;
use pilot_gate_core::events::dead_letter::DeadLetter;
use pilot_gate_core::events::latency::Latency;
use pilot_gate_core::events::queues::{kind_of, QueueKind};
use pilot_gate_core::events::reconcile::{minute_of, received_at_of_key};
use pilot_gate_core::events::record::{plan_writes, Planned};
use pilot_gate_core::evidence::record::{add_sightings, Deltas, Sighting};
use pilot_gate_core::flags::source::Published;
use pilot_gate_shell::config;
use pilot_gate_shell::events_kv::EVENTS_KV;
use pilot_gate_shell::internal::post_control;
use pilot_gate_shell::queue::{retry_later, text_message};
use pilot_gate_shell::{internal, log};

const DLQ: &str = "EVENTS_DLQ";

/// Sends a message that can never be processed to the dead-letter queue (or lets the platform
/// move it there after its retries, if the send fails).
async fn dead_letter(env: &Env, message: &Message<String>, detail: &str) {
    log::error(&message.id(), "poison_message", detail);
    match env.queue(DLQ) {
        Ok(q) if q.send_raw(text_message(message.body())).await.is_ok() => message.ack(),
        _ => retry_later(message),
    }
}

/// Consumes a batch of either queue.
#[event(queue)]
pub async fn consume(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    let messages = batch.messages()?;
    let Some(kind) = kind_of(&batch.queue()) else {
        // A queue bound by mistake: its messages come back until the binding is fixed.
        log::error("consumer", "unknown_queue", &batch.queue());
        messages.iter().for_each(retry_later);
        return Ok(());
    };
    let mut deltas = Deltas::new();
    let mut report = IngestReport::default();
    let taken = match kind {
        QueueKind::DeadLetters => {
            dead_letters(&env, messages).await;
            return Ok(());
        }
        QueueKind::Notify => {
            // The control worker consumes the notifications; bound here by mistake.
            log::error("consumer", "queue_of_the_control_worker", &batch.queue());
            messages.iter().for_each(retry_later);
            return Ok(());
        }
        QueueKind::Evidence => sightings(&env, messages, &mut deltas).await,
        QueueKind::Events => events(&env, messages, &mut deltas, &mut report).await,
    };
    if taken.is_empty() {
        report.send(&env, &[]).await;
        return Ok(());
    }
    let sends = deltas
        .iter()
        .filter(|(_, d)| !d.is_empty())
        .map(|(flag, delta)| {
            let env = &env;
            async move {
                let stub = internal::evidence(env, flag)?;
                let route = format!("delta/{flag}");
                internal::post_json::<_, serde_json::Value>(&stub, &route, delta).await
            }
        });
    let failed = join_all(sends).await.into_iter().find_map(|r| r.err());
    match failed {
        None => {
            taken.iter().for_each(|m| m.ack());
            report.send(&env, &taken).await;
        }
        // Stored but not counted: a retry stores again (same key) and the facts change nothing
        // that they changed before.
        Some(e) => {
            log::error("consumer", "evidence_delta_failed", &e.to_string());
            taken.iter().for_each(retry_later);
            report.send(&env, &[]).await;
        }
    }
    Ok(())
}

/// What a batch of events tells the control plane, for `/metrics` and reconciliation: its
/// ingest latencies, and the events of each acked message by minute of `received_at`.
#[derive(Default)]
struct IngestReport {
    latency: Latency,
    /// Message id -> (minute, events), for every message whose write landed.
    stored: HashMap<String, (u64, u64)>,
}

impl IngestReport {
    /// Sends the latencies and the counts of the `acked` messages (a failure is logged: it
    /// loses figures, never events).
    async fn send(&self, env: &Env, acked: &[Message<String>]) {
        let mut minutes: BTreeMap<u64, u64> = BTreeMap::new();
        for m in acked {
            if let Some((minute, n)) = self.stored.get(&m.id()) {
                *minutes.entry(*minute).or_default() += n;
            }
        }
        if self.latency.count == 0 && minutes.is_empty() {
            return;
        }
        let body = serde_json::json!({"latency": self.latency, "minutes": minutes});
        if let Err(e) = post_control(env, "ingest", body.to_string()).await {
            log::error("consumer", "ingest_report_unsent", &e.to_string());
        }
    }
}

/// A batch of the dead-letter queue: kept by the control plane until an operator replays or
/// discards it; retried later when the control plane does not answer.
async fn dead_letters(env: &Env, messages: Vec<Message<String>>) {
    let letters: Vec<DeadLetter> = messages
        .iter()
        .map(|m| DeadLetter {
            id: m.id(),
            at_ms: m.timestamp().as_millis(),
            body: m.body().clone(),
        })
        .collect();
    let kept = async {
        let stub = internal::control(env)?;
        internal::post_json::<_, serde_json::Value>(&stub, "dead-letters", &letters).await
    };
    match kept.await {
        Ok(_) => messages.iter().for_each(|m| m.ack()),
        Err(e) => {
            log::error("consumer", "dead_letters_unkept", &e.to_string());
            messages.iter().for_each(retry_later);
        }
    }
}

/// A batch of sightings: their deltas; the messages taken.
async fn sightings(
    env: &Env,
    messages: Vec<Message<String>>,
    deltas: &mut Deltas,
) -> Vec<Message<String>> {
    let mut taken = Vec::new();
    for message in messages {
        match serde_json::from_str::<Vec<Sighting>>(message.body()) {
            Ok(records) => {
                add_sightings(deltas, records);
                taken.push(message);
            }
            Err(e) => dead_letter(env, &message, &e.to_string()).await,
        }
    }
    taken
}

/// The published set, whose metrics say what is counted (`None`: no set could be read).
async fn published(env: &Env) -> Option<Rc<Published>> {
    let gate = config::get(env).gate.as_ref().ok()?;
    let now_ms = worker::Date::now().as_millis();
    flags::current(env, gate, now_ms, "consumer").await
}

/// A batch of accepted requests: their KV writes, and the deltas of their counted events; the
/// messages whose write landed.
async fn events(
    env: &Env,
    messages: Vec<Message<String>>,
    deltas: &mut Deltas,
    report: &mut IngestReport,
) -> Vec<Message<String>> {
    let cfg = match &config::get(env).events {
        Ok(c) => c,
        Err(e) => {
            // Nothing can be stored without the section; redeliver later rather than lose events.
            log::config_invalid("-", "events", e);
            messages.iter().for_each(retry_later);
            return Vec::new();
        }
    };
    let kv = match env.kv(EVENTS_KV) {
        Ok(kv) => kv,
        Err(e) => {
            log::error("consumer", "kv_missing", &e.to_string());
            messages.iter().for_each(retry_later);
            return Vec::new();
        }
    };
    let mut planned: Vec<(Message<String>, Planned)> = Vec::new();
    for message in messages {
        match plan_writes(message.body()) {
            Ok(plan) => planned.push((message, plan)),
            Err(poison) => dead_letter(env, &message, &poison.detail).await,
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
    // What the metrics count: from the published set (the isolate's copy, or KV), read only
    // when some event is to be counted (a signed sender that carries flags).
    let counted = |p: &Planned| {
        p.events
            .iter()
            .any(|e| e.unit.is_some() && !e.flags.is_empty())
    };
    let set = if planned.iter().any(|(_, p)| counted(p)) {
        published(env).await
    } else {
        None
    };
    let reads = set.as_ref().map(|p| &p.reads);
    let mut stored = Vec::new();
    let now_ms = worker::Date::now().as_millis();
    for ((message, plan), result) in planned.into_iter().zip(results) {
        if let (Ok(()), Some(w)) = (&result, &plan.write) {
            report
                .latency
                .add(now_ms.saturating_sub(message.timestamp().as_millis()));
            if let Some(at) = received_at_of_key(&w.key) {
                report
                    .stored
                    .insert(message.id(), (minute_of(at), plan.events.len() as u64));
            }
        }
        match result {
            // The write is idempotent (same key), so a retry of the message is safe.
            Err(e) => {
                log::error(&message.id(), "kv_put_failed", &e.to_string());
                retry_later(&message);
            }
            Ok(()) => match reads {
                Some(reads) => {
                    add_events(deltas, &plan.events, reads);
                    stored.push(message);
                }
                None if !counted(&plan) => stored.push(message),
                // Stored, but not counted: the set to count by could not be read. The write is
                // idempotent, so the message comes back and is counted then.
                None => {
                    log::error(
                        &message.id(),
                        "flagset_unavailable",
                        "events not counted yet",
                    );
                    retry_later(&message);
                }
            },
        }
    }
    stored
}
