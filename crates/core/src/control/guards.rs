//! The guards of a plan and their verdicts: the comparative sequential test and the absolute
//! breaker (`error_guards`), the sample-ratio hold, the no-data hold and guardrails on
//! configured metrics (`guardrail`). Each verdict carries its figures, which evidence decided
//! (edge-observed or client-reported, `pilot_gate_core::evidence::provenance`) and, when it is
//! undecided or took a milder action than its own, why; so an automatic decision can be
//! checked by hand from the audit log.
//!
//! **Healthy is recent evidence, never the absence of it.** A guard is healthy only on evidence
//! that the pilot is fine (see each guard); too little traffic, an arm without units or no
//! recent stretch leave it `undecided`, with the reason, and `autoAdvance` waits.
//!
//! **Every tier with a random share is guarded**, the first included: the allowlisted are
//! counted apart (`outside`), so the tier's random share is a sample like any other.

use serde::{Deserialize, Serialize};

use crate::control::error_guards::{breaker, comparative};
use crate::control::guardrail::{self, Guardrail};
use crate::control::sequential::ln_split_factor;
use crate::control::tally::{Arm, Arms};

pub use crate::control::error_guards::{Breaker, Comparative};
pub use crate::control::verdict::{
    Action, BreakerFigures, ComparativeFigures, Evidence, Figures, GuardKind, GuardState, Minute,
    NoDataFigures, Note, SampleRatioFigures, Setting, Verdict,
};

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

/// How far back the no-data hold's window reaches, in minutes (1 when off).
pub fn no_data_window(guards: &Guards) -> u64 {
    guards.no_data.as_ref().map_or(1, |n| n.window_min)
}

/// Every guard's verdict.
pub fn evaluate(guards: &Guards, s: &Setting<'_>, e: &Evidence) -> Vec<Verdict> {
    let empty = Arm::default();
    let arm = |arms: &'_ Arms, v: &str| arms.get(v).cloned().unwrap_or_else(|| empty.clone());
    let (p, c) = (arm(&e.since_tier, s.pilot), arm(&e.since_tier, s.control));
    // Only the breaker watches a tier without a random share (the allowlist alone).
    let only_breaker = |mut v: Verdict| {
        if !s.random_share {
            v.state = GuardState::NotApplicable;
            v.action = None;
            v.provenance = None;
            v.note = None;
        }
        v
    };
    let mut out = Vec::new();
    if let Some(g) = &guards.comparative {
        let theta = guards
            .breaker
            .as_ref()
            .map_or(Breaker::default().max_error_rate, |b| b.max_error_rate);
        let v = comparative(g, theta, s, (&p, &c), &e.recent, e.now_offset_min);
        out.push(only_breaker(v));
    }
    if let Some(g) = &guards.breaker {
        out.push(breaker(g, s, &p, &e.recent));
    }
    if let Some(g) = &guards.sample_ratio {
        out.push(only_breaker(sample_ratio(g, s, &p, &c)));
    }
    if let Some(g) = &guards.no_data {
        let n: u64 = e.no_data.values().map(|a| a.exposures).sum();
        let (state, note) = if n >= g.min_exposures {
            (GuardState::Healthy, None)
        } else {
            let note = Note::TooFewUnits {
                units: n,
                needs: g.min_exposures,
            };
            (GuardState::Hold, Some(note))
        };
        let figures = Figures::NoData(NoDataFigures {
            exposures: n,
            min_exposures: g.min_exposures,
            window_min: g.window_min,
        });
        out.push(only_breaker(
            Verdict::new(GuardKind::NoData, state, figures).noted(note),
        ));
    }
    let rails = guardrail::evaluate(
        &guards.guardrails,
        s.metrics,
        s,
        (&p, &c),
        &e.recent,
        e.now_offset_min,
    );
    out.extend(rails.into_iter().map(only_breaker));
    out
}

/// The sample-ratio hold: a sequential Bayes factor of the units' split against the window's
/// served share (constant within a window: it restarts whenever the share changes).
fn sample_ratio(g: &SampleRatio, s: &Setting<'_>, p: &Arm, c: &Arm) -> Verdict {
    let n = p.exposures + c.exposures;
    let expected = s.expected_share;
    let ln_e = expected
        .and_then(|share| ln_split_factor(p.exposures, c.exposures, share, SPLIT_PRIOR_STRENGTH));
    let threshold = (1.0 / s.alpha_window(g.alpha)).ln();
    let (state, note) = match ln_e {
        None => (GuardState::NotApplicable, None),
        Some(_) if n < g.min_exposures => (
            GuardState::Undecided,
            Some(Note::TooFewUnits {
                units: n,
                needs: g.min_exposures,
            }),
        ),
        Some(l) if l >= threshold => (GuardState::Hold, None),
        Some(_) => (GuardState::Healthy, None),
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
    Verdict::new(GuardKind::SampleRatio, state, figures).noted(note)
}
