//! What the admin API takes: a flag (`PUT /api/admin/flags/{key}`) and a whole flagd document
//! (`PUT /api/admin/flagset`), validated field by field. Every refusal names the JSON pointer of
//! the field at fault.

use serde_json::{Map, Value};

use crate::control::approval;
use crate::control::error::ControlError;
use crate::control::guardrail::{ClientEvidence, Guardrail, GuardrailAction};
use crate::control::guards::Guards;
use crate::control::plan::{
    AutoAdvance, ControlledFlag, Plan, Status, DEFAULT_LADDER_PCT, DEFAULT_MIN_DWELL_S,
};
use crate::control::sequential::LOOKBACK_MIN;
use crate::evidence::metric::{MetricKind, Metrics, Quantile};
use crate::evidence::tally::MAX_TENURE_MIN;
use crate::flags::model::FlagSet;

/// Most entries of an allow- or deny-list.
pub const MAX_LIST_LEN: usize = 10_000;
/// Longest targeting key in a list, in bytes.
pub const MAX_TARGETING_KEY_BYTES: usize = 256;
/// Longest dwell time, in seconds (30 days).
pub const MAX_DWELL_S: u64 = 30 * 86_400;
/// Most tiers on a ladder.
pub const MAX_TIERS: usize = 10;

/// The fields of a plan as the API reads and writes them; `tier`, `status`, `tierSinceMs` and
/// `tierRevision` are moved by commands only (a `PUT` may send them back unchanged).
const PLAN_FIELDS: [&str; 17] = [
    "ladderPct",
    "allow",
    "deny",
    "on",
    "off",
    "minDwellS",
    "requires",
    "tier",
    "status",
    "tierSinceMs",
    "tierRevision",
    "windowSinceMs",
    "window",
    "guards",
    "fallback",
    "autoAdvance",
    "approvals",
];

/// Whether `key` can name a flag: 1 to 64 of `A-Z a-z 0-9 _ - .`.
pub fn valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// Where a plan's tier and status may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `PUT /api/admin/flags/{key}`: only commands move a flag, so `tier` and `status` are
    /// refused; a new flag starts as a draft at tier 0.
    Put,
    /// An imported document: tier and status as given, else the top tier, `complete`.
    Import,
}

/// A flag's targeting that does not compile, kept by an import as flagd keeps it: the flag
/// answers `PARSE_ERROR` for itself alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The JSON pointer of the bad part, under the flag's definition.
    pub path: String,
    /// What is wrong.
    pub detail: String,
}

/// What a flag is checked against: the rest of its set.
pub struct SetContext<'a> {
    /// The set's `$evaluators`.
    pub evaluators: &'a Map<String, Value>,
    /// The set's metrics (what guardrails may name).
    pub metrics: &'a Metrics,
    /// Whether a key names a flag of the set.
    pub known: &'a dyn Fn(&str) -> bool,
}

/// Parses and validates one flag (`{"definition": {...}, "plan": {...}}`) at `base` (a JSON
/// pointer prefix). `previous` keeps a changed flag's tier, status and dwell clock. A
/// targeting rule that does not compile is refused (422) on a `PUT`, and kept by an import
/// (the third value says what is wrong with it).
pub fn parse_flag(
    key: &str,
    body: &Value,
    base: &str,
    previous: Option<&Plan>,
    origin: Origin,
    set: &SetContext<'_>,
) -> Result<(Value, Plan, Option<RuleError>), ControlError> {
    let Value::Object(body) = body else {
        return Err(ControlError::invalid(
            base,
            "expected {\"definition\": {...}, \"plan\": {...}}",
        ));
    };
    if let Some(field) = body.keys().find(|k| *k != "definition" && *k != "plan") {
        return Err(ControlError::invalid(
            format!("{base}/{field}"),
            "unknown field",
        ));
    }
    let definition = body
        .get("definition")
        .ok_or_else(|| ControlError::invalid(format!("{base}/definition"), "required"))?;
    let path = format!("{base}/definition");
    let rule_error = match check_definition(key, definition, &path, set.evaluators)? {
        Some(e) if origin == Origin::Put => return Err(ControlError::invalid(e.path, e.detail)),
        kept => kept,
    };
    let empty = Value::Object(Map::new());
    let spec = body.get("plan").unwrap_or(&empty);
    let plan = parse_plan(
        key,
        definition,
        spec,
        &format!("{base}/plan"),
        previous,
        origin,
        set,
    )?;
    Ok((definition.clone(), plan, rule_error))
}

/// Refuses a definition that is not a flag; answers a targeting rule that does not compile.
fn check_definition(
    key: &str,
    definition: &Value,
    path: &str,
    evaluators: &Map<String, Value>,
) -> Result<Option<RuleError>, ControlError> {
    if !definition.is_object() {
        return Err(ControlError::invalid(
            path,
            "must be a flagd flag definition (an object)",
        ));
    }
    // flagd takes a flag without `defaultVariant` (or with `null`): it answers the caller's
    // own default.
    for required in ["state", "variants"] {
        if definition.get(required).is_none() {
            return Err(ControlError::invalid(
                format!("{path}/{required}"),
                "required",
            ));
        }
    }
    let doc = serde_json::json!({"flags": {key: definition}, "$evaluators": evaluators});
    let set = FlagSet::from_value(&doc).map_err(|e| ControlError::invalid(path, e.to_string()))?;
    let Some(issue) = set.issues.first() else {
        return Ok(None);
    };
    let at = format!("{path}/{}", issue.field.trim_start_matches('/'));
    if issue.field.starts_with("targeting") {
        Ok(Some(RuleError {
            path: at,
            detail: issue.detail.clone(),
        }))
    } else {
        Err(ControlError::invalid(at, issue.detail.clone()))
    }
}

fn parse_plan(
    key: &str,
    definition: &Value,
    spec: &Value,
    path: &str,
    previous: Option<&Plan>,
    origin: Origin,
    set: &SetContext<'_>,
) -> Result<Plan, ControlError> {
    let Value::Object(spec) = spec else {
        return Err(ControlError::invalid(path, "must be an object"));
    };
    if let Some(field) = spec.keys().find(|k| !PLAN_FIELDS.contains(&k.as_str())) {
        return Err(ControlError::invalid(
            format!("{path}/{field}"),
            "unknown field",
        ));
    }
    let at = |field: &str| format!("{path}/{field}");
    let ladder_pct = match spec.get("ladderPct") {
        None => previous.map_or(DEFAULT_LADDER_PCT.to_vec(), |p| p.ladder_pct.clone()),
        Some(v) => ladder(v, &at("ladderPct"))?,
    };
    let variant = |field: &str, want: bool| -> Result<String, ControlError> {
        match spec.get(field) {
            None => Ok(ControlledFlag::variant_valued(definition, want).unwrap_or_default()),
            // No variant: callers get their own default (see `Plan::on`); `""` is how a plan
            // read back from the API says it, so a read plan can be written again as it is.
            Some(Value::Null) => Ok(String::new()),
            Some(Value::String(v)) if v.is_empty() => Ok(String::new()),
            Some(Value::String(v)) if definition["variants"].get(v).is_some() => Ok(v.clone()),
            Some(v) => Err(ControlError::invalid(
                at(field),
                format!("{v} is not a variant of the flag"),
            )),
        }
    };
    let (on, off) = (variant("on", true)?, variant("off", false)?);
    let min_dwell_s = match spec.get("minDwellS") {
        None => previous.map_or(DEFAULT_MIN_DWELL_S, |p| p.min_dwell_s),
        Some(v) => v.as_u64().filter(|s| *s <= MAX_DWELL_S).ok_or_else(|| {
            ControlError::invalid(
                at("minDwellS"),
                format!("must be whole seconds, 0 to {MAX_DWELL_S}"),
            )
        })?,
    };
    let requires = keys(spec.get("requires"), &at("requires"), 64, 64)?;
    for (i, r) in requires.iter().enumerate() {
        if r == key || !(set.known)(r) {
            return Err(ControlError::invalid(
                format!("{path}/requires/{i}"),
                format!("{r:?} is not another flag of the set"),
            ));
        }
    }
    let (tier, status, tier_since_ms) = position(spec, path, &ladder_pct, previous, origin)?;
    let ladder_top = ladder_pct.len().saturating_sub(1);
    Ok(Plan {
        allow: keys(
            spec.get("allow"),
            &at("allow"),
            MAX_LIST_LEN,
            MAX_TARGETING_KEY_BYTES,
        )?,
        deny: keys(
            spec.get("deny"),
            &at("deny"),
            MAX_LIST_LEN,
            MAX_TARGETING_KEY_BYTES,
        )?,
        ladder_pct,
        tier,
        on,
        off,
        min_dwell_s,
        requires,
        status,
        tier_since_ms,
        tier_revision: previous.map_or(0, |p| p.tier_revision),
        window_since_ms: previous.map_or(0, |p| p.window_since_ms),
        window: previous.map_or(1, |p| p.window),
        guards: guards(
            spec.get("guards"),
            &at("guards"),
            definition,
            set.metrics,
            ladder_top,
        )?,
        auto_advance: auto_advance(spec.get("autoAdvance"), &at("autoAdvance"), ladder_top)?,
        approvals: approval::parse(spec.get("approvals"), &at("approvals"))?,
        fallback: fallback(
            spec.get("fallback"),
            &at("fallback"),
            definition,
            previous,
            origin,
        )?,
        objections: Vec::new(),
    })
}

/// The largest ratio the comparative test may be set to detect (beyond it, the test would
/// wait for a regression no pilot survives long enough to show).
pub const MAX_R: f64 = 100.0;

/// The plan's guards: `null` or absent is none, `{}` the defaults; every field checked.
fn guards(
    v: Option<&Value>,
    path: &str,
    definition: &Value,
    metrics: &Metrics,
    top: usize,
) -> Result<Option<Guards>, ControlError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let g: Guards = serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        let at = e
            .path()
            .to_string()
            .replace(['.', '['], "/")
            .replace(']', "");
        let at = if at == "/" || at.is_empty() {
            String::new()
        } else {
            format!("/{}", at.trim_start_matches('/'))
        };
        ControlError::invalid(format!("{path}{at}"), e.inner().to_string())
    })?;
    let bad =
        |field: &str, detail: &str| Err(ControlError::invalid(format!("{path}/{field}"), detail));
    let unit = |x: f64| x > 0.0 && x < 1.0;
    if let Some(c) = &g.comparative {
        if !(c.r > 1.0 && c.r <= MAX_R) {
            return bad(
                "comparative/r",
                &format!("must be a ratio above 1 and at most {MAX_R}"),
            );
        }
        if !unit(c.alpha) || !unit(c.beta) || c.alpha + c.beta >= 1.0 {
            return bad(
                "comparative",
                "alpha and beta must be between 0 and 1, and alpha + beta below 1",
            );
        }
    }
    if let Some(b) = &g.breaker {
        if !unit(b.max_error_rate) || !unit(b.alpha) {
            return bad("breaker", "maxErrorRate and alpha must be between 0 and 1");
        }
        if !(1..=MAX_TENURE_MIN).contains(&b.tenure_min) {
            return bad(
                "breaker/tenureMin",
                &format!("must be 1 to {MAX_TENURE_MIN} minutes"),
            );
        }
    }
    if g.sample_ratio.as_ref().is_some_and(|s| !unit(s.alpha)) {
        return bad("sampleRatio/alpha", "must be between 0 and 1");
    }
    if g.no_data.as_ref().is_some_and(|n| n.window_min == 0) {
        return bad("noData/windowMin", "must be at least 1");
    }
    for (i, r) in g.guardrails.iter().enumerate() {
        guardrail(
            r,
            &format!("{path}/guardrails/{i}"),
            definition,
            metrics,
            top,
        )?;
    }
    Ok(Some(g))
}

/// The most minutes an absolute guardrail may span (the evidence reads that many).
pub const MAX_FOR_MIN: u64 = LOOKBACK_MIN;

/// One guardrail, checked against the set's metrics and the plan's ladder.
fn guardrail(
    r: &Guardrail,
    path: &str,
    definition: &Value,
    metrics: &Metrics,
    top: usize,
) -> Result<(), ControlError> {
    let bad =
        |field: &str, detail: String| Err(ControlError::invalid(format!("{path}/{field}"), detail));
    let Some(metric) = metrics.get(&r.metric) else {
        let known: Vec<&String> = metrics.keys().collect();
        return bad(
            "metric",
            format!(
                "no metric {:?} in the set's metrics (it has {known:?})",
                r.metric
            ),
        );
    };
    let proportion = matches!(metric.kind, MetricKind::Proportion { .. });
    let quantile = matches!(metric.kind, MetricKind::Quantile { .. });
    match (r.max_drop_pct, r.bound()) {
        (Some(_), Some(_)) => {
            return bad(
                "maxDropPct",
                "a guardrail is relative (maxDropPct) or absolute (above or below), not both"
                    .into(),
            )
        }
        (None, None) => {
            return bad(
                "above",
                "required: maxDropPct (relative), or one of above and below (absolute)".into(),
            )
        }
        (Some(m), None) => {
            if !proportion {
                return bad(
                    "maxDropPct",
                    "a relative guardrail needs a proportion metric".into(),
                );
            }
            if !(m > 0.0 && m < 100.0) {
                return bad("maxDropPct", "must be between 0 and 100".into());
            }
            if !(r.alpha > 0.0 && r.alpha < 1.0) {
                return bad("alpha", "must be between 0 and 1".into());
            }
            if r.quantile.is_some() {
                return bad(
                    "quantile",
                    "only an absolute guardrail on a quantile metric has one".into(),
                );
            }
        }
        (None, Some((bound, _))) => {
            if !bound.is_finite() {
                return bad("above", "must be a number".into());
            }
            match (&r.quantile, quantile) {
                (None, true) => {
                    return bad(
                        "quantile",
                        "required for a quantile metric: p50, p90...".into(),
                    )
                }
                (Some(q), true) if Quantile::parse(q).is_none() => {
                    return bad(
                        "quantile",
                        "a quantile is p and a percentage: p50, p90, p99.9".into(),
                    )
                }
                (Some(_), false) => {
                    return bad("quantile", "the metric is not a quantile metric".into())
                }
                _ => {}
            }
            if !(1..=MAX_FOR_MIN).contains(&r.for_min) {
                return bad("forMin", format!("must be 1 to {MAX_FOR_MIN} minutes"));
            }
            if r.min_units == 0 {
                return bad("minUnits", "must be at least 1".into());
            }
        }
    }
    if r.client_evidence == ClientEvidence::Act && r.action == GuardrailAction::Rollback {
        return bad(
            "clientEvidence",
            "\"act\" keeps a fallback or a step_back; a rollback needs edge-observed evidence"
                .into(),
        );
    }
    match (r.action, r.to_tier, &r.variant) {
        (GuardrailAction::StepBack, None, _) => bad("toTier", "required for step_back".into()),
        (GuardrailAction::StepBack, Some(t), _) if !(1..top).contains(&t) => bad(
            "toTier",
            format!(
                "must be a tier of the ladder from 1 to {}",
                top.saturating_sub(1)
            ),
        ),
        (a, Some(_), _) if a != GuardrailAction::StepBack => {
            bad("toTier", "only step_back has one".into())
        }
        (a, _, Some(_)) if a != GuardrailAction::Fallback => {
            bad("variant", "only fallback has one".into())
        }
        (_, _, Some(v)) if definition["variants"].get(v).is_none() => {
            bad("variant", format!("{v:?} is not a variant of the flag"))
        }
        _ => Ok(()),
    }
}

/// `autoAdvance`: absent or `null` (operators only), or `{"manualTiers": [...]}` with tiers of
/// the ladder above 1.
fn auto_advance(
    v: Option<&Value>,
    path: &str,
    top: usize,
) -> Result<Option<AutoAdvance>, ControlError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let a: AutoAdvance = serde_json::from_value(v.clone()).map_err(|e| {
        ControlError::invalid(path, format!("{e}; expected {{\"manualTiers\": [tiers]}}"))
    })?;
    if let Some((i, t)) = a
        .manual_tiers
        .iter()
        .enumerate()
        .find(|(_, t)| !(2..=top).contains(*t))
    {
        return Err(ControlError::invalid(
            format!("{path}/manualTiers/{i}"),
            format!("tier {t} is not a tier of the ladder above 1 (2 to {top})"),
        ));
    }
    Ok(Some(a))
}

/// A guardrail's fallback variant: set by the guardrail (or an import), kept by a `PUT`.
fn fallback(
    v: Option<&Value>,
    path: &str,
    definition: &Value,
    previous: Option<&Plan>,
    origin: Origin,
) -> Result<Option<String>, ControlError> {
    let kept = previous.and_then(|p| p.fallback.clone());
    match (origin, v) {
        (_, None) if origin == Origin::Put => Ok(kept),
        (Origin::Put, Some(v)) if *v == serde_json::to_value(&kept).unwrap_or_default() => Ok(kept),
        (Origin::Put, Some(_)) => Err(ControlError::invalid(path, "set only by a guardrail")),
        (_, None | Some(Value::Null)) => Ok(None),
        (_, Some(Value::String(f))) if definition["variants"].get(f).is_some() => {
            Ok(Some(f.clone()))
        }
        (_, Some(v)) => Err(ControlError::invalid(
            path,
            format!("{v} is not a variant of the flag"),
        )),
    }
}

/// Tier, status and the dwell clock: kept from `previous`, given by an import, or a draft.
fn position(
    spec: &Map<String, Value>,
    path: &str,
    ladder_pct: &[u8],
    previous: Option<&Plan>,
    origin: Origin,
) -> Result<(usize, Status, u64), ControlError> {
    let top = ladder_pct.len() - 1;
    if origin == Origin::Put {
        let kept = |field: &str, now: Value| spec.get(field).is_none_or(|v| *v == now);
        let (tier, status, since, revision, window_since, window) = match previous {
            Some(p) => (
                p.tier,
                p.status,
                p.tier_since_ms,
                p.tier_revision,
                p.window_since_ms,
                p.window,
            ),
            None => (0, Status::Draft, 0, 0, 0, 1),
        };
        if tier > top {
            return Err(ControlError::invalid(
                format!("{path}/ladderPct"),
                "has fewer tiers than the flag's current tier",
            ));
        }
        let moved = [
            ("tier", Value::from(tier)),
            ("status", Value::from(status.as_str())),
            ("tierSinceMs", Value::from(since)),
            ("tierRevision", Value::from(revision)),
            ("windowSinceMs", Value::from(window_since)),
            ("window", Value::from(window)),
        ]
        .into_iter()
        .find(|(field, now)| !kept(field, now.clone()));
        if let Some((field, _)) = moved {
            return Err(ControlError::invalid(
                format!("{path}/{field}"),
                "changes only by command (start, advance, pause, resume, rollback)",
            ));
        }
        return Ok((tier, status, since));
    }
    let tier = match spec.get("tier") {
        None => top,
        Some(v) => v
            .as_u64()
            .map(|t| t as usize)
            .filter(|t| *t <= top)
            .ok_or_else(|| {
                ControlError::invalid(
                    format!("{path}/tier"),
                    format!("must be a tier of the ladder, 0 to {top}"),
                )
            })?,
    };
    let status = match spec.get("status") {
        None if tier == top => Status::Complete,
        None if tier == 0 => Status::Draft,
        None => Status::Active,
        Some(v) => serde_json::from_value::<Status>(v.clone()).map_err(|_| {
            ControlError::invalid(
                format!("{path}/status"),
                "must be draft, active, paused, rolled_back or complete",
            )
        })?,
    };
    let consistent = match status {
        Status::Draft | Status::RolledBack => tier == 0,
        Status::Active | Status::Paused => tier > 0,
        Status::Complete => tier == top,
    };
    if !consistent {
        return Err(ControlError::invalid(
            format!("{path}/status"),
            format!("{} does not go with tier {tier}", status.as_str()),
        ));
    }
    Ok((tier, status, 0))
}

fn ladder(v: &Value, path: &str) -> Result<Vec<u8>, ControlError> {
    let Value::Array(items) = v else {
        return Err(ControlError::invalid(
            path,
            "must be an array of percentages",
        ));
    };
    if !(2..=MAX_TIERS).contains(&items.len()) {
        return Err(ControlError::invalid(
            path,
            format!("must have 2 to {MAX_TIERS} tiers"),
        ));
    }
    let mut out: Vec<u8> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let pct = item.as_u64().filter(|p| *p <= 100).ok_or_else(|| {
            ControlError::invalid(
                format!("{path}/{i}"),
                "must be a whole percentage, 0 to 100",
            )
        })? as u8;
        let rule = match (i, out.last()) {
            (0, _) if pct != 0 => Some("the first tier must be 0"),
            (_, Some(prev)) if pct <= *prev => Some("tiers must rise strictly"),
            _ if i == items.len() - 1 && pct != 100 => Some("the last tier must be 100"),
            _ => None,
        };
        if let Some(rule) = rule {
            return Err(ControlError::invalid(format!("{path}/{i}"), rule));
        }
        out.push(pct);
    }
    Ok(out)
}

fn keys(
    v: Option<&Value>,
    path: &str,
    max_len: usize,
    max_bytes: usize,
) -> Result<Vec<String>, ControlError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let Value::Array(items) = v else {
        return Err(ControlError::invalid(path, "must be an array of strings"));
    };
    if items.len() > max_len {
        return Err(ControlError::invalid(
            path,
            format!("at most {max_len} entries"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.as_str() {
            Some(s) if !s.is_empty() && s.len() <= max_bytes => Ok(s.to_owned()),
            _ => Err(ControlError::invalid(
                format!("{path}/{i}"),
                format!("must be a string of 1 to {max_bytes} bytes"),
            )),
        })
        .collect()
}
