//! The flags section of the config: what OFREP and `/api/config` need. An invalid value
//! disables those routes (503); gating keeps evaluating the flag set.

use crate::http::cors::allowed_origins;
use crate::vars::{ConfigError, Vars};

/// OFREP settings.
#[derive(Debug, Clone, Default)]
pub struct FlagsConfig {
    /// `OFREP_TOKEN`: server-side callers that send it have their context used as given;
    /// others get their `targetingKey` replaced by their signed identity. None: nobody is trusted.
    pub ofrep_token: Option<String>,
    /// Origins allowed besides the worker's own (`ALLOWED_ORIGINS`).
    pub allowed_origins: Vec<String>,
    /// `STREAM_SHARDS` (1 to 64, default 4): the objects the flags' event streams spread over.
    pub stream_shards: u16,
    /// `STREAM_INACTIVITY_S` (2 to 3600, default 120): the bulk answer's `inactivityDelaySec`;
    /// streams send a heartbeat every quarter of it and close a connection that has not read
    /// one for that long.
    pub stream_inactivity_s: u64,
}

impl FlagsConfig {
    /// Parses the section.
    pub fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            ofrep_token: vars.get("OFREP_TOKEN"),
            allowed_origins: allowed_origins(vars)?,
            stream_shards: vars.uint("STREAM_SHARDS", 4, 1..=64, "a whole number, 1 to 64")? as u16,
            stream_inactivity_s: vars.uint(
                "STREAM_INACTIVITY_S",
                120,
                2..=3600,
                "whole seconds, 2 to 3600",
            )?,
        })
    }

    /// How often a stream sends a heartbeat: a quarter of the inactivity delay, in ms.
    ///
    /// ```
    /// use pilot_gate_core::flags::config::FlagsConfig;
    /// let c = FlagsConfig { stream_inactivity_s: 120, ..FlagsConfig::default() };
    /// assert_eq!(c.heartbeat_ms(), 30_000);
    /// ```
    pub fn heartbeat_ms(&self) -> u64 {
        (self.stream_inactivity_s * 1000 / 4).max(500)
    }
}
