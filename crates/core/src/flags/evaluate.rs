//! Resolving a flag for a context, with flagd's reasons and error codes.

use std::cell::Cell;

use serde_json::{Map, Value};

use crate::flags::logic::Env;
use crate::flags::model::{Flag, FlagSet, State, Targeting};
use crate::flags::ops::variant_name;

/// Why a flag resolved as it did (OpenFeature's standard reasons, as flagd sends them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No targeting: the default variant.
    Static,
    /// Targeting chose the variant.
    TargetingMatch,
    /// Targeting gave no variant: the default one (or none).
    Default,
    /// The flag is disabled.
    Disabled,
    /// An error; see the code.
    Error,
}

impl Reason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Static => "STATIC",
            Reason::TargetingMatch => "TARGETING_MATCH",
            Reason::Default => "DEFAULT",
            Reason::Disabled => "DISABLED",
            Reason::Error => "ERROR",
        }
    }
}

/// What went wrong (OpenFeature's error codes that flag evaluation can give).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No flag has this key.
    FlagNotFound,
    /// The flag's rule does not compile.
    ParseError,
    /// Evaluation failed, or chose a variant that does not exist.
    General,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorCode::ParseError => "PARSE_ERROR",
            ErrorCode::General => "GENERAL",
        }
    }
}

/// The resolution of one flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution<'s> {
    /// The value, when one resolved.
    pub value: Option<Value>,
    /// The variant's name, when one resolved.
    pub variant: Option<String>,
    /// Why.
    pub reason: Reason,
    /// The error and its message, for [`Reason::Error`].
    pub error: Option<(ErrorCode, String)>,
    /// The flag's metadata (the set's, for an unknown flag).
    pub metadata: &'s Map<String, Value>,
    /// The visitor was placed outside the flag's random split (denied, allowlisted, a required
    /// flag off): its rule holds a rollout share that this evaluation did not reach.
    pub outside: bool,
}

/// A variant handed to a caller, as the edge records its exposure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handed {
    /// The flag.
    pub flag: String,
    /// The variant.
    pub variant: String,
    /// Placed outside the flag's random split (see [`Resolution::outside`]).
    pub outside: bool,
}

impl<'s> Resolution<'s> {
    /// What `key`'s resolution hands the caller: a variant with its value, unless disabled.
    pub fn handed(&self, key: &str) -> Option<Handed> {
        if self.error.is_some() || self.reason == Reason::Disabled || self.value.is_none() {
            return None;
        }
        Some(Handed {
            flag: key.to_owned(),
            variant: self.variant.clone()?,
            outside: self.outside,
        })
    }

    fn error(code: ErrorCode, message: String, metadata: &'s Map<String, Value>) -> Self {
        Resolution {
            value: None,
            variant: None,
            reason: Reason::Error,
            error: Some((code, message)),
            metadata,
            outside: false,
        }
    }
}

/// The evaluation context with flagd's enrichment: `$flagd.flagKey` and `$flagd.timestamp`
/// (seconds). Built once and reused across the flags of one request.
#[derive(Debug, Clone)]
pub struct Context {
    data: Value,
}

impl Context {
    /// The caller's context (an object; anything else counts as empty) at `now_s`.
    pub fn new(ctx: Value, now_s: u64) -> Self {
        let mut map = match ctx {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut flagd = Map::new();
        flagd.insert("flagKey".into(), Value::String(String::new()));
        flagd.insert("timestamp".into(), Value::from(now_s));
        map.insert("$flagd".into(), Value::Object(flagd));
        Context {
            data: Value::Object(map),
        }
    }

    fn for_flag(&mut self, key: &str) -> &Value {
        // Direct lookups: `pointer_mut` would unescape (allocate) every token.
        let flag_key = self
            .data
            .get_mut("$flagd")
            .and_then(|f| f.get_mut("flagKey"));
        if let Some(Value::String(k)) = flag_key {
            k.clear();
            k.push_str(key);
        }
        &self.data
    }
}

impl FlagSet {
    /// Resolves `key` for `ctx`.
    pub fn evaluate(&self, key: &str, ctx: &mut Context) -> Resolution<'_> {
        match self.flags.get(key) {
            None => Resolution::error(
                ErrorCode::FlagNotFound,
                format!("flag '{key}' not found"),
                &self.metadata,
            ),
            Some(flag) => flag.evaluate(key, ctx),
        }
    }
}

impl Flag {
    /// Resolves this flag (whose key is `key`) for `ctx`.
    pub fn evaluate(&self, key: &str, ctx: &mut Context) -> Resolution<'_> {
        let meta = &self.metadata;
        if let Some(fault) = &self.fault {
            return Resolution::error(ErrorCode::General, fault.clone(), meta);
        }
        if self.state == State::Disabled {
            return Resolution {
                value: None,
                variant: None,
                reason: Reason::Disabled,
                error: None,
                metadata: meta,
                outside: false,
            };
        }
        let reached = Cell::new(false);
        let (variant, reason) = match &self.targeting {
            Targeting::None => (self.default_variant.clone(), Reason::Static),
            Targeting::Broken(detail) => {
                let message = format!("invalid targeting configuration for flag '{key}': {detail}");
                return Resolution::error(ErrorCode::ParseError, message, meta);
            }
            Targeting::Rule(rule) => {
                let env = Env {
                    data: ctx.for_flag(key),
                    flag_key: key,
                    fractional_v3: self.fractional_v3,
                    share_reached: &reached,
                };
                match rule.eval(&env) {
                    Err(e) => {
                        let message =
                            format!("error evaluating targeting rule for flag '{key}': {}", e.0);
                        return Resolution::error(ErrorCode::General, message, meta);
                    }
                    Ok(Value::Null) => (self.default_variant.clone(), Reason::Default),
                    Ok(result) => (Some(variant_name(&result)), Reason::TargetingMatch),
                }
            }
        };
        let Some(variant) = variant else {
            // No variant and no default: flagd answers DEFAULT without a value.
            return Resolution {
                value: None,
                variant: None,
                reason: Reason::Default,
                error: None,
                metadata: meta,
                outside: false,
            };
        };
        match self.variants.get(&variant) {
            None => Resolution::error(
                ErrorCode::General,
                format!("variant '{variant}' not found in flag with key '{key}'"),
                meta,
            ),
            Some(value) => Resolution {
                value: Some(value.clone()),
                variant: Some(variant),
                reason,
                error: None,
                metadata: meta,
                outside: self.share && !reached.get(),
            },
        }
    }
}
