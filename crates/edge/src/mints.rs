//! The per-net cap on new identities: cookies are free to mint, so a visitor about to be
//! minted first asks a Rate Limiting binding keyed by its net (`MINT_RATE_LIMITER`, 600 a
//! minute by default: room for an office or a carrier's NAT). Past the cap the identity is
//! minted *capped* (`pilot_gate_core::gate::identity`): it gets its cookie and its page, and
//! its sightings enter no arm. A failing limiter fails open (logged): it must not cost pages.

use worker::Env;

use pilot_gate_core::gate::identity::{self, IdentityConfig};
use pilot_gate_shell::log;
use pilot_gate_shell::request::Facts;

/// The binding (wrangler.toml).
pub const MINT_RATE_LIMITER: &str = "MINT_RATE_LIMITER";

/// Whether a new identity minted for this request would be past its net's cap (false when it
/// would mint none).
pub async fn capped(env: &Env, cfg: &IdentityConfig, facts: &Facts, request_id: &str) -> bool {
    let view = facts.view();
    if !identity::would_mint(cfg, &view) {
        return false;
    }
    let Some(net) = cfg.net_of(view.ip) else {
        return false;
    };
    let limiter = match env.rate_limiter(MINT_RATE_LIMITER) {
        Ok(l) => l,
        Err(e) => {
            log::error(request_id, "mint_limiter_missing", &e.to_string());
            return false;
        }
    };
    match limiter.limit(format!("mint:{net}")).await {
        Ok(outcome) => !outcome.success,
        Err(e) => {
            log::error(request_id, "mint_limiter_failed", &e.to_string());
            false
        }
    }
}
