//! JsonLogic, compiled once per flag-set version and evaluated per request, with the semantics
//! of flagd's reference evaluator (flagd-core on json-logic-engine): the standard operators,
//! JavaScript's coercions, and flagd's `fractional`, `sem_ver`, `starts_with` and `ends_with`.
//!
//! Hand-written rather than a crate: datalogic-rs, the JsonLogic crate with flagd's operators,
//! adds about 235 KB gzip to the worker (5.4, the newest that builds on this toolchain), over
//! the whole budget. The operators here are what flag rules use.

use std::cell::Cell;

use serde_json::{Map, Value};

use crate::flags::coerce::{loose_eq, number_value, strict_eq, to_js_string, to_number, truthy};
use crate::flags::ops;

/// Deepest rule nesting accepted, so that a hostile flag set cannot exhaust the stack.
pub const MAX_RULE_DEPTH: usize = 64;

/// A compiled rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// A value that evaluates to itself.
    Lit(Value),
    /// An array whose items are rules.
    List(Vec<Rule>),
    /// An operator and its (unevaluated) arguments.
    Op(Op, Vec<Rule>),
}

/// The operators a rule may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // each is its JsonLogic name
pub enum Op {
    Var,
    Missing,
    MissingSome,
    If,
    Eq,
    StrictEq,
    Ne,
    StrictNe,
    Not,
    NotNot,
    Or,
    And,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Min,
    Max,
    In,
    Cat,
    Substr,
    Merge,
    Map,
    Filter,
    Reduce,
    All,
    Some,
    None,
    Fractional,
    SemVer,
    StartsWith,
    EndsWith,
}

const OPS: [(&str, Op); 38] = [
    ("var", Op::Var),
    ("missing", Op::Missing),
    ("missing_some", Op::MissingSome),
    ("if", Op::If),
    ("?:", Op::If),
    ("==", Op::Eq),
    ("===", Op::StrictEq),
    ("!=", Op::Ne),
    ("!==", Op::StrictNe),
    ("!", Op::Not),
    ("!!", Op::NotNot),
    ("or", Op::Or),
    ("and", Op::And),
    ("<", Op::Lt),
    ("<=", Op::Le),
    (">", Op::Gt),
    (">=", Op::Ge),
    ("+", Op::Add),
    ("-", Op::Sub),
    ("*", Op::Mul),
    ("/", Op::Div),
    ("%", Op::Mod),
    ("min", Op::Min),
    ("max", Op::Max),
    ("in", Op::In),
    ("cat", Op::Cat),
    ("substr", Op::Substr),
    ("merge", Op::Merge),
    ("map", Op::Map),
    ("filter", Op::Filter),
    ("reduce", Op::Reduce),
    ("all", Op::All),
    ("some", Op::Some),
    ("none", Op::None),
    ("fractional", Op::Fractional),
    ("sem_ver", Op::SemVer),
    ("starts_with", Op::StartsWith),
    ("ends_with", Op::EndsWith),
];

/// Why a rule does not compile: the JSON path of the fault and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Where, as a JSON pointer into the rule (`/if/0`).
    pub path: String,
    /// What is wrong.
    pub detail: String,
}

/// Why an evaluation failed (json-logic-engine throws for these): flagd answers `GENERAL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError(pub &'static str);

/// What a rule is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// The enriched context (with `$flagd.flagKey` and `$flagd.timestamp`).
    pub data: &'a Value,
    /// The flag's key.
    pub flag_key: &'a str,
    /// Whether `fractional` uses flagd's v3 bucketing (CBOR input) for this flag.
    pub fractional_v3: bool,
    /// Set when the flag's rollout share is evaluated (`pilot_gate_core::flags::split`).
    pub share_reached: &'a Cell<bool>,
}

impl Rule {
    /// Compiles a JsonLogic document.
    pub fn compile(logic: &Value) -> Result<Rule, CompileError> {
        compile(logic, "", 0)
    }

    /// Evaluates the rule.
    pub fn eval(&self, env: &Env<'_>) -> Result<Value, EvalError> {
        eval(self, env, env.data)
    }
}

fn compile(logic: &Value, path: &str, depth: usize) -> Result<Rule, CompileError> {
    if depth > MAX_RULE_DEPTH {
        return Err(CompileError {
            path: path.to_owned(),
            detail: format!("rules nest deeper than {MAX_RULE_DEPTH} levels"),
        });
    }
    match logic {
        Value::Object(map) if map.len() == 1 => {
            let (name, args) = map.iter().next().expect("one entry");
            let op = OPS
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, op)| *op)
                .ok_or_else(|| CompileError {
                    path: path.to_owned(),
                    detail: format!("unknown operator {name:?}"),
                })?;
            let here = format!("{path}/{}", name.replace('~', "~0").replace('/', "~1"));
            let args = match args {
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, a)| compile(a, &format!("{here}/{i}"), depth + 1))
                    .collect::<Result<Vec<_>, _>>()?,
                single => vec![compile(single, &here, depth + 1)?],
            };
            Ok(Rule::Op(op, args))
        }
        Value::Array(items) => {
            let rules = items
                .iter()
                .enumerate()
                .map(|(i, a)| compile(a, &format!("{path}/{i}"), depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            if rules.iter().all(|r| matches!(r, Rule::Lit(_))) {
                Ok(Rule::Lit(logic.clone()))
            } else {
                Ok(Rule::List(rules))
            }
        }
        other => Ok(Rule::Lit(other.clone())),
    }
}

const NAN: EvalError = EvalError("a numeric operation on a value that is not a number");
const BAD_ARGS: EvalError = EvalError("invalid arguments");

fn eval(rule: &Rule, env: &Env<'_>, data: &Value) -> Result<Value, EvalError> {
    match rule {
        Rule::Lit(v) => Ok(v.clone()),
        Rule::List(items) => Ok(Value::Array(
            items
                .iter()
                .map(|r| eval(r, env, data))
                .collect::<Result<_, _>>()?,
        )),
        Rule::Op(op, args) => apply(*op, args, env, data),
    }
}

fn eval_all(args: &[Rule], env: &Env<'_>, data: &Value) -> Result<Vec<Value>, EvalError> {
    args.iter().map(|a| eval(a, env, data)).collect()
}

fn apply(op: Op, args: &[Rule], env: &Env<'_>, data: &Value) -> Result<Value, EvalError> {
    // The lazy operators first: they evaluate only what they need.
    match op {
        Op::If => return eval_if(args, env, data),
        Op::Or | Op::And => {
            let mut last = Value::Null;
            for a in args {
                last = eval(a, env, data)?;
                if truthy(&last) == (op == Op::Or) {
                    return Ok(last);
                }
            }
            return Ok(if args.is_empty() {
                Value::Bool(op == Op::And)
            } else {
                last
            });
        }
        Op::Map | Op::Filter | Op::All | Op::Some | Op::None | Op::Reduce => {
            return iterate(op, args, env, data)
        }
        _ => {}
    }
    let v = eval_all(args, env, data)?;
    let arg = |i: usize| v.get(i).unwrap_or(&Value::Null);
    Ok(match op {
        Op::Var => var(data, arg(0), arg(1)),
        Op::Missing => missing(data, &v),
        Op::MissingSome => {
            let need = to_number(arg(0)).unwrap_or(0.0);
            let keys = match arg(1) {
                Value::Array(k) => k.clone(),
                _ => Vec::new(),
            };
            let absent = missing_keys(data, &keys);
            if (keys.len() - absent.len()) as f64 >= need {
                Value::Array(Vec::new())
            } else {
                Value::Array(absent)
            }
        }
        Op::Eq | Op::Ne => Value::Bool(compare(&v, Op::Eq)? == (op == Op::Eq)),
        Op::StrictEq | Op::StrictNe => {
            if v.len() < 2 {
                return Err(BAD_ARGS);
            }
            let eq = v.windows(2).all(|w| strict_eq(&w[0], &w[1]));
            Value::Bool(eq == (op == Op::StrictEq))
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => Value::Bool(compare(&v, op)?),
        Op::Not => Value::Bool(!truthy(arg(0))),
        Op::NotNot => Value::Bool(truthy(arg(0))),
        Op::Add => number_value(fold(&v, 0.0, |a, b| a + b)?),
        Op::Mul => number_value(fold(&v, 1.0, |a, b| a * b)?),
        Op::Sub => match v.len() {
            0 => return Err(BAD_ARGS),
            1 => number_value(-num(&v[0])?),
            _ => number_value(fold(&v[1..], num(&v[0])?, |a, b| a - b)?),
        },
        Op::Div => {
            let (first, rest) = v.split_first().ok_or(BAD_ARGS)?;
            let mut res = num(first)?;
            for d in rest {
                let d = num(d)?;
                if d == 0.0 {
                    return Err(NAN);
                }
                res /= d;
            }
            if rest.is_empty() {
                if res == 0.0 {
                    return Err(NAN);
                }
                res = 1.0 / res;
            }
            finite(res)?
        }
        Op::Mod => {
            if v.len() < 2 {
                return Err(BAD_ARGS);
            }
            let mut res = num(&v[0])?;
            for d in &v[1..] {
                res %= num(d)?;
            }
            finite(res)?
        }
        Op::Min | Op::Max => {
            let nums: Vec<f64> = v
                .iter()
                .map(|x| match x {
                    Value::Number(n) => n.as_f64().ok_or(BAD_ARGS),
                    _ => Err(BAD_ARGS),
                })
                .collect::<Result<_, _>>()?;
            let pick = if op == Op::Min { f64::min } else { f64::max };
            number_value(nums.into_iter().reduce(pick).ok_or(BAD_ARGS)?)
        }
        Op::In => Value::Bool(match arg(1) {
            Value::String(s) => s.contains(&to_js_string(arg(0))),
            Value::Array(items) => items.iter().any(|i| strict_eq(i, arg(0))),
            Value::Null | Value::Bool(false) => false,
            _ => return Err(BAD_ARGS),
        }),
        // As the reference evaluator compiles it (`'' + a + b`): null is "null".
        Op::Cat => Value::String(v.iter().map(to_js_string).collect()),
        Op::Substr => substr(arg(0), arg(1), v.get(2)),
        Op::Merge => Value::Array(
            v.into_iter()
                .flat_map(|x| match x {
                    Value::Array(items) => items,
                    other => vec![other],
                })
                .collect(),
        ),
        Op::Fractional => ops::fractional(&v, env),
        Op::SemVer => ops::sem_ver(&v),
        Op::StartsWith => ops::string_match(&v, |s, p| s.starts_with(p)),
        Op::EndsWith => ops::string_match(&v, |s, p| s.ends_with(p)),
        Op::If
        | Op::Or
        | Op::And
        | Op::Map
        | Op::Filter
        | Op::All
        | Op::Some
        | Op::None
        | Op::Reduce => unreachable!("lazy operators are applied above"),
    })
}

fn eval_if(args: &[Rule], env: &Env<'_>, data: &Value) -> Result<Value, EvalError> {
    if args.len() == 1 {
        return eval(&args[0], env, data);
    }
    let mut i = 0;
    while i + 1 < args.len() {
        if truthy(&eval(&args[i], env, data)?) {
            return eval(&args[i + 1], env, data);
        }
        i += 2;
    }
    match args.get(i) {
        Some(otherwise) => eval(otherwise, env, data),
        None => Ok(Value::Null),
    }
}

fn iterate(op: Op, args: &[Rule], env: &Env<'_>, data: &Value) -> Result<Value, EvalError> {
    let items = match args.first().map(|a| eval(a, env, data)).transpose()? {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let body = args.get(1);
    let test = |item: &Value| -> Result<bool, EvalError> {
        Ok(body
            .map(|b| eval(b, env, item))
            .transpose()?
            .is_some_and(|r| truthy(&r)))
    };
    Ok(match op {
        Op::Map => Value::Array(
            items
                .iter()
                .map(|item| body.map_or(Ok(Value::Null), |b| eval(b, env, item)))
                .collect::<Result<_, _>>()?,
        ),
        Op::Filter => {
            let mut kept = Vec::new();
            for item in items {
                if test(&item)? {
                    kept.push(item);
                }
            }
            Value::Array(kept)
        }
        Op::All => {
            if items.is_empty() {
                return Ok(Value::Bool(false));
            }
            for item in &items {
                if !test(item)? {
                    return Ok(Value::Bool(false));
                }
            }
            Value::Bool(true)
        }
        Op::Some | Op::None => {
            let mut any = false;
            for item in &items {
                if test(item)? {
                    any = true;
                    break;
                }
            }
            Value::Bool(any == (op == Op::Some))
        }
        _ => {
            // reduce: [array, logic, initial], with {"current", "accumulator"} as the data.
            let mut acc = args
                .get(2)
                .map(|a| eval(a, env, data))
                .transpose()?
                .unwrap_or(Value::Null);
            for item in items {
                let mut scope = Map::new();
                scope.insert("current".to_owned(), item);
                scope.insert("accumulator".to_owned(), acc);
                let scope = Value::Object(scope);
                acc = body.map_or(Ok(Value::Null), |b| eval(b, env, &scope))?;
            }
            acc
        }
    })
}

/// `var`: a dotted path into the data (`""` or `null` is the whole data); a missing or null
/// value gives the default.
pub fn var(data: &Value, path: &Value, default: &Value) -> Value {
    lookup(data, path)
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or_else(|| default.clone())
}

fn lookup<'d>(data: &'d Value, path: &Value) -> Option<&'d Value> {
    let owned;
    let key = match path {
        Value::Null => return Some(data),
        Value::String(s) if s.is_empty() => return Some(data),
        Value::String(s) => s.as_str(),
        other => {
            owned = to_js_string(other);
            owned.as_str()
        }
    };
    let mut cur = data;
    for part in key.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn missing(data: &Value, args: &[Value]) -> Value {
    let keys: Vec<Value> = match args.first() {
        Some(Value::Array(k)) => k.clone(),
        _ => args.to_vec(),
    };
    Value::Array(missing_keys(data, &keys))
}

fn missing_keys(data: &Value, keys: &[Value]) -> Vec<Value> {
    keys.iter()
        .filter(|k| !present(data, &to_js_string(k)))
        .cloned()
        .collect()
}

/// Whether a dotted path leads to a value (even `null`); a falsy value on the way ends it, as
/// in json-logic-engine's `missing`.
fn present(data: &Value, path: &str) -> bool {
    let mut cur = data;
    for part in path.split('.') {
        if !js_truthy(cur) {
            return false;
        }
        cur = match cur {
            Value::Object(m) => match m.get(part) {
                Some(v) => v,
                None => return false,
            },
            Value::Array(a) => match part.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    true
}

/// Compares under `op` (`==`, `<`, `<=`, `>`, `>=`) as the reference evaluator's compiled rules
/// do. Two operands: strings and nulls compare as JavaScript compares them; otherwise an operand
/// that is not a number is an error (after JavaScript's `null` adjustments). Three or more
/// operands chain JavaScript's own comparison, which never fails.
fn compare(v: &[Value], op: Op) -> Result<bool, EvalError> {
    let textual = |x: &Value| matches!(x, Value::String(_) | Value::Null);
    match v {
        [a, b] if textual(a) && textual(b) => Ok(js_compare(a, b, op)),
        [a, b] => {
            if precoerce(b)?.is_nan() && !a.is_null() || precoerce(a)?.is_nan() {
                return Err(NAN);
            }
            let b = if a.is_null() && !js_truthy(b) {
                Value::Null
            } else if b.is_null() && !js_truthy(a) {
                Value::from(0)
            } else {
                b.clone()
            };
            Ok(js_compare(a, &b, op))
        }
        [_, _, ..] => Ok(v.windows(2).all(|w| js_compare(&w[0], &w[1], op))),
        _ => Err(BAD_ARGS),
    }
}

/// JavaScript's `==`, `<`, `<=`, `>`, `>=` between two values.
fn js_compare(a: &Value, b: &Value, op: Op) -> bool {
    if op == Op::Eq {
        return loose_eq(a, b);
    }
    let ord = match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => js_number(a).partial_cmp(&js_number(b)),
    };
    ord.is_some_and(|o| match op {
        Op::Lt => o.is_lt(),
        Op::Le => o.is_le(),
        Op::Gt => o.is_gt(),
        _ => o.is_ge(),
    })
}

/// JavaScript's `+x` for any JSON value (objects through their string form); NaN when none.
fn js_number(x: &Value) -> f64 {
    match x {
        Value::Array(_) | Value::Object(_) => {
            crate::flags::coerce::string_to_number(&to_js_string(x)).unwrap_or(f64::NAN)
        }
        other => to_number(other).unwrap_or(f64::NAN),
    }
}

/// JavaScript's truthiness (an empty array is truthy there, unlike JsonLogic's).
fn js_truthy(x: &Value) -> bool {
    match x {
        Value::Array(_) | Value::Object(_) => true,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        other => truthy(other),
    }
}

/// json-logic-engine's `precoerceNumber`: an object or array is an error, else `+x`.
fn precoerce(x: &Value) -> Result<f64, EvalError> {
    match x {
        Value::Array(_) | Value::Object(_) => Err(NAN),
        other => Ok(to_number(other).unwrap_or(f64::NAN)),
    }
}

fn num(v: &Value) -> Result<f64, EvalError> {
    to_number(v).filter(|f| !f.is_nan()).ok_or(NAN)
}

fn fold(v: &[Value], init: f64, f: impl Fn(f64, f64) -> f64) -> Result<f64, EvalError> {
    let mut acc = init;
    for x in v {
        acc = f(acc, num(x)?);
    }
    if acc.is_nan() {
        return Err(NAN);
    }
    Ok(acc)
}

fn finite(f: f64) -> Result<Value, EvalError> {
    if f.is_finite() {
        Ok(number_value(f))
    } else {
        Err(NAN)
    }
}

/// `substr` with JavaScript's negative offsets, over characters.
fn substr(s: &Value, from: &Value, len: Option<&Value>) -> Value {
    let chars: Vec<char> = to_js_string(s).chars().collect();
    let n = chars.len() as i64;
    let start = to_number(from).unwrap_or(0.0) as i64;
    // Offsets and lengths saturate (`as` clamps a huge f64; the sums must not overflow).
    let start = if start < 0 {
        n.saturating_add(start).max(0)
    } else {
        start.min(n)
    };
    let end = match len.and_then(to_number) {
        None => n,
        Some(l) if l < 0.0 => n.saturating_add(l as i64).max(start),
        Some(l) => start.saturating_add(l as i64).min(n),
    };
    Value::String(
        chars[start as usize..end.max(start) as usize]
            .iter()
            .collect(),
    )
}
