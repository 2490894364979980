//! Cloudflare Access at the edge: the team's keys fetched from its certs URL and kept per
//! isolate by `kid`, and the token's RS256 signature checked by the runtime's WebCrypto
//! (`access.js`). Every other check is the core's (`pilot_gate_core::http::access`).

use std::cell::RefCell;

use wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen_futures::JsFuture;

use pilot_gate_core::http::access::{
    check_claims, parse_keys, parse_token, AccessConfig, AccessError, KeyCache, Lookup, RsaKey,
};
use pilot_gate_core::http::auth::Role;
use pilot_gate_shell::log;

#[wasm_bindgen(module = "/src/access.js")]
extern "C" {
    #[wasm_bindgen(js_name = verifyRs256)]
    fn verify_rs256(
        kid: &str,
        n: &str,
        e: &str,
        signature: &[u8],
        data: &[u8],
    ) -> worker::js_sys::Promise;
}

thread_local! {
    static KEYS: RefCell<KeyCache> = RefCell::new(KeyCache::default());
}

/// The email and role (`None`: `ACCESS_ROLES` gives it none) of a `Cf-Access-Jwt-Assertion`
/// whose claims and signature hold at `now_ms`.
pub async fn verify(
    cfg: &AccessConfig,
    token: &str,
    now_ms: u64,
    request_id: &str,
) -> Result<(String, Option<Role>), AccessError> {
    let jwt = parse_token(token)?;
    let who = check_claims(&jwt.claims, cfg, now_ms / 1000)?;
    let key = key(cfg, &jwt.kid, now_ms, request_id).await?;
    let data = jwt.signing_input.as_bytes();
    let verified = verify_rs256(&key.kid, &key.n, &key.e, &jwt.signature, data);
    let ok = JsFuture::from(verified).await.map_err(|e| {
        log::error(request_id, "access_verify_failed", &format!("{e:?}"));
        AccessError::BadSignature
    })?;
    if ok.as_bool() != Some(true) {
        return Err(AccessError::BadSignature);
    }
    Ok(who)
}

/// The team's key with `kid`, fetching the keys when the cache says so.
async fn key(
    cfg: &AccessConfig,
    kid: &str,
    now_ms: u64,
    request_id: &str,
) -> Result<RsaKey, AccessError> {
    let lookup = KEYS.with(|k| k.borrow().lookup(kid, now_ms));
    match lookup {
        Lookup::Found(key) => return Ok(key),
        Lookup::Unknown => return Err(AccessError::UnknownKey),
        Lookup::Fetch => {}
    }
    KEYS.with(|k| k.borrow_mut().tried(now_ms));
    match fetch_keys(&cfg.certs_url).await {
        Ok(keys) => KEYS.with(|k| k.borrow_mut().store(keys, now_ms)),
        Err(e) => log::error(request_id, "access_keys_unavailable", &e),
    }
    match KEYS.with(|k| k.borrow().lookup(kid, now_ms)) {
        Lookup::Found(key) => Ok(key),
        Lookup::Fetch | Lookup::Unknown => Err(AccessError::UnknownKey),
    }
}

async fn fetch_keys(url: &str) -> Result<Vec<RsaKey>, String> {
    // A request from the string, not a parsed URL: the `url` crate would bring IDNA tables.
    let req = worker::Request::new(url, worker::Method::Get).map_err(|e| e.to_string())?;
    let mut resp = worker::Fetch::Request(req)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status_code() != 200 {
        return Err(format!("the certs URL answered {}", resp.status_code()));
    }
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    parse_keys(&body)
}
