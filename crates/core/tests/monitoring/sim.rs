//! The simulator: per-unit traffic of two arms, errors that arrive late, and the guards checked
//! on every delta through `evaluate`, as an evidence object checks them.

use pilot_gate_core::control::guards::{
    evaluate, Action, Evidence, GuardKind, GuardState, Guards, Minute, Setting, Verdict,
};
use pilot_gate_core::control::sequential::LOOKBACK_MIN;
use pilot_gate_core::control::tally::{Arm, Arms as ArmMap};
use pilot_gate_core::evidence::metric::Metrics;
use pilot_gate_core::evidence::sketch::bucket_of;
use pilot_gate_core::evidence::tally::{pair_key, ArmTally, MAX_TENURE_MIN};

use crate::rng::Rng;

/// Runs of each false-action estimate: 400 in the short tier, `PILOT_GATE_SIM_RUNS` (the
/// nightly `--long` tier sets 4,000) for a precision at which twice a window's α fails.
pub fn runs() -> usize {
    std::env::var("PILOT_GATE_SIM_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

/// Runs of each delay estimate.
pub const DELAY_RUNS: usize = 100;
/// Deltas (checks) a minute: one every 15 s.
const DELTAS_PER_MIN: u64 = 4;
/// Longest delay of an error after its unit's exposure, in deltas.
const MAX_DELAY: usize = 63;

/// Which evidence the units' errors are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Client `error` events (every honest unit on a net of its own).
    Client,
    /// Server errors that the edge observes, an upstream answering both arms.
    Server,
}

/// What the arms' units do: each has an error with probability `errors` (pilot, control) and,
/// when `grants` is set, is asked for the microphone and grants it with those probabilities.
#[derive(Debug, Clone, Copy)]
pub struct Arms {
    errors: (f64, f64),
    grants: Option<(f64, f64)>,
    ttv_p90_ms: Option<(f64, f64)>,
    kind: Kind,
    /// Later visits of each unit (40 minutes to hours after its first), each with the same
    /// chance of an error: a unit with an error on a revisit and none before is one more unit
    /// with an error, past the breaker's tenure.
    revisits: u32,
}

/// The spread of the simulated TTVs (log-normal σ).
const TTV_SIGMA: f64 = 0.8;

impl Arms {
    /// Errors at these rates.
    pub fn errors(pilot: f64, control: f64) -> Self {
        Arms {
            errors: (pilot, control),
            grants: None,
            ttv_p90_ms: None,
            kind: Kind::Client,
            revisits: 0,
        }
    }

    /// The same, each unit visiting `n` more times later, each visit with the same chance of
    /// an error.
    pub fn revisiting(self, n: u32) -> Self {
        Arms {
            revisits: n,
            ..self
        }
    }

    /// The same errors, as server errors the edge observes.
    pub fn served(self) -> Self {
        Arms {
            kind: Kind::Server,
            ..self
        }
    }

    /// A TTV per unit (log-normal, σ = 0.8) with these 90th percentiles, in ms (and no errors).
    pub fn ttv(pilot_p90_ms: f64, control_p90_ms: f64) -> Self {
        Arms {
            errors: (0.0, 0.0),
            grants: None,
            ttv_p90_ms: Some((pilot_p90_ms, control_p90_ms)),
            kind: Kind::Client,
            revisits: 0,
        }
    }

    /// Microphone grants at these rates (and no errors).
    pub fn grants(pilot: f64, control: f64) -> Self {
        Arms {
            errors: (0.0, 0.0),
            grants: Some((pilot, control)),
            ttv_p90_ms: None,
            kind: Kind::Client,
            revisits: 0,
        }
    }
}

/// A guard (or several) watching one tier.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The guards.
    pub guards: Guards,
    /// The tier (default ladder: 1, 10, 50, 100 %).
    pub tier: usize,
    /// Exposed units a minute at the tier, both arms.
    pub level: f64,
    /// What the units do.
    pub arms: Arms,
    /// What they do after the regression begins.
    pub regress: Option<Arms>,
    /// The pilot's share as served (default: as expected).
    pub served_share: Option<f64>,
    /// The tier's share, served and expected (default: the default ladder's at `tier`).
    pub ladder_share: Option<f64>,
    /// Runs of each false-action estimate.
    pub runs: usize,
    /// How many recent minutes each check reads (the evidence object reads 60; a guard that
    /// needs fewer can be simulated faster with fewer).
    pub lookback_min: usize,
    /// The metrics the guardrails measure: `mic_grant` (`mic_granted` among `mic_prompt`) and
    /// `ttv` (quantiles of `ttv.ms`).
    pub metrics: Metrics,
    /// Forged client errors on top of the traffic.
    pub forgers: Option<Forgers>,
    /// The window's number in its plan's run (its share of α).
    pub window: u32,
}

/// A forger: from `nets` networks, `per_net_per_min` new identities a minute each (at most the
/// mint cap, 600) from minute `from_min` for `for_min` minutes, keeping those that land in the
/// pilot arm, each posting one client error. The rest land in control without an error.
#[derive(Debug, Clone, Copy)]
pub struct Forgers {
    /// Networks the identities come from.
    pub nets: u64,
    /// New identities a minute from each.
    pub per_net_per_min: f64,
    /// When it begins.
    pub from_min: u64,
    /// For how long.
    pub for_min: u64,
}

/// The simulation's metrics, as the demo defines them.
fn metrics() -> Metrics {
    pilot_gate_core::evidence::metric::parse(Some(&serde_json::json!({
        "mic_grant": {"kind": "proportion", "numerator": "mic_granted", "denominator": "mic_prompt"},
        "ttv": {"kind": "quantile", "event": "ttv", "value": "ms"},
    })))
    .expect("metrics")
}

/// The pilot's expected share at a tier of the default ladder; tier 4 stands for a flag at the
/// top tier that splits by its own rule (as `e2_primer` does): half and half, not known.
fn shares(tier: usize) -> (f64, Option<f64>) {
    match tier {
        1 => (0.01, Some(0.01)),
        2 => (0.10, Some(0.10)),
        3 => (0.50, Some(0.50)),
        _ => (0.50, None),
    }
}

impl Scenario {
    /// `guards` at `tier` with `level` units a minute doing `arms`.
    pub fn new(guards: Guards, tier: usize, level: f64, arms: Arms) -> Self {
        Scenario {
            guards,
            tier,
            level,
            arms,
            regress: None,
            served_share: None,
            ladder_share: None,
            runs: runs(),
            lookback_min: LOOKBACK_MIN as usize,
            metrics: metrics(),
            forgers: None,
            window: tier as u32,
        }
    }

    /// The same with forgers.
    pub fn forged(&self, forgers: Forgers) -> Self {
        Scenario {
            forgers: Some(forgers),
            ..self.clone()
        }
    }

    /// The share of its runs (of `minutes` each) in which a guard takes each action: (any
    /// action or hold, a rollback, fallback or step back).
    pub fn actions(&self, seed: u64, minutes: u64) -> (f64, f64) {
        let acted = parallel(self.runs, seed, |rng| {
            let mut w = Window::new(self);
            let mut any = false;
            for _ in 0..minutes * DELTAS_PER_MIN {
                let v = w.step(rng, self.arms);
                any |= acts(&v);
                if strong(&v) {
                    return (true, true);
                }
            }
            (any, false)
        });
        let share = |f: fn(&(bool, bool)) -> bool| {
            acted.iter().filter(|a| f(a)).count() as f64 / self.runs as f64
        };
        (share(|a| a.0), share(|a| a.1))
    }

    /// The share of runs in which every guard is healthy at `at_min` (regressing from
    /// `regress_from_min`, when `regress` is set).
    pub fn healthy_at(&self, seed: u64, at_min: u64, regress_from_min: u64) -> f64 {
        let healthy = parallel(self.runs.min(DELAY_RUNS * 4), seed, |rng| {
            let mut w = Window::new(self);
            let mut last = Vec::new();
            for delta in 0..at_min * DELTAS_PER_MIN {
                let regressed = delta >= regress_from_min * DELTAS_PER_MIN;
                let arms = self.regress.filter(|_| regressed).unwrap_or(self.arms);
                last = w.step(rng, arms);
                if acts(&last) {
                    return false;
                }
            }
            !last.is_empty()
                && last
                    .iter()
                    .all(|v| matches!(v.state, GuardState::Healthy | GuardState::NotApplicable))
        });
        healthy.iter().filter(|h| **h).count() as f64 / healthy.len() as f64
    }

    /// The same, each check reading only the last `minutes` minutes, `runs` runs for each
    /// false-action estimate (for a guard too slow to simulate 400 times).
    pub fn lighter(&self, minutes: usize, runs: usize) -> Self {
        Scenario {
            lookback_min: minutes,
            runs,
            ..self.clone()
        }
    }

    /// The same with other arms.
    pub fn with(&self, arms: Arms) -> Self {
        Scenario {
            arms,
            ..self.clone()
        }
    }

    /// The same, regressing to `arms` (at the minute given to [`Scenario::delays`]).
    pub fn regressing(&self, arms: Arms) -> Self {
        Scenario {
            regress: Some(arms),
            ..self.clone()
        }
    }

    /// The share of its runs (of `minutes` each) in which a guard acts (or holds, for the sample
    /// ratio).
    pub fn false_actions(&self, seed: u64, minutes: u64) -> f64 {
        let acted = parallel(self.runs, seed, |rng| {
            let mut w = Window::new(self);
            (0..minutes * DELTAS_PER_MIN).any(|_| acts(&w.step(rng, self.arms)))
        });
        acted.iter().filter(|a| **a).count() as f64 / self.runs as f64
    }

    /// Minutes from `from_min` (when `regress` begins) to the first action, in the runs that
    /// act within `max_after_min` of it (and not before it).
    pub fn delays(&self, seed: u64, from_min: u64, max_after_min: u64) -> Vec<f64> {
        let found = parallel(DELAY_RUNS, seed, |rng| {
            let mut w = Window::new(self);
            for delta in 0..(from_min + max_after_min) * DELTAS_PER_MIN {
                let regressed = delta >= from_min * DELTAS_PER_MIN;
                let arms = self.regress.filter(|_| regressed).unwrap_or(self.arms);
                if acts(&w.step(rng, arms)) {
                    return regressed.then(|| {
                        (delta + 1 - from_min * DELTAS_PER_MIN) as f64 / DELTAS_PER_MIN as f64
                    });
                }
            }
            None
        });
        let mut out: Vec<f64> = found.into_iter().flatten().collect();
        out.sort_by(f64::total_cmp);
        out
    }

    /// Minutes until the comparative test says healthy, in the runs where it does within
    /// `max_min`.
    pub fn until_healthy(&self, seed: u64, max_min: u64) -> Vec<f64> {
        let found = parallel(DELAY_RUNS, seed, |rng| {
            let mut w = Window::new(self);
            (0..max_min * DELTAS_PER_MIN).find_map(|delta| {
                let healthy = w
                    .step(rng, self.arms)
                    .iter()
                    .any(|v| v.guard == GuardKind::Comparative && v.state == GuardState::Healthy);
                healthy.then(|| (delta + 1) as f64 / DELTAS_PER_MIN as f64)
            })
        });
        let mut out: Vec<f64> = found.into_iter().flatten().collect();
        out.sort_by(f64::total_cmp);
        out
    }
}

/// A whole plan: each tier for `minutes_per_tier`, a new window at each.
pub struct Plan {
    /// The guards.
    pub guards: Guards,
    /// Exposed units a minute at every tier.
    pub level: f64,
    /// The tiers and their shares.
    pub tiers: Vec<(usize, f64)>,
    /// Minutes at each tier.
    pub minutes_per_tier: u64,
}

impl Plan {
    /// The share of [`runs`] A/A runs (2 % errors, 90 % grants in both arms) in which a guard
    /// acts or holds at some tier.
    pub fn false_actions(&self, seed: u64) -> f64 {
        let acted = parallel(runs(), seed, |rng| {
            self.tiers.iter().any(|&(tier, share)| {
                let arms = Arms {
                    errors: (0.02, 0.02),
                    grants: Some((0.9, 0.9)),
                    ttv_p90_ms: None,
                    kind: Kind::Client,
                    revisits: 0,
                };
                let s = Scenario::new(self.guards.clone(), tier, self.level, arms);
                let mut w = Window::new(&s);
                w.share = share;
                w.expected = (share < 1.0).then_some(share);
                (0..self.minutes_per_tier * DELTAS_PER_MIN).any(|_| acts(&w.step(rng, s.arms)))
            })
        });
        acted.iter().filter(|a| **a).count() as f64 / runs() as f64
    }
}

/// Whether the verdicts act: an action, or the sample ratio's hold (the no-data hold is not a
/// false action: a new window has no data).
fn acts(verdicts: &[Verdict]) -> bool {
    verdicts.iter().any(|v| {
        v.action.is_some() || (v.guard == GuardKind::SampleRatio && v.state == GuardState::Hold)
    })
}

/// Whether the verdicts take a stronger action than a pause.
fn strong(verdicts: &[Verdict]) -> bool {
    verdicts
        .iter()
        .any(|v| v.action.as_ref().is_some_and(|a| *a != Action::Pause))
}

/// One run's window: the evidence a check reads (totals, the recent minutes by minute of first
/// exposure, kept in place rather than rebuilt for every check), and the late errors. Honest
/// units are each on a net of their own, so one unit per net is every honest unit; a forger's
/// units add one unit per net and arm.
struct Window<'a> {
    guards: &'a Guards,
    metrics: &'a Metrics,
    lookback_min: usize,
    tier: usize,
    window: u32,
    level: f64,
    share: f64,
    expected: Option<f64>,
    forgers: Option<Forgers>,
    delta: u64,
    e: Evidence,
    /// Where late errors of minutes older than the recent ones go (only the totals keep them).
    scratch: Arm,
    /// Errors due at each delta (a ring): (minute, pilot?, count, kind).
    due: Vec<Vec<(usize, bool, u64, Kind)>>,
    /// Whether each forged net already has its unit in (pilot, control).
    forged_nets: (u64, u64),
}

/// An arm's one-unit-per-net figures.
fn reps(a: &mut Arm) -> &mut ArmTally {
    a.tally.reps.get_or_insert_default()
}

/// `n` units exposed in an arm (one per net, unless `rep` counts only `rep` of them per net).
fn exposed(a: &mut Arm, n: u64, reps_n: u64, kind: Kind) {
    a.exposures += n;
    reps(a).units += reps_n;
    if kind == Kind::Server {
        a.observed += n;
    }
}

/// `k` units with an error `delay_min` after their first exposure (`reps_k` of them one per
/// net).
fn erred(a: &mut Arm, k: u64, reps_k: u64, kind: Kind, delay_min: u64) {
    a.errors += k;
    match kind {
        Kind::Server => {
            a.server_errors += k;
            *a.tally.server_error_delays.entry(delay_min).or_default() += k;
        }
        Kind::Client => {
            a.client_errors += k;
            let r = reps(a);
            r.client_error_units += reps_k;
            *r.client_error_delays.entry(delay_min).or_default() += reps_k;
        }
    }
}

impl<'a> Window<'a> {
    fn new(s: &'a Scenario) -> Self {
        let (share, expected) = s.ladder_share.map_or(shares(s.tier), |x| (x, Some(x)));
        Window {
            guards: &s.guards,
            metrics: &s.metrics,
            lookback_min: s.lookback_min,
            tier: s.tier,
            window: s.window,
            level: s.level,
            share: s.served_share.unwrap_or(share),
            expected,
            forgers: s.forgers,
            delta: 0,
            e: Evidence {
                since_tier: ArmMap::from([
                    ("on".to_owned(), Arm::default()),
                    ("off".to_owned(), Arm::default()),
                ]),
                ..Evidence::default()
            },
            scratch: Arm::default(),
            due: vec![Vec::new(); MAX_DELAY + 1],
            forged_nets: (0, 0),
        }
    }

    /// One delta: arrivals, due errors, then the guards' check.
    fn step(&mut self, rng: &mut Rng, arms: Arms) -> Vec<Verdict> {
        let minute = (self.delta / DELTAS_PER_MIN) as usize;
        if self
            .e
            .recent
            .last()
            .is_none_or(|m| m.offset_min < minute as u64)
        {
            self.e.recent.push(Minute {
                offset_min: minute as u64,
                ..Minute::default()
            });
            if self.e.recent.len() > self.lookback_min {
                self.e.recent.remove(0);
            }
        }
        let per_delta = self.level / DELTAS_PER_MIN as f64;
        for pilot in [true, false] {
            let share = if pilot { self.share } else { 1.0 - self.share };
            let n = rng.poisson_any(per_delta * share);
            if n == 0 {
                continue;
            }
            let (row, total) = self.arm(minute, pilot);
            exposed(row, n, n, arms.kind);
            exposed(total, n, n, arms.kind);
            let pick = |(p, c): (f64, f64)| if pilot { p } else { c };
            let x = rng.binomial(n, pick(arms.errors));
            for _ in 0..x {
                let d = rng.geometric_delay(MAX_DELAY);
                let at = (self.delta as usize + d) % (MAX_DELAY + 1);
                self.due[at].push((minute, pilot, 1, arms.kind));
            }
            // Units first erring on a later visit: counted now (when they arrive does not
            // matter here), past the tenure.
            if arms.revisits > 0 {
                let clean = 1.0 - pick(arms.errors);
                let later = 1.0 - clean.powi(arms.revisits as i32);
                let y = rng.binomial(n - x, later);
                let (row, total) = self.arm(minute, pilot);
                erred(row, y, y, arms.kind, MAX_TENURE_MIN + 1);
                erred(total, y, y, arms.kind, MAX_TENURE_MIN + 1);
            }
            if let Some(grants) = arms.grants {
                let x = rng.binomial(n, pick(grants));
                let (row, total) = self.arm(minute, pilot);
                for a in [row, total] {
                    let t = reps(a);
                    *t.event_units.entry("mic_prompt".into()).or_default() += n;
                    *t.event_units.entry("mic_granted".into()).or_default() += x;
                    *t.pair_units
                        .entry(pair_key("mic_granted", "mic_prompt"))
                        .or_default() += x;
                }
            }
            // Only the pilot's TTVs: the absolute guardrail reads nothing else.
            if let Some(p90) = arms.ttv_p90_ms.filter(|_| pilot) {
                let median = pick(p90) / (1.2816 * TTV_SIGMA).exp();
                let buckets: Vec<i32> = (0..n)
                    .filter_map(|_| bucket_of(rng.log_normal(median, TTV_SIGMA)))
                    .collect();
                let (row, total) = self.arm(minute, pilot);
                for a in [row, total] {
                    let sketch = reps(a).values.entry("ttv.ms".into()).or_default();
                    buckets.iter().for_each(|b| sketch.add_bucket(*b, 1));
                }
            }
        }
        self.forge(rng, minute);
        let now = self.delta as usize % (MAX_DELAY + 1);
        for (m, pilot, k, kind) in std::mem::take(&mut self.due[now]) {
            let delay_min = (minute - m) as u64;
            let (row, total) = self.arm(m, pilot);
            erred(row, k, k, kind, delay_min);
            erred(total, k, k, kind, delay_min);
        }
        self.delta += 1;
        self.check(minute)
    }

    /// The forger's identities of this delta: those that land in the pilot arm post an error at
    /// once; each net's first unit in each arm speaks for the net.
    fn forge(&mut self, rng: &mut Rng, minute: usize) {
        let Some(f) = self.forgers else { return };
        let m = minute as u64;
        if m < f.from_min || m >= f.from_min + f.for_min {
            return;
        }
        let minted = rng.poisson_any(f.nets as f64 * f.per_net_per_min / DELTAS_PER_MIN as f64);
        let in_pilot = rng.binomial(minted, self.share);
        for (pilot, n) in [(true, in_pilot), (false, minted - in_pilot)] {
            if n == 0 {
                continue;
            }
            // Nets that get their first unit in this arm now (spread evenly over the nets).
            let seen = if pilot {
                &mut self.forged_nets.0
            } else {
                &mut self.forged_nets.1
            };
            let new_nets = n.min(f.nets - *seen);
            *seen += new_nets;
            let (row, total) = self.arm(minute, pilot);
            for a in [row, total] {
                exposed(a, n, new_nets, Kind::Client);
                if pilot {
                    erred(a, n, new_nets, Kind::Client, 0);
                }
            }
        }
    }

    fn arm(&mut self, minute: usize, pilot: bool) -> (&mut Arm, &mut Arm) {
        let Evidence {
            recent, since_tier, ..
        } = &mut self.e;
        let first = recent.first().map_or(0, |m| m.offset_min as usize);
        let row = match minute.checked_sub(first).and_then(|i| recent.get_mut(i)) {
            Some(m) if pilot => &mut m.pilot,
            Some(m) => &mut m.control,
            None => &mut self.scratch,
        };
        let total = since_tier
            .get_mut(if pilot { "on" } else { "off" })
            .expect("both arms");
        (row, total)
    }

    fn check(&mut self, minute: usize) -> Vec<Verdict> {
        let current = self.e.recent.last().cloned().unwrap_or_default();
        self.e.no_data = ArmMap::from([
            ("on".to_owned(), current.pilot),
            ("off".to_owned(), current.control),
        ]);
        self.e.now_offset_min = minute as u64;
        let s = Setting {
            pilot: "on",
            control: "off",
            off: "off",
            tier: self.tier,
            random_share: true,
            tiers: 4,
            window: self.window,
            window_start_min: 0,
            expected_share: self.expected,
            metrics: self.metrics,
        };
        evaluate(self.guards, &s, &self.e)
    }
}

impl Rng {
    /// Poisson(`mean`): by inversion for small means, else the normal approximation.
    fn poisson_any(&mut self, mean: f64) -> u64 {
        if mean < 30.0 {
            return self.poisson(mean);
        }
        (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64
    }

    /// Binomial(`n`, `p`): by counting for small `n`, by inversion for small means, else the
    /// normal approximation.
    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        if n <= 64 {
            return (0..n).filter(|_| self.unit() < p).count() as u64;
        }
        let (mean, var) = (n as f64 * p, n as f64 * p * (1.0 - p));
        if var > 25.0 {
            let x = (mean + var.sqrt() * self.normal()).round();
            return x.clamp(0.0, n as f64) as u64;
        }
        // Inversion: walk the pmf from 0 (mean below about 30).
        let q = 1.0 - p;
        let (mut k, mut pmf, u) = (0u64, q.powf(n as f64), self.unit());
        let mut cdf = pmf;
        while cdf < u && k < n {
            pmf *= (n - k) as f64 / (k + 1) as f64 * p / q;
            k += 1;
            cdf += pmf;
        }
        k
    }

    /// A standard normal draw.
    fn normal(&mut self) -> f64 {
        self.log_normal(1.0, 1.0).ln()
    }

    /// Deltas until an error arrives after its unit's exposure: 1 + Geometric(1/2) failures
    /// (mean 2 deltas, 30 s; one in 16 takes more than a minute), at most `max`.
    fn geometric_delay(&mut self, max: usize) -> usize {
        let u = self.unit().max(1e-300);
        let failures = (u.ln() / 0.5f64.ln()).floor() as usize;
        (1 + failures).min(max)
    }
}

/// `runs` independent runs of `f` on two threads, each with its own generator.
fn parallel<T: Send>(runs: usize, seed: u64, f: impl Fn(&mut Rng) -> T + Sync) -> Vec<T> {
    let half = runs / 2;
    std::thread::scope(|scope| {
        let f = &f;
        let part = |from: usize, to: usize| {
            move || {
                (from..to)
                    .map(|i| {
                        let mut rng =
                            Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64 + 1));
                        rng.unit();
                        f(&mut rng)
                    })
                    .collect::<Vec<T>>()
            }
        };
        let a = scope.spawn(part(0, half));
        let mut out = part(half, runs)();
        let mut first = a.join().expect("a simulation thread panicked");
        first.append(&mut out);
        first
    })
}

/// `alpha` plus three standard errors of an estimate from [`runs`] runs.
pub fn bound(alpha: f64) -> f64 {
    alpha + 3.0 * (alpha * (1.0 - alpha) / runs() as f64).sqrt()
}

/// The median of sorted values.
pub fn median(sorted: &[f64]) -> Option<f64> {
    sorted.get(sorted.len() / 2).copied()
}

/// Prints a false-action figure.
pub fn print_false(guard: &str, what: &str, level: f64, share: f64, alpha: f64) {
    println!(
        "{guard:<26} {what:<34} {level:>6} units/min: false actions in 24 h of checks {:>5.2} % of {} runs (alpha {:.3} %)",
        share * 100.0,
        runs(),
        alpha * 100.0
    );
}

/// Prints the false-action figure of an operating rule (no α to hold it to).
pub fn print_rule(guard: &str, what: &str, level: f64, share: f64, runs: usize) {
    println!(
        "{guard:<26} {what:<34} {level:>6} units/min: actions in 24 h of checks {:>5.2} % of {runs} runs (an operating rule)",
        share * 100.0
    );
}

/// Prints a delay figure.
pub fn print_delays(guard: &str, what: &str, level: f64, sorted: &[f64]) {
    let q = |p: f64| sorted.get((sorted.len() as f64 * p) as usize).copied();
    let f = |x: Option<f64>| x.map_or("-".to_owned(), |m| format!("{m:.1}"));
    println!(
        "{guard:<26} {what:<34} {level:>6} units/min: {} of {DELAY_RUNS} runs; median {} min, p90 {} min",
        sorted.len(),
        f(median(sorted)),
        f(q(0.9))
    );
}
