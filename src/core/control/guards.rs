//! The guards of a plan and their verdicts: the comparative sequential test, the absolute
//! breaker, the sample-ratio hold, the no-data hold and KPI guardrails. Each verdict carries
//! its figures, so an automatic decision can be checked by hand from the audit log.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::control::stats::{drop_p_value, sprt_bounds, sprt_lambda, srm, wilson, Z_99};
use crate::core::control::tally::{Arm, Arms};
use crate::core::evidence::sketch::Sketch;

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

/// The absolute breaker: the Wilson lower bound (z = 2.33) of the pilot's error rate over the
/// window above `max_error_rate`, with enough exposures, on two consecutive checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Breaker {
    /// θ, the error rate that must not be exceeded.
    pub max_error_rate: f64,
    /// The window, in minutes.
    pub window_min: u64,
    /// Fewest pilot exposures in the window (N_min).
    pub min_exposures: u64,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            max_error_rate: 0.05,
            window_min: 60,
            min_exposures: 100,
        }
    }
}

/// The sample-ratio hold: exposures that do not match the tier's share (χ², p below
/// `p_value`) hold the plan; they never roll it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SampleRatio {
    /// The p-value under which the split is called wrong.
    pub p_value: f64,
    /// Fewest exposures before the test speaks.
    pub min_exposures: u64,
}

impl Default for SampleRatio {
    fn default() -> Self {
        Self {
            p_value: 0.001,
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

/// A KPI the guardrails compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kpi {
    /// Units that granted the microphone among units asked for it.
    MicGrantRate,
    /// Units that reached the product's value among exposed units.
    ActivationRate,
}

impl Kpi {
    /// (successes, trials) of an arm, in units.
    pub fn of(self, arm: &Arm) -> (u64, u64) {
        match self {
            Kpi::MicGrantRate => (arm.mic_granted, arm.mic_prompts),
            Kpi::ActivationRate => (arm.activated, arm.exposures),
        }
    }

    /// Its name in the API and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Kpi::MicGrantRate => "mic_grant_rate",
            Kpi::ActivationRate => "activation_rate",
        }
    }
}

/// What a tripped guardrail does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailAction {
    /// Pause the plan (hold the tier).
    Pause,
    /// Serve the fallback variant to everyone.
    Fallback,
}

/// A KPI guardrail: the pilot's KPI more than `max_drop_pct` below control's, with evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Guardrail {
    /// The KPI.
    pub kpi: Kpi,
    /// How far below control's the pilot's may fall, in percent of control's.
    pub max_drop_pct: f64,
    /// What to do when it falls further.
    pub action: GuardrailAction,
    /// For `fallback`: the variant everyone gets (default: the plan's `off`).
    #[serde(default)]
    pub variant: Option<String>,
    /// Fewest trials in each arm before it speaks.
    #[serde(default = "default_min_trials")]
    pub min_trials: u64,
    /// The one-sided p-value under which the drop is taken as real.
    #[serde(default = "default_guardrail_p")]
    pub p_value: f64,
}

fn default_min_trials() -> u64 {
    30
}

fn default_guardrail_p() -> f64 {
    0.01
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
    /// KPI guardrails.
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
    /// Over its threshold once; one more check trips it (the breaker).
    Warning,
    /// Acts: see [`Verdict::action`].
    Tripped,
    /// Does not apply here (tier 1, no expected share).
    NotApplicable,
}

/// What a tripped guard does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "variant")]
pub enum Action {
    /// Back to tier 0.
    Rollback,
    /// Hold the tier.
    Pause,
    /// Everyone gets this variant.
    Fallback(String),
}

impl GuardState {
    /// Its name in the API and in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardState::Healthy => "healthy",
            GuardState::Undecided => "undecided",
            GuardState::Hold => "hold",
            GuardState::Warning => "warning",
            GuardState::Tripped => "tripped",
            GuardState::NotApplicable => "not_applicable",
        }
    }
}

/// Which guard a verdict is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GuardKind {
    /// The comparative sequential test.
    Comparative,
    /// The absolute breaker.
    Breaker,
    /// The sample-ratio hold.
    SampleRatio,
    /// The no-data hold.
    NoData,
    /// A KPI guardrail.
    Guardrail(Kpi),
}

impl GuardKind {
    /// Its name: `comparative`, `breaker`, `sample_ratio`, `no_data` or `guardrail:<kpi>`.
    pub fn name(self) -> String {
        match self {
            GuardKind::Comparative => "comparative".into(),
            GuardKind::Breaker => "breaker".into(),
            GuardKind::SampleRatio => "sample_ratio".into(),
            GuardKind::NoData => "no_data".into(),
            GuardKind::Guardrail(kpi) => format!("guardrail:{}", kpi.as_str()),
        }
    }

    /// The kind a [`GuardKind::name`] names.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "comparative" => GuardKind::Comparative,
            "breaker" => GuardKind::Breaker,
            "sample_ratio" => GuardKind::SampleRatio,
            "no_data" => GuardKind::NoData,
            other => {
                let kpi = other.strip_prefix("guardrail:")?;
                GuardKind::Guardrail(serde_json::from_value(Value::String(kpi.to_owned())).ok()?)
            }
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

/// The comparative test's figures: units and units with an error per arm, Λ and its bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComparativeFigures {
    /// Exposed pilot units.
    pub pilot_exposures: u64,
    /// Exposed control units.
    pub control_exposures: u64,
    /// Pilot units with an error (comparable with control's: see `errorKind`).
    pub pilot_errors: u64,
    /// Control units with an error.
    pub control_errors: u64,
    /// `all` when an upstream answered both arms, else `client` (server errors are left out
    /// when only one arm's requests reach the upstream, as on a gated route).
    pub error_kind: String,
    /// Λ, the log-likelihood ratio (`None` while an arm has no units).
    pub lambda: Option<f64>,
    /// Healthy at or below.
    pub lower: f64,
    /// Rolls back at or above.
    pub upper: f64,
    /// The ratio looked for.
    pub r: f64,
    /// False-rollback rate.
    pub alpha: f64,
    /// Missed-regression rate.
    pub beta: f64,
    /// Fewest pilot errors for a rollback.
    pub min_errors: u64,
}

/// The breaker's figures over its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakerFigures {
    /// Pilot units first exposed in the window.
    pub pilot_exposures: u64,
    /// Of them, with an error.
    pub pilot_errors: u64,
    /// The Wilson interval's lower bound.
    pub wilson_low: f64,
    /// Its upper bound.
    pub wilson_high: f64,
    /// Its z.
    pub z: f64,
    /// θ.
    pub max_error_rate: f64,
    /// Fewest pilot units in the window.
    pub min_exposures: u64,
    /// The window, in minutes.
    pub window_min: u64,
    /// Consecutive checks over θ before this one.
    pub strikes_before: u32,
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
    /// χ².
    pub chi2: Option<f64>,
    /// Its p-value.
    pub p_value: Option<f64>,
    /// The p-value under which the split is called wrong.
    pub threshold: f64,
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

/// One arm's side of a guardrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KpiFigures {
    /// Units that succeeded.
    pub successes: u64,
    /// Units that tried.
    pub trials: u64,
    /// Their ratio (`None` without trials).
    pub rate: Option<f64>,
}

/// A guardrail's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardrailFigures {
    /// The pilot's KPI.
    pub pilot: KpiFigures,
    /// Control's KPI.
    pub control: KpiFigures,
    /// The drop allowed, in percent of control's.
    pub max_drop_pct: f64,
    /// The one-sided p-value of a larger drop.
    pub p_value: Option<f64>,
    /// The p-value under which it trips.
    pub threshold: f64,
    /// Fewest trials in each arm.
    pub min_trials: u64,
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
        match self {
            Figures::Comparative(f) => format!(
                "Λ = {} ≥ ln(1/α) = {} with {} pilot and {} control units with an error ({}) of {} and {} exposed units",
                num(f.lambda),
                num(Some(f.upper)),
                f.pilot_errors,
                f.control_errors,
                f.error_kind,
                f.pilot_exposures,
                f.control_exposures
            ),
            Figures::Breaker(f) => format!(
                "Wilson lower bound {} > {} with {} of {} pilot units with an error, two checks running",
                num(Some(f.wilson_low)),
                num(Some(f.max_error_rate)),
                f.pilot_errors,
                f.pilot_exposures
            ),
            Figures::SampleRatio(f) => format!(
                "{} pilot and {} control units against a share of {} (p = {})",
                f.pilot_exposures,
                f.control_exposures,
                num(f.expected_share),
                num(f.p_value)
            ),
            Figures::NoData(f) => format!(
                "{} units in {} min (fewest {})",
                f.exposures, f.window_min, f.min_exposures
            ),
            Figures::Guardrail(f) => format!(
                "pilot {} vs control {} (p = {:.2e}, more than {} % below)",
                num(f.pilot.rate),
                num(f.control.rate),
                f.p_value.unwrap_or(f64::NAN),
                f.max_drop_pct
            ),
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
        let figures = match v.guard {
            GuardKind::Comparative => Figures::Comparative(serde_json::from_str(text)?),
            GuardKind::Breaker => Figures::Breaker(serde_json::from_str(text)?),
            GuardKind::SampleRatio => Figures::SampleRatio(serde_json::from_str(text)?),
            GuardKind::NoData => Figures::NoData(serde_json::from_str(text)?),
            GuardKind::Guardrail(_) => Figures::Guardrail(serde_json::from_str(text)?),
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

/// The counts a flag's guards look at, each over its own window.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Since the current tier began.
    pub since_tier: Arms,
    /// The breaker's window.
    pub breaker: Arms,
    /// The no-data window.
    pub no_data: Arms,
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
    /// The pilot's expected share of exposures, when known (a flag without rules of its own).
    pub expected_share: Option<f64>,
    /// Consecutive breaker checks over the threshold before this one.
    pub breaker_strikes: u32,
}

/// How far back the breaker's and the no-data hold's windows reach, in minutes (1 when off).
pub fn window_lengths(guards: &Guards) -> (u64, u64) {
    (
        guards.breaker.as_ref().map_or(1, |b| b.window_min),
        guards.no_data.as_ref().map_or(1, |n| n.window_min),
    )
}

/// Every guard's verdict.
pub fn evaluate(guards: &Guards, s: &Setting<'_>, e: &Evidence) -> Vec<Verdict> {
    let empty = Arm::default();
    let arm = |arms: &'_ Arms, v: &str| arms.get(v).cloned().unwrap_or_else(|| empty.clone());
    let (p, c) = (arm(&e.since_tier, s.pilot), arm(&e.since_tier, s.control));
    let allowlist_tier = s.tier <= 1;
    let mut out = Vec::new();
    if let Some(g) = &guards.comparative {
        out.push(comparative(g, &p, &c, allowlist_tier));
    }
    if let Some(g) = &guards.breaker {
        out.push(breaker(g, &arm(&e.breaker, s.pilot), s.breaker_strikes));
    }
    if let Some(g) = &guards.sample_ratio {
        out.push(sample_ratio(
            g,
            &p,
            &c,
            s.expected_share.filter(|_| !allowlist_tier),
        ));
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
    for g in &guards.guardrails {
        out.push(guardrail(g, &p, &c, s.off, allowlist_tier));
    }
    out
}

/// The comparative test: units with an error in each arm. Server errors count only when an
/// upstream answered both arms: on a gated route, control visitors are redirected and never
/// reach it, so their server errors cannot be seen and the pilot's alone would look like a
/// regression. The breaker, which needs no control, watches those.
fn comparative(g: &Comparative, p: &Arm, c: &Arm, allowlist_tier: bool) -> Verdict {
    let both_observed = p.observed > 0 && c.observed > 0;
    let (xp, xc, kind) = if both_observed {
        (p.errors, c.errors, "all")
    } else {
        (p.client_errors, c.client_errors, "client")
    };
    let (lower, upper) = sprt_bounds(g.alpha, g.beta);
    let lambda = sprt_lambda(p.exposures, c.exposures, xp, xc, g.r);
    let state = match lambda {
        _ if allowlist_tier => GuardState::NotApplicable,
        Some(l) if l >= upper && xp >= g.min_errors => GuardState::Tripped,
        Some(l) if l <= lower => GuardState::Healthy,
        _ => GuardState::Undecided,
    };
    let figures = Figures::Comparative(ComparativeFigures {
        pilot_exposures: p.exposures,
        control_exposures: c.exposures,
        pilot_errors: xp,
        control_errors: xc,
        error_kind: kind.to_owned(),
        lambda,
        lower,
        upper,
        r: g.r,
        alpha: g.alpha,
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

fn breaker(g: &Breaker, p: &Arm, strikes: u32) -> Verdict {
    let (low, high) = wilson(p.errors, p.exposures, Z_99);
    let over = p.exposures >= g.min_exposures && low > g.max_error_rate;
    let state = match (over, strikes) {
        (false, _) => GuardState::Healthy,
        (true, 0) => GuardState::Warning,
        (true, _) => GuardState::Tripped,
    };
    let figures = Figures::Breaker(BreakerFigures {
        pilot_exposures: p.exposures,
        pilot_errors: p.errors,
        wilson_low: low,
        wilson_high: high,
        z: Z_99,
        max_error_rate: g.max_error_rate,
        min_exposures: g.min_exposures,
        window_min: g.window_min,
        strikes_before: strikes,
    });
    let action = (state == GuardState::Tripped).then_some(Action::Rollback);
    Verdict {
        guard: GuardKind::Breaker,
        state,
        figures,
        action,
    }
}

fn sample_ratio(g: &SampleRatio, p: &Arm, c: &Arm, expected: Option<f64>) -> Verdict {
    let n = p.exposures + c.exposures;
    let test = expected.and_then(|share| srm(p.exposures, c.exposures, share));
    let state = match test {
        None => GuardState::NotApplicable,
        Some(_) if n < g.min_exposures => GuardState::Undecided,
        Some((_, pv)) if pv < g.p_value => GuardState::Hold,
        Some(_) => GuardState::Healthy,
    };
    let figures = Figures::SampleRatio(SampleRatioFigures {
        pilot_exposures: p.exposures,
        control_exposures: c.exposures,
        expected_share: expected,
        chi2: test.map(|t| t.0),
        p_value: test.map(|t| t.1),
        threshold: g.p_value,
        min_exposures: g.min_exposures,
    });
    Verdict {
        guard: GuardKind::SampleRatio,
        state,
        figures,
        action: None,
    }
}

fn guardrail(g: &Guardrail, p: &Arm, c: &Arm, off: &str, allowlist_tier: bool) -> Verdict {
    let ((xp, np), (xc, nc)) = (g.kpi.of(p), g.kpi.of(c));
    let margin = g.max_drop_pct / 100.0;
    let pv = drop_p_value(xp, np, xc, nc, margin);
    let enough = np >= g.min_trials && nc >= g.min_trials;
    let state = match pv {
        _ if allowlist_tier => GuardState::NotApplicable,
        _ if !enough => GuardState::Undecided,
        // Undefined (both rates 0, or more successes than trials) is never healthy.
        None => GuardState::Undecided,
        Some(pv) if pv < g.p_value => GuardState::Tripped,
        Some(_) => GuardState::Healthy,
    };
    let side = |successes: u64, trials: u64| KpiFigures {
        successes,
        trials,
        rate: rate(successes, trials),
    };
    let figures = Figures::Guardrail(GuardrailFigures {
        pilot: side(xp, np),
        control: side(xc, nc),
        max_drop_pct: g.max_drop_pct,
        p_value: pv,
        threshold: g.p_value,
        min_trials: g.min_trials,
    });
    let action = (state == GuardState::Tripped).then(|| match g.action {
        GuardrailAction::Pause => Action::Pause,
        GuardrailAction::Fallback => {
            Action::Fallback(g.variant.clone().unwrap_or_else(|| off.to_owned()))
        }
    });
    Verdict {
        guard: GuardKind::Guardrail(g.kpi),
        state,
        figures,
        action,
    }
}

fn rate(x: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| x as f64 / n as f64)
}

/// A sketch's quantile in whole ms.
fn quantile_ms(s: &Sketch, q: f64) -> Option<u64> {
    s.quantile(q).map(|v| v.round() as u64)
}

/// An arm's KPIs as the stats API shows them (counts are units).
pub fn kpis(arm: &Arm) -> Value {
    let (lo, hi) = wilson(arm.errors, arm.exposures, 1.96);
    json!({
        "exposures": arm.exposures,
        "errors": arm.errors,
        "clientErrors": arm.client_errors,
        "serverErrors": arm.server_errors,
        "errorRate": rate(arm.errors, arm.exposures),
        "errorRateWilson95": (arm.exposures > 0).then_some([lo, hi]),
        "ttvSamples": arm.ttv.count(),
        "ttvP50Ms": quantile_ms(&arm.ttv, 0.5),
        "ttvP90Ms": quantile_ms(&arm.ttv, 0.9),
        "ttfbP50Ms": quantile_ms(&arm.ttfb, 0.5),
        "ttfbP90Ms": quantile_ms(&arm.ttfb, 0.9),
        "micPrompts": arm.mic_prompts,
        "micGrantRate": rate(arm.mic_granted, arm.mic_prompts),
        "activated": arm.activated,
        "activationRate": rate(arm.activated, arm.exposures),
    })
}
