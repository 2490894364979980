//! Guardrails on any configured metric, with an action:
//!
//! - **relative** (`maxDropPct`, a proportion metric): the Farrington-Manning score of the
//!   pilot's rate against `(1 − margin)` times control's, made always valid by Johari et al.'s
//!   normal mixture, mixed over several scales ([`SCALES`] times `margin · control's rate`,
//!   the mean of their likelihood ratios, itself an e-value): trips when that reaches `1/α` of
//!   the window; **healthy** only when the same mixture, for a pilot *above* the margin,
//!   reaches `1/β` (an always-valid bound puts the drop inside the margin);
//! - **absolute** (`above` or `below`, with `quantile` for a quantile metric): the pilot's
//!   value past the bound in each of the last `forMin` minutes (units first exposed in the
//!   minute, at least `minUnits` of them with a value; the last minute is the current one once
//!   it has that many, else the one before), the launch runbook's "TTV p90 above 5 s for 10
//!   minutes"; **healthy** only when each of those minutes has `minUnits` values within the
//!   bound. An operating rule rather than a test: its false-action rate and delay are what the
//!   monitoring simulation prints.
//!
//! A metric's evidence is edge-observed or client-reported ([`Metric::provenance`]). On
//! client-reported evidence a guardrail counts one unit per net, needs its deciding units from
//! [`MIN_CLIENT_NETS`] nets, and only pauses, unless the plan keeps its `fallback` or
//! `step_back` for it (`"clientEvidence": "act"`; never `rollback`).
//!
//! Actions: `pause`, `fallback` (a variant for everyone), `rollback`, `step_back` (to `toTier`).

use serde::{Deserialize, Serialize};

use crate::control::measure::{proportion, rate, value};
use crate::control::sequential::{ln_normal_mixture, LOOKBACK_MIN};
use crate::control::stats::drop_score;
use crate::control::tally::Arm;
pub use crate::control::verdict::{
    AbsoluteFigures, GuardrailFigures, MinuteValue, RateFigures, RelativeFigures,
};
use crate::control::verdict::{Action, GuardKind, GuardState, Minute, Note, Setting, Verdict};
use crate::evidence::metric::{Metric, MetricKind, Metrics, Quantile};
use crate::evidence::provenance::{Provenance, MIN_CLIENT_NETS};
use crate::evidence::tally::ArmTally;

/// The relative guardrail's mixing scales, in multiples of `margin · control's rate`.
pub const SCALES: [f64; 3] = [1.0, 2.0, 4.0];
/// The missed-drop rate of a relative guardrail's "healthy": the always-valid bound that puts
/// the drop inside the margin holds at `1/β`.
pub const HEALTHY_BETA: f64 = 0.1;

/// What a guardrail may do on client-reported evidence alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientEvidence {
    /// Pause only (the default).
    #[default]
    Pause,
    /// Keep its `fallback` or `step_back` (never `rollback`).
    Act,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

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
    /// On a client-reported metric: pause only (`pause`, the default) or keep its `fallback` or
    /// `step_back` (`act`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub client_evidence: ClientEvidence,
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
            let provenance = metric.map_or(Provenance::Client, Metric::provenance);
            let judged = match g.max_drop_pct {
                Some(margin) => relative(g, margin, metric, provenance, s, p, c),
                None => absolute(g, metric, provenance, recent, now_offset_min),
            };
            let (state, action, note) = match judged.state {
                // A metric removed from the set since the plan was written (measured as
                // nothing, so its figures keep the guardrail's own shape): never healthy.
                _ if metric.is_none() => (
                    GuardState::Undecided,
                    None,
                    Some(Note::NoMetric {
                        metric: g.metric.clone(),
                    }),
                ),
                GuardState::Tripped => decide(g, s, provenance, judged.nets),
                state => (state, None, judged.note),
            };
            Verdict {
                guard: GuardKind::Guardrail(g.name()),
                state,
                figures: crate::control::verdict::Figures::Guardrail(judged.figures),
                provenance: action.as_ref().map(|_| provenance),
                action,
                note,
            }
        })
        .collect()
}

/// What one guardrail's figures say, before provenance limits its action.
struct Judged {
    state: GuardState,
    figures: GuardrailFigures,
    note: Option<Note>,
    /// Distinct nets among the deciding pilot units (client-reported evidence).
    nets: u64,
}

/// What a tripped guardrail does on evidence of `provenance` carried by units of `nets` nets:
/// its own action on edge-observed evidence; on client-reported evidence from enough nets a
/// pause, or its `fallback` or `step_back` when the plan says `"clientEvidence": "act"`;
/// nothing from fewer nets.
fn decide(
    g: &Guardrail,
    s: &Setting<'_>,
    provenance: Provenance,
    nets: u64,
) -> (GuardState, Option<Action>, Option<Note>) {
    let Some(wanted) = action(g, s) else {
        // A step back to a tier not below the current one: tripped, nothing to do.
        return (GuardState::Tripped, None, None);
    };
    if provenance == Provenance::Edge {
        return (GuardState::Tripped, Some(wanted), None);
    }
    if nets < MIN_CLIENT_NETS {
        let note = Note::TooFewNets {
            nets,
            needs: MIN_CLIENT_NETS,
        };
        return (GuardState::Undecided, None, Some(note));
    }
    let kept = g.client_evidence == ClientEvidence::Act
        && matches!(wanted, Action::Fallback { .. } | Action::StepBack { .. });
    if kept || wanted == Action::Pause {
        return (GuardState::Tripped, Some(wanted), None);
    }
    let note = Note::ClientOnly {
        instead: wanted.name().to_owned(),
    };
    (GuardState::Tripped, Some(Action::Pause), Some(note))
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

/// The tally a guardrail reads of an arm: all its units for edge-observed evidence, one unit
/// per net for client-reported evidence.
fn read(t: &ArmTally, provenance: Provenance) -> Option<&ArmTally> {
    match provenance {
        Provenance::Edge => Some(t),
        Provenance::Client => t.reps.as_deref(),
    }
}

/// The log of the mean of the normal mixtures' likelihood ratios over [`SCALES`] (an e-value:
/// a mean of e-values), for a difference `d` with variance `var` and base scale `tau`.
pub fn ln_mixed_scales(d: f64, var: f64, tau: f64) -> Option<f64> {
    let lns: Vec<f64> = SCALES
        .iter()
        .map(|k| ln_normal_mixture(d, var, k * tau))
        .collect::<Option<_>>()?;
    let top = lns.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = lns.iter().map(|l| (l - top).exp()).sum::<f64>() / lns.len() as f64;
    Some(top + mean.ln())
}

fn relative(
    g: &Guardrail,
    max_drop_pct: f64,
    m: Option<&Metric>,
    provenance: Provenance,
    s: &Setting<'_>,
    p: &Arm,
    c: &Arm,
) -> Judged {
    let rate_of = |t: &ArmTally| match (m.map(|m| &m.kind), read(t, provenance)) {
        (
            Some(MetricKind::Proportion {
                numerator,
                denominator,
            }),
            Some(t),
        ) => proportion(t, numerator, denominator),
        _ => (0, 0),
    };
    let ((xp, np), (xc, nc)) = (rate_of(&p.tally), rate_of(&c.tally));
    let margin = max_drop_pct / 100.0;
    let score = drop_score(xp, np, xc, nc, margin);
    let tau = margin * xc as f64 / nc.max(1) as f64;
    // Only a drop counts against the pilot; only a pilot above the margin for it.
    let ln_e = score.and_then(|sc| ln_mixed_scales(sc.difference.min(0.0), sc.variance, tau));
    let healthy_ln_e =
        score.and_then(|sc| ln_mixed_scales(sc.difference.max(0.0), sc.variance, tau));
    let threshold = (1.0 / s.alpha_window(g.alpha)).ln();
    let healthy_threshold = (1.0 / HEALTHY_BETA).ln();
    let enough = np >= g.min_trials && nc >= g.min_trials;
    let (state, note) = match ln_e {
        _ if !enough => (
            GuardState::Undecided,
            Some(Note::TooFewUnits {
                units: np.min(nc),
                needs: g.min_trials,
            }),
        ),
        // Undefined (both rates 0) is never healthy.
        None => (GuardState::Undecided, Some(Note::NotShownHealthy)),
        Some(l) if l >= threshold => (GuardState::Tripped, None),
        Some(_) if healthy_ln_e.is_some_and(|h| h >= healthy_threshold) => {
            (GuardState::Healthy, None)
        }
        Some(_) => (GuardState::Undecided, Some(Note::NotShownHealthy)),
    };
    let side = |successes: u64, trials: u64| RateFigures {
        successes,
        trials,
        rate: rate(successes, trials),
    };
    let figures = GuardrailFigures::Relative(RelativeFigures {
        metric: g.metric.clone(),
        provenance,
        pilot: side(xp, np),
        control: side(xc, nc),
        max_drop_pct,
        z: score.map(|sc| sc.z),
        ln_e,
        p_value: ln_e.map(|l| (-l).exp().min(1.0)),
        threshold,
        healthy_ln_e,
        healthy_threshold,
        alpha: g.alpha,
        min_trials: g.min_trials,
    });
    Judged {
        state,
        figures,
        note,
        // The pilot's deciding units: its trials without a success, one per net.
        nets: np.saturating_sub(xp),
    }
}

fn absolute(
    g: &Guardrail,
    m: Option<&Metric>,
    provenance: Provenance,
    recent: &[Minute],
    now_offset_min: u64,
) -> Judged {
    let (bound, above) = g.bound().unwrap_or((f64::NAN, true));
    let q = g.quantile.as_deref().and_then(Quantile::parse).map(|q| q.q);
    let at = |offset: u64| {
        let t = recent
            .iter()
            .find(|minute| minute.offset_min == offset)
            .and_then(|minute| read(&minute.pilot.tally, provenance));
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
    let within = |v: &MinuteValue| v.units >= g.min_units && v.value.is_some() && !past(v);
    // What the tier's traffic gives: units with a value a minute over the window's complete
    // minutes of the last hour (at least `forMin` of them).
    let complete: Vec<u64> = (now_offset_min.saturating_sub(LOOKBACK_MIN)..now_offset_min)
        .map(|o| at(o).units)
        .collect();
    let units_per_min = (complete.len() as u64 >= g.for_min)
        .then(|| complete.iter().sum::<u64>() as f64 / complete.len() as f64);
    let (state, note) = if !minutes.is_empty() && minutes.iter().all(past) {
        (GuardState::Tripped, None)
    } else if !minutes.is_empty() && minutes.iter().all(within) {
        (GuardState::Healthy, None)
    } else if !minutes.is_empty() && minutes.iter().all(|v| v.units >= g.min_units) {
        (GuardState::Undecided, Some(Note::NotShownHealthy))
    } else if let Some(has) = units_per_min.filter(|u| *u < g.min_units as f64) {
        let note = Note::Unreachable {
            needs_per_min: g.min_units,
            has_per_min: has,
        };
        (GuardState::Undecided, Some(note))
    } else {
        let units = minutes.iter().map(|v| v.units).min().unwrap_or(0);
        let note = Note::TooFewUnits {
            units,
            needs: g.min_units,
        };
        (GuardState::Undecided, Some(note))
    };
    let nets = minutes.iter().map(|v| v.units).sum();
    let figures = GuardrailFigures::Absolute(AbsoluteFigures {
        metric: g.metric.clone(),
        provenance,
        stat: g.quantile.clone().unwrap_or_else(|| "value".into()),
        bound,
        above,
        for_min: g.for_min,
        min_units: g.min_units,
        minutes,
        units_per_min,
    });
    Judged {
        state,
        figures,
        note,
        nets,
    }
}
