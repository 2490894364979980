//! What an evidence object knows of its flag's plan (a [`Watch`]): enough to open the window of
//! the current tier, evaluate the guards over the per-unit tally, and answer the stats API. The
//! control plane sends one with every change of the flag (and on request); the evidence object
//! calls the control plane back only to act.

use serde::{Deserialize, Serialize};

use crate::control::automatic::{all_healthy, may_climb};
use crate::control::guards::{
    evaluate, no_data_window, Evidence, Guards, Minute, Setting, Verdict,
};
use crate::control::plan::Status;
use crate::control::sequential::LOOKBACK_MIN;
use crate::control::state::ControlState;
use crate::control::tally::{arms_of, Arm};
use crate::evidence::metric::{self, Metrics};
use crate::evidence::tally::{arms_since, Series, Tally};

/// A flag's plan as its evidence object sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Watch {
    /// The flag's key.
    pub flag: String,
    /// The pilot arm's variant (the plan's `on`).
    pub pilot: String,
    /// The control arm's variant (the plan's `off`).
    pub control: String,
    /// The current tier.
    pub tier: usize,
    /// Its share, in percent.
    pub pct: u8,
    /// The ladder's tiers above 0 (a guard's α is shared among them).
    #[serde(default = "default_tiers")]
    pub tiers: usize,
    /// The plan's status.
    pub status: Status,
    /// The flag set's revision that began the tier: exposures served under an older one are
    /// not this window's.
    pub tier_revision: u64,
    /// When the tier began, in ms since the epoch (the dwell clock).
    pub tier_since_ms: u64,
    /// When the evidence window began, in ms since the epoch: the tier's start or a later
    /// change of the share it serves.
    #[serde(default)]
    pub window_since_ms: u64,
    /// The window's number in the plan's run (its share of the guards' α).
    #[serde(default = "first_window")]
    pub window: u32,
    /// The plan may climb by itself onto its next tier (`autoAdvance`, not manual).
    #[serde(default)]
    pub auto_advance: bool,
    /// The dwell time before an advance, in seconds.
    #[serde(default)]
    pub min_dwell_s: u64,
    /// The plan's guards (none: nothing is automatic).
    pub guards: Option<Guards>,
    /// The set's metrics (what the stats API shows and the guardrails measure).
    #[serde(default, deserialize_with = "metric::deserialize")]
    pub metrics: Metrics,
    /// The pilot's expected share of units, when known (a flag without rules of its own).
    pub expected_share: Option<f64>,
    /// Whether the kill switch is on.
    pub killed: bool,
    /// The control plane's revision when this was taken.
    pub revision: u64,
}

impl Watch {
    /// The watch of `key` in `state`, if the flag exists.
    pub fn of(state: &ControlState, key: &str) -> Option<Self> {
        let flag = state.flags.get(key)?;
        let plan = &flag.plan;
        Some(Watch {
            flag: key.to_owned(),
            pilot: plan.on.clone(),
            control: plan.off.clone(),
            tier: plan.tier,
            pct: plan.pct(),
            tiers: plan.top(),
            status: plan.status,
            tier_revision: plan.tier_revision,
            tier_since_ms: plan.tier_since_ms,
            window_since_ms: plan.window_start_ms(),
            window: plan.window,
            auto_advance: may_climb(plan),
            min_dwell_s: plan.min_dwell_s,
            guards: plan.guards.clone(),
            metrics: state.metrics.clone(),
            expected_share: flag
                .own_rule()
                .is_none()
                .then(|| f64::from(plan.pct()) / 100.0),
            killed: state.kill.is_some(),
            revision: state.revision,
        })
    }

    /// Whether the guards watch this flag now: it has guards, is above tier 0, and is not
    /// killed.
    pub fn guarded(&self) -> bool {
        self.guards.is_some() && self.tier > 0 && !self.killed
    }

    /// Whether the control plane should be asked to climb a tier at `now_ms`: the plan may
    /// climb, the dwell time is met and every guard is healthy (it checks all of it again).
    pub fn ready_to_climb(&self, verdicts: &[Verdict], now_ms: u64) -> bool {
        let dwelt = now_ms >= self.tier_since_ms + self.min_dwell_s * 1000;
        self.auto_advance && !self.killed && dwelt && all_healthy(verdicts)
    }

    /// When the window began, in ms since the epoch.
    pub fn window_start_ms(&self) -> u64 {
        self.window_since_ms.max(self.tier_since_ms)
    }

    /// The minute (since the epoch) the window began.
    pub fn window_start_min(&self) -> u64 {
        self.window_start_ms() / 60_000
    }

    /// The first minute of the series a check at `now_minute` reads: the guards' recent
    /// stretches and the no-data window.
    pub fn series_from(&self, now_minute: u64) -> u64 {
        let reach = self
            .guards
            .as_ref()
            .map_or(1, no_data_window)
            .max(LOOKBACK_MIN);
        now_minute.saturating_sub(reach - 1)
    }

    /// Every guard's verdict at `now_minute` over the window's tally and per-minute series
    /// (from at least [`Watch::series_from`]; empty when [`Watch::guarded`] is false).
    pub fn verdicts(&self, tally: &Tally, series: &Series, now_minute: u64) -> Vec<Verdict> {
        let Some(guards) = self.guards.as_ref().filter(|_| self.guarded()) else {
            return Vec::new();
        };
        let back = |w: u64| now_minute.saturating_sub(w.saturating_sub(1));
        let start = self.window_start_min();
        let mut recent: Vec<Minute> = Vec::new();
        for ((minute, variant), t) in series.range((back(LOOKBACK_MIN), String::new())..) {
            let offset_min = minute.saturating_sub(start);
            if recent.last().is_none_or(|m| m.offset_min != offset_min) {
                recent.push(Minute {
                    offset_min,
                    ..Minute::default()
                });
            }
            if let Some(m) = recent.last_mut() {
                if *variant == self.pilot {
                    m.pilot = Arm::of(t);
                } else if *variant == self.control {
                    m.control = Arm::of(t);
                }
            }
        }
        let evidence = Evidence {
            since_tier: arms_of(&tally.arms),
            recent,
            no_data: arms_of(&arms_since(series, back(no_data_window(guards)))),
            now_offset_min: now_minute.saturating_sub(start),
        };
        let setting = Setting {
            pilot: &self.pilot,
            control: &self.control,
            off: &self.control,
            tier: self.tier,
            random_share: self.pct > 0,
            tiers: self.tiers,
            window: self.window,
            window_start_min: start,
            expected_share: self.expected_share,
            metrics: &self.metrics,
        };
        evaluate(guards, &setting, &evidence)
    }
}

fn default_tiers() -> usize {
    4
}

fn first_window() -> u32 {
    1
}

/// What an evidence object tells the control plane: the verdicts on one window of its flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardReport {
    /// The flag.
    pub flag: String,
    /// The window's first revision (the control plane ignores verdicts on an older window).
    pub tier_revision: u64,
    /// Every guard's verdict.
    pub verdicts: Vec<Verdict>,
}

/// The control plane's answer to a [`GuardReport`] with a tripped guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acted {
    /// The flag's watch afterwards (a new window after a rollback).
    pub watch: Option<Watch>,
    /// Whether it acted (false when the report was on an older window).
    pub acted: bool,
}
