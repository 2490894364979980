//! The object's storage: its state (one JSON row, cached per instance), the append-only audit
//! log, idempotency records, and the status and audit reads.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Result, SqlStorage, SqlStorageValue};

use crate::core::control::audit::AuditEntry;
use crate::core::control::error::ControlError;
use crate::core::control::state::{Change, ControlState};
use crate::core::http::query::pairs;

use super::{problem, RolloutControl};

/// How long an `Idempotency-Key` is remembered, in ms (24 h).
pub const IDEMPOTENCY_TTL_MS: u64 = 86_400_000;
/// Entries of an audit read without `limit`.
pub const AUDIT_LIMIT_DEFAULT: u64 = 100;
/// Most entries of one audit read.
pub const AUDIT_LIMIT_MAX: u64 = 1000;

/// The tables of the state, the audit log and the idempotency records.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, flag TEXT, entry TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_flag ON audit (flag, seq);
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
    entry: String,
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
        Ok(())
    }

    /// Appends one entry to the audit log.
    pub(super) fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        let text =
            serde_json::to_string(entry).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.sql().exec(
            "INSERT INTO audit (at_ms, flag, entry) VALUES (?, ?, ?)",
            vec![
                SqlStorageValue::from(entry.at_ms as i64),
                entry.flag.clone().into(),
                text.into(),
            ],
        )?;
        Ok(())
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

    /// `GET /api/admin/audit?flag=&operator=&limit=`: entries, newest first.
    pub(super) fn audit(&self, url: &str) -> Result<(u16, Value)> {
        let (mut flag, mut operator) = (None, None);
        let mut limit = AUDIT_LIMIT_DEFAULT;
        for (k, v) in pairs(url) {
            match k.as_str() {
                "flag" if !v.is_empty() => flag = Some(v),
                "operator" if !v.is_empty() => operator = Some(v),
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
                "SELECT entry FROM audit WHERE (?1 IS NULL OR flag = ?1) \
                 AND (?2 IS NULL OR json_extract(entry, '$.actor') = ?2) \
                 ORDER BY seq DESC LIMIT ?3",
                vec![
                    flag.clone().into(),
                    operator.clone().into(),
                    SqlStorageValue::from(limit as i64),
                ],
            )?
            .to_array()?;
        let entries: Vec<Value> = rows
            .iter()
            .filter_map(|r| serde_json::from_str::<Value>(&r.entry).ok())
            .collect();
        Ok((
            200,
            json!({"entries": entries, "flag": flag, "operator": operator}),
        ))
    }
}
