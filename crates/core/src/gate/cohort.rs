//! Who is in which cohort: the flag a gated route is bound to, decided for a visitor by
//! `PILOT_ROLLOUT_PCT` when it is set (0 is the kill switch of every gated route), else by the
//! flag set in force, else the built-in default (off).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::flags::evaluate::{Context, Handed};
use crate::flags::model::FlagSet;
use crate::flags::source::Published;
use crate::gate::bucket::{in_rollout, MAX_BASIS_POINTS};
use crate::gate::identity::{Identity, KeySource};

/// The flag key of the pilot rollout; bucketing keys are `"pilot" + targeting_key`.
pub const PILOT_FLAG: &str = "pilot";
/// Name of the script-readable cohort cookie.
pub const COHORT_COOKIE: &str = "pilot_cohort";

/// The cohort a visitor is in for a gated route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cohort {
    /// The route's flag is on: gated routes pass through.
    Pilot,
    /// The route's flag is off: gated routes redirect.
    Control,
}

impl Cohort {
    /// The cookie value.
    pub fn as_str(self) -> &'static str {
        match self {
            Cohort::Pilot => "pilot",
            Cohort::Control => "control",
        }
    }
}

/// Where a `PILOT_ROLLOUT_PCT` rollout came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutSource {
    /// `PILOT_ROLLOUT_PCT` from the worker's vars, overriding the flag set's `pilot`.
    Vars,
    /// `PILOT_ROLLOUT_PCT=0`: the emergency kill switch; every gated route is control.
    KillSwitch,
}

/// The rollout that `PILOT_ROLLOUT_PCT` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// Flag key (`pilot`).
    pub flag: &'static str,
    /// Rollout in basis points, 0..=10 000.
    pub basis_points: u32,
    /// Where it came from.
    pub source: RolloutSource,
}

/// The rollout of `PILOT_ROLLOUT_PCT` in basis points, when it is set: `0` is the kill switch.
pub fn effective_rollout(vars_bp: Option<u32>) -> Option<Rollout> {
    let bp = vars_bp?;
    Some(Rollout {
        flag: PILOT_FLAG,
        basis_points: bp.min(MAX_BASIS_POINTS),
        source: if bp == 0 {
            RolloutSource::KillSwitch
        } else {
            RolloutSource::Vars
        },
    })
}

/// What decides the flags of one request.
#[derive(Debug, Clone, Copy)]
pub struct Decider<'a> {
    /// `PILOT_ROLLOUT_PCT`, when set.
    pub rollout: Option<Rollout>,
    /// The flag set in force, when one is loaded.
    pub set: Option<&'a FlagSet>,
    /// Now, in seconds (`$flagd.timestamp`).
    pub now_s: u64,
    /// The visitor's country, when the edge knows it.
    pub country: Option<&'a str>,
}

/// The value of a flag that lets a visitor through: `true`, or the variant named `on`.
fn passes(value: Option<&Value>, variant: Option<&str>) -> bool {
    value == Some(&Value::Bool(true)) || variant == Some("on")
}

/// What the edge itself knows of a caller, as evaluation context: `targetingKey` (the signed
/// identity), `path` (of the request), `bot`, and `country` when the runtime gives one. A caller
/// without the OFREP token cannot override any of them.
///
/// ```
/// use pilot_gate_core::gate::cohort::edge_context;
/// use pilot_gate_core::gate::identity::{Identity, KeySource};
/// let who = Identity {
///     targeting_key: "k".into(),
///     source: KeySource::UidCookie,
///     set_uid: None,
///     net: None,
///     capped: false,
/// };
/// let ctx = edge_context(&who, "/try", Some("NZ"));
/// assert_eq!(ctx["country"], "NZ");
/// assert_eq!(ctx["bot"], false);
/// ```
pub fn edge_context(identity: &Identity, path: &str, country: Option<&str>) -> Value {
    let mut ctx = json!({
        "targetingKey": identity.targeting_key,
        "path": path,
        "bot": identity.source == KeySource::Bot,
    });
    if let Some(c) = country {
        ctx["country"] = json!(c);
    }
    ctx
}

impl<'a> Decider<'a> {
    /// The decider of a request at `now_ms` under `PILOT_ROLLOUT_PCT`'s rollout and the
    /// published flag set, when there is one.
    pub fn new(
        rollout: Option<Rollout>,
        published: Option<&'a Published>,
        now_ms: u64,
        country: Option<&'a str>,
    ) -> Self {
        Decider {
            rollout,
            set: published.map(|p| &p.set),
            now_s: now_ms / 1000,
            country,
        }
    }

    /// The evaluation context of a visitor at the edge: `targetingKey`, `country`, `path`, `bot`.
    pub fn context(&self, identity: &Identity, path: &str) -> Context {
        Context::new(edge_context(identity, path, self.country), self.now_s)
    }

    /// The cohort of a visitor for a route bound to `flag`. Bots are always control.
    pub fn cohort(&self, flag: &str, identity: &Identity, ctx: &mut Context) -> Cohort {
        self.decide(flag, identity, ctx).0
    }

    /// The cohort of a visitor for a route bound to `flag`, and the variant it was handed
    /// (`on`/`off` when the vars decide; `None` for bots, the kill switch, a flag without a
    /// variant, and no flag set), as an exposure records it.
    pub fn decide(
        &self,
        flag: &str,
        identity: &Identity,
        ctx: &mut Context,
    ) -> (Cohort, Option<Handed>) {
        let (on, handed) = if identity.source == KeySource::Bot {
            (false, None)
        } else {
            match (self.rollout, self.set) {
                (Some(r), _) if r.source == RolloutSource::KillSwitch => (false, None),
                (Some(r), _) if flag == r.flag => {
                    let on = in_rollout(r.flag, &identity.targeting_key, r.basis_points);
                    let handed = Handed {
                        flag: flag.to_owned(),
                        variant: if on { "on" } else { "off" }.to_owned(),
                        outside: false,
                    };
                    (on, Some(handed))
                }
                (_, Some(set)) => {
                    let res = set.evaluate(flag, ctx);
                    let on = passes(res.value.as_ref(), res.variant.as_deref());
                    (on, res.handed(flag))
                }
                (_, None) => (false, None),
            }
        };
        let cohort = if on { Cohort::Pilot } else { Cohort::Control };
        (cohort, handed)
    }

    /// The variant of every flag for a visitor (`pilot` as `on`/`off` when the vars decide it),
    /// as events record it. Flags without a variant are left out.
    pub fn variants(&self, identity: &Identity, ctx: &mut Context) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(set) = self.set {
            for key in set.flags.keys() {
                if let Some(v) = set.evaluate(key, ctx).variant {
                    out.insert(key.clone(), v);
                }
            }
        }
        if let Some(r) = self.rollout {
            let on = self.cohort(r.flag, identity, ctx) == Cohort::Pilot;
            out.insert(r.flag.to_owned(), if on { "on" } else { "off" }.to_owned());
        }
        out
    }
}
