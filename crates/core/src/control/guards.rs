//! The guards of a plan and their verdicts: the comparative sequential test, the absolute
//! breaker, the sample-ratio hold, the no-data hold and guardrails on configured metrics
//! (`guardrail`). Each verdict carries its figures, so an automatic decision can be checked by
//! hand from the audit log.

use serde::{Deserialize, Serialize};

use crate::control::guardrail::{self, Guardrail, GuardrailFigures};
use crate::control::sequential::{
    ln_rate_ratio, ln_split_factor, per_tier, scan, Counts, Crossing, Start,
};
use crate::control::stats::{sprt_bounds, sprt_lambda};
use crate::control::tally::{Arm, Arms};
use crate::evidence::metric::Metrics;

/// The comparative test: roll back on evidence that the pilot's error rate is `r` times
/// control's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Comparative {
    /// The error-rate ratio the test looks for (R).
    pub r: f64,
    /// The false-rollback rate (α).
    pub alpha: f64,
    /// The missed-regression rate (β).
    pub beta: f64,
    /// Fewest pilot errors for a rollback (M).
    pub min_errors: u64,
}

impl Default for Comparative {
    fn default() -> Self {
        Self {
            r: 3.0,
            alpha: 0.01,
            beta: 0.1,
            min_errors: 3,
        }
    }
}

/// The absolute breaker: the pilot's share of units with an error above `max_error_rate` (θ),
/// by a likelihood ratio of 2θ against θ over the window and over each of its recent stretches
/// (`pilot_gate_core::control::sequential`), at `alpha` over the whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Breaker {
    /// θ, the error rate that must not be exceeded.
    pub max_error_rate: f64,
    /// The chance of a rollback over the whole plan while the pilot's rate is θ or less.
    pub alpha: f64,
    /// Fewest pilot units in a stretch before it speaks.
    pub min_exposures: u64,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            max_error_rate: 0.05,
            alpha: 0.01,
            min_exposures: 100,
        }
    }
}

impl Breaker {
    /// The error rate the breaker looks for: 2θ (or halfway to 1, for θ of a half or more).
    pub fn alternative(&self) -> f64 {
        (2.0 * self.max_error_rate).min((1.0 + self.max_error_rate) / 2.0)
    }
}

/// How strongly the sample-ratio test's alternative share is drawn to the expected one: the
/// Beta prior's total weight (Lindon and Malek's Dirichlet concentration).
pub const SPLIT_PRIOR_STRENGTH: f64 = 100.0;

/// The sample-ratio hold: units that do not match the expected share (a sequential Bayes-factor
/// test, [`ln_split_factor`]) hold the plan; they never roll it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SampleRatio {
    /// The chance of a hold over the whole plan while the split is right.
    #[serde(alias = "pValue")]
    pub alpha: f64,
    /// Fewest units before the test speaks.
    pub min_exposures: u64,
}

impl Default for SampleRatio {
    fn default() -> Self {
        Self {
            alpha: 0.001,
            min_exposures: 100,
        }
    }
}

/// The no-data hold: too few exposures in the last minutes hold the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct NoData {
    /// The window, in minutes.
    pub window_min: u64,
    /// Fewest exposures (both arms) in the window.
    pub min_exposures: u64,
}

impl Default for NoData {
    fn default() -> Self {
        Self {
            window_min: 15,
            min_exposures: 20,
        }
    }
}

/// A plan's guards; `null` turns one off. `{}` is the four defaults and no guardrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Guards {
    /// The comparative sequential test.
    pub comparative: Option<Comparative>,
    /// The absolute breaker.
    pub breaker: Option<Breaker>,
    /// The sample-ratio hold.
    pub sample_ratio: Option<SampleRatio>,
    /// The no-data hold.
    pub no_data: Option<NoData>,
    /// Guardrails on configured metrics.
    pub guardrails: Vec<Guardrail>,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            comparative: Some(Comparative::default()),
            breaker: Some(Breaker::default()),
            sample_ratio: Some(SampleRatio::default()),
            no_data: Some(NoData::default()),
            guardrails: Vec::new(),
        }
    }
}

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
    /// Does not apply here (tier 1, no expected share).
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
fn from_minute(start: Start, window_start_min: u64) -> Option<u64> {
    match start {
        Start::Window => None,
        Start::Minute(j) => Some(window_start_min + j),
    }
}

/// The comparative test's figures: units and units with an error per arm over the stretch it
/// decided on, its statistic and threshold, and the window's figures for "healthy".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComparativeFigures {
    /// Exposed pilot units in the stretch.
    pub pilot_exposures: u64,
    /// Exposed control units in the stretch.
    pub control_exposures: u64,
    /// Pilot units with an error (comparable with control's: see `errorKind`).
    pub pilot_errors: u64,
    /// Control units with an error.
    pub control_errors: u64,
    /// `all` when an upstream answered both arms, else `client` (server errors are left out
    /// when only one arm's requests reach the upstream, as on a gated route).
    pub error_kind: String,
    /// The stretch's first minute (`None`: the whole window).
    pub from_minute: Option<u64>,
    /// Λ over the stretch, the log-likelihood ratio (`None` while an arm has no units).
    pub lambda: Option<f64>,
    /// Rolls back at or above (the stretch's share of the tier's α).
    pub upper: f64,
    /// Λ over the whole window.
    pub window_lambda: Option<f64>,
    /// Healthy when the window's Λ is at or below: ln(β/(1−α)).
    pub lower: f64,
    /// The log e-value that the pilot's error rate is below θ (θ/2 against θ, over the window).
    pub clean_ln_e: Option<f64>,
    /// Healthy as well when that reaches ln(1/β).
    pub clean_threshold: f64,
    /// θ of that bound (the breaker's, or its default).
    pub max_error_rate: f64,
    /// The ratio looked for.
    pub r: f64,
    /// False-rollback rate over the whole plan.
    pub alpha: f64,
    /// This tier's share of it.
    pub alpha_tier: f64,
    /// Missed-regression rate.
    pub beta: f64,
    /// Fewest pilot errors in a stretch for a rollback.
    pub min_errors: u64,
}

/// The breaker's figures over the stretch it decided on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakerFigures {
    /// Pilot units first exposed in the stretch.
    pub pilot_exposures: u64,
    /// Of them, with an error.
    pub pilot_errors: u64,
    /// The stretch's first minute (`None`: the whole window).
    pub from_minute: Option<u64>,
    /// The log-likelihood ratio of 2θ against θ over it (`None`: too few units anywhere).
    pub ln_e: Option<f64>,
    /// Rolls back at or above (the stretch's share of the tier's α).
    pub threshold: Option<f64>,
    /// Pilot units in the whole window.
    pub window_exposures: u64,
    /// Of them, with an error.
    pub window_errors: u64,
    /// θ.
    pub max_error_rate: f64,
    /// The rate looked for (2θ).
    pub alternative: f64,
    /// False-rollback rate over the whole plan.
    pub alpha: f64,
    /// This tier's share of it.
    pub alpha_tier: f64,
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
    /// Holds at or above: ln(1/α) of the tier.
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

fn num(x: Option<f64>) -> String {
    x.map_or("-".to_owned(), |x| format!("{x:.4}"))
}

impl Figures {
    /// The deciding figures in one line, for the audit log's reason.
    pub fn summary(&self) -> String {
        let since = |m: Option<u64>| match m {
            None => "the tier's window".to_owned(),
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
                f.error_kind,
                f.pilot_exposures,
                f.control_exposures
            ),
            Figures::Breaker(f) => format!(
                "ln e = {} ≥ {} for an error rate of {} against {} over {}: {} of {} pilot units with an error",
                num(f.ln_e),
                num(f.threshold),
                num(Some(f.alternative)),
                num(Some(f.max_error_rate)),
                since(f.from_minute),
                f.pilot_errors,
                f.pilot_exposures
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

/// One guard's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "VerdictText")]
pub struct Verdict {
    /// Which guard.
    pub guard: GuardKind,
    /// Its state.
    pub state: GuardState,
    /// The figures it decided on (counts, Λ and bounds, intervals, thresholds).
    pub figures: Figures,
    /// What it does, when tripped.
    pub action: Option<Action>,
}

/// A verdict as JSON gives it: its figures are read by the guard's kind.
#[derive(Deserialize)]
struct VerdictText {
    guard: GuardKind,
    state: GuardState,
    figures: Box<serde_json::value::RawValue>,
    action: Option<Action>,
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
        })
    }
}

impl Verdict {
    /// Why this verdict stands against an advance, if it does.
    pub fn objection(&self) -> Option<String> {
        match self.state {
            GuardState::Healthy | GuardState::NotApplicable => None,
            state => Some(format!("guard {}: {}", self.guard.name(), state.as_str())),
        }
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
    /// The whole window (since the current tier's revision was served).
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
    /// The current tier (tier 1 is the allowlist: only the breaker applies).
    pub tier: usize,
    /// The ladder's tiers above 0: a test's α is shared among the tiers it applies to.
    pub tiers: usize,
    /// The minute (since the epoch) the window began.
    pub window_start_min: u64,
    /// The pilot's expected share of exposures, when known (a flag without rules of its own).
    pub expected_share: Option<f64>,
    /// The set's metrics (what the guardrails measure).
    pub metrics: &'a Metrics,
}

impl Setting<'_> {
    /// The tier's share of a plan's `alpha`: the breaker's over every tier above 0, the other
    /// tests' over the tiers above the allowlist.
    pub(crate) fn alpha_tier(&self, alpha: f64, breaker: bool) -> f64 {
        let tiers = if breaker {
            self.tiers
        } else {
            self.tiers.saturating_sub(1)
        };
        per_tier(alpha, tiers)
    }
}

/// How far back the no-data hold's window reaches, in minutes (1 when off).
pub fn no_data_window(guards: &Guards) -> u64 {
    guards.no_data.as_ref().map_or(1, |n| n.window_min)
}

/// Every guard's verdict.
pub fn evaluate(guards: &Guards, s: &Setting<'_>, e: &Evidence) -> Vec<Verdict> {
    let empty = Arm::default();
    let arm = |arms: &'_ Arms, v: &str| arms.get(v).cloned().unwrap_or_else(|| empty.clone());
    let (p, c) = (arm(&e.since_tier, s.pilot), arm(&e.since_tier, s.control));
    let allowlist_tier = s.tier <= 1;
    let mut out = Vec::new();
    if let Some(g) = &guards.comparative {
        let theta = guards
            .breaker
            .as_ref()
            .map_or(Breaker::default().max_error_rate, |b| b.max_error_rate);
        out.push(comparative(
            g,
            theta,
            s,
            (&p, &c),
            &e.recent,
            allowlist_tier,
        ));
    }
    if let Some(g) = &guards.breaker {
        out.push(breaker(g, s, &p, &e.recent));
    }
    if let Some(g) = &guards.sample_ratio {
        let share = s.expected_share.filter(|_| !allowlist_tier);
        out.push(sample_ratio(g, s, &p, &c, share));
    }
    if let Some(g) = &guards.no_data {
        let n: u64 = e.no_data.values().map(|a| a.exposures).sum();
        let state = match (allowlist_tier, n >= g.min_exposures) {
            (true, _) => GuardState::NotApplicable,
            (false, true) => GuardState::Healthy,
            (false, false) => GuardState::Hold,
        };
        out.push(Verdict {
            guard: GuardKind::NoData,
            state,
            figures: Figures::NoData(NoDataFigures {
                exposures: n,
                min_exposures: g.min_exposures,
                window_min: g.window_min,
            }),
            action: None,
        });
    }
    out.extend(guardrail::evaluate(
        &guards.guardrails,
        s.metrics,
        s,
        (&p, &c),
        &e.recent,
        e.now_offset_min,
    ));
    out
}

/// The units with an error of both arms (pilot, control) over a stretch.
type ErrorCounts = (Counts, Counts);

/// The comparative test: units with an error in each arm. Server errors count only when an
/// upstream answered both arms: on a gated route, control visitors are redirected and never
/// reach it, so their server errors cannot be seen and the pilot's alone would look like a
/// regression. The breaker, which needs no control, watches those.
///
/// Rolls back when Λ over the window or over one of its recent stretches reaches that
/// stretch's threshold (with at least `min_errors` pilot errors in it); healthy when Λ over
/// the window is at or below ln(β/(1−α)) (the SPRT's lower bound: evidence that the ratio is
/// below R), or when Λ is at most 0 and the pilot's error rate is below θ by a likelihood
/// ratio of θ/2 against θ of at least 1/β (a clean pilot, whose Λ stays 0 when nobody errs).
fn comparative(
    g: &Comparative,
    theta: f64,
    s: &Setting<'_>,
    (p, c): (&Arm, &Arm),
    recent: &[Minute],
    allowlist_tier: bool,
) -> Verdict {
    let both_observed = p.observed > 0 && c.observed > 0;
    let kind = if both_observed { "all" } else { "client" };
    let counts = |p: &Arm, c: &Arm| -> ErrorCounts {
        let x = |a: &Arm| {
            if both_observed {
                a.errors
            } else {
                a.client_errors
            }
        };
        (
            Counts::new(p.exposures, x(p)),
            Counts::new(c.exposures, x(c)),
        )
    };
    let whole = counts(p, c);
    let minutes: Vec<(u64, ErrorCounts)> = recent
        .iter()
        .map(|m| (m.offset_min, counts(&m.pilot, &m.control)))
        .collect();
    let lambda = |(p, c): ErrorCounts| sprt_lambda(p.units, c.units, p.hits, c.hits, g.r);
    let alpha_tier = s.alpha_tier(g.alpha, false);
    let plus = |a: ErrorCounts, b: ErrorCounts| (a.0.plus(b.0), a.1.plus(b.1));
    let stat = |e: ErrorCounts| lambda(e).filter(|_| e.0.hits >= g.min_errors);
    let crossing = scan(whole, &minutes, plus, stat, alpha_tier);
    let (lower, _) = sprt_bounds(g.alpha, g.beta);
    let window_lambda = lambda(whole);
    let clean_ln_e = ln_rate_ratio(Counts::new(p.exposures, p.errors), theta, theta / 2.0);
    let clean_threshold = (1.0 / g.beta).ln();
    // The clean bound speaks only where Λ shows nothing against the pilot (Λ ≤ 0).
    let healthy = window_lambda.is_some_and(|l| {
        l <= lower || (l <= 0.0 && clean_ln_e.is_some_and(|c| c >= clean_threshold))
    });
    let state = match &crossing {
        _ if allowlist_tier => GuardState::NotApplicable,
        Some(x) if x.crossed() => GuardState::Tripped,
        _ if healthy && c.exposures > 0 => GuardState::Healthy,
        _ => GuardState::Undecided,
    };
    // The stretch shown: the one that decided, else the whole window.
    let shown = crossing.unwrap_or(Crossing {
        start: Start::Window,
        counts: whole,
        ln_e: f64::NAN,
        threshold: scan_threshold(alpha_tier),
    });
    let (sp, sc) = shown.counts;
    let figures = Figures::Comparative(ComparativeFigures {
        pilot_exposures: sp.units,
        control_exposures: sc.units,
        pilot_errors: sp.hits,
        control_errors: sc.hits,
        error_kind: kind.to_owned(),
        from_minute: from_minute(shown.start, s.window_start_min),
        lambda: Some(shown.ln_e).filter(|l| l.is_finite()).or(window_lambda),
        upper: shown.threshold,
        window_lambda,
        lower,
        clean_ln_e,
        clean_threshold,
        max_error_rate: theta,
        r: g.r,
        alpha: g.alpha,
        alpha_tier,
        beta: g.beta,
        min_errors: g.min_errors,
    });
    let action = (state == GuardState::Tripped).then_some(Action::Rollback);
    Verdict {
        guard: GuardKind::Comparative,
        state,
        figures,
        action,
    }
}

/// The whole window's threshold at a tier's α.
fn scan_threshold(alpha_tier: f64) -> f64 {
    crate::control::sequential::threshold(alpha_tier, Start::Window).unwrap_or(f64::NAN)
}

/// The breaker: rolls back when the likelihood ratio of 2θ against θ over the window or one of
/// its recent stretches (each with at least `min_exposures` pilot units) reaches that
/// stretch's threshold. It applies at every tier above 0, tier 1 included.
fn breaker(g: &Breaker, s: &Setting<'_>, p: &Arm, recent: &[Minute]) -> Verdict {
    let errors = |a: &Arm| Counts::new(a.exposures, a.errors);
    let minutes: Vec<(u64, Counts)> = recent
        .iter()
        .map(|m| (m.offset_min, errors(&m.pilot)))
        .collect();
    let alt = g.alternative();
    let alpha_tier = s.alpha_tier(g.alpha, true);
    let stat =
        |c: Counts| ln_rate_ratio(c, g.max_error_rate, alt).filter(|_| c.units >= g.min_exposures);
    let crossing = scan(errors(p), &minutes, Counts::plus, stat, alpha_tier);
    let state = match &crossing {
        Some(x) if x.crossed() => GuardState::Tripped,
        _ if p.errors > p.exposures => GuardState::Undecided,
        _ => GuardState::Healthy,
    };
    let shown = crossing.map_or((Start::Window, errors(p), None, None), |x| {
        (x.start, x.counts, Some(x.ln_e), Some(x.threshold))
    });
    let figures = Figures::Breaker(BreakerFigures {
        pilot_exposures: shown.1.units,
        pilot_errors: shown.1.hits,
        from_minute: from_minute(shown.0, s.window_start_min),
        ln_e: shown.2,
        threshold: shown.3,
        window_exposures: p.exposures,
        window_errors: p.errors,
        max_error_rate: g.max_error_rate,
        alternative: alt,
        alpha: g.alpha,
        alpha_tier,
        min_exposures: g.min_exposures,
    });
    let action = (state == GuardState::Tripped).then_some(Action::Rollback);
    Verdict {
        guard: GuardKind::Breaker,
        state,
        figures,
        action,
    }
}

fn sample_ratio(
    g: &SampleRatio,
    s: &Setting<'_>,
    p: &Arm,
    c: &Arm,
    expected: Option<f64>,
) -> Verdict {
    let n = p.exposures + c.exposures;
    let ln_e = expected
        .and_then(|share| ln_split_factor(p.exposures, c.exposures, share, SPLIT_PRIOR_STRENGTH));
    let threshold = (1.0 / s.alpha_tier(g.alpha, false)).ln();
    let state = match ln_e {
        None => GuardState::NotApplicable,
        Some(_) if n < g.min_exposures => GuardState::Undecided,
        Some(l) if l >= threshold => GuardState::Hold,
        Some(_) => GuardState::Healthy,
    };
    let figures = Figures::SampleRatio(SampleRatioFigures {
        pilot_exposures: p.exposures,
        control_exposures: c.exposures,
        expected_share: expected,
        ln_e,
        threshold,
        alpha: g.alpha,
        min_exposures: g.min_exposures,
    });
    Verdict {
        guard: GuardKind::SampleRatio,
        state,
        figures,
        action: None,
    }
}
