//! The dead-letter queue (`pilot-gate-events-dlq`), shared by both queues: what a dead letter
//! is, where a replay sends it, and the bounds of the store that keeps them until an operator
//! replays or discards them (`scripts/pilot dlq`).
//!
//! A message reaches the dead-letter queue as the consumer sent it (a poison message) or as the
//! platform moved it (after its retries), with its body alone: which queue it came from is read
//! from the body's shape. An accepted beacon request is an object with `events`; the edge's
//! sightings are a JSON array. Anything else is unreadable and can only be discarded.

use serde::{Deserialize, Serialize};

use crate::http::query;

/// Dead letters kept at most; a letter past it is dropped (counted and logged).
pub const MAX_STORED: u64 = 5_000;
/// Most letters one list or one replay call handles (a replay sends each to its queue).
pub const MAX_PER_CALL: usize = 100;
/// Characters of a body shown in a listing (SQLite's `substr` counts characters).
pub const PREVIEW_CHARS: usize = 160;

/// Which queue a dead letter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DeadKind {
    /// An accepted beacon request (`pilot-gate-events`).
    Events,
    /// The edge's sightings (`pilot-gate-evidence`).
    Sightings,
    /// Neither: it can only be discarded.
    Unreadable,
}

impl DeadKind {
    /// Every kind, in the order `/metrics` lists them.
    pub const ALL: [DeadKind; 3] = [DeadKind::Events, DeadKind::Sightings, DeadKind::Unreadable];

    /// The kind of a dead letter's body, by its shape.
    ///
    /// ```
    /// use pilot_gate_core::events::dead_letter::DeadKind;
    /// assert_eq!(DeadKind::of(r#"{"events":[]}"#), DeadKind::Events);
    /// assert_eq!(DeadKind::of(r#"[{"flag":"pilot"}]"#), DeadKind::Sightings);
    /// assert_eq!(DeadKind::of("oops"), DeadKind::Unreadable);
    /// ```
    pub fn of(body: &str) -> Self {
        match serde_json::from_str::<serde_json::Value>(body) {
            Ok(serde_json::Value::Array(_)) => DeadKind::Sightings,
            Ok(serde_json::Value::Object(o)) if o.get("events").is_some_and(|e| e.is_array()) => {
                DeadKind::Events
            }
            _ => DeadKind::Unreadable,
        }
    }

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadKind::Events => "events",
            DeadKind::Sightings => "sightings",
            DeadKind::Unreadable => "unreadable",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The producer binding a replay sends a letter of this kind to; none for unreadable.
    pub fn replay_binding(self) -> Option<&'static str> {
        match self {
            DeadKind::Events => Some("EVENTS_QUEUE"),
            DeadKind::Sightings => Some("EVIDENCE_QUEUE"),
            DeadKind::Unreadable => None,
        }
    }
}

/// One dead letter as the consumer of the dead-letter queue hands it to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The queue's message id (a redelivery stores nothing new).
    pub id: String,
    /// When it was sent to the dead-letter queue, ms since the epoch.
    pub at_ms: u64,
    /// Its body, unchanged.
    pub body: String,
}

/// Counters of the dead letters, per kind, as `/metrics` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadCounts {
    /// Letters received by the store.
    pub received: u64,
    /// Letters sent back to their queue.
    pub replayed: u64,
    /// Letters an operator discarded.
    pub discarded: u64,
    /// Letters dropped because the store was full.
    pub dropped: u64,
    /// Letters kept now.
    pub stored: u64,
}

/// What the store does with a batch of `arriving` new letters when it holds `stored`: how many
/// it keeps (the first ones) and how many it drops.
///
/// ```
/// use pilot_gate_core::events::dead_letter::{admit, MAX_STORED};
/// assert_eq!(admit(0, 3), (3, 0));
/// assert_eq!(admit(MAX_STORED - 1, 3), (1, 2));
/// assert_eq!(admit(MAX_STORED, 3), (0, 3));
/// ```
pub fn admit(stored: u64, arriving: u64) -> (u64, u64) {
    let room = MAX_STORED.saturating_sub(stored);
    let kept = arriving.min(room);
    (kept, arriving - kept)
}

/// The query of `GET /api/admin/dead-letters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadQuery {
    /// Most letters, oldest first (1..=100, default 20).
    pub limit: usize,
    /// Only letters of this kind.
    pub kind: Option<DeadKind>,
}

/// Parses `limit` and `kind` from the query of an absolute URL; other keys are ignored.
///
/// ```
/// use pilot_gate_core::events::dead_letter::{parse_query, DeadKind};
/// let q = parse_query("https://x/api/admin/dead-letters?limit=5&kind=events").unwrap();
/// assert_eq!((q.limit, q.kind), (5, Some(DeadKind::Events)));
/// assert!(parse_query("https://x/?limit=0").is_err());
/// assert!(parse_query("https://x/?kind=mail").is_err());
/// ```
pub fn parse_query(url: &str) -> Result<DeadQuery, String> {
    let mut q = DeadQuery {
        limit: 20,
        kind: None,
    };
    for (k, v) in query::pairs(url) {
        match k.as_str() {
            "limit" => q.limit = query::limit(&v, MAX_PER_CALL)?,
            "kind" => {
                q.kind = Some(
                    DeadKind::parse(&v)
                        .ok_or_else(|| "kind must be events, sightings or unreadable".to_owned())?,
                )
            }
            _ => {}
        }
    }
    Ok(q)
}

/// Which letters a replay or a discard takes: the ones named, or the oldest (of a kind).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// The ids to take (at most [`MAX_PER_CALL`]).
    #[serde(default)]
    pub ids: Vec<String>,
    /// Take the oldest letters instead (up to [`MAX_PER_CALL`] per call).
    #[serde(default)]
    pub all: bool,
    /// With `all`: only letters of this kind.
    #[serde(default)]
    pub kind: Option<DeadKind>,
}

impl Selection {
    /// Parses the body of a replay or discard: `{"ids": [...]}` or `{"all": true, "kind"?}`.
    ///
    /// ```
    /// use pilot_gate_core::events::dead_letter::Selection;
    /// assert!(Selection::parse(r#"{"ids":["a"]}"#).is_ok());
    /// assert!(Selection::parse(r#"{"all":true,"kind":"events"}"#).is_ok());
    /// assert!(Selection::parse("{}").is_err());
    /// assert!(Selection::parse(r#"{"ids":["a"],"all":true}"#).is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        let s: Selection = serde_json::from_str(text).map_err(|e| format!("the body: {e}"))?;
        match (s.ids.is_empty(), s.all) {
            (true, false) => Err("name the letters (\"ids\") or send \"all\": true".into()),
            (false, true) => Err("send either \"ids\" or \"all\", not both".into()),
            _ if s.ids.len() > MAX_PER_CALL => Err(format!("at most {MAX_PER_CALL} ids per call")),
            _ if s.kind.is_some() && !s.all => Err("\"kind\" goes with \"all\"".into()),
            _ => Ok(s),
        }
    }
}
