//! What the edge itself observes, recorded without I/O on the request path: exposures (a gated
//! route's decision, an OFREP answer, `/api/config`) and, for a gated route passed through,
//! what the upstream answered. Records are merged in this isolate's buffer
//! (`pilot_gate_core::evidence::record::Buffer`) and sent through the evidence queue by count or age, in
//! the `waitUntil` of the request that finds the buffer due. What an evicted isolate had not
//! sent (at most its last seconds) is lost evenly across arms.

use std::cell::RefCell;

use worker::{Context, Env};

use pilot_gate_core::evidence::record::{Buffer, Sighting, SightingKey, Upstream, FLUSH_RECORDS};
use pilot_gate_core::evidence::unit::{Net, Unit};
use pilot_gate_core::flags::evaluate::Handed;
use pilot_gate_shell::log;
use pilot_gate_shell::queue::text_message;

/// The queue the sightings travel through (wrangler.toml).
pub const EVIDENCE_QUEUE: &str = "EVIDENCE_QUEUE";

thread_local! {
    static BUFFER: RefCell<Buffer> = RefCell::new(Buffer::default());
}

/// Who was handed a variant: the targeting key, the net the request came from, and whether
/// the identity is capped (minted past its net's cap: in no arm).
#[derive(Debug, Clone, Copy)]
pub struct Visitor<'a> {
    /// The targeting key (hashed into a unit before anything keeps it); empty for a bot.
    pub key: &'a str,
    /// The request's net.
    pub net: Option<Net>,
    /// Capped: its sightings enter no arm.
    pub capped: bool,
}

/// Records that `who` was handed each variant under the flag set's `revision`, at `now_ms`.
/// An empty key (a bot's: bots are no visitors) records nothing.
pub fn expose<'a>(
    secret: &[u8],
    who: Visitor<'_>,
    handed: impl IntoIterator<Item = &'a Handed>,
    revision: u64,
    now_ms: u64,
) {
    if who.key.is_empty() {
        return;
    }
    let unit = Unit::of(secret, who.key);
    BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        for h in handed {
            b.add(
                key(h, unit, who, revision, now_ms),
                Upstream::default(),
                now_ms,
            );
        }
    });
}

fn key(h: &Handed, unit: Unit, who: Visitor<'_>, revision: u64, now_ms: u64) -> SightingKey {
    SightingKey {
        flag: h.flag.clone(),
        variant: h.variant.clone(),
        unit,
        minute: now_ms / 60_000,
        revision,
        outside: h.outside,
        net: who.net,
        capped: who.capped,
    }
}

/// Records the exposure of a gated route that is passed through, and returns the token that
/// [`upstream`] takes back with the upstream's answer.
pub fn expose_passed(
    secret: &[u8],
    who: Visitor<'_>,
    handed: &Handed,
    revision: u64,
    now_ms: u64,
) -> String {
    let k = key(handed, Unit::of(secret, who.key), who, revision, now_ms);
    let token = serde_json::to_string(&k).unwrap_or_default();
    BUFFER.with(|b| b.borrow_mut().add(k, Upstream::default(), now_ms));
    token
}

/// What the upstream answered the request of `token` ([`expose_passed`]): its status (0 when
/// the fetch failed) after `ttfb_ms`.
pub fn upstream(token: &str, status: u16, ttfb_ms: f64, now_ms: u64) {
    let Ok(key) = serde_json::from_str::<SightingKey>(token) else {
        return;
    };
    let status = (status != 0).then_some(status);
    let ttfb_ms = ttfb_ms.clamp(0.0, f64::from(u32::MAX)) as u32;
    BUFFER.with(|b| {
        b.borrow_mut()
            .add(key, Upstream::one(status, ttfb_ms), now_ms)
    });
}

/// Sends the buffer through the evidence queue after the response, when it is due.
pub fn flush_if_due(env: &Env, ctx: &Context, now_ms: u64) {
    let due = BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        b.due(now_ms).then(|| b.take())
    });
    let Some((records, dropped)) = due else {
        return;
    };
    if dropped > 0 {
        log::error("sightings", "sightings_dropped", &dropped.to_string());
    }
    let env = env.clone();
    ctx.wait_until(async move {
        let mut unsent: Vec<Sighting> = Vec::new();
        let queue = env.queue(EVIDENCE_QUEUE);
        for chunk in records.chunks(FLUSH_RECORDS) {
            let sent = match (&queue, serde_json::to_string(chunk)) {
                (Ok(q), Ok(text)) => q
                    .send_raw(text_message(&text))
                    .await
                    .map_err(|e| e.to_string()),
                (Err(e), _) => Err(e.to_string()),
                (_, Err(e)) => Err(e.to_string()),
            };
            if let Err(e) = sent {
                log::error("sightings", "sightings_send_failed", &e);
                unsent.extend_from_slice(chunk);
            }
        }
        if !unsent.is_empty() {
            // Back into the buffer for a later flush (in 5 s at the earliest), as far as its
            // bound allows.
            let later_ms = worker::Date::now().as_millis();
            BUFFER.with(|b| b.borrow_mut().put_back(unsent, later_ms));
        }
    });
}

/// The trap route of a test build (`--features trap`): panics while it holds the isolate's
/// buffer, as a bug in the middle of recording would. A panic aborts, which traps; the instance
/// keeps the buffer borrowed, so every later exposure on it would fail. The entry's reset makes
/// the next request run on a fresh instance instead (`tests/e2e/entry.test.mjs`).
#[cfg(feature = "trap")]
pub fn trap_while_recording() -> ! {
    BUFFER.with(|b| {
        let _held = b.borrow_mut();
        panic!("the trap route of a test build");
    })
}
