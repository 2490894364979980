//! The control plane's side of reconciliation (`pilot_gate_core::events::reconcile`): the events the
//! consumer stored and acked, per minute of `received_at` (the last two days), the scan a run
//! left unfinished, and the last result, which `/metrics`, the stats API and the dashboard's
//! health card show.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Result, SqlStorageValue};

use crate::live;
use pilot_gate_core::events::reconcile::{Reconciled, Scan, Window, KEEP_MINUTES};

use super::RolloutControl;

/// The table of counted events per minute.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ingested (minute INTEGER PRIMARY KEY, events INTEGER NOT NULL);
";

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::from(v as i64)
}

impl RolloutControl {
    /// Adds a batch's counted events, `(minute, events)`, and forgets minutes older than two
    /// days (at most [`KEEP_MINUTES`] rows).
    pub(super) fn add_ingested(&self, minutes: &[(u64, u64)]) -> Result<()> {
        let sql = self.sql();
        for (minute, events) in minutes {
            sql.exec(
                "INSERT INTO ingested (minute, events) VALUES (?, ?) \
                 ON CONFLICT (minute) DO UPDATE SET events = events + excluded.events",
                vec![int(*minute), int(*events)],
            )?;
        }
        if let Some(newest) = minutes.iter().map(|(m, _)| *m).max() {
            sql.exec(
                "DELETE FROM ingested WHERE minute < ?",
                vec![int(newest.saturating_sub(KEEP_MINUTES))],
            )?;
        }
        Ok(())
    }

    /// The scan a run at `now_ms` does: the one left unfinished, or a new window's.
    pub(super) fn next_scan(&self, now_ms: u64) -> Result<Scan> {
        let left: Option<Scan> = self.meta_json("reconcile_scan")?;
        Ok(left.unwrap_or_else(|| Scan::new(Window::of_run(now_ms))))
    }

    /// A run's scan: kept to go on from, or, when done, compared with what was counted.
    pub(super) fn take_scan(&self, text: &str, now_ms: u64) -> Result<(u16, Value)> {
        #[derive(Deserialize)]
        struct Ran {
            scan: Scan,
            done: bool,
        }
        let ran: Ran = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => return Ok((400, json!({"error": format!("reconcile: {e}")}))),
        };
        if !ran.done {
            self.set_meta_json("reconcile_scan", &ran.scan)?;
            return Ok((200, json!({"done": false})));
        }
        let counted = self.counted(&ran.scan.window)?;
        let scan = &ran.scan;
        let result = Reconciled::of(scan.window, &counted, &scan.stored, now_ms, scan.lists);
        self.set_meta_json("reconciled", &result)?;
        self.sql()
            .exec("DELETE FROM meta WHERE name = 'reconcile_scan'", None)?;
        let notice = json!({"type": "health", "drift": result.drift});
        self.state
            .wait_until(live::tell_admin(self.env.clone(), notice));
        Ok((200, json!(result)))
    }

    /// The last finished reconciliation.
    pub(super) fn reconciled(&self) -> Result<Option<Reconciled>> {
        self.meta_json("reconciled")
    }

    /// Events counted in `window`'s minutes, by hour.
    fn counted(&self, window: &Window) -> Result<BTreeMap<u64, u64>> {
        #[derive(Deserialize)]
        struct Hour {
            hour: i64,
            n: i64,
        }
        let minutes = window.minutes();
        let rows: Vec<Hour> = self
            .sql()
            .exec(
                "SELECT minute / 60 AS hour, SUM(events) AS n FROM ingested \
                 WHERE minute >= ? AND minute < ? GROUP BY hour",
                vec![int(minutes.start), int(minutes.end)],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| (r.hour.max(0) as u64, r.n.max(0) as u64))
            .collect())
    }
}
