//! The hourly Cron Trigger: reconciliation (`pilot_gate_core::events::reconcile`). It asks the control
//! plane for the scan to run (a new window, or one a run left unfinished), counts the events
//! that the window's keys in `EVENTS_KV` hold from the list pages' metadata (at most
//! `LIST_BUDGET` list calls, and no other KV call), and hands the scan back: finished, the
//! control plane compares it with what it counted; unfinished, the next run goes on from its
//! cursor.

use serde_json::json;
use worker::{event, Env, Method, ScheduleContext, ScheduledEvent};

use pilot_gate_core::events::reconcile::{Scan, LIST_BUDGET};
use pilot_gate_shell::events_kv::{list_page, EVENTS_KV};
use pilot_gate_shell::{internal, log};

/// The scheduled handler.
#[event(scheduled)]
pub async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let now_ms = event.schedule() as u64;
    if let Err(e) = run(&env, now_ms).await {
        log::error("reconcile", "reconcile_failed", &e.to_string());
    }
}

async fn run(env: &Env, now_ms: u64) -> worker::Result<()> {
    let control = internal::control(env)?;
    let ask = json!({ "nowMs": now_ms }).to_string();
    let text = internal::call(&control, Method::Post, "reconcile/next", Some(ask)).await?;
    let mut scan: Scan =
        serde_json::from_str(&text).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let kv = env.kv(EVENTS_KV)?;
    let prefix = scan.window.prefix();
    let mut done = false;
    for _ in 0..LIST_BUDGET {
        let page = list_page(&kv, &prefix, scan.cursor.as_deref())
            .await
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        let counts = page
            .keys
            .iter()
            .zip(&page.metas)
            .map(|(k, m)| (k.as_str(), m.as_ref().map_or(0, |m| m.n as u64)));
        done = scan.take_page(counts, page.next);
        if done {
            break;
        }
    }
    let body = json!({"scan": scan, "done": done}).to_string();
    internal::call(&control, Method::Post, "reconcile", Some(body)).await?;
    Ok(())
}
