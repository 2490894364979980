//! Guardrails on any configured metric, with an action:
//!
//! - **relative** (`maxDropPct`, a proportion metric): the Farrington-Manning score of the
//!   pilot's rate against `(1 − margin)` times control's, made always valid by Johari et al.'s
//!   normal mixture (its scale the margin itself, `margin · control's rate`); trips when the
//!   mixture's likelihood ratio of a larger drop reaches `1/α` of the tier;
//! - **absolute** (`above` or `below`, with `quantile` for a quantile metric): the pilot's
//!   value past the bound in each of the last `forMin` minutes (units first exposed in the
//!   minute, at least `minUnits` of them with a value; the last minute is the current one once
//!   it has that many, else the one before), the launch runbook's "TTV p90 above 5 s for 10
//!   minutes"; not at tier 1, where only the breaker applies. An operating rule rather than a test: its false-action rate and delay are what
//!   the monitoring simulation prints.
//!
//! Actions: `pause`, `fallback` (a variant for everyone), `rollback`, `step_back` (to `toTier`).

use serde::{Deserialize, Serialize};

use crate::control::guards::{Action, GuardKind, GuardState, Minute, Setting, Verdict};
use crate::control::measure::{proportion, rate, value};
use crate::control::sequential::ln_normal_mixture;
use crate::control::stats::drop_score;
use crate::control::tally::Arm;
use crate::evidence::metric::{Metric, MetricKind, Metrics, Quantile};
use crate::evidence::tally::ArmTally;

/// What a tripped guardrail does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailAction {
    /// Pause the plan (hold the tier).
    Pause,
    /// Serve the fallback variant to everyone.
    Fallback,
    /// Back to tier 0.
    Rollback,
    /// Down to `toTier`.
    StepBack,
}

/// A guardrail on a configured metric: relative (`maxDropPct`) or absolute (`above` or
/// `below`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Guardrail {
    /// The metric's name in the set's `metrics`.
    #[serde(alias = "kpi")]
    pub metric: String,
    /// Relative: how far below control's the pilot's rate may fall, in percent of control's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drop_pct: Option<f64>,
    /// Absolute, for a quantile metric: which quantile (`p90`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<String>,
    /// Absolute: trips when the value stays above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// Absolute: trips when the value stays below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// Absolute: for how many minutes (1 to 60).
    #[serde(default = "default_for_min")]
    pub for_min: u64,
    /// Absolute: fewest pilot units with a value in each of those minutes.
    #[serde(default = "default_min_units")]
    pub min_units: u64,
    /// What to do when it trips.
    pub action: GuardrailAction,
    /// For `fallback`: the variant everyone gets (default: the plan's `off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// For `step_back`: the tier to go back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_tier: Option<usize>,
    /// Relative: fewest trials in each arm before it speaks.
    #[serde(default = "default_min_trials")]
    pub min_trials: u64,
    /// Relative: the chance of acting over the whole plan while the drop is within the margin.
    #[serde(default = "default_alpha", alias = "pValue")]
    pub alpha: f64,
}

fn default_for_min() -> u64 {
    10
}

fn default_min_units() -> u64 {
    20
}

fn default_min_trials() -> u64 {
    30
}

fn default_alpha() -> f64 {
    0.01
}

impl Guardrail {
    /// Its name in verdicts and the audit log: the metric, and for an absolute one what it
    /// bounds (`ttv:p90`, `activation:value`).
    pub fn name(&self) -> String {
        match (self.max_drop_pct, &self.quantile) {
            (Some(_), _) => self.metric.clone(),
            (None, Some(q)) => format!("{}:{q}", self.metric),
            (None, None) => format!("{}:value", self.metric),
        }
    }

    /// The bound of an absolute guardrail: (the bound, whether it trips above it).
    pub fn bound(&self) -> Option<(f64, bool)> {
        match (self.above, self.below) {
            (Some(a), None) => Some((a, true)),
            (None, Some(b)) => Some((b, false)),
            _ => None,
        }
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
    /// Trips at or above: ln(1/α) of the tier.
    pub threshold: f64,
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

/// Every guardrail's verdict.
pub fn evaluate(
    guardrails: &[Guardrail],
    metrics: &Metrics,
    s: &Setting<'_>,
    (p, c): (&Arm, &Arm),
    recent: &[Minute],
    now_offset_min: u64,
) -> Vec<Verdict> {
    guardrails
        .iter()
        .map(|g| {
            let metric = metrics.get(&g.metric);
            let (mut state, figures) = match g.max_drop_pct {
                Some(margin) => relative(g, margin, metric, s, p, c),
                None => absolute(g, metric, s, recent, now_offset_min),
            };
            // A metric removed from the set since the plan was written (measured as nothing, so
            // its figures keep the guardrail's own shape): never healthy.
            if metric.is_none() {
                state = GuardState::Undecided;
            }
            let action = (state == GuardState::Tripped).then(|| action(g, s));
            Verdict {
                guard: GuardKind::Guardrail(g.name()),
                state,
                figures: crate::control::guards::Figures::Guardrail(figures),
                action: action.flatten(),
            }
        })
        .collect()
}

/// What a tripped guardrail does here (`None`: a step back to a tier not below the current).
fn action(g: &Guardrail, s: &Setting<'_>) -> Option<Action> {
    Some(match g.action {
        GuardrailAction::Pause => Action::Pause,
        GuardrailAction::Rollback => Action::Rollback,
        GuardrailAction::Fallback => Action::Fallback {
            variant: g.variant.clone().unwrap_or_else(|| s.off.to_owned()),
        },
        GuardrailAction::StepBack => {
            let to = g.to_tier.unwrap_or(1);
            if to >= s.tier {
                return None;
            }
            Action::StepBack { to_tier: to }
        }
    })
}

fn relative(
    g: &Guardrail,
    max_drop_pct: f64,
    m: Option<&Metric>,
    s: &Setting<'_>,
    p: &Arm,
    c: &Arm,
) -> (GuardState, GuardrailFigures) {
    let rate_of = |t: &ArmTally| match m.map(|m| &m.kind) {
        Some(MetricKind::Proportion {
            numerator,
            denominator,
        }) => proportion(t, numerator, denominator),
        _ => (0, 0),
    };
    let ((xp, np), (xc, nc)) = (rate_of(&p.tally), rate_of(&c.tally));
    let margin = max_drop_pct / 100.0;
    let score = drop_score(xp, np, xc, nc, margin);
    let tau = margin * xc as f64 / nc.max(1) as f64;
    // Only a drop counts: a pilot above the margin is no evidence against it.
    let ln_e = score.and_then(|sc| ln_normal_mixture(sc.difference.min(0.0), sc.variance, tau));
    let threshold = (1.0 / s.alpha_tier(g.alpha, false)).ln();
    let enough = np >= g.min_trials && nc >= g.min_trials;
    let state = match ln_e {
        _ if s.tier <= 1 => GuardState::NotApplicable,
        _ if !enough => GuardState::Undecided,
        // Undefined (both rates 0) is never healthy.
        None => GuardState::Undecided,
        Some(l) if l >= threshold => GuardState::Tripped,
        Some(_) => GuardState::Healthy,
    };
    let side = |successes: u64, trials: u64| RateFigures {
        successes,
        trials,
        rate: rate(successes, trials),
    };
    let figures = GuardrailFigures::Relative(RelativeFigures {
        metric: g.metric.clone(),
        pilot: side(xp, np),
        control: side(xc, nc),
        max_drop_pct,
        z: score.map(|sc| sc.z),
        ln_e,
        p_value: ln_e.map(|l| (-l).exp().min(1.0)),
        threshold,
        alpha: g.alpha,
        min_trials: g.min_trials,
    });
    (state, figures)
}

fn absolute(
    g: &Guardrail,
    m: Option<&Metric>,
    s: &Setting<'_>,
    recent: &[Minute],
    now_offset_min: u64,
) -> (GuardState, GuardrailFigures) {
    let (bound, above) = g.bound().unwrap_or((f64::NAN, true));
    let q = g.quantile.as_deref().and_then(Quantile::parse).map(|q| q.q);
    let at = |offset: u64| {
        let t = recent
            .iter()
            .find(|minute| minute.offset_min == offset)
            .map(|minute| &minute.pilot.tally);
        let (units, value) = match (t, m) {
            (Some(t), Some(m)) => value(m, t, q),
            _ => (0, None),
        };
        MinuteValue {
            offset_min: offset,
            units,
            value,
        }
    };
    // The current minute counts once it has enough units; else the last complete one ends.
    let now = at(now_offset_min);
    let last = if now.units >= g.min_units {
        Some(now_offset_min)
    } else {
        now_offset_min.checked_sub(1)
    };
    let minutes: Vec<MinuteValue> = match last {
        Some(last) if last + 1 >= g.for_min => (last + 1 - g.for_min..=last).map(at).collect(),
        _ => Vec::new(),
    };
    let past = |v: &MinuteValue| {
        v.units >= g.min_units
            && v.value
                .is_some_and(|x| if above { x > bound } else { x < bound })
    };
    // Tier 1 (the allowlist and a first share) is not a sample to judge a launch by: only the
    // breaker applies there.
    let state = if s.tier <= 1 {
        GuardState::NotApplicable
    } else if !minutes.is_empty() && minutes.iter().all(past) {
        GuardState::Tripped
    } else if minutes.iter().any(|v| v.units >= g.min_units && !past(v)) {
        GuardState::Healthy
    } else {
        GuardState::Undecided
    };
    let figures = GuardrailFigures::Absolute(AbsoluteFigures {
        metric: g.metric.clone(),
        stat: g.quantile.clone().unwrap_or_else(|| "value".into()),
        bound,
        above,
        for_min: g.for_min,
        min_units: g.min_units,
        minutes,
    });
    (state, figures)
}
