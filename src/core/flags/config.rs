//! The flags section of the config: what OFREP and `/api/config` need. An invalid value
//! disables those routes (503); gating keeps evaluating the flag set.

use crate::core::http::cors::allowed_origins;
use crate::core::vars::{ConfigError, Vars};

/// OFREP settings.
#[derive(Debug, Clone, Default)]
pub struct FlagsConfig {
    /// `OFREP_TOKEN`: server-side callers that send it have their context used as given;
    /// others get their `targetingKey` replaced by their signed identity. None: nobody is trusted.
    pub ofrep_token: Option<String>,
    /// Origins allowed besides the worker's own (`ALLOWED_ORIGINS`).
    pub allowed_origins: Vec<String>,
}

impl FlagsConfig {
    /// Parses the section.
    pub fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            ofrep_token: vars.get("OFREP_TOKEN"),
            allowed_origins: allowed_origins(vars)?,
        })
    }
}
