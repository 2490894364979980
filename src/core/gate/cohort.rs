//! Rollout config + identity -> cohort decision.

use serde::Serialize;

use crate::core::gate::bucket::{in_rollout, MAX_BASIS_POINTS};
use crate::core::gate::identity::{Identity, KeySource};

/// The flag key of the pilot rollout; bucketing keys are `"pilot" + targeting_key`.
pub const PILOT_FLAG: &str = "pilot";
/// Name of the script-readable cohort cookie.
pub const COHORT_COOKIE: &str = "pilot_cohort";

/// The cohort a visitor is in for a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cohort {
    /// Inside the rollout: gated routes pass through.
    Pilot,
    /// Outside the rollout: gated routes redirect.
    Control,
}

impl Cohort {
    /// The cookie value.
    pub fn as_str(self) -> &'static str {
        match self {
            Cohort::Pilot => "pilot",
            Cohort::Control => "control",
        }
    }
}

/// Where the effective rollout came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutSource {
    /// `PILOT_ROLLOUT_PCT` from the worker's vars.
    Vars,
    /// Config published by the control plane (next stage).
    Stored,
    /// `PILOT_ROLLOUT_PCT=0`: the emergency kill switch, which wins over stored config.
    KillSwitch,
}

/// Rollout state published by the control plane. The control-plane stage fills this from KV;
/// until then the worker passes `None` and the vars decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRollout {
    /// Rollout of the `pilot` flag in basis points.
    pub basis_points: u32,
}

/// The rollout in force for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// Flag key.
    pub flag: &'static str,
    /// Rollout in basis points, 0..=10 000.
    pub basis_points: u32,
    /// Where it came from.
    pub source: RolloutSource,
}

/// The seam where stored config plugs in: `vars_bp` of 0 is the kill switch and always wins;
/// otherwise stored config (when present) wins over the vars.
pub fn effective_rollout(vars_bp: u32, stored: Option<StoredRollout>) -> Rollout {
    let (basis_points, source) = match (vars_bp, stored) {
        (0, _) => (0, RolloutSource::KillSwitch),
        (_, Some(s)) => (s.basis_points.min(MAX_BASIS_POINTS), RolloutSource::Stored),
        (bp, None) => (bp.min(MAX_BASIS_POINTS), RolloutSource::Vars),
    };
    Rollout {
        flag: PILOT_FLAG,
        basis_points,
        source,
    }
}

/// The cohort of an identity under a rollout. Bots are always control.
pub fn decide(rollout: &Rollout, identity: &Identity) -> Cohort {
    if identity.source == KeySource::Bot {
        return Cohort::Control;
    }
    if in_rollout(rollout.flag, &identity.targeting_key, rollout.basis_points) {
        Cohort::Pilot
    } else {
        Cohort::Control
    }
}
