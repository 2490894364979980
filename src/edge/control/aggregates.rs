//! The object's exact aggregates: the seen-table that counts each event once, per-minute
//! counts per (flag, variant, name), TTV samples, beacon outcomes; the guards' evidence read
//! from them, and the `/metrics` snapshot.

use serde::Deserialize;
use serde_json::Value;
use worker::{Result, SqlStorageValue};

use crate::core::control::guards::{evaluate, window_starts, Evidence, Setting, Verdict};
use crate::core::control::state::ControlState;
use crate::core::control::tally::{arms_since, CountRows, Delta, TtvRows};
use crate::core::metrics::{FlagGauge, Snapshot, TtvHistogram, TTV_BUCKETS_MS};

use super::RolloutControl;

/// How long an event id is remembered, in ms: 8 days, beyond the queue's 4-day retention and
/// any client re-send.
pub const SEEN_TTL_MS: u64 = 8 * 86_400_000;

/// The tables of the aggregates.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS seen_at ON seen (at_ms);
CREATE TABLE IF NOT EXISTS counts (
  flag TEXT NOT NULL, minute INTEGER NOT NULL, variant TEXT NOT NULL, name TEXT NOT NULL,
  n INTEGER NOT NULL, PRIMARY KEY (flag, minute, variant, name));
CREATE TABLE IF NOT EXISTS ttv (
  flag TEXT NOT NULL, minute INTEGER NOT NULL, variant TEXT NOT NULL, ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ttv_flag ON ttv (flag, minute);
CREATE TABLE IF NOT EXISTS beacon (outcome TEXT PRIMARY KEY, n INTEGER NOT NULL);
";

#[derive(Deserialize)]
struct CountRow {
    minute: u64,
    variant: String,
    name: String,
    n: u64,
}

#[derive(Deserialize)]
struct TtvRow {
    minute: u64,
    variant: String,
    ms: u64,
}

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::from(v as i64)
}

impl RolloutControl {
    /// Counts the events of a delta that were not counted before; returns the flags touched.
    pub(super) fn count(&self, delta: &Delta, now_ms: u64) -> Result<Vec<String>> {
        let sql = self.sql();
        sql.exec(
            "DELETE FROM seen WHERE at_ms < ?",
            vec![int(now_ms.saturating_sub(SEEN_TTL_MS))],
        )?;
        let inc = delta.increments(|id| -> Result<bool> {
            let rows: Vec<Value> = sql
                .exec(
                    "INSERT INTO seen (id, at_ms) VALUES (?, ?) ON CONFLICT (id) DO NOTHING RETURNING 1 AS new",
                    vec![id.into(), int(now_ms)],
                )?
                .to_array()?;
            Ok(!rows.is_empty())
        })?;
        for ((flag, minute, variant, name), n) in &inc.counts {
            sql.exec(
                "INSERT INTO counts (flag, minute, variant, name, n) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (flag, minute, variant, name) DO UPDATE SET n = n + excluded.n",
                vec![
                    flag.as_str().into(),
                    int(*minute),
                    variant.as_str().into(),
                    name.as_str().into(),
                    int(*n),
                ],
            )?;
        }
        for (flag, minute, variant, ms) in &inc.ttv {
            sql.exec(
                "INSERT INTO ttv (flag, minute, variant, ms) VALUES (?, ?, ?, ?)",
                vec![
                    flag.as_str().into(),
                    int(*minute),
                    variant.as_str().into(),
                    int(*ms),
                ],
            )?;
        }
        self.add_outcomes(&[("accepted".to_owned(), inc.accepted)])?;
        Ok(inc.flags())
    }

    /// Adds beacon outcomes (accepted requests, and rejections the isolates report).
    pub(super) fn add_outcomes(&self, outcomes: &[(String, u64)]) -> Result<()> {
        for (outcome, n) in outcomes.iter().filter(|(_, n)| *n > 0) {
            self.sql().exec(
                "INSERT INTO beacon (outcome, n) VALUES (?, ?) \
                 ON CONFLICT (outcome) DO UPDATE SET n = n + excluded.n",
                vec![outcome.as_str().into(), int(*n)],
            )?;
        }
        Ok(())
    }

    /// Rows of `flag` from `from_minute` on: counts and TTV samples, each with its minute.
    pub(super) fn rows(&self, flag: &str, from_minute: u64) -> Result<(CountRows, TtvRows)> {
        let counts: Vec<CountRow> = self
            .sql()
            .exec(
                "SELECT minute, variant, name, n FROM counts WHERE flag = ? AND minute >= ?",
                vec![flag.into(), int(from_minute)],
            )?
            .to_array()?;
        let ttv: Vec<TtvRow> = self
            .sql()
            .exec(
                "SELECT minute, variant, ms FROM ttv WHERE flag = ? AND minute >= ?",
                vec![flag.into(), int(from_minute)],
            )?
            .to_array()?;
        Ok((
            counts
                .into_iter()
                .map(|r| (r.minute, r.variant, r.name, r.n))
                .collect(),
            ttv.into_iter()
                .map(|r| (r.minute, r.variant, r.ms))
                .collect(),
        ))
    }

    /// Every guard's verdict on `key` now (empty without guards or at tier 0).
    pub(super) fn verdicts(
        &self,
        state: &ControlState,
        key: &str,
        now_ms: u64,
    ) -> Result<Vec<Verdict>> {
        let Some(flag) = state.flags.get(key) else {
            return Ok(Vec::new());
        };
        let Some(guards) = flag.plan.guards.as_ref().filter(|_| flag.plan.tier > 0) else {
            return Ok(Vec::new());
        };
        let minute = now_ms / 60_000;
        let (tier, breaker, no_data) = window_starts(guards, flag.plan.tier_since_ms, minute);
        // One read from the earliest window's start serves the three windows.
        let (counts, ttv) = self.rows(key, tier.min(breaker).min(no_data))?;
        let evidence = Evidence {
            since_tier: arms_since(&counts, &ttv, tier),
            breaker: arms_since(&counts, &ttv, breaker),
            no_data: arms_since(&counts, &ttv, no_data),
        };
        let strikes = state
            .breaker
            .get(key)
            .map_or(0, |b| b.strikes_before(minute));
        Ok(evaluate(guards, &Setting::of(flag, strikes), &evidence))
    }

    /// Notes every guarded flag's objections to an advance in `state` (no action taken).
    pub(super) fn note_verdicts(&self, state: &mut ControlState, now_ms: u64) -> Result<()> {
        let keys: Vec<String> = state.flags.keys().cloned().collect();
        for key in keys {
            let verdicts = self.verdicts(state, &key, now_ms)?;
            state.note(&key, &verdicts);
        }
        Ok(())
    }

    /// What `/metrics` shows now.
    pub(super) fn snapshot(&self, state: &ControlState, now_ms: u64) -> Result<Snapshot> {
        #[derive(Deserialize)]
        struct Event {
            flag: String,
            variant: String,
            name: String,
            n: u64,
        }
        #[derive(Deserialize)]
        struct Decision {
            flag: String,
            action: String,
            guard: Option<String>,
            n: u64,
        }
        #[derive(Deserialize)]
        struct Outcome {
            outcome: String,
            n: u64,
        }
        let sql = self.sql();
        let events: Vec<Event> = sql
            .exec(
                "SELECT flag, variant, name, SUM(n) AS n FROM counts GROUP BY flag, variant, name",
                None,
            )?
            .to_array()?;
        let le: Vec<String> = TTV_BUCKETS_MS
            .iter()
            .map(|b| format!("SUM(ms <= {b})"))
            .collect();
        let ttv_rows: Vec<Value> = sql
            .exec(
                &format!(
                    "SELECT flag, variant, COUNT(*) AS count, SUM(ms) AS sum, json_array({}) AS buckets \
                     FROM ttv GROUP BY flag, variant",
                    le.join(", ")
                ),
                None,
            )?
            .to_array()?;
        let decisions: Vec<Decision> = sql
            .exec(
                "SELECT flag, json_extract(entry, '$.action') AS action, \
                 json_extract(entry, '$.evidence.guard') AS guard, COUNT(*) AS n FROM audit \
                 WHERE json_extract(entry, '$.actor') = 'guard' GROUP BY 1, 2, 3",
                None,
            )?
            .to_array()?;
        let beacon: Vec<Outcome> = sql
            .exec("SELECT outcome, n FROM beacon ORDER BY outcome", None)?
            .to_array()?;
        let mut guards = Vec::new();
        for key in state.flags.keys() {
            for v in self.verdicts(state, key, now_ms)? {
                let st = serde_json::to_value(v.state)
                    .ok()
                    .and_then(|s| s.as_str().map(str::to_owned))
                    .unwrap_or_default();
                guards.push((key.clone(), v.guard, st));
            }
        }
        let published: u64 = self
            .meta("published")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let published_at: Option<u64> = self.meta("published_at")?.and_then(|v| v.parse().ok());
        let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let text = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(Snapshot {
            flags: state
                .flags
                .iter()
                .map(|(k, f)| FlagGauge {
                    flag: k.clone(),
                    tier: f.plan.tier,
                    pct: f.plan.pct(),
                    status: f.plan.status.as_str(),
                })
                .collect(),
            killed: state.kill.is_some(),
            events: events
                .into_iter()
                .map(|e| (e.flag, e.variant, e.name, e.n))
                .collect(),
            ttv: ttv_rows
                .iter()
                .map(|r| TtvHistogram {
                    flag: text(r, "flag"),
                    variant: text(r, "variant"),
                    buckets: serde_json::from_str::<Vec<u64>>(
                        r.get("buckets").and_then(Value::as_str).unwrap_or("[]"),
                    )
                    .unwrap_or_default(),
                    count: num(r, "count"),
                    sum_ms: num(r, "sum"),
                })
                .collect(),
            guards,
            decisions: decisions
                .into_iter()
                .map(|d| (d.flag, d.action, d.guard.unwrap_or_default(), d.n))
                .collect(),
            beacon: beacon.into_iter().map(|b| (b.outcome, b.n)).collect(),
            revision: state.revision,
            published_revision: published,
            published_age_s: published_at.map(|t| now_ms.saturating_sub(t) / 1000),
        })
    }
}
