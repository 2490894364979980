//! The evidence object's storage, bounded: per-unit state of the current tier's window only
//! (older windows are deleted in slices by the alarm, and units that sent events but were never
//! exposed are dropped after 10 minutes), each net's first unit per arm of the current window
//! (likewise), the window's tally (one row per window), per-minute series for 48 hours, then
//! hourly roll-ups for 35 days. No read scans per-unit rows: the guards, the stats API and
//! `/metrics` read the tally and the series. Capped units (minted past their net's cap) get no
//! row at all, so minting identities grows storage by at most the cap per net a minute.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::{Result, SqlStorage, SqlStorageValue};

use pilot_gate_core::evidence::tally::{ArmTally, Series, Tally, UnitState};
use pilot_gate_core::evidence::unit::{Net, Unit};

use super::FlagEvidence;

/// How long per-minute rows are kept, in minutes (48 h).
pub const MINUTES_KEPT: u64 = 48 * 60;
/// How long hourly roll-ups are kept, in hours (35 days).
pub const HOURS_KEPT: u64 = 35 * 24;
/// How long a unit that sent events but was never exposed is kept, in ms (its exposure travels
/// separately and is normally seconds behind).
pub const UNEXPOSED_KEPT_MS: u64 = 10 * 60_000;
/// Rows one alarm deletes or rolls up at most, so no invocation runs long.
pub const PRUNE_SLICE: u64 = 5_000;

/// The tables.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
  epoch INTEGER NOT NULL, unit INTEGER NOT NULL, exposed INTEGER NOT NULL, at_ms INTEGER NOT NULL,
  state TEXT NOT NULL, PRIMARY KEY (epoch, unit)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS units_unexposed ON units (exposed, at_ms);
CREATE TABLE IF NOT EXISTS nets (
  epoch INTEGER NOT NULL, net INTEGER NOT NULL, arm TEXT NOT NULL,
  PRIMARY KEY (epoch, net, arm)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tally (epoch INTEGER PRIMARY KEY, tally TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS minutes (
  epoch INTEGER NOT NULL, minute INTEGER NOT NULL, arm TEXT NOT NULL, tally TEXT NOT NULL,
  PRIMARY KEY (epoch, minute, arm)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hours (
  epoch INTEGER NOT NULL, hour INTEGER NOT NULL, arm TEXT NOT NULL, tally TEXT NOT NULL,
  PRIMARY KEY (epoch, hour, arm)) WITHOUT ROWID;
";

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::from(v as i64)
}

/// A unit as SQLite's signed integer (the same 64 bits).
fn unit_int(u: Unit) -> SqlStorageValue {
    SqlStorageValue::from(u.0 as i64)
}

fn json<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| worker::Error::RustError(e.to_string()))
}

fn text<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| worker::Error::RustError(e.to_string()))
}

/// One JSON text column, selected `AS v`.
#[derive(Deserialize)]
struct TextRow {
    v: String,
}

#[derive(Deserialize)]
struct SeriesRow {
    minute: u64,
    arm: String,
    tally: String,
}

#[derive(Deserialize)]
struct CountRow {
    n: u64,
}

impl FlagEvidence {
    /// The object's SQLite database.
    pub(super) fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// The JSON text that `query` selects `AS v` from at most one row, parsed.
    fn one<T: DeserializeOwned>(
        &self,
        query: &str,
        args: Vec<SqlStorageValue>,
    ) -> Result<Option<T>> {
        let rows: Vec<TextRow> = self.sql().exec(query, args)?.to_array()?;
        rows.into_iter().next().map(|r| json(&r.v)).transpose()
    }

    /// A value of the `meta` table, parsed.
    pub(super) fn meta<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        self.one(
            "SELECT value AS v FROM meta WHERE name = ?",
            vec![name.into()],
        )
    }

    /// Sets a value of the `meta` table.
    pub(super) fn set_meta<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<()> {
        self.sql().exec(
            "INSERT INTO meta (name, value) VALUES (?, ?) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            vec![name.into(), text(value)?.into()],
        )?;
        Ok(())
    }

    /// The state of `unit` in the window `epoch` (a fresh one when unknown).
    pub(super) fn unit_state(&self, epoch: u64, unit: Unit) -> Result<UnitState> {
        let q = "SELECT state AS v FROM units WHERE epoch = ? AND unit = ?";
        Ok(self
            .one(q, vec![int(epoch), unit_int(unit)])?
            .unwrap_or_default())
    }

    /// Writes the state of `unit` in the window `epoch` at `now_ms`.
    pub(super) fn put_unit(
        &self,
        epoch: u64,
        unit: Unit,
        state: &UnitState,
        now_ms: u64,
    ) -> Result<()> {
        self.sql().exec(
            "INSERT INTO units (epoch, unit, exposed, at_ms, state) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (epoch, unit) DO UPDATE SET exposed = excluded.exposed, \
             at_ms = excluded.at_ms, state = excluded.state",
            vec![
                int(epoch),
                unit_int(unit),
                SqlStorageValue::from(i64::from(state.arm.is_some())),
                int(now_ms),
                text(state)?.into(),
            ],
        )?;
        Ok(())
    }

    /// Whether `net` has no representative in `arm` of the window `epoch` yet; if so, the net
    /// is marked as having one (the unit being counted).
    pub(super) fn claim_net(&self, epoch: u64, net: Net, arm: &str) -> Result<bool> {
        let rows: Vec<CountRow> = self
            .sql()
            .exec(
                "SELECT COUNT(*) AS n FROM nets WHERE epoch = ? AND net = ? AND arm = ?",
                vec![int(epoch), int(u64::from(net.0)), arm.into()],
            )?
            .to_array()?;
        if rows.first().is_some_and(|r| r.n > 0) {
            return Ok(false);
        }
        self.sql().exec(
            "INSERT INTO nets (epoch, net, arm) VALUES (?, ?, ?)",
            vec![int(epoch), int(u64::from(net.0)), arm.into()],
        )?;
        Ok(true)
    }

    /// The tally of the window `epoch`.
    pub(super) fn tally(&self, epoch: u64) -> Result<Tally> {
        let q = "SELECT tally AS v FROM tally WHERE epoch = ?";
        Ok(self.one(q, vec![int(epoch)])?.unwrap_or_default())
    }

    /// Writes the tally of the window `epoch`.
    pub(super) fn put_tally(&self, epoch: u64, tally: &Tally) -> Result<()> {
        self.sql().exec(
            "INSERT INTO tally (epoch, tally) VALUES (?, ?) \
             ON CONFLICT (epoch) DO UPDATE SET tally = excluded.tally",
            vec![int(epoch), text(tally)?.into()],
        )?;
        Ok(())
    }

    /// The series of the window `epoch` from `from_minute` on.
    pub(super) fn series(&self, epoch: u64, from_minute: u64) -> Result<Series> {
        let rows: Vec<SeriesRow> = self
            .sql()
            .exec(
                "SELECT minute, arm, tally FROM minutes WHERE epoch = ? AND minute >= ?",
                vec![int(epoch), int(from_minute)],
            )?
            .to_array()?;
        rows.into_iter()
            .map(|r| Ok(((r.minute, r.arm), json(&r.tally)?)))
            .collect()
    }

    /// Writes some rows of the series of the window `epoch`.
    pub(super) fn put_series(&self, epoch: u64, rows: &Series) -> Result<()> {
        for ((minute, arm), t) in rows {
            self.sql().exec(
                "INSERT INTO minutes (epoch, minute, arm, tally) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (epoch, minute, arm) DO UPDATE SET tally = excluded.tally",
                vec![
                    int(epoch),
                    int(*minute),
                    arm.as_str().into(),
                    text(t)?.into(),
                ],
            )?;
        }
        Ok(())
    }

    /// One slice of the pruning that keeps storage bounded at `now_ms`: per-unit rows of
    /// windows before `epoch`, units never exposed after [`UNEXPOSED_KEPT_MS`], per-minute rows
    /// older than [`MINUTES_KEPT`] (rolled up into hours first), hours older than
    /// [`HOURS_KEPT`], tallies of windows before the previous one. Whether rows are left.
    pub(super) fn prune(&self, epoch: u64, previous: Option<u64>, now_ms: u64) -> Result<bool> {
        let sql = self.sql();
        let slice = int(PRUNE_SLICE);
        sql.exec(
            "DELETE FROM units WHERE (epoch, unit) IN \
             (SELECT epoch, unit FROM units WHERE epoch < ? LIMIT ?)",
            vec![int(epoch), slice.clone()],
        )?;
        sql.exec(
            "DELETE FROM nets WHERE (epoch, net, arm) IN \
             (SELECT epoch, net, arm FROM nets WHERE epoch < ? LIMIT ?)",
            vec![int(epoch), slice.clone()],
        )?;
        sql.exec(
            "DELETE FROM units WHERE (epoch, unit) IN (SELECT epoch, unit FROM units \
             WHERE exposed = 0 AND at_ms < ? LIMIT ?)",
            vec![int(now_ms.saturating_sub(UNEXPOSED_KEPT_MS)), slice.clone()],
        )?;
        let now_minute = now_ms / 60_000;
        let old_minute = now_minute.saturating_sub(MINUTES_KEPT);
        let old: Vec<(u64, SeriesRow)> = {
            #[derive(Deserialize)]
            struct Row {
                epoch: u64,
                minute: u64,
                arm: String,
                tally: String,
            }
            let rows: Vec<Row> = sql
                .exec(
                    "SELECT epoch, minute, arm, tally FROM minutes WHERE minute < ? LIMIT ?",
                    vec![int(old_minute), slice.clone()],
                )?
                .to_array()?;
            rows.into_iter()
                .map(|r| {
                    let row = SeriesRow {
                        minute: r.minute,
                        arm: r.arm,
                        tally: r.tally,
                    };
                    (r.epoch, row)
                })
                .collect()
        };
        let mut hours: BTreeMap<(u64, u64, String), ArmTally> = BTreeMap::new();
        for (e, r) in &old {
            let t: ArmTally = json(&r.tally)?;
            let key = (*e, r.minute / 60, r.arm.clone());
            let hour = match hours.entry(key) {
                Entry::Occupied(h) => h.into_mut(),
                Entry::Vacant(h) => {
                    let known = self.series_row(Rows::Hours, *e, r.minute / 60, &r.arm)?;
                    h.insert(known)
                }
            };
            hour.merge(&t);
        }
        for ((e, hour, arm), t) in &hours {
            sql.exec(
                "INSERT INTO hours (epoch, hour, arm, tally) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (epoch, hour, arm) DO UPDATE SET tally = excluded.tally",
                vec![int(*e), int(*hour), arm.as_str().into(), text(t)?.into()],
            )?;
        }
        for (e, r) in &old {
            sql.exec(
                "DELETE FROM minutes WHERE epoch = ? AND minute = ? AND arm = ?",
                vec![int(*e), int(r.minute), r.arm.as_str().into()],
            )?;
        }
        sql.exec(
            "DELETE FROM hours WHERE hour < ?",
            vec![int((now_minute / 60).saturating_sub(HOURS_KEPT))],
        )?;
        sql.exec(
            "DELETE FROM tally WHERE epoch < ?",
            vec![int(previous.unwrap_or(epoch).min(epoch))],
        )?;
        let left: Vec<CountRow> = sql
            .exec(
                "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM units WHERE epoch < ?1 LIMIT 1)) + \
                 (SELECT COUNT(*) FROM (SELECT 1 FROM nets WHERE epoch < ?1 LIMIT 1)) + \
                 (SELECT COUNT(*) FROM (SELECT 1 FROM minutes WHERE minute < ?2 LIMIT 1)) AS n",
                vec![int(epoch), int(old_minute)],
            )?
            .to_array()?;
        Ok(left.first().is_some_and(|r| r.n > 0))
    }

    /// One row of the series of the window `epoch` (`minutes`), or of its roll-up (`hours`,
    /// by hour).
    pub(super) fn series_row(
        &self,
        table: Rows,
        epoch: u64,
        at: u64,
        arm: &str,
    ) -> Result<ArmTally> {
        let q = match table {
            Rows::Minutes => {
                "SELECT tally AS v FROM minutes WHERE epoch = ? AND minute = ? AND arm = ?"
            }
            Rows::Hours => "SELECT tally AS v FROM hours WHERE epoch = ? AND hour = ? AND arm = ?",
        };
        Ok(self
            .one(q, vec![int(epoch), int(at), arm.into()])?
            .unwrap_or_default())
    }
}

/// The two tables of a series.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rows {
    /// Per minute, 48 hours.
    Minutes,
    /// Per hour, 35 days.
    Hours,
}
