//! The targeting key of a visitor: a signed `pg_uid` cookie, with a fallback chain for visitors
//! who refuse cookies, and bot detection.
//!
//! A `pg_uid` value is `v1.<32 hex id>.<32 hex tag>`, where the tag is the first 128 bits of
//! HMAC-SHA256(`COOKIE_SECRET`, `"pg_uid.v1." + id`). A visitor cannot choose an id that lands in
//! the pilot without the secret. Random bytes are passed in, so this module stays pure.
//!
//! **Minting costs the evidence nothing.** Cookies are free to mint, so the edge caps how many
//! new identities one net ([`Net`]) gets a minute (a Rate Limiting binding). An identity minted
//! beyond the cap is *capped*: its tag is HMAC-SHA256 over `"pg_uid.v1c." + id` instead, so it
//! looks like any other and cannot be told apart or uncapped without the secret. A capped
//! visitor gets its cookie and its page like anyone, but its sightings enter no arm and the
//! evidence keeps no row for it.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::evidence::unit::Net;
use crate::gate::cookie;
use crate::hex::{hex, unhex};
use crate::http::request::RequestFacts;

type HmacSha256 = Hmac<Sha256>;

/// Name of the signed visitor-id cookie.
pub const UID_COOKIE: &str = "pg_uid";
const UID_PREFIX: &str = "v1.";
const UID_HEX_LEN: usize = 32;
const TAG_BYTES: usize = 16;

/// Where a targeting key came from, weakest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// A valid signed `pg_uid` cookie sent by the browser.
    UidCookie,
    /// A fresh id minted for this request; the response sets it.
    NewUid,
    /// The configured app session cookie (hashed), for visitors who refuse cookies.
    AppSession,
    /// A hash of IP + User-Agent, the last resort for visitors who refuse cookies.
    IpUserAgent,
    /// A known bot: always control, no key, no cookie.
    Bot,
}

/// The identity of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The targeting key that bucketing uses (empty for bots).
    pub targeting_key: String,
    /// Where the key came from.
    pub source: KeySource,
    /// The `pg_uid` cookie value to set on the response, when a new id was minted.
    pub set_uid: Option<String>,
    /// The network the request came from ([`Net`], from `CF-Connecting-IP`; requests without
    /// an address share one net).
    pub net: Option<Net>,
    /// Minted beyond its net's per-minute cap (see the module's docs): counted in no arm.
    pub capped: bool,
}

impl Identity {
    /// Whether the response may set cookies for this visitor.
    pub fn accepts_cookies(&self) -> bool {
        matches!(self.source, KeySource::UidCookie | KeySource::NewUid)
    }
}

/// Identity settings from the config.
#[derive(Debug, Clone, Default)]
pub struct IdentityConfig {
    /// HMAC key for `pg_uid` tags.
    pub cookie_secret: Vec<u8>,
    /// Name of the app's own session cookie, used when the visitor refuses cookies.
    pub app_session_cookie: Option<String>,
    /// Name of a consent cookie; a value of `0`, `false`, `no`, `deny` or `denied` (any case)
    /// means "no cookies".
    pub consent_cookie: Option<String>,
    /// The key of the requests' nets ([`Net::key`], derived from the cookie secret).
    pub net_key: [u8; 32],
}

impl IdentityConfig {
    /// The net of a client address (none known: the net of `0.0.0.0`, which they all share).
    pub fn net_of(&self, ip: Option<&str>) -> Option<Net> {
        Net::of(&self.net_key, ip.unwrap_or("0.0.0.0"))
            .or_else(|| Net::of(&self.net_key, "0.0.0.0"))
    }
}

/// Signs an id (16 random bytes) into a `pg_uid` cookie value.
pub fn sign_uid(secret: &[u8], id: &[u8; 16]) -> String {
    sign(secret, id, UID_LABEL)
}

/// Signs an id into the `pg_uid` value of a capped identity (see the module's docs).
pub fn sign_capped_uid(secret: &[u8], id: &[u8; 16]) -> String {
    sign(secret, id, CAPPED_LABEL)
}

fn sign(secret: &[u8], id: &[u8; 16], label: &[u8]) -> String {
    let id_hex = hex(id);
    let tag = uid_mac(secret, &id_hex, label).finalize().into_bytes();
    format!("{UID_PREFIX}{id_hex}.{}", hex(&tag[..TAG_BYTES]))
}

/// Verifies a `pg_uid` cookie value and returns its id (hex) when the tag is valid.
///
/// The tag comparison runs in constant time.
pub fn verify_uid<'v>(secret: &[u8], value: &'v str) -> Option<&'v str> {
    verify_any(secret, value).map(|(id, _)| id)
}

/// Verifies a `pg_uid` cookie value: its id (hex) and whether it is capped, when the tag is
/// valid under either label.
pub fn verify_any<'v>(secret: &[u8], value: &'v str) -> Option<(&'v str, bool)> {
    let id = verify_labelled(secret, value, UID_LABEL);
    match id {
        Some(id) => Some((id, false)),
        None => verify_labelled(secret, value, CAPPED_LABEL).map(|id| (id, true)),
    }
}

fn verify_labelled<'v>(secret: &[u8], value: &'v str, label: &[u8]) -> Option<&'v str> {
    let rest = value.strip_prefix(UID_PREFIX)?;
    let (id_hex, tag_hex) = rest.split_once('.')?;
    if id_hex.len() != UID_HEX_LEN || !is_lower_hex(id_hex) {
        return None;
    }
    if !is_lower_hex(tag_hex) {
        return None;
    }
    let tag = unhex::<TAG_BYTES>(tag_hex)?;
    uid_mac(secret, id_hex, label)
        .verify_truncated_left(&tag)
        .ok()?;
    Some(id_hex)
}

/// The MAC label of an identity.
const UID_LABEL: &[u8] = b"pg_uid.v1.";
/// The MAC label of a capped identity.
const CAPPED_LABEL: &[u8] = b"pg_uid.v1c.";

/// The MAC of a `pg_uid` id under `label`, ready to finalize or verify.
fn uid_mac(secret: &[u8], id_hex: &str, label: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(label);
    mac.update(id_hex.as_bytes());
    mac
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// SHA-256 of the parts, separated by a NUL byte, as lowercase hex: a key that stores nothing raw.
pub fn hashed_key(domain: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    hex(&h.finalize()[..16])
}

/// Lowercase substrings of the User-Agents of known crawlers and link unfurlers.
const BOT_MARKERS: &[&str] = &[
    "googlebot",
    "bingbot",
    "slurp",
    "duckduckbot",
    "baiduspider",
    "yandexbot",
    "applebot",
    "facebookexternalhit",
    "twitterbot",
    "linkedinbot",
    "slackbot",
    "discordbot",
    "petalbot",
    "ahrefsbot",
    "semrushbot",
    "mj12bot",
    "gptbot",
    "claudebot",
    "ccbot",
    "bytespider",
    "crawler",
    "spider",
];

/// Whether a User-Agent belongs to a known crawler.
pub fn is_bot_user_agent(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    BOT_MARKERS.iter().any(|m| ua.contains(m))
}

fn refuses_cookies(cfg: &IdentityConfig, cookie_header: &[u8]) -> bool {
    let Some(name) = cfg.consent_cookie.as_deref() else {
        return false;
    };
    cookie::get(cookie_header, name).is_some_and(|v| {
        ["0", "false", "no", "deny", "denied"]
            .iter()
            .any(|d| v.eq_ignore_ascii_case(d))
    })
}

/// Whether resolving this request would mint a new `pg_uid` (no valid one, not a bot, cookies
/// accepted): the edge asks its net's cap before it resolves (see the module's docs).
pub fn would_mint(cfg: &IdentityConfig, input: &RequestFacts<'_>) -> bool {
    !is_bot(input) && !refuses_cookies(cfg, input.cookie_header) && valid_uid(cfg, input).is_none()
}

fn is_bot(input: &RequestFacts<'_>) -> bool {
    input.verified_bot || input.user_agent.is_some_and(is_bot_user_agent)
}

/// The request's valid `pg_uid`: its id and whether it is capped.
fn valid_uid<'r>(cfg: &IdentityConfig, input: &RequestFacts<'r>) -> Option<(&'r str, bool)> {
    cookie::pairs(input.cookie_header)
        .filter(|(n, _)| *n == UID_COOKIE)
        .find_map(|(_, v)| verify_any(&cfg.cookie_secret, v))
}

/// Resolves the identity of a request.
///
/// `fresh_id` is 16 random bytes drawn once for this request; it is used only when a new
/// `pg_uid` must be minted (no cookie, or a malformed, tampered or forged one), as a capped
/// identity when `input.mint_capped` says the request's net is past its cap.
pub fn resolve(cfg: &IdentityConfig, input: &RequestFacts<'_>, fresh_id: &[u8; 16]) -> Identity {
    let net = cfg.net_of(input.ip);
    let who = |targeting_key: String, source: KeySource, set_uid: Option<String>| Identity {
        targeting_key,
        source,
        set_uid,
        net,
        capped: false,
    };
    if is_bot(input) {
        return who(String::new(), KeySource::Bot, None);
    }
    if refuses_cookies(cfg, input.cookie_header) {
        let session = cfg
            .app_session_cookie
            .as_deref()
            .and_then(|name| cookie::get(input.cookie_header, name))
            .filter(|v| !v.is_empty());
        // Keys anybody can vary at will: counted in no arm.
        let key = match session {
            Some(s) => who(hashed_key("session", &[s]), KeySource::AppSession, None),
            None => who(
                hashed_key(
                    "ip-ua",
                    &[input.ip.unwrap_or(""), input.user_agent.unwrap_or("")],
                ),
                KeySource::IpUserAgent,
                None,
            ),
        };
        return Identity {
            capped: true,
            ..key
        };
    }
    match valid_uid(cfg, input) {
        Some((id, capped)) => Identity {
            capped,
            ..who(id.to_owned(), KeySource::UidCookie, None)
        },
        None if input.mint_capped => Identity {
            capped: true,
            ..who(
                hex(fresh_id),
                KeySource::NewUid,
                Some(sign_capped_uid(&cfg.cookie_secret, fresh_id)),
            )
        },
        None => who(
            hex(fresh_id),
            KeySource::NewUid,
            Some(sign_uid(&cfg.cookie_secret, fresh_id)),
        ),
    }
}
