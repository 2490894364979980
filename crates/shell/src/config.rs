//! Reads and validates the config once per isolate, and logs each invalid section once.

use std::sync::OnceLock;

use worker::Env;

use crate::log;
use pilot_gate_core::config::Config;

/// The binding of the flag set's KV namespace (key `flagset`), which only the control plane
/// writes and the edge reads.
pub const CONFIG_KV: &str = "CONFIG_KV";

static CONFIG: OnceLock<Config> = OnceLock::new();

/// The config of this isolate, parsed on first use from vars and secrets.
pub fn get(env: &Env) -> &'static Config {
    CONFIG.get_or_init(|| {
        let cfg = Config::from_lookup(|name| {
            env.var(name)
                .or_else(|_| env.secret(name))
                .ok()
                .map(|v| v.to_string())
        });
        // Loud, once per isolate, with the section and the variable's name.
        for (section, e) in cfg.errors() {
            log::config_invalid("-", section, e);
        }
        cfg
    })
}
