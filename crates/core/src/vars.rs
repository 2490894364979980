//! Reading the worker's vars and secrets: a lookup with typed parsers, and [`ConfigError`],
//! which names the variable. Each domain parses its own config section with these.

/// A configuration value that is missing or invalid. The message names the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable or secret is not set.
    Missing {
        /// The variable's name, as in `wrangler.toml` or `.dev.vars`.
        var: &'static str,
    },
    /// A variable is set to a value that does not parse or is out of range.
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// The offending value (secrets are never echoed).
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
}

impl ConfigError {
    /// The variable the error is about.
    pub fn var(&self) -> &'static str {
        match self {
            ConfigError::Missing { var } | ConfigError::Invalid { var, .. } => var,
        }
    }

    /// An invalid value of `var`.
    pub fn invalid(var: &'static str, value: &str, expected: &'static str) -> Self {
        ConfigError::Invalid {
            var,
            value: value.to_owned(),
            expected,
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Missing { var } => write!(f, "{var}: required but not set"),
            ConfigError::Invalid {
                var,
                value,
                expected,
            } => write!(f, "{var}: expected {expected}, got {value:?}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The worker's vars and secrets, by name. Values are trimmed; empty means unset.
pub struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Vars<'a> {
    /// Vars read through `lookup(name)` (the worker's `env`, or a map in tests).
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The value of `var`, trimmed; `None` when unset or empty.
    pub fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// An integer in `range`, or `default` when unset. `expected` describes the range.
    pub fn uint(
        &self,
        var: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
        expected: &'static str,
    ) -> Result<u64, ConfigError> {
        let Some(v) = self.get(var) else {
            return Ok(default);
        };
        v.parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| ConfigError::invalid(var, &v, expected))
    }

    /// `true`/`1` or `false`/`0`, or `default` when unset.
    pub fn bool(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).as_deref() {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(ConfigError::invalid(var, other, "true or false")),
        }
    }

    /// One of `choices` (`(value, meaning)`), or `default` when unset.
    pub fn choice<T: Copy>(
        &self,
        var: &'static str,
        default: T,
        choices: &[(&str, T)],
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        let Some(v) = self.get(var) else {
            return Ok(default);
        };
        choices
            .iter()
            .find(|(name, _)| *name == v)
            .map(|(_, t)| *t)
            .ok_or_else(|| ConfigError::invalid(var, &v, expected))
    }
}
