//! Reads and validates the config once per isolate.

use std::sync::OnceLock;

use worker::Env;

use crate::core::config::Config;
use crate::core::error::ConfigError;

static CONFIG: OnceLock<Result<Config, ConfigError>> = OnceLock::new();

/// The validated config of this isolate, parsed on first use from vars and secrets.
pub fn get(env: &Env) -> Result<&'static Config, &'static ConfigError> {
    CONFIG
        .get_or_init(|| {
            let parsed = Config::from_lookup(|name| {
                env.var(name)
                    .or_else(|_| env.secret(name))
                    .ok()
                    .map(|v| v.to_string())
            });
            if let Err(e) = &parsed {
                // Loud, once per isolate, with the variable's name.
                worker::console_error!(
                    "{}",
                    serde_json::json!({"level": "error", "event": "config_invalid", "var": e.var(), "detail": e.to_string()})
                );
            }
            parsed
        })
        .as_ref()
}
