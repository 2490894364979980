//! Helpers shared by the host test binaries (each includes this file as `mod support`).
#![allow(dead_code)] // each binary uses a different part

use std::collections::HashMap;

use pilot_gate_core::config::Config;
use pilot_gate_core::events::config::EventsConfig;
use pilot_gate_core::gate::answer::{page, PageAnswer};
use pilot_gate_core::gate::cohort::{Decider, Rollout};
use pilot_gate_core::gate::config::GateConfig;
use pilot_gate_core::gate::identity::{Identity, KeySource};
use pilot_gate_core::http::outcome::Outcome;
use pilot_gate_core::http::request::{request_id, Entropy, RequestFacts};
use pilot_gate_core::vars::ConfigError;

/// The text of one of the repository's wrangler configs: `wrangler.toml` (the edge worker's)
/// or `wrangler.control.toml` (the control worker's).
pub fn wrangler_config(file: &str) -> String {
    let path = format!("{}/../../{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A valid `COOKIE_SECRET` (32 bytes).
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";
/// A fixed "now" for event timestamps, ms since the epoch.
pub const NOW: u64 = 1_800_000_000_000;
/// A desktop Chrome User-Agent.
pub const CHROME_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36";

/// The whole config from `vars`, with a valid `COOKIE_SECRET` unless `vars` sets one.
pub fn config(vars: &[(&str, &str)]) -> Config {
    let mut map: HashMap<String, String> = HashMap::from([("COOKIE_SECRET".into(), SECRET.into())]);
    for (k, v) in vars {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|name| map.get(name).cloned())
}

/// The gate's section of the config from `vars`.
pub fn gate_config(vars: &[(&str, &str)]) -> Result<GateConfig, ConfigError> {
    config(vars).gate.map_err(|down| down.error)
}

/// The events section of the config from `vars`.
pub fn events_config(vars: &[(&str, &str)]) -> Result<EventsConfig, ConfigError> {
    config(vars).events
}

/// Entropy with every byte `seed`.
pub fn entropy(seed: u8) -> Entropy {
    Entropy {
        uid: [seed; 16],
        request_id: [seed; 8],
    }
}

/// A GET from desktop Chrome with this Cookie header.
pub fn get<'a>(path: &'a str, cookie: &'a str) -> RequestFacts<'a> {
    RequestFacts {
        method: "GET",
        path,
        cookie_header: cookie.as_bytes(),
        ip: Some("192.0.2.1"),
        user_agent: Some(CHROME_UA),
        verified_bot: false,
        cf_ray: None,
        mint_capped: false,
    }
}

/// The gate's answer to a page request under `PILOT_ROLLOUT_PCT` alone (no flag set).
pub fn handle(
    req: &RequestFacts<'_>,
    cfg: &GateConfig,
    rollout: &Option<Rollout>,
    rnd: &Entropy,
) -> PageAnswer {
    handle_with(req, cfg, &vars_decider(*rollout), rnd)
}

/// The gate's answer to a page request, as the edge computes it.
pub fn handle_with(
    req: &RequestFacts<'_>,
    cfg: &GateConfig,
    decider: &Decider<'_>,
    rnd: &Entropy,
) -> PageAnswer {
    page(
        req,
        cfg,
        decider,
        rnd,
        request_id(req.cf_ray, &rnd.request_id),
    )
}

/// A decider with `PILOT_ROLLOUT_PCT`'s rollout and no flag set.
pub fn vars_decider(rollout: Option<Rollout>) -> Decider<'static> {
    Decider {
        rollout,
        set: None,
        now_s: 0,
        country: None,
    }
}

/// A header of an outcome, by name.
pub fn header<'o>(o: &'o Outcome, name: &str) -> Option<&'o str> {
    o.header(name)
}

/// The `pg_uid=...` value of an outcome's Set-Cookie list.
pub fn uid_cookie(o: &Outcome) -> Option<String> {
    o.set_cookies
        .iter()
        .find_map(|c| c.strip_prefix("pg_uid="))
        .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
}

/// An identity of this source with a fixed key.
pub fn identity(source: KeySource) -> Identity {
    Identity {
        targeting_key: "0123456789abcdef0123456789abcdef".into(),
        source,
        set_uid: None,
        net: None,
        capped: false,
    }
}
