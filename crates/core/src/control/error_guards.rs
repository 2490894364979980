//! The two guards on errors, each run once per provenance (edge-observed server errors,
//! client-reported `error` events weighed one unit per net), each at the window's share of the
//! guard's α (`pilot_gate_core::control::sequential`):
//!
//! - **comparative**: the likelihood ratio of "the pilot's error rate is R times control's"
//!   on the share of error units in the pilot arm. Server errors compare only when an upstream
//!   answered both arms (on a gated route control is redirected and never reaches it; the
//!   breaker watches those). Healthy only when Λ ≤ ln(β/(1−α)) over the window *and* over the
//!   units first seen in the last [`RECENT_MIN`] minutes and in its last half, for every
//!   provenance that has seen an error (so a regression that began a quarter of an hour ago is
//!   not averaged away by the healthy half hour before it); with no error in either arm, when
//!   the pilot's rate is below θ by a likelihood ratio of θ/2 against θ of at least 1/β, over
//!   the window and recently.
//! - **breaker**: the likelihood ratio of 2θ against θ of the pilot's share of units with an
//!   error within the tenure of their first exposure. Healthy once it has its fewest units
//!   and no stretch crosses.
//!
//! An edge-observed crossing rolls back. A client-reported one pauses, and only when its pilot
//! error units come from at least [`MIN_CLIENT_NETS`] nets (its counts are one unit per net,
//! so the statistic that crossed is the one-unit-per-net statistic); with fewer the guard is
//! undecided and does nothing.

use serde::{Deserialize, Serialize};

use crate::control::sequential::{ln_rate_ratio, scan, threshold, Counts, Crossing, Start};
use crate::control::stats::{sprt_bounds, sprt_lambda};
use crate::control::tally::Arm;
use crate::control::verdict::{
    from_minute, Action, BreakerFigures, ComparativeFigures, Figures, GuardKind, GuardState,
    Minute, Note, Setting, Verdict,
};
use crate::evidence::provenance::{Provenance, MIN_CLIENT_NETS};
use crate::evidence::tally::ArmTally;

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

/// The absolute breaker: the pilot's share of units with an error within `tenure_min` of
/// their first exposure above `max_error_rate` (θ), by a likelihood ratio of 2θ against θ over
/// the window and over each of its recent stretches (`pilot_gate_core::control::sequential`),
/// at `alpha` over the whole plan. A fixed tenure keeps repeat visits from inflating a unit's
/// rate: a unit that stays for days is not a unit with more chances to err.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Breaker {
    /// θ, the error rate that must not be exceeded.
    pub max_error_rate: f64,
    /// The chance of a rollback over the whole plan while the pilot's rate is θ or less.
    pub alpha: f64,
    /// Fewest pilot units in a stretch before it speaks.
    pub min_exposures: u64,
    /// Errors count within this many minutes of the unit's first exposure (1 to
    /// [`MAX_TENURE_MIN`](crate::evidence::tally::MAX_TENURE_MIN)).
    pub tenure_min: u64,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            max_error_rate: 0.05,
            alpha: 0.01,
            min_exposures: 100,
            tenure_min: 30,
        }
    }
}

impl Breaker {
    /// The error rate the breaker looks for: 2θ (or halfway to 1, for θ of a half or more).
    pub fn alternative(&self) -> f64 {
        (2.0 * self.max_error_rate).min((1.0 + self.max_error_rate) / 2.0)
    }
}

/// The recent stretch that "healthy" must hold on as well as the window, in minutes.
pub const RECENT_MIN: u64 = 30;

/// The units with an error of both arms (pilot, control) over a stretch.
type ErrorCounts = (Counts, Counts);

fn plus(a: ErrorCounts, b: ErrorCounts) -> ErrorCounts {
    (a.0.plus(b.0), a.1.plus(b.1))
}

/// An arm's one-unit-per-net figures (empty when it has none).
fn reps(a: &Arm) -> &ArmTally {
    static EMPTY: std::sync::OnceLock<ArmTally> = std::sync::OnceLock::new();
    a.tally
        .reps
        .as_deref()
        .unwrap_or_else(|| EMPTY.get_or_init(ArmTally::default))
}

/// Units and units with an error of one provenance, in one arm.
fn error_units(a: &Arm, p: Provenance) -> Counts {
    match p {
        Provenance::Edge => Counts::new(a.exposures, a.server_errors),
        Provenance::Client => {
            let r = reps(a);
            Counts::new(r.units, r.client_error_units)
        }
    }
}

/// Units and units with an error within `tenure_min` of one provenance, in one arm.
fn tenure_units(a: &Arm, p: Provenance, tenure_min: u64) -> Counts {
    match p {
        Provenance::Edge => Counts::new(a.exposures, a.tally.errors_within(true, tenure_min)),
        Provenance::Client => {
            let r = reps(a);
            Counts::new(r.units, r.errors_within(false, tenure_min))
        }
    }
}

/// The sum of the recent minutes first seen from `from_offset` on.
fn since<T: Copy>(minutes: &[(u64, T)], from_offset: u64, zero: T, plus: impl Fn(T, T) -> T) -> T {
    minutes
        .iter()
        .filter(|(m, _)| *m >= from_offset)
        .fold(zero, |acc, (_, t)| plus(acc, *t))
}

/// What an error test does with a crossing of one provenance: the state, the action and the
/// note (`wanted` is its action on edge-observed evidence).
fn act_on(
    crossing: &Crossing<impl Copy>,
    p: Provenance,
    pilot_errors: u64,
    wanted: Action,
) -> (GuardState, Option<Action>, Option<Note>) {
    match p {
        Provenance::Edge => (GuardState::Tripped, Some(wanted), None),
        Provenance::Client if pilot_errors >= MIN_CLIENT_NETS && crossing.crossed() => {
            let note = (wanted != Action::Pause).then(|| Note::ClientOnly {
                instead: wanted.name().to_owned(),
            });
            (GuardState::Tripped, Some(Action::Pause), note)
        }
        Provenance::Client => (
            GuardState::Undecided,
            None,
            Some(Note::TooFewNets {
                nets: pilot_errors,
                needs: MIN_CLIENT_NETS,
            }),
        ),
    }
}

/// One provenance's look at the comparative test.
struct Look {
    provenance: Provenance,
    whole: ErrorCounts,
    /// The last [`RECENT_MIN`] minutes.
    recent: ErrorCounts,
    /// Their last half.
    latest: ErrorCounts,
    crossing: Option<Crossing<ErrorCounts>>,
}

/// The comparative test (see the module's docs).
pub(crate) fn comparative(
    g: &Comparative,
    theta: f64,
    s: &Setting<'_>,
    (p, c): (&Arm, &Arm),
    recent: &[Minute],
    now_offset_min: u64,
) -> Verdict {
    let alpha_w = s.alpha_window(g.alpha);
    let (lower, _) = sprt_bounds(alpha_w, g.beta);
    let lambda = |(p, c): ErrorCounts| sprt_lambda(p.units, c.units, p.hits, c.hits, g.r);
    let stat = |e: ErrorCounts| lambda(e).filter(|_| e.0.hits >= g.min_errors);
    let recent_from = now_offset_min.saturating_sub(RECENT_MIN - 1);
    let latest_from = now_offset_min.saturating_sub(RECENT_MIN / 2 - 1);
    let mut provenances = Vec::new();
    if p.observed > 0 && c.observed > 0 {
        provenances.push(Provenance::Edge);
    }
    provenances.push(Provenance::Client);
    let looks: Vec<Look> = provenances
        .into_iter()
        .map(|pv| {
            let counts = |p: &Arm, c: &Arm| (error_units(p, pv), error_units(c, pv));
            let minutes: Vec<(u64, ErrorCounts)> = recent
                .iter()
                .map(|m| (m.offset_min, counts(&m.pilot, &m.control)))
                .collect();
            let whole = counts(p, c);
            let zero = (Counts::default(), Counts::default());
            Look {
                provenance: pv,
                whole,
                recent: since(&minutes, recent_from, zero, plus),
                latest: since(&minutes, latest_from, zero, plus),
                crossing: scan(whole, &minutes, plus, stat, alpha_w),
            }
        })
        .collect();
    let crossed = |pv: Provenance| {
        looks
            .iter()
            .find(|l| l.provenance == pv)
            .and_then(|l| l.crossing.filter(Crossing::crossed))
    };
    // Healthy: every provenance that has seen an error shows R < 3 over the window and
    // recently; with no error anywhere, the pilot's clean record does (over both).
    // Over every error the pilot's units had (a server error an arm alone can see included).
    let clean = |c: Counts| ln_rate_ratio(c, theta, theta / 2.0);
    let clean_threshold = (1.0 / g.beta).ln();
    let spoken: Vec<&Look> = looks
        .iter()
        .filter(|l| l.whole.0.hits + l.whole.1.hits > 0)
        .collect();
    let client = looks.last().expect("the client look is always there");
    let recent_pilot = recent
        .iter()
        .filter(|m| m.offset_min >= recent_from)
        .fold(Counts::default(), |acc, m| {
            acc.plus(Counts::new(m.pilot.exposures, m.pilot.errors))
        });
    let clean_ln_e = clean(Counts::new(p.exposures, p.errors))
        .zip(clean(recent_pilot))
        .map(|(w, r)| w.min(r));
    let health: (GuardState, Option<Note>) = if c.exposures == 0 || client.whole.1.units == 0 {
        let arm = s.control.to_owned();
        (GuardState::Undecided, Some(Note::EmptyArm { arm }))
    } else if recent_pilot.units == 0 {
        let note = Note::NoRecentUnits {
            minutes: RECENT_MIN,
        };
        (GuardState::Undecided, Some(note))
    } else if spoken.is_empty() {
        if clean_ln_e.is_some_and(|l| l >= clean_threshold) {
            (GuardState::Healthy, None)
        } else {
            // The fewest units without an error that reach the clean bound.
            let per_unit = ((1.0 - theta / 2.0) / (1.0 - theta)).ln();
            let needs = (clean_threshold / per_unit).ceil() as u64;
            let units = p.exposures.min(recent_pilot.units);
            (
                GuardState::Undecided,
                Some(Note::TooFewUnits { units, needs }),
            )
        }
    } else if spoken.iter().all(|l| {
        [l.whole, l.recent, l.latest]
            .into_iter()
            .all(|e| lambda(e).is_some_and(|x| x <= lower))
    }) {
        (GuardState::Healthy, None)
    } else {
        (GuardState::Undecided, Some(Note::NotShownHealthy))
    };
    let (state, action, note, decided) =
        match (crossed(Provenance::Edge), crossed(Provenance::Client)) {
            (Some(x), _) => {
                let (state, action, note) =
                    act_on(&x, Provenance::Edge, x.counts.0.hits, Action::Rollback);
                (state, action, note, Some((Provenance::Edge, x)))
            }
            (None, Some(x)) => {
                let (state, action, note) =
                    act_on(&x, Provenance::Client, x.counts.0.hits, Action::Rollback);
                (state, action, note, Some((Provenance::Client, x)))
            }
            (None, None) => (health.0, None, health.1, None),
        };
    // The stretch shown: the one that decided, else the first provenance's whole window.
    let (pv, shown) = decided.unwrap_or_else(|| {
        let l = &looks[0];
        let whole = Crossing {
            start: Start::Window,
            counts: l.whole,
            ln_e: f64::NAN,
            threshold: threshold(alpha_w, Start::Window).unwrap_or(f64::NAN),
        };
        (l.provenance, whole)
    });
    let look = looks
        .iter()
        .find(|l| l.provenance == pv)
        .expect("the shown provenance was looked at");
    let (sp, sc) = shown.counts;
    let figures = Figures::Comparative(ComparativeFigures {
        provenance: pv,
        pilot_exposures: sp.units,
        control_exposures: sc.units,
        pilot_errors: sp.hits,
        control_errors: sc.hits,
        from_minute: from_minute(shown.start, s.window_start_min),
        lambda: Some(shown.ln_e)
            .filter(|l| l.is_finite())
            .or(lambda(look.whole)),
        upper: shown.threshold,
        window_lambda: lambda(look.whole),
        recent_lambda: lambda(look.recent),
        lower,
        recent_min: RECENT_MIN,
        clean_ln_e,
        clean_threshold,
        max_error_rate: theta,
        r: g.r,
        alpha: g.alpha,
        alpha_window: alpha_w,
        beta: g.beta,
        min_errors: g.min_errors,
    });
    Verdict {
        guard: GuardKind::Comparative,
        state,
        figures,
        provenance: action.as_ref().map(|_| pv),
        action,
        note,
    }
}

/// The breaker (see the module's docs). It applies at every tier above 0.
pub(crate) fn breaker(g: &Breaker, s: &Setting<'_>, p: &Arm, recent: &[Minute]) -> Verdict {
    let alt = g.alternative();
    let alpha_w = s.alpha_window(g.alpha);
    let stat =
        |c: Counts| ln_rate_ratio(c, g.max_error_rate, alt).filter(|_| c.units >= g.min_exposures);
    let look = |pv: Provenance| {
        let minutes: Vec<(u64, Counts)> = recent
            .iter()
            .map(|m| (m.offset_min, tenure_units(&m.pilot, pv, g.tenure_min)))
            .collect();
        let whole = tenure_units(p, pv, g.tenure_min);
        (
            pv,
            whole,
            scan(whole, &minutes, Counts::plus, stat, alpha_w),
        )
    };
    let looks = [look(Provenance::Edge), look(Provenance::Client)];
    let decided = looks
        .iter()
        .find_map(|(pv, _, x)| Some((*pv, x.filter(Crossing::crossed)?)));
    let (state, action, note) = match &decided {
        Some((pv, x)) => act_on(x, *pv, x.counts.hits, Action::Rollback),
        None if p.exposures < g.min_exposures => (
            GuardState::Undecided,
            None,
            Some(Note::TooFewUnits {
                units: p.exposures,
                needs: g.min_exposures,
            }),
        ),
        None => (GuardState::Healthy, None, None),
    };
    // Shown: the deciding stretch, else the nearest crossing of the edge's errors.
    let (pv, whole, nearest) = match decided {
        Some((pv, x)) => {
            let whole = looks.iter().find(|l| l.0 == pv).map_or(x.counts, |l| l.1);
            (pv, whole, Some(x))
        }
        None => looks[0],
    };
    let shown = nearest.map_or((Start::Window, whole, None, None), |x| {
        (x.start, x.counts, Some(x.ln_e), Some(x.threshold))
    });
    let figures = Figures::Breaker(BreakerFigures {
        provenance: pv,
        pilot_exposures: shown.1.units,
        pilot_errors: shown.1.hits,
        from_minute: from_minute(shown.0, s.window_start_min),
        ln_e: shown.2,
        threshold: shown.3,
        window_exposures: whole.units,
        window_errors: whole.hits,
        max_error_rate: g.max_error_rate,
        alternative: alt,
        tenure_min: g.tenure_min,
        alpha: g.alpha,
        alpha_window: alpha_w,
        min_exposures: g.min_exposures,
    });
    Verdict {
        guard: GuardKind::Breaker,
        state,
        figures,
        provenance: action.as_ref().map(|_| pv),
        action,
        note,
    }
}
