//! The object's storage: its state (one JSON row, cached per instance), the append-only audit
//! log, idempotency records, and the status and audit reads.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Result, SqlStorage, SqlStorageValue};

use crate::notify::NOTIFY_QUEUE;
use pilot_gate_core::control::audit::{parts, AuditEntry, DIFF_PART_BYTES};
use pilot_gate_core::control::error::ControlError;
use pilot_gate_core::control::notify::notice;
use pilot_gate_core::control::state::{Change, ControlState};
use pilot_gate_core::http::query::pairs;
use pilot_gate_shell::queue::text_message;
use pilot_gate_shell::{config, log};

use super::{problem, RolloutControl};

/// How long an `Idempotency-Key` is remembered, in ms (24 h).
pub const IDEMPOTENCY_TTL_MS: u64 = 86_400_000;
/// Entries of an audit read without `limit`.
pub const AUDIT_LIMIT_DEFAULT: u64 = 100;
/// Most entries of one audit read.
pub const AUDIT_LIMIT_MAX: u64 = 1000;
/// Largest diff that a list of audit entries carries; a larger one is read by its entry's
/// `seq` (`?seq=N`).
pub const AUDIT_INLINE_DIFF_BYTES: u64 = 65_536;

/// The tables of the state, the audit log and the idempotency records.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, flag TEXT, entry TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_flag ON audit (flag, seq);
CREATE TABLE IF NOT EXISTS audit_diff (
  seq INTEGER NOT NULL, part INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (seq, part));
CREATE TABLE IF NOT EXISTS idempotency (
  key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL,
  at_ms INTEGER NOT NULL);
";

#[derive(Deserialize)]
struct TextRow {
    value: String,
}

#[derive(Deserialize)]
struct AuditRow {
    seq: i64,
    entry: String,
}

#[derive(Deserialize)]
struct SeqRow {
    seq: i64,
}

#[derive(Deserialize)]
struct IdemRow {
    fingerprint: String,
    status: u16,
    body: String,
}

impl RolloutControl {
    /// The object's SQLite database.
    pub(super) fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// A value of the `meta` table.
    pub(super) fn meta(&self, name: &str) -> Result<Option<String>> {
        let rows: Vec<TextRow> = self
            .sql()
            .exec("SELECT value FROM meta WHERE name = ?", vec![name.into()])?
            .to_array()?;
        Ok(rows.into_iter().next().map(|r| r.value))
    }

    /// The JSON text that `query` selects `AS value` from its first row, parsed (`None` when
    /// it selects no row). Selecting JSON (`json_group_array(json_object(...))`) costs one
    /// row type of the SQL API for every shape of answer.
    pub(super) fn json_of<T: serde::de::DeserializeOwned>(
        &self,
        query: &str,
        args: Vec<SqlStorageValue>,
    ) -> Result<Option<T>> {
        let rows: Vec<TextRow> = self.sql().exec(query, args)?.to_array()?;
        rows.into_iter()
            .next()
            .map(|r| {
                serde_json::from_str(&r.value).map_err(|e| worker::Error::RustError(e.to_string()))
            })
            .transpose()
    }

    /// Sets a value of the `meta` table.
    pub(super) fn set_meta(&self, name: &str, value: &str) -> Result<()> {
        self.sql().exec(
            "INSERT INTO meta (name, value) VALUES (?, ?) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            vec![name.into(), value.into()],
        )?;
        Ok(())
    }

    /// The state, read from storage once per object instance.
    pub(super) fn load(&self) -> Result<ControlState> {
        if let Some(state) = self.cache.borrow().as_ref() {
            return Ok(state.clone());
        }
        let state: ControlState = match self.meta("state")? {
            Some(text) => {
                serde_json::from_str(&text).map_err(|e| worker::Error::RustError(e.to_string()))?
            }
            None => ControlState::default(),
        };
        *self.cache.borrow_mut() = Some(state.clone());
        Ok(state)
    }

    /// Writes the state and appends the change's audit entries (no await: they land together).
    pub(super) fn store(&self, state: &ControlState, change: &Change) -> Result<()> {
        let text =
            serde_json::to_string(state).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.set_meta("state", &text)?;
        for entry in &change.audit {
            self.append_audit(entry)?;
        }
        if !change.audit.is_empty() {
            let flags: Vec<&str> = change
                .audit
                .iter()
                .filter_map(|e| e.flag.as_deref())
                .collect();
            let notice = serde_json::json!({"type": "audit", "flags": flags});
            self.state
                .wait_until(crate::live::tell_admin(self.env.clone(), notice));
        }
        Ok(())
    }

    /// Appends one entry to the audit log: the entry in one row (with its diff's size as
    /// `diffBytes`), its diff in parts of at most [`DIFF_PART_BYTES`] beside it.
    pub(super) fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        let diff = entry
            .diff
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        let mut row = serde_json::to_value(AuditEntry {
            diff: None,
            ..entry.clone()
        })
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
        if let Some(diff) = &diff {
            row["diffBytes"] = diff.len().into();
        }
        let rows: Vec<SeqRow> = self
            .sql()
            .exec(
                "INSERT INTO audit (at_ms, flag, entry) VALUES (?, ?, ?) RETURNING seq",
                vec![
                    SqlStorageValue::from(entry.at_ms as i64),
                    entry.flag.clone().into(),
                    row.to_string().into(),
                ],
            )?
            .to_array()?;
        let seq = rows.first().map_or(0, |r| r.seq);
        for (i, part) in parts(diff.as_deref().unwrap_or(""), DIFF_PART_BYTES)
            .into_iter()
            .enumerate()
        {
            self.sql().exec(
                "INSERT INTO audit_diff (seq, part, text) VALUES (?, ?, ?)",
                vec![
                    SqlStorageValue::from(seq),
                    SqlStorageValue::from(i as i64),
                    part.into(),
                ],
            )?;
        }
        self.notify(seq, entry);
        Ok(())
    }

    /// Sends audit entry `seq` to `NOTIFY_URL` through the notifications queue, after this
    /// change (a failure to enqueue is logged: the audit log keeps the entry either way).
    fn notify(&self, seq: i64, entry: &AuditEntry) {
        if !matches!(config::get(&self.env).notify, Ok(Some(_))) {
            return;
        }
        let Ok(text) = serde_json::to_string(&notice(seq as u64, entry)) else {
            return;
        };
        let env = self.env.clone();
        self.state.wait_until(async move {
            let sent = match env.queue(NOTIFY_QUEUE) {
                Ok(q) => q.send_raw(text_message(&text)).await,
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                log::error("control", "notify_enqueue_failed", &e.to_string());
            }
        });
    }

    /// The stored diff of audit entry `seq`, its parts joined and parsed.
    fn audit_diff(&self, seq: i64) -> Result<Value> {
        #[derive(Deserialize)]
        struct PartRow {
            text: String,
        }
        let rows: Vec<PartRow> = self
            .sql()
            .exec(
                "SELECT text FROM audit_diff WHERE seq = ? ORDER BY part",
                vec![SqlStorageValue::from(seq)],
            )?
            .to_array()?;
        let text: String = rows.into_iter().map(|r| r.text).collect();
        serde_json::from_str(&text).map_err(|e| worker::Error::RustError(e.to_string()))
    }

    /// The stored answer of an `Idempotency-Key`: `None` when the key is new; the answer when
    /// the same request was made with it; 422 when another request was.
    pub(super) fn replay(&self, key: &str, fingerprint: &str) -> Result<Option<(u16, Value)>> {
        let rows: Vec<IdemRow> = self
            .sql()
            .exec(
                "SELECT fingerprint, status, body FROM idempotency WHERE key = ?",
                vec![key.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().map(|row| {
            if row.fingerprint != fingerprint {
                return problem(&ControlError::IdempotencyKeyReused);
            }
            (
                row.status,
                serde_json::from_str(&row.body).unwrap_or(Value::Null),
            )
        }))
    }

    /// Keeps an answer under its `Idempotency-Key` for 24 h (and drops expired ones).
    pub(super) fn remember(
        &self,
        key: &str,
        fingerprint: &str,
        answer: &(u16, Value),
        now_ms: u64,
    ) -> Result<()> {
        let sql = self.sql();
        sql.exec(
            "DELETE FROM idempotency WHERE at_ms < ?",
            vec![SqlStorageValue::from(
                now_ms.saturating_sub(IDEMPOTENCY_TTL_MS) as i64,
            )],
        )?;
        sql.exec(
            "INSERT INTO idempotency (key, fingerprint, status, body, at_ms) VALUES (?, ?, ?, ?, ?)",
            vec![
                key.into(),
                fingerprint.into(),
                SqlStorageValue::from(i64::from(answer.0)),
                answer.1.to_string().into(),
                SqlStorageValue::from(now_ms as i64),
            ],
        )?;
        Ok(())
    }

    /// `GET /api/admin/status`: the revision, the published and pending versions, the kill switch.
    pub(super) fn status(&self) -> Result<(u16, Value)> {
        let state = self.load()?;
        let published: u64 = self
            .meta("published")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = state.status_view();
        body["published"] = published.into();
        body["pending"] = if published < state.revision {
            state.revision.into()
        } else {
            Value::Null
        };
        body["lastPublishError"] = self.meta("publish_error")?.map_or(Value::Null, Value::from);
        Ok((200, body))
    }

    /// `GET /api/admin/audit?flag=&operator=&limit=`: entries, newest first, each with its
    /// `seq` and its diff when it has one of at most [`AUDIT_INLINE_DIFF_BYTES`]; `?seq=N`:
    /// entry N alone with its whole diff.
    pub(super) fn audit(&self, url: &str) -> Result<(u16, Value)> {
        let (mut flag, mut operator, mut seq) = (None, None, None);
        let mut limit = AUDIT_LIMIT_DEFAULT;
        for (k, v) in pairs(url) {
            match k.as_str() {
                "flag" if !v.is_empty() => flag = Some(v),
                "operator" if !v.is_empty() => operator = Some(v),
                "seq" => match v.parse::<i64>() {
                    Ok(n) if n > 0 => seq = Some(n),
                    _ => {
                        let detail = "seq must be an entry's seq, a positive integer".to_owned();
                        return Ok(problem(&ControlError::BadRequest(detail)));
                    }
                },
                "limit" => match v.parse::<u64>() {
                    Ok(n) if (1..=AUDIT_LIMIT_MAX).contains(&n) => limit = n,
                    _ => {
                        let detail = format!("limit must be 1 to {AUDIT_LIMIT_MAX}");
                        return Ok(problem(&ControlError::BadRequest(detail)));
                    }
                },
                _ => {}
            }
        }
        let rows: Vec<AuditRow> = self
            .sql()
            .exec(
                "SELECT seq, entry FROM audit WHERE (?1 IS NULL OR flag = ?1) \
                 AND (?2 IS NULL OR json_extract(entry, '$.actor') = ?2) \
                 AND (?3 IS NULL OR seq = ?3) ORDER BY seq DESC LIMIT ?4",
                vec![
                    flag.clone().into(),
                    operator.clone().into(),
                    seq.map_or(SqlStorageValue::Null, SqlStorageValue::from),
                    SqlStorageValue::from(limit as i64),
                ],
            )?
            .to_array()?;
        let inline = if seq.is_some() {
            u64::MAX
        } else {
            AUDIT_INLINE_DIFF_BYTES
        };
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let Ok(mut entry) = serde_json::from_str::<Value>(&row.entry) else {
                continue;
            };
            entry["seq"] = row.seq.into();
            match entry.get("diffBytes").and_then(Value::as_u64) {
                Some(bytes) if bytes <= inline => entry["diff"] = self.audit_diff(row.seq)?,
                _ => {}
            }
            entries.push(entry);
        }
        Ok((
            200,
            json!({"entries": entries, "flag": flag, "operator": operator}),
        ))
    }
}
