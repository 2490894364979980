//! What a guard says: its state, the action it takes, the figures it decided on (typed per
//! guard), which evidence decided (`pilot_gate_core::evidence::provenance`) and, when it is
//! undecided or took a milder action than its own, why ([`Note`]); and what every guard reads
//! ([`Setting`], [`Evidence`]). The guards themselves live beside it (`guards`,
//! `error_guards`, `guardrail`), and all of them depend on this module, never on each other.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::control::sequential::{per_window, Start};
use crate::control::tally::{Arm, Arms};
use crate::evidence::metric::Metrics;
use crate::evidence::provenance::Provenance;

/// A guard's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardState {
    /// Satisfied: no objection to advancing.
    Healthy,
    /// Not enough evidence either way yet: advancing waits.
    Undecided,
    /// Holds the plan (no advance), never rolls back.
    Hold,
    /// Acts: see [`Verdict::action`].
    Tripped,
    /// Does not apply here (a tier without a random share, no expected share).
    NotApplicable,
}

/// What a tripped guard does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Action {
    /// Back to tier 0.
    Rollback,
    /// Hold the tier.
    Pause,
    /// Everyone gets this variant.
    Fallback {
        /// The variant.
        variant: String,
    },
    /// Down to a lower tier.
    #[serde(rename_all = "camelCase")]
    StepBack {
        /// The tier.
        to_tier: usize,
    },
}

impl Action {
    /// Its name in the audit log and `/metrics`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Rollback => "rollback",
            Action::Pause => "pause",
            Action::Fallback { .. } => "fallback",
            Action::StepBack { .. } => "step_back",
        }
    }
}

impl GuardState {
    /// Its name in the API and in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardState::Healthy => "healthy",
            GuardState::Undecided => "undecided",
            GuardState::Hold => "hold",
            GuardState::Tripped => "tripped",
            GuardState::NotApplicable => "not_applicable",
        }
    }
}

/// Which guard a verdict is of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum GuardKind {
    /// The comparative sequential test.
    Comparative,
    /// The absolute breaker.
    Breaker,
    /// The sample-ratio hold.
    SampleRatio,
    /// The no-data hold.
    NoData,
    /// A guardrail, by its [`Guardrail::name`].
    Guardrail(String),
}

impl GuardKind {
    /// Its name: `comparative`, `breaker`, `sample_ratio`, `no_data` or `guardrail:<name>`.
    pub fn name(&self) -> String {
        match self {
            GuardKind::Comparative => "comparative".into(),
            GuardKind::Breaker => "breaker".into(),
            GuardKind::SampleRatio => "sample_ratio".into(),
            GuardKind::NoData => "no_data".into(),
            GuardKind::Guardrail(name) => format!("guardrail:{name}"),
        }
    }

    /// The kind a [`GuardKind::name`] names.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "comparative" => GuardKind::Comparative,
            "breaker" => GuardKind::Breaker,
            "sample_ratio" => GuardKind::SampleRatio,
            "no_data" => GuardKind::NoData,
            other => GuardKind::Guardrail(other.strip_prefix("guardrail:")?.to_owned()),
        })
    }
}

impl Serialize for GuardKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for GuardKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        GuardKind::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown guard {name:?}")))
    }
}

/// Where a stretch of evidence begins: `null` for the whole window, else the minute (since the
/// epoch) of the units first exposed earliest in it.
pub(crate) fn from_minute(start: Start, window_start_min: u64) -> Option<u64> {
    match start {
        Start::Window => None,
        Start::Minute(j) => Some(window_start_min + j),
    }
}

/// The comparative test's figures: units and units with an error per arm over the stretch it
/// decided on (or the whole window), its statistic and threshold, and what "healthy" reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComparativeFigures {
    /// Which errors these are: `edge` (server errors, when an upstream answered both arms) or
    /// `client` (client `error` events, one unit per net).
    pub provenance: Provenance,
    /// Exposed pilot units in the stretch (for `client`, one per net).
    pub pilot_exposures: u64,
    /// Exposed control units in the stretch.
    pub control_exposures: u64,
    /// Pilot units with an error.
    pub pilot_errors: u64,
    /// Control units with an error.
    pub control_errors: u64,
    /// The stretch's first minute (`None`: the whole window).
    pub from_minute: Option<u64>,
    /// Λ over the stretch, the log-likelihood ratio (`None` while an arm has no units).
    pub lambda: Option<f64>,
    /// Acts at or above (the stretch's share of the window's α).
    pub upper: f64,
    /// Λ over the whole window.
    pub window_lambda: Option<f64>,
    /// Λ over the units first seen in the last `recentMin` minutes.
    pub recent_lambda: Option<f64>,
    /// Healthy when both Λs are at or below: ln(β/(1−α)).
    pub lower: f64,
    /// The recent stretch, in minutes.
    pub recent_min: u64,
    /// The log e-value that the pilot's error rate is below θ (θ/2 against θ), over the window
    /// and over the recent stretch (the smaller): what "healthy" reads when neither arm has had
    /// an error.
    pub clean_ln_e: Option<f64>,
    /// Healthy then when that reaches ln(1/β).
    pub clean_threshold: f64,
    /// θ of that bound (the breaker's, or its default).
    pub max_error_rate: f64,
    /// The ratio looked for.
    pub r: f64,
    /// False-action rate over the whole plan.
    pub alpha: f64,
    /// This window's share of it.
    pub alpha_window: f64,
    /// Missed-regression rate.
    pub beta: f64,
    /// Fewest pilot errors in a stretch for an action.
    pub min_errors: u64,
}

/// The breaker's figures over the stretch it decided on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakerFigures {
    /// Which errors these are: `edge` (server errors) or `client` (client `error` events, one
    /// unit per net).
    pub provenance: Provenance,
    /// Pilot units first exposed in the stretch.
    pub pilot_exposures: u64,
    /// Of them, with an error within the tenure.
    pub pilot_errors: u64,
    /// The stretch's first minute (`None`: the whole window).
    pub from_minute: Option<u64>,
    /// The log-likelihood ratio of 2θ against θ over it (`None`: too few units anywhere).
    pub ln_e: Option<f64>,
    /// Acts at or above (the stretch's share of the window's α).
    pub threshold: Option<f64>,
    /// Pilot units in the whole window.
    pub window_exposures: u64,
    /// Of them, with an error within the tenure (of this provenance).
    pub window_errors: u64,
    /// θ.
    pub max_error_rate: f64,
    /// The rate looked for (2θ).
    pub alternative: f64,
    /// Errors count within this many minutes of the unit's first exposure.
    pub tenure_min: u64,
    /// False-action rate over the whole plan.
    pub alpha: f64,
    /// This window's share of it.
    pub alpha_window: f64,
    /// Fewest pilot units in a stretch.
    pub min_exposures: u64,
}

/// The sample-ratio hold's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SampleRatioFigures {
    /// Exposed pilot units.
    pub pilot_exposures: u64,
    /// Exposed control units.
    pub control_exposures: u64,
    /// The pilot's expected share, when known.
    pub expected_share: Option<f64>,
    /// The log Bayes factor of a mismatched split.
    pub ln_e: Option<f64>,
    /// Holds at or above: ln(1/α) of the window.
    pub threshold: f64,
    /// The chance of a hold over the whole plan while the split is right.
    pub alpha: f64,
    /// Fewest units before it speaks.
    pub min_exposures: u64,
}

/// The no-data hold's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NoDataFigures {
    /// Units first exposed in the window (both arms).
    pub exposures: u64,
    /// Fewest wanted.
    pub min_exposures: u64,
    /// The window, in minutes.
    pub window_min: u64,
}

/// The figures a guard decided on, typed per guard (serialized as the guard's own object; read
/// back by the guard's kind, see [`Verdict`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Figures {
    /// The comparative test's.
    Comparative(ComparativeFigures),
    /// The breaker's.
    Breaker(BreakerFigures),
    /// The sample-ratio hold's.
    SampleRatio(SampleRatioFigures),
    /// The no-data hold's.
    NoData(NoDataFigures),
    /// A guardrail's.
    Guardrail(GuardrailFigures),
}

pub(crate) fn num(x: Option<f64>) -> String {
    x.map_or("-".to_owned(), |x| format!("{x:.4}"))
}

impl Figures {
    /// The deciding figures in one line, for the audit log's reason.
    pub fn summary(&self) -> String {
        let since = |m: Option<u64>| match m {
            None => "the window".to_owned(),
            Some(m) => format!("units first seen from minute {m}"),
        };
        match self {
            Figures::Comparative(f) => format!(
                "Λ = {} ≥ {} over {}: {} pilot and {} control units with an error ({}) of {} and {} exposed units",
                num(f.lambda),
                num(Some(f.upper)),
                since(f.from_minute),
                f.pilot_errors,
                f.control_errors,
                f.provenance,
                f.pilot_exposures,
                f.control_exposures
            ),
            Figures::Breaker(f) => format!(
                "ln e = {} ≥ {} for an error rate of {} against {} over {}: {} of {} pilot units with an error ({}) within {} min",
                num(f.ln_e),
                num(f.threshold),
                num(Some(f.alternative)),
                num(Some(f.max_error_rate)),
                since(f.from_minute),
                f.pilot_errors,
                f.pilot_exposures,
                f.provenance,
                f.tenure_min
            ),
            Figures::SampleRatio(f) => format!(
                "{} pilot and {} control units against a share of {} (ln e = {} ≥ {})",
                f.pilot_exposures,
                f.control_exposures,
                num(f.expected_share),
                num(f.ln_e),
                num(Some(f.threshold))
            ),
            Figures::NoData(f) => format!(
                "{} units in {} min (fewest {})",
                f.exposures, f.window_min, f.min_exposures
            ),
            Figures::Guardrail(f) => f.summary(),
        }
    }
}

/// Why a guard is undecided or holds, or why it took a milder action than its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Note {
    /// Fewer units than it needs to speak.
    TooFewUnits {
        /// Units it has.
        units: u64,
        /// Units it needs.
        needs: u64,
    },
    /// An arm has no units in the window.
    EmptyArm {
        /// The arm's variant.
        arm: String,
    },
    /// No pilot unit was first seen in the recent stretch.
    NoRecentUnits {
        /// The recent stretch, in minutes.
        minutes: u64,
    },
    /// The evidence does not (yet) show that the pilot is fine, over the window and the recent
    /// stretch.
    NotShownHealthy,
    /// A crossing on client-reported evidence whose units come from fewer nets than the floor:
    /// no action.
    TooFewNets {
        /// Distinct nets among the deciding units.
        nets: u64,
        /// The floor.
        needs: u64,
    },
    /// A crossing on client-reported evidence only: paused instead of `instead`.
    ClientOnly {
        /// The action the guard takes on edge-observed evidence.
        instead: String,
    },
    /// The tier's traffic does not reach the guard's units a minute.
    Unreachable {
        /// Units with a value it needs each minute.
        needs_per_min: u64,
        /// What the last minutes gave, on average.
        has_per_min: f64,
    },
    /// The metric is not in the set.
    NoMetric {
        /// Its name.
        metric: String,
    },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::TooFewUnits { units, needs } => {
                write!(f, "too little traffic: {units} units of the {needs} it needs")
            }
            Note::EmptyArm { arm } => write!(f, "the {arm:?} arm has no units yet"),
            Note::NoRecentUnits { minutes } => {
                write!(f, "no recent stretch: no pilot unit first seen in the last {minutes} min")
            }
            Note::NotShownHealthy => {
                f.write_str("no evidence yet that the pilot is fine, over the window and recently")
            }
            Note::TooFewNets { nets, needs } => write!(
                f,
                "client-reported only, from {nets} nets (fewer than {needs}): no action"
            ),
            Note::ClientOnly { instead } => {
                write!(f, "client-reported only: paused, not {}", past_tense(instead))
            }
            Note::Unreachable {
                needs_per_min,
                has_per_min,
            } => write!(
                f,
                "the tier's traffic cannot reach it: it needs {needs_per_min} pilot units with a value a minute, the last minutes gave {has_per_min:.1}"
            ),
            Note::NoMetric { metric } => write!(f, "metric {metric:?} is not in the set"),
        }
    }
}

/// An action's name as "not …" says it.
fn past_tense(action: &str) -> &str {
    match action {
        "rollback" => "rolled back",
        "fallback" => "fallen back",
        "step_back" => "stepped back",
        other => other,
    }
}

/// One guard's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "VerdictText", rename_all = "camelCase")]
pub struct Verdict {
    /// Which guard.
    pub guard: GuardKind,
    /// Its state.
    pub state: GuardState,
    /// The figures it decided on (counts, Λ and bounds, intervals, thresholds).
    pub figures: Figures,
    /// What it does, when tripped.
    pub action: Option<Action>,
    /// Which evidence decided, when tripped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Why it is undecided, or why it took a milder action than its own (serialized with its
    /// `text`, as the audit log, `scripts/pilot` and the admin page say it).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "note_with_text"
    )]
    pub note: Option<Note>,
}

/// A note as JSON: its fields and its `text`.
fn note_with_text<S: serde::Serializer>(note: &Option<Note>, s: S) -> Result<S::Ok, S::Error> {
    let mut v = serde_json::to_value(note).map_err(serde::ser::Error::custom)?;
    if let (Some(n), Some(fields)) = (note, v.as_object_mut()) {
        fields.insert("text".into(), n.to_string().into());
    }
    v.serialize(s)
}

/// A verdict as JSON gives it: its figures are read by the guard's kind.
#[derive(Deserialize)]
struct VerdictText {
    guard: GuardKind,
    state: GuardState,
    figures: Box<serde_json::value::RawValue>,
    action: Option<Action>,
    #[serde(default)]
    provenance: Option<Provenance>,
    #[serde(default)]
    note: Option<Note>,
}

impl TryFrom<VerdictText> for Verdict {
    type Error = serde_json::Error;

    fn try_from(v: VerdictText) -> Result<Self, Self::Error> {
        let text = v.figures.get();
        let figures = match &v.guard {
            GuardKind::Comparative => Figures::Comparative(serde_json::from_str(text)?),
            GuardKind::Breaker => Figures::Breaker(serde_json::from_str(text)?),
            GuardKind::SampleRatio => Figures::SampleRatio(serde_json::from_str(text)?),
            GuardKind::NoData => Figures::NoData(serde_json::from_str(text)?),
            GuardKind::Guardrail(name) if name.contains(':') => {
                Figures::Guardrail(GuardrailFigures::Absolute(serde_json::from_str(text)?))
            }
            GuardKind::Guardrail(_) => {
                Figures::Guardrail(GuardrailFigures::Relative(serde_json::from_str(text)?))
            }
        };
        Ok(Verdict {
            guard: v.guard,
            state: v.state,
            figures,
            action: v.action,
            provenance: v.provenance,
            note: v.note,
        })
    }
}

impl Verdict {
    /// A verdict without an action or a note.
    pub fn new(guard: GuardKind, state: GuardState, figures: Figures) -> Self {
        Verdict {
            guard,
            state,
            figures,
            action: None,
            provenance: None,
            note: None,
        }
    }

    /// The same with a note.
    pub fn noted(self, note: Option<Note>) -> Self {
        Verdict { note, ..self }
    }

    /// Why this verdict stands against an advance, if it does.
    pub fn objection(&self) -> Option<String> {
        match self.state {
            GuardState::Healthy | GuardState::NotApplicable => None,
            state => Some(match &self.note {
                Some(n) => format!("guard {}: {} ({n})", self.guard.name(), state.as_str()),
                None => format!("guard {}: {}", self.guard.name(), state.as_str()),
            }),
        }
    }

    /// The audit log's reason for the action it took.
    pub fn reason(&self) -> String {
        let on = self
            .provenance
            .map_or(String::new(), |p| format!(" on {p} evidence"));
        let note = self
            .note
            .as_ref()
            .map_or(String::new(), |n| format!("; {n}"));
        format!(
            "guard {} tripped{on}: {}{note}",
            self.guard.name(),
            self.figures.summary()
        )
    }
}

/// One recent minute's figures of both arms (the units first exposed in it).
#[derive(Debug, Clone, Default)]
pub struct Minute {
    /// Minutes after the window began (0: its first minute).
    pub offset_min: u64,
    /// The pilot arm's figures.
    pub pilot: Arm,
    /// The control arm's figures.
    pub control: Arm,
}

/// The counts a flag's guards look at.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The whole window (since the current window's revision was served).
    pub since_tier: Arms,
    /// The last [`LOOKBACK_MIN`](crate::control::sequential::LOOKBACK_MIN) minutes,
    /// oldest first (minutes without units may be missing).
    pub recent: Vec<Minute>,
    /// The no-data window.
    pub no_data: Arms,
    /// The current minute, in minutes after the window began.
    pub now_offset_min: u64,
}

/// What a flag's guards need to know besides the counts.
#[derive(Debug, Clone)]
pub struct Setting<'a> {
    /// The pilot arm's variant.
    pub pilot: &'a str,
    /// The control arm's variant.
    pub control: &'a str,
    /// The plan's off variant (default of a fallback).
    pub off: &'a str,
    /// The current tier.
    pub tier: usize,
    /// Whether the tier admits a random share (above 0 %): every guard runs; else (the
    /// allowlist alone) only the breaker.
    pub random_share: bool,
    /// The ladder's tiers above 0.
    pub tiers: usize,
    /// The window's number in the plan's run (1: the first), see
    /// [`per_window`].
    pub window: u32,
    /// The minute (since the epoch) the window began.
    pub window_start_min: u64,
    /// The pilot's expected share of exposures, when known (a flag without rules of its own).
    pub expected_share: Option<f64>,
    /// The set's metrics (what the guardrails measure).
    pub metrics: &'a Metrics,
}

impl Setting<'_> {
    /// The window's share of a plan's `alpha` ([`per_window`]).
    pub fn alpha_window(&self, alpha: f64) -> f64 {
        per_window(alpha, self.window, self.tiers)
    }
}

/// One arm's side of a relative guardrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateFigures {
    /// Units in the numerator (among the denominator's).
    pub successes: u64,
    /// Units in the denominator.
    pub trials: u64,
    /// Their ratio (`None` without trials).
    pub rate: Option<f64>,
}

/// A relative guardrail's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelativeFigures {
    /// The metric.
    pub metric: String,
    /// Where its evidence comes from (`client`: the rates are over one unit per net).
    pub provenance: Provenance,
    /// The pilot's rate.
    pub pilot: RateFigures,
    /// Control's rate.
    pub control: RateFigures,
    /// The drop allowed, in percent of control's.
    pub max_drop_pct: f64,
    /// The Farrington-Manning score of a larger drop (negative: below the margin).
    pub z: Option<f64>,
    /// The log of the mixture likelihood ratio of a larger drop.
    pub ln_e: Option<f64>,
    /// `1/e`, capped at 1: an always-valid p-value at this look.
    pub p_value: Option<f64>,
    /// Trips at or above: ln(1/α) of the window.
    pub threshold: f64,
    /// The log of the mixture likelihood ratio of a pilot above the margin.
    pub healthy_ln_e: Option<f64>,
    /// Healthy at or above: ln(1/β).
    pub healthy_threshold: f64,
    /// The chance of acting over the whole plan while the drop is within the margin.
    pub alpha: f64,
    /// Fewest trials in each arm.
    pub min_trials: u64,
}

/// One minute of an absolute guardrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MinuteValue {
    /// Minutes after the window began.
    pub offset_min: u64,
    /// Pilot units with a value in it.
    pub units: u64,
    /// The pilot's value in it (`None`: none).
    pub value: Option<f64>,
}

/// An absolute guardrail's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AbsoluteFigures {
    /// The metric.
    pub metric: String,
    /// Where its evidence comes from (`client`: the values are one unit per net).
    pub provenance: Provenance,
    /// What is bounded: a quantile (`p90`) or `value`.
    pub stat: String,
    /// The bound.
    pub bound: f64,
    /// Trips above it (else below).
    pub above: bool,
    /// For how many minutes.
    pub for_min: u64,
    /// Fewest pilot units with a value in each.
    pub min_units: u64,
    /// The minutes looked at, oldest first.
    pub minutes: Vec<MinuteValue>,
    /// Pilot units with a value per minute over the recent minutes (what the tier's traffic
    /// gives).
    pub units_per_min: Option<f64>,
}

/// A guardrail's figures (read back by the guardrail's name: an absolute one's has a `:`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum GuardrailFigures {
    /// A relative guardrail's.
    Relative(RelativeFigures),
    /// An absolute guardrail's.
    Absolute(AbsoluteFigures),
}

impl GuardrailFigures {
    /// The deciding figures in one line.
    pub fn summary(&self) -> String {
        let num = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.4}"));
        match self {
            GuardrailFigures::Relative(f) => format!(
                "{}: pilot {} ({} of {}) vs control {} ({} of {}), ln e = {} ≥ {} for more than {} % below",
                f.metric,
                num(f.pilot.rate),
                f.pilot.successes,
                f.pilot.trials,
                num(f.control.rate),
                f.control.successes,
                f.control.trials,
                num(f.ln_e),
                num(Some(f.threshold)),
                f.max_drop_pct
            ),
            GuardrailFigures::Absolute(f) => {
                let values: Vec<String> = f
                    .minutes
                    .iter()
                    .map(|m| format!("{} ({} units)", num(m.value), m.units))
                    .collect();
                format!(
                    "{} {} {} {} in each of the last {} min: {}",
                    f.metric,
                    f.stat,
                    if f.above { "above" } else { "below" },
                    f.bound,
                    f.for_min,
                    values.join(", ")
                )
            }
        }
    }
}
