//! Server-Sent Events: the channels the worker streams (OFREP's flag changes, sharded, and the
//! operators' channel), the wire framing, `Last-Event-ID`, and the bounded history that a
//! reconnecting client resumes from.

use std::collections::VecDeque;

/// How many events a channel keeps for clients that reconnect with `Last-Event-ID`.
pub const HISTORY_EVENTS: usize = 64;
/// The `retry:` a stream starts with: how long a browser waits before it reconnects, in ms.
pub const RETRY_MS: u64 = 1_000;
/// The most unread messages a connection may hold before it is closed as a slow reader.
pub const CONNECTION_BACKLOG: usize = 16;
/// The most connections one object holds; a shard over it answers 503 (see the README's
/// figures for what one shard holds under `wrangler dev`).
pub const MAX_CONNECTIONS_PER_SHARD: usize = 4_000;
/// The longest `Last-Event-ID` read, in bytes.
const MAX_ID_BYTES: usize = 20;

/// A stream the worker serves, each held by one `FlagEvents` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// OFREP's `refetchEvaluation` events, on one of `STREAM_SHARDS` shards.
    Flags {
        /// The shard, below `STREAM_SHARDS`.
        shard: u16,
    },
    /// The operators' channel: audit appended, plan changed, stats changed.
    Admin,
}

impl Channel {
    /// The name of the object that holds the channel.
    ///
    /// ```
    /// use pilot_gate_core::http::sse::Channel;
    /// assert_eq!(Channel::Flags { shard: 3 }.object_name(), "flags-3");
    /// assert_eq!(Channel::Admin.object_name(), "admin");
    /// ```
    pub fn object_name(self) -> String {
        match self {
            Channel::Flags { shard } => format!("flags-{shard}"),
            Channel::Admin => "admin".to_owned(),
        }
    }
}

/// One event: its id (increasing within a channel) and its `data` (one line of JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// The SSE `id`.
    pub id: u64,
    /// The SSE `data`, a JSON text without newlines.
    pub data: String,
}

impl Event {
    /// The event on the wire: `id`, `event: message` (OFREP's envelope) and `data`.
    ///
    /// ```
    /// use pilot_gate_core::http::sse::Event;
    /// let e = Event { id: 7, data: r#"{"type":"refetchEvaluation"}"#.into() };
    /// assert_eq!(e.frame(), "id: 7\nevent: message\ndata: {\"type\":\"refetchEvaluation\"}\n\n");
    /// ```
    pub fn frame(&self) -> String {
        format!("id: {}\nevent: message\ndata: {}\n\n", self.id, self.data)
    }
}

/// What a stream sends first: how long to wait before reconnecting.
pub fn preamble() -> String {
    format!("retry: {RETRY_MS}\n\n")
}

/// A heartbeat: a comment, which clients ignore and proxies see as traffic.
pub const HEARTBEAT: &str = ": heartbeat\n\n";

/// What a connecting client said about the events it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// No `Last-Event-ID`: a new client, which fetched the state just before.
    Fresh,
    /// The id of the last event the client read.
    After(u64),
    /// A `Last-Event-ID` that is no id of ours.
    Malformed,
}

/// Reads `Last-Event-ID`: empty or absent is a fresh client.
///
/// ```
/// use pilot_gate_core::http::sse::{resume, Resume};
/// assert_eq!(resume(Some("12")), Resume::After(12));
/// assert_eq!(resume(Some("")), Resume::Fresh);
/// assert_eq!(resume(Some("evt-1")), Resume::Malformed);
/// ```
pub fn resume(last_event_id: Option<&str>) -> Resume {
    match last_event_id.map(str::trim) {
        None | Some("") => Resume::Fresh,
        Some(id) if id.len() <= MAX_ID_BYTES && id.bytes().all(|b| b.is_ascii_digit()) => {
            id.parse().map_or(Resume::Malformed, Resume::After)
        }
        Some(_) => Resume::Malformed,
    }
}

/// What to send a connecting client before live events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Nothing: the client is fresh or up to date.
    Nothing,
    /// The events it missed, oldest first.
    Missed(Vec<Event>),
    /// The client is too far behind, or named an id this channel never sent: it must fetch
    /// the whole state again (the latest event's id, when there is one, is where it resumes).
    Behind {
        /// The channel's latest event.
        latest: Option<Event>,
    },
}

/// The last [`HISTORY_EVENTS`] events of a channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct History {
    events: VecDeque<Event>,
    /// The id of the newest event dropped from the history (0: none dropped).
    dropped_through: u64,
}

impl History {
    /// Adds an event; one whose id is not above the latest (a repeated notice) is ignored.
    /// Answers whether it was added.
    pub fn push(&mut self, event: Event) -> bool {
        if self.latest().is_some_and(|l| event.id <= l.id) {
            return false;
        }
        self.events.push_back(event);
        while self.events.len() > HISTORY_EVENTS {
            if let Some(old) = self.events.pop_front() {
                self.dropped_through = old.id;
            }
        }
        true
    }

    /// The newest event.
    pub fn latest(&self) -> Option<&Event> {
        self.events.back()
    }

    /// The id the next event of a channel that numbers its own events gets.
    pub fn next_id(&self) -> u64 {
        self.latest().map_or(self.dropped_through, |e| e.id) + 1
    }

    /// What a client resuming as `resume` must be sent.
    pub fn replay(&self, resume: Resume) -> Replay {
        let latest = self.latest().cloned();
        match resume {
            Resume::Fresh => Replay::Nothing,
            Resume::Malformed => Replay::Behind { latest },
            Resume::After(id) => match &latest {
                Some(l) if id == l.id => Replay::Nothing,
                // Every event after `id` is still here.
                Some(l) if id < l.id && id >= self.dropped_through => {
                    Replay::Missed(self.events.iter().filter(|e| e.id > id).cloned().collect())
                }
                _ => Replay::Behind { latest },
            },
        }
    }
}

/// Whether a connection's client still reads: a message it has left unread for the inactivity
/// delay closes it (heartbeats make sure there is always something to read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadWatch {
    /// Since when a message has waited unread, ms.
    unread_since_ms: Option<u64>,
}

impl ReadWatch {
    /// Looks at the connection at `now_ms`, with `sent` messages put in and `taken` of them
    /// read: false once one has waited `limit_ms` or longer.
    ///
    /// ```
    /// use pilot_gate_core::http::sse::ReadWatch;
    /// let mut w = ReadWatch::default();
    /// assert!(w.reading(3, 2, 0, 1_000));
    /// assert!(!w.reading(4, 2, 1_000, 1_000));
    /// ```
    pub fn reading(&mut self, sent: u64, taken: u64, now_ms: u64, limit_ms: u64) -> bool {
        if taken >= sent {
            self.unread_since_ms = None;
            return true;
        }
        let since = *self.unread_since_ms.get_or_insert(now_ms);
        now_ms.saturating_sub(since) < limit_ms
    }
}
