//! Delivers notifications (`pilot_gate_core::control::notify`): a batch of the notifications queue is
//! POSTed to `NOTIFY_URL` one message at a time in `seq` order, each signed with `NOTIFY_SECRET`;
//! the first that fails is retried with every later one of the batch (after a delay that grows
//! with its age), so a healthy receiver sees them in order.

use worker::{Env, Fetch, Headers, Message, MessageExt, Method, Request, RequestInit};

use pilot_gate_core::control::notify::{delivery_order, Notice};
use pilot_gate_core::events::signature::sign_body;
use pilot_gate_shell::{config, log};

/// The producer binding of the notifications queue (wrangler.toml).
pub const NOTIFY_QUEUE: &str = "NOTIFY_QUEUE";
/// The signature header, as on the beacon.
const SIGNATURE_HEADER: &str = "X-Pilot-Signature";

/// Delivers a batch; `retry_later` asks for a message again.
pub async fn deliver(env: &Env, messages: Vec<Message<String>>, retry_later: fn(&Message<String>)) {
    let cfg = match &config::get(env).notify {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            // NOTIFY_URL was removed: what is queued has nowhere to go.
            log::error(
                "notify",
                "notify_unconfigured",
                "NOTIFY_URL unset: notices dropped",
            );
            messages.iter().for_each(|m| m.ack());
            return;
        }
        Err(e) => {
            log::config_invalid("-", "notify", e);
            messages.iter().for_each(retry_later);
            return;
        }
    };
    let seqs: Vec<u64> = messages
        .iter()
        .map(|m| serde_json::from_str::<Notice>(m.body()).map_or(0, |n| n.seq))
        .collect();
    let mut failed = false;
    for i in delivery_order(&seqs) {
        let message = &messages[i];
        if failed {
            retry_later(message);
            continue;
        }
        match post(&cfg.url, cfg.secret.as_deref(), message.body()).await {
            Ok(()) => message.ack(),
            Err(e) => {
                log::error(&message.id(), "notify_failed", &e);
                failed = true;
                retry_later(message);
            }
        }
    }
}

async fn post(url: &str, secret: Option<&[u8]>, body: &str) -> Result<(), String> {
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
    set("Content-Type", "application/json")?;
    if let Some(secret) = secret {
        set(SIGNATURE_HEADER, &sign_body(secret, body.as_bytes()))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let req = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
    let resp = Fetch::Request(req)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match resp.status_code() {
        200..=299 => Ok(()),
        s => Err(format!("{url} answered {s}")),
    }
}
