//! The worker's config: one section per domain, each parsed and validated on its own, so an
//! invalid variable disables only what needs it. [`Config::from_lookup`] takes a lookup
//! function, so the same code parses `wrangler.toml` `[vars]` in the worker and maps in tests.

use crate::control::notify::NotifyConfig;
use crate::events::config::EventsConfig;
use crate::flags::config::FlagsConfig;
use crate::gate::config::{GateConfig, GateFallback};
use crate::http::auth::AdminAuth;
use crate::vars::{ConfigError, Vars};

/// The gate's section when it is invalid: the error, and how pages fail closed meanwhile.
#[derive(Debug, Clone)]
pub struct GateDown {
    /// The first invalid variable of the section.
    pub error: ConfigError,
    /// How pages are answered until it is fixed.
    pub fallback: GateFallback,
}

/// The validated config, by section.
#[derive(Debug, Clone)]
pub struct Config {
    /// Identity, cohorts and gated routes; when invalid, gated routes fail closed.
    pub gate: Result<GateConfig, GateDown>,
    /// The events beacon; when invalid, `/api/events` answers 503 and gating is untouched.
    pub events: Result<EventsConfig, ConfigError>,
    /// OFREP and `/api/config`; when invalid, those answer 503 and gating is untouched.
    pub flags: Result<FlagsConfig, ConfigError>,
    /// How operators sign in (`ADMIN_TOKENS`, `ADMIN_TOKEN`, Cloudflare Access); when invalid,
    /// every operator route answers 503 (fails closed) and nothing else changes.
    pub admin: Result<AdminAuth, ConfigError>,
    /// Bearer token of `/metrics` (`METRICS_TOKEN`); none closes it.
    pub metrics_token: Option<String>,
    /// Where audit entries are POSTed (`NOTIFY_URL`, `NOTIFY_SECRET`); none sends nothing. When
    /// invalid, nothing is sent (and the log says why); nothing else changes.
    pub notify: Result<Option<NotifyConfig>, ConfigError>,
}

impl Config {
    /// Parses every section. `lookup(name)` returns a var or secret.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let vars = Vars::new(&lookup);
        Self {
            gate: GateConfig::from_vars(&vars).map_err(|error| GateDown {
                error,
                fallback: GateFallback::from_vars(&vars),
            }),
            events: EventsConfig::from_vars(&vars),
            flags: FlagsConfig::from_vars(&vars),
            admin: AdminAuth::from_vars(&vars),
            metrics_token: vars.get("METRICS_TOKEN"),
            notify: NotifyConfig::from_vars(&vars),
        }
    }

    /// The errors of the invalid sections, by section name, for the log.
    pub fn errors(&self) -> Vec<(&'static str, &ConfigError)> {
        let mut out = Vec::new();
        if let Err(down) = &self.gate {
            out.push(("gate", &down.error));
        }
        if let Err(e) = &self.events {
            out.push(("events", e));
        }
        if let Err(e) = &self.flags {
            out.push(("flags", e));
        }
        if let Err(e) = &self.admin {
            out.push(("admin", e));
        }
        if let Err(e) = &self.notify {
            out.push(("notify", e));
        }
        out
    }
}
