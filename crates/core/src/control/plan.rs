//! A flag under the control plane: its flagd definition and its rollout plan (the tier ladder,
//! the allow- and deny-lists, the on/off variants, the dwell time, `requires`, the status).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::control::approval::Approvals;
use crate::control::guards::Guards;

/// The default ladder, in percent of visitors per tier: 0, 1 (+ allowlist), 10, 50, 100.
pub const DEFAULT_LADDER_PCT: [u8; 5] = [0, 1, 10, 50, 100];
/// The default minimum time at a tier before `advance`, in seconds.
pub const DEFAULT_MIN_DWELL_S: u64 = 3600;

/// Where a plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, never started: tier 0.
    Draft,
    /// Climbing the ladder.
    Active,
    /// Holding its tier; `advance` is refused until `resume`.
    Paused,
    /// Sent back to tier 0 with a reason; `start` begins again at tier 1.
    RolledBack,
    /// At the top tier.
    Complete,
}

impl Status {
    /// The name the API and the audit log use.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::RolledBack => "rolled_back",
            Status::Complete => "complete",
        }
    }
}

/// A rollout plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Percent of visitors admitted at each tier; starts at 0, ends at 100, strictly rising.
    pub ladder_pct: Vec<u8>,
    /// The current tier, an index into `ladder_pct`.
    pub tier: usize,
    /// Targeting keys admitted from tier 1 on, whatever their bucket.
    pub allow: Vec<String>,
    /// Targeting keys never admitted (deny wins over allow).
    pub deny: Vec<String>,
    /// The variant of a visitor in the rollout (when the definition has no targeting of its own).
    /// Empty for none (`"on": null`, or a flag with neither a `true` variant nor a default):
    /// the visitor gets the caller's own default, as flagd answers a flag without a default
    /// variant (reason `DEFAULT`, no value).
    pub on: String,
    /// The variant of everyone else, and of everyone when killed or at tier 0; empty for none,
    /// as [`Plan::on`].
    pub off: String,
    /// Minimum time at a tier before `advance`, in seconds.
    pub min_dwell_s: u64,
    /// Flags that must be on for the same context before this one can be.
    pub requires: Vec<String>,
    /// Where the plan stands.
    pub status: Status,
    /// When the current tier began, in ms since the epoch.
    pub tier_since_ms: u64,
    /// The revision of the flag set that began the current tier: the evidence counts what the
    /// edge served under it and later ones (exposures carry the revision they were served
    /// under), so a new tier, a restart or a rollback starts a new window.
    #[serde(default)]
    pub tier_revision: u64,
    /// When the current evidence window began, in ms since the epoch: the tier's start, or a
    /// later change of the share it serves (a ladder edit, `requires`, targeting, a kill).
    #[serde(default)]
    pub window_since_ms: u64,
    /// The current window's number in the plan's run (1: the first; a run begins when the plan
    /// leaves tier 0): each window spends its own share of the guards' α.
    #[serde(default = "first_window")]
    pub window: u32,
    /// The guards that watch this plan (none: nothing is automatic and nothing holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guards: Option<Guards>,
    /// Climb by itself (see [`AutoAdvance`]); `None`: only operators advance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_advance: Option<AutoAdvance>,
    /// Commands that need other operators' approval (see [`Approvals`]); `None`: none do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<Approvals>,
    /// The variant everyone gets after a guardrail's `fallback` (at tier 0, instead of `off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// What the guards hold against an advance now, as the object last evaluated them (not
    /// stored: the object evaluates the guards again before it answers).
    #[serde(skip)]
    pub objections: Vec<String>,
}

fn first_window() -> u32 {
    1
}

impl Plan {
    /// When the current evidence window began, in ms since the epoch.
    pub fn window_start_ms(&self) -> u64 {
        self.window_since_ms.max(self.tier_since_ms)
    }

    /// The share of visitors admitted at the current tier, in percent.
    pub fn pct(&self) -> u8 {
        self.ladder_pct.get(self.tier).copied().unwrap_or(0)
    }

    /// The index of the top tier (100 %).
    pub fn top(&self) -> usize {
        self.ladder_pct.len().saturating_sub(1)
    }

    /// Status, tier and share, as the audit log records a state.
    pub fn snapshot(&self) -> Value {
        serde_json::json!({"status": self.status, "tier": self.tier, "pct": self.pct()})
    }
}

/// `autoAdvance`: the control plane climbs one tier by itself (actor `system`, the guards'
/// verdicts as evidence) when the dwell time is met and every guard is healthy, never onto a
/// tier listed in `manualTiers` (an operator advances there).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AutoAdvance {
    /// Tiers that only an operator may advance onto.
    pub manual_tiers: Vec<usize>,
}

/// A flag under control: its definition, its plan and its revision (the `ETag` of the flag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlledFlag {
    /// The flagd flag definition as the operator wrote it.
    pub definition: Value,
    /// Its rollout plan.
    pub plan: Plan,
    /// Bumped by every change of this flag; `If-Match` compares it.
    pub revision: u64,
}

/// Whether a `targeting` value is a rule (flagd treats `null` and `{}` as none).
pub fn is_rule(targeting: &Value) -> bool {
    !targeting.is_null() && targeting.as_object().is_none_or(|o| !o.is_empty())
}

impl ControlledFlag {
    /// The flag's own targeting rule, if its definition has one.
    pub fn own_rule(&self) -> Option<&Value> {
        self.definition.get("targeting").filter(|t| is_rule(t))
    }

    /// The flag's `ETag`.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.revision)
    }

    /// The variant whose value is `want` (a boolean flag's on/off), else the default variant.
    pub fn variant_valued(definition: &Value, want: bool) -> Option<String> {
        let variants = definition.get("variants")?.as_object()?;
        variants
            .iter()
            .find(|(_, v)| v.as_bool() == Some(want))
            .map(|(k, _)| k.clone())
            .or_else(|| {
                definition
                    .get("defaultVariant")?
                    .as_str()
                    .map(str::to_owned)
            })
    }
}
