//! The store of dead letters (`pilot_gate_core::events::dead_letter`): the consumer of the dead-letter
//! queue hands each batch to the control plane, which keeps every letter (at most
//! `MAX_STORED`) until an operator replays it to its queue or discards it, and counts them for
//! `/metrics`. Replays and discards are audited. Dead letters are rare (the beacon validates
//! what it queues; a message dead-letters only after about 21 minutes of failures), so they
//! never put traffic in front of the control plane's commands.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Result, SqlStorageValue};

use pilot_gate_core::control::audit::AuditEntry;
use pilot_gate_core::control::error::ControlError;
use pilot_gate_core::control::state::Caller;
use pilot_gate_core::events::dead_letter::{
    admit, parse_query, DeadCounts, DeadKind, DeadLetter, Selection, MAX_PER_CALL, PREVIEW_CHARS,
};
use pilot_gate_shell::log;
use pilot_gate_shell::queue::text_message;

use super::{problem, RolloutControl};

/// The tables of the dead letters and their counters.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dead_letters (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, at_ms INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS dead_letters_at ON dead_letters (at_ms, id);
CREATE TABLE IF NOT EXISTS dead_counts (
  kind TEXT PRIMARY KEY, received INTEGER NOT NULL DEFAULT 0, replayed INTEGER NOT NULL DEFAULT 0,
  discarded INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0);
";

/// Selects the rows of a subquery of `dead_letters` that follows it, as one JSON array.
const ROWS: &str = "SELECT json_group_array(json_object('id', id, 'kind', kind, 'at_ms', at_ms, \
                    'body', body)) AS value FROM";

#[derive(Deserialize)]
struct Row {
    id: String,
    kind: String,
    at_ms: u64,
    body: String,
}

impl Row {
    /// Its kind as stored (a name this module wrote).
    fn kind(&self) -> DeadKind {
        DeadKind::parse(&self.kind).unwrap_or(DeadKind::Unreadable)
    }
}

#[derive(Deserialize)]
struct Listed {
    id: String,
    kind: String,
    at_ms: u64,
    bytes: u64,
    head: String,
}

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::from(v as i64)
}

impl RolloutControl {
    /// Keeps a batch from the dead-letter queue: each new letter (a redelivered id is kept
    /// once) while the store has room, else dropped; both counted.
    pub(super) fn take_dead_letters(&self, letters: &[DeadLetter]) -> Result<()> {
        let sql = self.sql();
        for letter in letters {
            let known: Option<u64> = self.json_of(
                "SELECT '1' AS value FROM dead_letters WHERE id = ?",
                vec![letter.id.clone().into()],
            )?;
            if known.is_some() {
                continue;
            }
            let kind = DeadKind::of(&letter.body);
            self.count_dead(kind, "received", 1)?;
            let (kept, _) = admit(self.dead_stored()?, 1);
            if kept == 0 {
                log::error(
                    &letter.id,
                    "dead_letter_dropped",
                    "the dead-letter store is full",
                );
                self.count_dead(kind, "dropped", 1)?;
                continue;
            }
            sql.exec(
                "INSERT INTO dead_letters (id, kind, at_ms, body) VALUES (?, ?, ?, ?)",
                vec![
                    letter.id.clone().into(),
                    kind.as_str().into(),
                    int(letter.at_ms),
                    letter.body.clone().into(),
                ],
            )?;
        }
        Ok(())
    }

    /// `GET /api/admin/dead-letters?limit=&kind=`: the oldest letters with a preview, and the
    /// counters.
    pub(super) fn list_dead_letters(&self, url: &str) -> Result<(u16, Value)> {
        let q = match parse_query(url) {
            Ok(q) => q,
            Err(e) => return Ok(problem(&ControlError::BadRequest(e))),
        };
        let kind = q.kind.map(DeadKind::as_str);
        let rows: Vec<Listed> = self
            .json_of(
                "SELECT json_group_array(json_object('id', id, 'kind', kind, 'at_ms', at_ms, \
                 'bytes', length(body), 'head', substr(body, 1, ?))) AS value FROM \
                 (SELECT * FROM dead_letters WHERE (? IS NULL OR kind = ?) \
                 ORDER BY at_ms, id LIMIT ?)",
                vec![
                    int(PREVIEW_CHARS as u64),
                    kind.into(),
                    kind.into(),
                    int(q.limit as u64),
                ],
            )?
            .unwrap_or_default();
        let letters: Vec<Value> = rows
            .into_iter()
            .map(|r| {
                json!({"id": r.id, "kind": r.kind, "atMs": r.at_ms, "bytes": r.bytes,
                       "preview": r.head})
            })
            .collect();
        Ok((
            200,
            json!({"stored": self.dead_stored()?, "letters": letters,
                   "counts": self.dead_counts_json()?}),
        ))
    }

    /// `POST /api/admin/dead-letters/replay`: sends the selected letters back to their queues
    /// (a letter leaves the store once its queue took it) and audits it. Replaying is safe: a
    /// request's KV key and a unit's facts change nothing the second time.
    pub(super) async fn replay_dead_letters(
        &self,
        text: &str,
        caller: &Caller,
    ) -> Result<(u16, Value)> {
        let rows = match self.selected(text, true)? {
            Ok(rows) => rows,
            Err(e) => return Ok(problem(&ControlError::BadRequest(e))),
        };
        let (mut replayed, mut refused, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            let Some(binding) = row.kind().replay_binding() else {
                refused.push(json!({"id": row.id, "reason": "unreadable: discard it"}));
                continue;
            };
            let sent = match self.env.queue(binding) {
                Ok(q) => q.send_raw(text_message(&row.body)).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => replayed.push(self.take_out(&row, "replayed")?),
                Err(e) => {
                    log::error(&row.id, "dead_letter_replay_failed", &e.to_string());
                    failed.push(json!({"id": row.id, "reason": "the queue refused it"}));
                }
            }
        }
        let left = self.dead_stored()?;
        if !replayed.is_empty() {
            self.audit_dead("dlq_replay", caller, left, &replayed)?;
        }
        Ok((
            200,
            json!({"replayed": replayed.len(), "refused": refused, "failed": failed, "left": left}),
        ))
    }

    /// `POST /api/admin/dead-letters/discard`: deletes the selected letters, audited.
    pub(super) fn discard_dead_letters(&self, text: &str, caller: &Caller) -> Result<(u16, Value)> {
        let rows = match self.selected(text, false)? {
            Ok(rows) => rows,
            Err(e) => return Ok(problem(&ControlError::BadRequest(e))),
        };
        let mut discarded = Vec::new();
        for row in rows {
            discarded.push(self.take_out(&row, "discarded")?);
        }
        let left = self.dead_stored()?;
        if !discarded.is_empty() {
            self.audit_dead("dlq_discard", caller, left, &discarded)?;
        }
        Ok((200, json!({"discarded": discarded.len(), "left": left})))
    }

    /// Every kind's counters, for `/metrics`.
    pub(super) fn dead_counts(&self) -> Result<Vec<(DeadKind, DeadCounts)>> {
        // Every kind with its counters and the letters kept now, as one JSON object by kind.
        let counted: BTreeMap<String, DeadCounts> = self
            .json_of(
                "SELECT json_group_object(kind, json_object('received', received, \
                 'replayed', replayed, 'discarded', discarded, 'dropped', dropped, \
                 'stored', (SELECT COUNT(*) FROM dead_letters d WHERE d.kind = c.kind))) \
                 AS value FROM dead_counts c",
                Vec::new(),
            )?
            .unwrap_or_default();
        Ok(DeadKind::ALL
            .into_iter()
            .map(|kind| {
                (
                    kind,
                    counted.get(kind.as_str()).copied().unwrap_or_default(),
                )
            })
            .collect())
    }

    fn dead_counts_json(&self) -> Result<Value> {
        Ok(self
            .dead_counts()?
            .into_iter()
            .map(|(k, c)| (k.as_str().to_owned(), json!(c)))
            .collect::<serde_json::Map<_, _>>()
            .into())
    }

    fn dead_stored(&self) -> Result<u64> {
        let n: Option<u64> = self.json_of(
            "SELECT CAST(COUNT(*) AS TEXT) AS value FROM dead_letters",
            Vec::new(),
        )?;
        Ok(n.unwrap_or(0))
    }

    /// Deletes a letter from the store, counts it under `column` (`replayed` or `discarded`),
    /// and answers what the audit entry and the answer show of it.
    fn take_out(&self, row: &Row, column: &'static str) -> Result<Value> {
        self.sql().exec(
            "DELETE FROM dead_letters WHERE id = ?",
            vec![row.id.clone().into()],
        )?;
        self.count_dead(row.kind(), column, 1)?;
        Ok(json!({"id": row.id, "kind": row.kind, "atMs": row.at_ms}))
    }

    fn count_dead(&self, kind: DeadKind, column: &'static str, n: u64) -> Result<()> {
        // `column` is one of this module's constants, never request data.
        self.sql().exec(
            &format!(
                "INSERT INTO dead_counts (kind, {column}) VALUES (?, ?) \
                 ON CONFLICT (kind) DO UPDATE SET {column} = {column} + excluded.{column}"
            ),
            vec![kind.as_str().into(), int(n)],
        )?;
        Ok(())
    }

    /// The letters a replay (`replaying`) or discard body selects (`Err` with the reason when
    /// it is bad).
    fn selected(
        &self,
        text: &str,
        replaying: bool,
    ) -> Result<std::result::Result<Vec<Row>, String>> {
        let s = match Selection::parse(text) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let rows = if s.all {
            // A replay of `all` leaves unreadable letters alone (it could only refuse them);
            // a discard of `all` takes them too.
            let kind = s.kind.map(DeadKind::as_str);
            let skip = (replaying && kind.is_none()).then_some(DeadKind::Unreadable.as_str());
            self.json_of(
                &format!(
                    "{ROWS} (SELECT * FROM dead_letters WHERE (? IS NULL OR kind = ?) \
                 AND (? IS NULL OR kind != ?) ORDER BY at_ms, id LIMIT ?)"
                ),
                vec![
                    kind.into(),
                    kind.into(),
                    skip.into(),
                    skip.into(),
                    int(MAX_PER_CALL as u64),
                ],
            )?
            .unwrap_or_default()
        } else {
            let mut rows = Vec::new();
            for id in &s.ids {
                let found: Vec<Row> = self
                    .json_of(
                        &format!("{ROWS} (SELECT * FROM dead_letters WHERE id = ?)"),
                        vec![id.clone().into()],
                    )?
                    .unwrap_or_default();
                if found.is_empty() {
                    return Ok(Err(format!("no dead letter {id}")));
                }
                rows.extend(found);
            }
            rows
        };
        Ok(Ok(rows))
    }

    fn audit_dead(
        &self,
        action: &str,
        caller: &Caller,
        left: u64,
        letters: &[Value],
    ) -> Result<()> {
        let entry = AuditEntry {
            from: json!({"stored": left + letters.len() as u64}),
            to: json!({"stored": left}),
            evidence: json!({"letters": letters}),
            ..AuditEntry::new(&caller.actor, caller.now_ms, action)
        };
        self.append_audit(&entry)
    }
}
