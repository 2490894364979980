//! The `FlagEvents` Durable Object: one per event stream (`flags-0` … `flags-{N-1}` for
//! OFREP's clients, sharded by a hash of the client; `admin` for the operators' pages). It
//! holds the open connections in memory, keeps the last events for clients that resume with
//! `Last-Event-ID`, sends a heartbeat every quarter of the inactivity delay, and closes a
//! connection that has left a message unread for that long or lets [`CONNECTION_BACKLOG`]
//! pile up (it reconnects and resumes). The control plane tells it of every publish (with the
//! set, which the edge reads here when a re-fetch names a newer revision than it holds) and of
//! every change; the evidence objects tell the `admin` stream when stats change. It never
//! writes to the control plane.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::future::join_all;
use futures_util::StreamExt;
use serde_json::{json, Value};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use pilot_gate_core::config::Config;
use pilot_gate_core::flags::stream::{bare_refetch, refetch_event};
use pilot_gate_core::http::sse::{
    self, Channel, Event, History, ReadWatch, Replay, CONNECTION_BACKLOG, HEARTBEAT,
    MAX_CONNECTIONS_PER_SHARD,
};
use pilot_gate_shell::internal::{self, INTERNAL};
use pilot_gate_shell::{config, log};

/// Where an object keeps its history.
const HISTORY_KEY: &str = "history";

/// Tells every flags stream of a published set (`envelope`, the JSON text the control plane
/// wrote to KV): each sends `refetchEvaluation`. Answers how many could not be told.
pub async fn tell_publish(env: &Env, revision: u64, published_at_ms: u64, envelope: &str) -> usize {
    let cfg = config::get(env);
    let Ok(gate) = &cfg.gate else {
        log::error(
            "control",
            "stream_unconfigured",
            "the gate section is invalid",
        );
        return 0;
    };
    let shards = shards(cfg);
    let event = refetch_event(
        &gate.identity.cookie_secret,
        revision,
        published_at_ms / 1000,
    );
    let Ok(event_json) = serde_json::to_string(&event) else {
        return 0;
    };
    let body = format!("{{\"event\":{event_json},\"envelope\":{envelope}}}");
    let calls = (0..shards).map(|shard| {
        let body = body.clone();
        async move {
            let stub = internal::stream(env, Channel::Flags { shard })?;
            internal::call(&stub, Method::Post, "publish", Some(body)).await
        }
    });
    let failed: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .filter_map(|r| r.err())
        .collect();
    for e in &failed {
        log::error("control", "stream_unreachable", &e.to_string());
    }
    tell_admin(env.clone(), json!({"type": "plan", "revision": revision})).await;
    failed.len()
}

/// Tells the operators' stream of a change: `{"type": "audit" | "plan" | "stats", "flag"?}`.
pub async fn tell_admin(env: Env, notice: Value) {
    let sent = async {
        let stub = internal::stream(&env, Channel::Admin)?;
        internal::call(&stub, Method::Post, "notice", Some(notice.to_string())).await
    };
    if let Err(e) = sent.await {
        log::error("control", "stream_unreachable", &e.to_string());
    }
}

/// How many flags streams there are (`STREAM_SHARDS`; one while the flags section is invalid).
fn shards(cfg: &Config) -> u16 {
    cfg.flags.as_ref().map_or(1, |f| f.stream_shards)
}

/// Drops every connection of every stream (the `streams_cut` fault of tests and drills).
pub async fn cut_all(env: &Env) -> Result<()> {
    let channels = (0..shards(config::get(env)))
        .map(|shard| Channel::Flags { shard })
        .chain([Channel::Admin]);
    for channel in channels {
        internal::call(&internal::stream(env, channel)?, Method::Post, "cut", None).await?;
    }
    Ok(())
}

/// One open connection.
struct Connection {
    tx: mpsc::Sender<Vec<u8>>,
    /// Messages the runtime has taken from the stream (sent to the client).
    taken: Rc<Cell<u64>>,
    /// Messages put in.
    sent: u64,
    /// Whether the client reads what it is sent.
    watch: ReadWatch,
}

impl Connection {
    /// Queues `bytes`; false when the client is gone or too far behind (it is dropped).
    fn send(&mut self, bytes: &[u8]) -> bool {
        let ok = self.tx.try_send(bytes.to_vec()).is_ok();
        self.sent += u64::from(ok);
        ok
    }

    /// Whether the client has read everything, or not for `limit_ms`.
    fn reading(&mut self, now_ms: u64, limit_ms: u64) -> bool {
        let taken = self.taken.get();
        self.watch.reading(self.sent, taken, now_ms, limit_ms)
    }
}

/// What the object holds in memory.
#[derive(Default)]
struct Hub {
    connections: RefCell<Vec<Connection>>,
    history: RefCell<Option<History>>,
    /// The last published set: (revision, JSON text).
    envelope: RefCell<Option<(u64, Rc<str>)>>,
    ticking: Cell<bool>,
}

impl Hub {
    /// Sends `bytes` to every connection, dropping those that cannot take it.
    fn broadcast(&self, bytes: &[u8]) {
        self.connections.borrow_mut().retain_mut(|c| c.send(bytes));
    }
}

/// The stream objects' Durable Object.
#[durable_object]
pub struct FlagEvents {
    state: State,
    env: Env,
    hub: Rc<Hub>,
}

impl DurableObject for FlagEvents {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            hub: Rc::new(Hub::default()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.strip_prefix(INTERNAL)) {
            (Method::Post, Some("publish")) => {
                let text = req.text().await?;
                self.publish(&text).await
            }
            (Method::Post, Some("notice")) => {
                let text = req.text().await?;
                self.notice(&text).await
            }
            (Method::Get, Some("flagset")) => self.flagset().await,
            (Method::Post, Some("cut")) => {
                self.hub.connections.borrow_mut().clear();
                Response::ok("{}")
            }
            (Method::Get, None) => {
                let last = req.headers().get("Last-Event-ID").ok().flatten();
                self.open(&path, last.as_deref()).await
            }
            _ => Response::error("no such stream route", 404),
        }
    }
}

impl FlagEvents {
    async fn history(&self) -> History {
        if let Some(h) = self.hub.history.borrow().clone() {
            return h;
        }
        let stored = self.state.storage().get::<History>(HISTORY_KEY).await;
        let h = stored.ok().flatten().unwrap_or_default();
        *self.hub.history.borrow_mut() = Some(h.clone());
        h
    }

    /// Adds an event to the history (kept in storage) and sends it to every connection.
    async fn add(&self, event: Event) -> Result<()> {
        let mut history = self.history().await;
        if !history.push(event.clone()) {
            return Ok(()); // told twice
        }
        *self.hub.history.borrow_mut() = Some(history.clone());
        self.hub.broadcast(event.frame().as_bytes());
        self.state.storage().put(HISTORY_KEY, &history).await
    }

    /// A published set: `{"event": Event, "envelope": {...}}`.
    async fn publish(&self, text: &str) -> Result<Response> {
        #[derive(serde::Deserialize)]
        struct Told<'a> {
            event: Event,
            #[serde(borrow)]
            envelope: &'a serde_json::value::RawValue,
        }
        let told: Told = match serde_json::from_str(text) {
            Ok(t) => t,
            Err(e) => return Response::error(format!("publish: {e}"), 400),
        };
        let newer = self
            .hub
            .envelope
            .borrow()
            .as_ref()
            .is_none_or(|(r, _)| *r < told.event.id);
        if newer {
            *self.hub.envelope.borrow_mut() = Some((told.event.id, told.envelope.get().into()));
        }
        self.add(told.event).await?;
        Response::ok("{}")
    }

    /// A change the operators' pages show: numbered by this object.
    async fn notice(&self, text: &str) -> Result<Response> {
        let notice: Value = match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Response::error("notice: expected a JSON object", 400),
        };
        let id = self.history().await.next_id();
        self.add(Event {
            id,
            data: notice.to_string(),
        })
        .await?;
        Response::ok("{}")
    }

    /// The last published set; one this object has not been told of is read from the control
    /// plane once.
    async fn flagset(&self) -> Result<Response> {
        if let Some((_, text)) = self.hub.envelope.borrow().as_ref() {
            return Response::ok(text.to_string());
        }
        let control = internal::control(&self.env)?;
        let text = internal::call(&control, Method::Get, "published", None).await?;
        let revision = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("version")?.as_str()?.parse::<u64>().ok())
            .unwrap_or(0);
        if self.hub.envelope.borrow().is_none() {
            *self.hub.envelope.borrow_mut() = Some((revision, text.as_str().into()));
        }
        Response::ok(text)
    }

    /// A client connects: the retry time, what it missed, then live events and heartbeats.
    async fn open(&self, path: &str, last_event_id: Option<&str>) -> Result<Response> {
        let admin = path.starts_with("/api/admin/");
        if self.hub.connections.borrow().len() >= MAX_CONNECTIONS_PER_SHARD {
            let body = json!({"error": "unavailable", "detail": "this stream is full; retry"});
            let mut resp = Response::from_json(&body)?.with_status(503);
            resp.headers_mut().set("Retry-After", "5")?;
            return Ok(resp);
        }
        let history = self.history().await;
        let mut first = sse::preamble();
        match history.replay(sse::resume(last_event_id)) {
            Replay::Nothing => {}
            Replay::Missed(events) => events.iter().for_each(|e| first.push_str(&e.frame())),
            Replay::Behind { latest } => first.push_str(&behind(admin, latest)),
        }
        let (tx, rx) = mpsc::channel(CONNECTION_BACKLOG);
        let taken = Rc::new(Cell::new(0u64));
        let mut connection = Connection {
            tx,
            taken: taken.clone(),
            sent: 0,
            watch: ReadWatch::default(),
        };
        connection.send(first.as_bytes());
        self.hub.connections.borrow_mut().push(connection);
        self.start_ticking();
        let body = rx.map(move |bytes| {
            taken.set(taken.get() + 1);
            Ok::<Vec<u8>, worker::Error>(bytes)
        });
        let mut resp = Response::from_stream(body)?;
        let headers = resp.headers_mut();
        headers.set("Content-Type", "text/event-stream; charset=utf-8")?;
        headers.set("Cache-Control", "no-store")?;
        Ok(resp)
    }

    /// Heartbeats while any connection is open; a connection that left one unread for the
    /// inactivity delay is closed.
    fn start_ticking(&self) {
        if self.hub.ticking.replace(true) {
            return;
        }
        let (heartbeat_ms, inactivity_ms) = match &config::get(&self.env).flags {
            Ok(f) => (f.heartbeat_ms(), f.stream_inactivity_s * 1000),
            Err(_) => (30_000, 120_000),
        };
        let hub = self.hub.clone();
        worker::wasm_bindgen_futures::spawn_local(async move {
            loop {
                worker::Delay::from(Duration::from_millis(heartbeat_ms)).await;
                let now_ms = worker::Date::now().as_millis();
                let mut connections = hub.connections.borrow_mut();
                connections.retain_mut(|c| {
                    c.reading(now_ms, inactivity_ms) && c.send(HEARTBEAT.as_bytes())
                });
                if connections.is_empty() {
                    hub.ticking.set(false);
                    break;
                }
            }
        });
    }
}

/// What a client too far behind (or with an id we never sent) gets: the flags stream's latest
/// `refetchEvaluation` (or a bare one), the operators' stream a `resync` (reload everything).
fn behind(admin: bool, latest: Option<Event>) -> String {
    match (admin, latest) {
        (false, Some(e)) => e.frame(),
        (false, None) => bare_refetch(),
        (true, latest) => Event {
            id: latest.map_or(0, |e| e.id),
            data: r#"{"type":"resync"}"#.to_owned(),
        }
        .frame(),
    }
}
