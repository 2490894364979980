//! The guards of a plan and their verdicts: the comparative sequential test, the absolute
//! breaker, the sample-ratio hold, the no-data hold and KPI guardrails. Each verdict carries
//! its figures, so an automatic decision can be checked by hand from the audit log.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::control::plan::ControlledFlag;
use crate::core::control::stats::{
    drop_p_value, quantile, sprt_bounds, sprt_lambda, srm, wilson, Z_99,
};
use crate::core::control::tally::{Arm, Arms};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kpi {
    /// `mic_granted` / `mic_prompt`.
    MicGrantRate,
    /// `activated` / `page_view`.
    ActivationRate,
}

impl Kpi {
    /// (successes, trials) of an arm.
    pub fn of(self, arm: &Arm) -> (u64, u64) {
        match self {
            Kpi::MicGrantRate => (arm.mic_granted, arm.mic_prompts),
            Kpi::ActivationRate => (arm.activated, arm.exposures),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "variant")]
pub enum Action {
    /// Back to tier 0.
    Rollback,
    /// Hold the tier.
    Pause,
    /// Everyone gets this variant.
    Fallback(String),
}

/// One guard's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// `comparative`, `breaker`, `sample_ratio`, `no_data`, or `guardrail:<kpi>`.
    pub guard: String,
    /// Its state.
    pub state: GuardState,
    /// The figures it decided on (counts, Λ and bounds, intervals, thresholds).
    pub figures: Value,
    /// What it does, when tripped.
    pub action: Option<Action>,
}

impl Verdict {
    /// Why this verdict stands against an advance, if it does.
    pub fn objection(&self) -> Option<String> {
        match self.state {
            GuardState::Healthy | GuardState::NotApplicable => None,
            state => Some(format!(
                "guard {}: {}",
                self.guard,
                serde_json::to_value(state).ok()?.as_str()?
            )),
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

impl<'a> Setting<'a> {
    /// The setting of a flag's plan with the breaker's strikes so far.
    pub fn of(flag: &'a ControlledFlag, breaker_strikes: u32) -> Self {
        let own_rule = flag.own_rule().is_some();
        let plan = &flag.plan;
        Setting {
            pilot: &plan.on,
            control: &plan.off,
            off: &plan.off,
            tier: plan.tier,
            expected_share: (!own_rule).then(|| f64::from(plan.pct()) / 100.0),
            breaker_strikes,
        }
    }
}

/// The first minute of each window a plan's guards read at `now_minute`: since the tier began,
/// the breaker's, the no-data hold's.
pub fn window_starts(guards: &Guards, tier_since_ms: u64, now_minute: u64) -> (u64, u64, u64) {
    let back = |w: u64| now_minute.saturating_sub(w.saturating_sub(1));
    (
        tier_since_ms / 60_000,
        back(guards.breaker.as_ref().map_or(1, |b| b.window_min)),
        back(guards.no_data.as_ref().map_or(1, |n| n.window_min)),
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
        let figures =
            json!({"exposures": n, "minExposures": g.min_exposures, "windowMin": g.window_min});
        out.push(Verdict {
            guard: "no_data".into(),
            state,
            figures,
            action: None,
        });
    }
    for g in &guards.guardrails {
        out.push(guardrail(g, &p, &c, s.off, allowlist_tier));
    }
    out
}

fn comparative(g: &Comparative, p: &Arm, c: &Arm, allowlist_tier: bool) -> Verdict {
    let (lower, upper) = sprt_bounds(g.alpha, g.beta);
    let lambda = sprt_lambda(p.exposures, c.exposures, p.errors, c.errors, g.r);
    let state = match lambda {
        _ if allowlist_tier => GuardState::NotApplicable,
        Some(l) if l >= upper && p.errors >= g.min_errors => GuardState::Tripped,
        Some(l) if l <= lower => GuardState::Healthy,
        _ => GuardState::Undecided,
    };
    let figures = json!({
        "pilotExposures": p.exposures, "controlExposures": c.exposures,
        "pilotErrors": p.errors, "controlErrors": c.errors,
        "lambda": lambda, "lower": lower, "upper": upper,
        "r": g.r, "alpha": g.alpha, "beta": g.beta, "minErrors": g.min_errors,
    });
    let action = (state == GuardState::Tripped).then_some(Action::Rollback);
    Verdict {
        guard: "comparative".into(),
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
    let figures = json!({
        "pilotExposures": p.exposures, "pilotErrors": p.errors,
        "wilsonLow": low, "wilsonHigh": high, "z": Z_99,
        "maxErrorRate": g.max_error_rate, "minExposures": g.min_exposures,
        "windowMin": g.window_min, "strikesBefore": strikes,
    });
    let action = (state == GuardState::Tripped).then_some(Action::Rollback);
    Verdict {
        guard: "breaker".into(),
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
    let figures = json!({
        "pilotExposures": p.exposures, "controlExposures": c.exposures,
        "expectedShare": expected, "chi2": test.map(|t| t.0), "pValue": test.map(|t| t.1),
        "threshold": g.p_value, "minExposures": g.min_exposures,
    });
    Verdict {
        guard: "sample_ratio".into(),
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
        Some(pv) if pv < g.p_value => GuardState::Tripped,
        _ => GuardState::Healthy,
    };
    let rate = |x: u64, n: u64| (n > 0).then(|| x as f64 / n as f64);
    let figures = json!({
        "pilot": {"successes": xp, "trials": np, "rate": rate(xp, np)},
        "control": {"successes": xc, "trials": nc, "rate": rate(xc, nc)},
        "maxDropPct": g.max_drop_pct, "pValue": pv, "threshold": g.p_value, "minTrials": g.min_trials,
    });
    let action = (state == GuardState::Tripped).then(|| match g.action {
        GuardrailAction::Pause => Action::Pause,
        GuardrailAction::Fallback => {
            Action::Fallback(g.variant.clone().unwrap_or_else(|| off.to_owned()))
        }
    });
    let kpi = serde_json::to_value(g.kpi)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Verdict {
        guard: format!("guardrail:{kpi}"),
        state,
        figures,
        action,
    }
}

/// An arm's KPIs as the stats API shows them.
pub fn kpis(arm: &Arm) -> Value {
    let rate = |x: u64, n: u64| (n > 0).then(|| x as f64 / n as f64);
    let (lo, hi) = wilson(arm.errors, arm.exposures, 1.96);
    json!({
        "exposures": arm.exposures,
        "errors": arm.errors,
        "errorRate": rate(arm.errors, arm.exposures),
        "errorRateWilson95": (arm.exposures > 0).then_some([lo, hi]),
        "ttvSamples": arm.ttv_ms.len(),
        "ttvP50Ms": quantile(&arm.ttv_ms, 0.5),
        "ttvP90Ms": quantile(&arm.ttv_ms, 0.9),
        "micPrompts": arm.mic_prompts,
        "micGrantRate": rate(arm.mic_granted, arm.mic_prompts),
        "activated": arm.activated,
        "activationRate": rate(arm.activated, arm.exposures),
    })
}
