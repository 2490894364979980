//! What the control plane keeps besides its state: the guards' latest verdicts per flag (as
//! each flag's evidence object reported them: the objections to an advance and the states
//! `/metrics` shows), automatic decisions counted by flag, action and guard, the beacon's
//! outcomes, the isolates' answers by route and status class and the ingest latency; and the `/metrics` snapshot, with each flag's per-unit figures read from its
//! evidence object.

use serde::Deserialize;
use worker::{Method, Result, SqlStorage, SqlStorageValue};

use pilot_gate_core::control::automatic::Decision;
use pilot_gate_core::control::guards::Verdict;
use pilot_gate_core::control::state::ControlState;
use pilot_gate_core::events::latency::Latency;
use pilot_gate_core::evidence::tally::EvidenceFigures;
use pilot_gate_core::http::answers::AnswerCounts;
use pilot_gate_core::metrics::{ArmGauge, FlagGauge, Snapshot};
use pilot_gate_shell::{internal, log};

use super::RolloutControl;

/// The tables of the verdicts, the decisions and the beacon's outcomes.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS verdicts (
  flag TEXT PRIMARY KEY, tier_revision INTEGER NOT NULL, verdicts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
  flag TEXT NOT NULL, action TEXT NOT NULL, guard TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (flag, action, guard));
CREATE TABLE IF NOT EXISTS beacon (outcome TEXT PRIMARY KEY, n INTEGER NOT NULL);
DROP TABLE IF EXISTS seen;
DROP TABLE IF EXISTS counts;
DROP TABLE IF EXISTS ttv;
";

/// The objection while a guarded flag's evidence has not judged its current tier yet.
pub const NOT_YET_JUDGED: &str = "guards: no verdict on this tier yet";

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::from(v as i64)
}

#[derive(Deserialize)]
struct VerdictRow {
    flag: String,
    tier_revision: u64,
    verdicts: String,
}

/// Keeps a flag's verdicts on the window that began at `tier_revision`.
pub fn keep_verdicts(
    sql: &SqlStorage,
    flag: &str,
    tier_revision: u64,
    verdicts: &[Verdict],
) -> Result<()> {
    let text =
        serde_json::to_string(verdicts).map_err(|e| worker::Error::RustError(e.to_string()))?;
    sql.exec(
        "INSERT INTO verdicts (flag, tier_revision, verdicts) VALUES (?, ?, ?) \
         ON CONFLICT (flag) DO UPDATE SET tier_revision = excluded.tier_revision, \
         verdicts = excluded.verdicts",
        vec![flag.into(), int(tier_revision), text.into()],
    )?;
    Ok(())
}

impl RolloutControl {
    /// Every flag's latest verdicts, when they are on its current tier.
    pub(super) fn current_verdicts(
        &self,
        state: &ControlState,
    ) -> Result<Vec<(String, Vec<Verdict>)>> {
        let rows: Vec<VerdictRow> = self
            .sql()
            .exec("SELECT flag, tier_revision, verdicts FROM verdicts", None)?
            .to_array()?;
        Ok(rows
            .into_iter()
            .filter(|r| {
                state
                    .flags
                    .get(&r.flag)
                    .is_some_and(|f| f.plan.tier_revision == r.tier_revision)
            })
            .filter_map(|r| Some((r.flag, serde_json::from_str(&r.verdicts).ok()?)))
            .collect())
    }

    /// Notes in `state` what the guards hold against an advance of each flag: its evidence's
    /// latest verdicts on the current tier, or, for a guarded flag without any yet,
    /// [`NOT_YET_JUDGED`].
    pub(super) fn note_verdicts(&self, state: &mut ControlState) -> Result<()> {
        let verdicts = self.current_verdicts(state)?;
        for (key, flag) in state.flags.iter_mut() {
            let guarded = flag.plan.guards.is_some() && flag.plan.tier > 0;
            flag.plan.objections = match verdicts.iter().find(|(k, _)| k == key) {
                Some((_, v)) => v.iter().filter_map(Verdict::objection).collect(),
                None if guarded => vec![NOT_YET_JUDGED.to_owned()],
                None => Vec::new(),
            };
        }
        Ok(())
    }

    /// Counts an automatic decision.
    pub(super) fn count_decision(&self, flag: &str, d: &Decision) -> Result<()> {
        self.sql().exec(
            "INSERT INTO decisions (flag, action, guard, n) VALUES (?, ?, ?, 1) \
             ON CONFLICT (flag, action, guard) DO UPDATE SET n = n + 1",
            vec![flag.into(), d.action.into(), d.guard.name().into()],
        )?;
        Ok(())
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

    /// Adds the isolates' answers by route and status class (one row of a dozen routes).
    pub(super) fn add_answers(&self, answers: &AnswerCounts) -> Result<()> {
        if answers.is_empty() {
            return Ok(());
        }
        let mut kept: AnswerCounts = self.meta_json("answers")?.unwrap_or_default();
        kept.merge(answers);
        self.set_meta_json("answers", &kept)
    }

    /// Adds a batch's ingest latencies (one row of fixed buckets).
    pub(super) fn add_ingest(&self, latency: &Latency) -> Result<()> {
        let mut kept: Latency = self.meta_json("ingest")?.unwrap_or_default();
        kept.merge(latency);
        self.set_meta_json("ingest", &kept)
    }

    pub(super) fn meta_json<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>> {
        Ok(self
            .meta(name)?
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    pub(super) fn set_meta_json<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let text =
            serde_json::to_string(value).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.set_meta(name, &text)
    }

    /// What `/metrics` shows now: the state, the verdicts, the decisions, the beacon's
    /// outcomes, and each flag's per-unit figures from its evidence object (a flag whose object
    /// does not answer is left out of those, and logged).
    pub(super) async fn snapshot(&self, state: &ControlState, now_ms: u64) -> Result<Snapshot> {
        #[derive(Deserialize)]
        struct Counted {
            flag: String,
            action: String,
            guard: String,
            n: u64,
        }
        #[derive(Deserialize)]
        struct Outcome {
            outcome: String,
            n: u64,
        }
        let sql = self.sql();
        let decisions: Vec<Counted> = sql
            .exec("SELECT flag, action, guard, n FROM decisions", None)?
            .to_array()?;
        let beacon: Vec<Outcome> = sql
            .exec("SELECT outcome, n FROM beacon ORDER BY outcome", None)?
            .to_array()?;
        let guards = self
            .current_verdicts(state)?
            .into_iter()
            .flat_map(|(flag, verdicts)| {
                verdicts
                    .into_iter()
                    .map(move |v| (flag.clone(), v.guard.name(), v.state.as_str().to_owned()))
            })
            .collect();
        let mut arms = Vec::new();
        let mut mixed = Vec::new();
        let mut outside = Vec::new();
        let mut storage = Vec::new();
        for key in state.flags.keys() {
            let figures = async {
                let stub = internal::evidence(&self.env, key)?;
                let text =
                    internal::call(&stub, Method::Get, &format!("figures/{key}"), None).await?;
                serde_json::from_str::<EvidenceFigures>(&text)
                    .map_err(|e| worker::Error::RustError(e.to_string()))
            };
            match figures.await {
                Ok(EvidenceFigures {
                    tally: t,
                    storage_bytes,
                }) => {
                    storage.push((key.clone(), storage_bytes));
                    mixed.push((key.clone(), t.mixed));
                    outside.push((key.clone(), t.outside));
                    arms.extend(t.arms.into_iter().map(|(variant, tally)| ArmGauge {
                        flag: key.clone(),
                        variant,
                        tally,
                    }));
                }
                Err(e) => log::error(key, "evidence_unavailable", &e.to_string()),
            }
        }
        let published: u64 = self
            .meta("published")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let published_at: Option<u64> = self.meta("published_at")?.and_then(|v| v.parse().ok());
        Ok(Snapshot {
            metrics: state.metrics.clone(),
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
            arms,
            mixed,
            outside,
            evidence_storage_bytes: storage,
            guards,
            decisions: decisions
                .into_iter()
                .map(|d| (d.flag, d.action, d.guard, d.n))
                .collect(),
            beacon: beacon.into_iter().map(|b| (b.outcome, b.n)).collect(),
            answers: self.meta_json("answers")?.unwrap_or_default(),
            ingest: self.meta_json("ingest")?.unwrap_or_default(),
            reconciled: self.reconciled()?,
            dead_letters: self.dead_counts()?,
            revision: state.revision,
            published_revision: published,
            published_age_s: published_at.map(|t| now_ms.saturating_sub(t) / 1000),
        })
    }
}
