//! Cloudflare Access: its config (`ACCESS_TEAM_DOMAIN`, `ACCESS_AUD`, `ACCESS_CERTS_URL`,
//! `ACCESS_ROLES`), the `Cf-Access-Jwt-Assertion` token taken apart, and every check but the
//! signature's (issuer, audience, expiry, not-before, the algorithm, the email and its role).
//! The signature (RS256) is checked by the runtime's WebCrypto in `edge/access.rs`, against the
//! team's keys ([`parse_keys`]), never here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use crate::http::auth::{valid_name, Role};
use crate::vars::{ConfigError, Vars};

/// Longest token accepted, in bytes (Access tokens are about 1 KB).
pub const MAX_TOKEN_BYTES: usize = 8192;

/// Cloudflare Access, when `ACCESS_TEAM_DOMAIN` and `ACCESS_AUD` are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// The tokens' issuer: `https://<team>.cloudflareaccess.com`.
    pub issuer: String,
    /// The application's audience tag (`aud`).
    pub audience: String,
    /// Where the team's signing keys are (default `<issuer>/cdn-cgi/access/certs`).
    pub certs_url: String,
    /// Emails (`ana@example.com`) or domains (`@example.com`) and their roles, first match wins.
    pub roles: Vec<(String, Role)>,
}

/// What `ACCESS_ROLES` must look like.
pub const ACCESS_ROLES_EXPECTED: &str =
    "comma-separated email:role or @domain:role (role viewer, operator or admin)";

impl AccessConfig {
    /// Reads the Access variables: `None` when `ACCESS_TEAM_DOMAIN` is unset; an error naming
    /// the variable when one is missing or malformed.
    pub fn from_vars(vars: &Vars<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(team) = vars.get("ACCESS_TEAM_DOMAIN") else {
            return Ok(None);
        };
        let host = team
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_owned();
        if host.is_empty() || host.contains(['/', ':', ' ']) {
            return Err(ConfigError::invalid(
                "ACCESS_TEAM_DOMAIN",
                &team,
                "the team's domain, like myteam.cloudflareaccess.com",
            ));
        }
        let issuer = format!("https://{host}");
        let audience = vars
            .get("ACCESS_AUD")
            .ok_or(ConfigError::Missing { var: "ACCESS_AUD" })?;
        let certs_url = match vars.get("ACCESS_CERTS_URL") {
            None => format!("{issuer}/cdn-cgi/access/certs"),
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => url,
            Some(url) => {
                return Err(ConfigError::invalid(
                    "ACCESS_CERTS_URL",
                    &url,
                    "an http(s) URL of the team's keys",
                ))
            }
        };
        let mut roles = Vec::new();
        for entry in vars.get("ACCESS_ROLES").unwrap_or_default().split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let parsed = entry
                .rsplit_once(':')
                .and_then(|(who, role)| Some((who.trim(), Role::parse(role.trim())?)))
                .filter(|(who, _)| who.contains('@') && !who.contains(char::is_whitespace));
            let Some((who, role)) = parsed else {
                return Err(ConfigError::invalid(
                    "ACCESS_ROLES",
                    entry,
                    ACCESS_ROLES_EXPECTED,
                ));
            };
            roles.push((who.to_ascii_lowercase(), role));
        }
        Ok(Some(Self {
            issuer,
            audience,
            certs_url,
            roles,
        }))
    }

    /// The role `ACCESS_ROLES` gives `email`: its own entry, else its domain's.
    pub fn role_of(&self, email: &str) -> Option<Role> {
        let email = email.to_ascii_lowercase();
        let domain = email.rfind('@').map(|at| &email[at..]);
        self.roles
            .iter()
            .find(|(who, _)| *who == email)
            .or_else(|| {
                self.roles
                    .iter()
                    .find(|(who, _)| Some(who.as_str()) == domain)
            })
            .map(|(_, role)| *role)
    }
}

/// Why an Access token is refused (always 401; the reason goes to the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessError {
    /// Not three base64url parts of JSON, or too long.
    Malformed,
    /// The header names another algorithm than RS256 (`none` among them), or no `kid`.
    Algorithm(String),
    /// Another issuer.
    Issuer,
    /// Not for this application.
    Audience,
    /// `exp` is past (or missing).
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// No email (a service token), or one that cannot name an operator.
    NoEmail,
    /// No key of the team has the token's `kid`.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
}

impl std::fmt::Display for AccessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccessError::Malformed => write!(f, "not a JWT"),
            AccessError::Algorithm(alg) => write!(f, "algorithm {alg:?}: only RS256 with a kid"),
            AccessError::Issuer => write!(f, "another issuer"),
            AccessError::Audience => write!(f, "another audience"),
            AccessError::Expired => write!(f, "expired"),
            AccessError::NotYetValid => write!(f, "not valid yet (nbf)"),
            AccessError::NoEmail => write!(f, "no usable email"),
            AccessError::UnknownKey => write!(f, "no team key has its kid"),
            AccessError::BadSignature => write!(f, "the signature does not verify"),
        }
    }
}

/// An Access token taken apart: what to verify the signature of, and with which key.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwt {
    /// The key id of the header.
    pub kid: String,
    /// `<header>.<payload>` as sent: the bytes the signature covers.
    pub signing_input: String,
    /// The signature's bytes.
    pub signature: Vec<u8>,
    /// The payload's claims.
    pub claims: Value,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// Takes a token apart: three base64url parts, a header with `alg: RS256` and a `kid`, a JSON
/// payload. Nothing is trusted yet.
pub fn parse_token(token: &str) -> Result<Jwt, AccessError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AccessError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AccessError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| AccessError::Malformed)
    };
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| AccessError::Malformed)?;
    let kid = match (header.alg.as_str(), header.kid) {
        ("RS256", Some(kid)) if !kid.is_empty() => kid,
        (alg, _) => return Err(AccessError::Algorithm(alg.to_owned())),
    };
    let claims: Value = serde_json::from_slice(&decode(p)?).map_err(|_| AccessError::Malformed)?;
    if !claims.is_object() {
        return Err(AccessError::Malformed);
    }
    Ok(Jwt {
        kid,
        signing_input: format!("{h}.{p}"),
        signature: decode(s)?,
        claims,
    })
}

/// Checks the claims at `now_s` (seconds since the epoch): the issuer, the audience (a string
/// or a list holding it), `exp` after now, `nbf` (when present) not after now, and an email
/// that can name an operator. The operator's role is `ACCESS_ROLES`'s (`None`: no role).
pub fn check_claims(
    claims: &Value,
    cfg: &AccessConfig,
    now_s: u64,
) -> Result<(String, Option<Role>), AccessError> {
    if claims.get("iss").and_then(Value::as_str) != Some(cfg.issuer.as_str()) {
        return Err(AccessError::Issuer);
    }
    let ours = |v: &Value| v.as_str() == Some(cfg.audience.as_str());
    let audience_ok = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().any(ours),
        Some(v) => ours(v),
        None => false,
    };
    if !audience_ok {
        return Err(AccessError::Audience);
    }
    let time = |name: &str| claims.get(name).and_then(Value::as_f64);
    match time("exp") {
        Some(exp) if exp > now_s as f64 => {}
        _ => return Err(AccessError::Expired),
    }
    if time("nbf").is_some_and(|nbf| nbf > now_s as f64) {
        return Err(AccessError::NotYetValid);
    }
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| e.contains('@') && valid_name(e))
        .ok_or(AccessError::NoEmail)?;
    Ok((email.to_owned(), cfg.role_of(email)))
}

/// One of the team's RSA signing keys, as a JWK's `n` and `e` (base64url).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RsaKey {
    /// The key id.
    pub kid: String,
    /// The modulus, base64url.
    pub n: String,
    /// The exponent, base64url.
    pub e: String,
}

/// The RSA keys of a certs document (`{"keys": [JWK...]}`, Cloudflare's format); keys of other
/// types or algorithms are left out.
pub fn parse_keys(doc: &[u8]) -> Result<Vec<RsaKey>, String> {
    #[derive(Deserialize)]
    struct Jwk {
        kty: Option<String>,
        alg: Option<String>,
        kid: Option<String>,
        n: Option<String>,
        e: Option<String>,
    }
    #[derive(Deserialize)]
    struct Certs {
        keys: Vec<Jwk>,
    }
    let certs: Certs = serde_json::from_slice(doc).map_err(|e| e.to_string())?;
    Ok(certs
        .keys
        .into_iter()
        .filter(|k| {
            k.kty.as_deref() == Some("RSA") && k.alg.as_deref().is_none_or(|a| a == "RS256")
        })
        .filter_map(|k| {
            Some(RsaKey {
                kid: k.kid?,
                n: k.n?,
                e: k.e?,
            })
        })
        .collect())
}

/// How long the team's keys are kept, in ms (they rotate every six weeks; an unknown `kid`
/// fetches them again sooner).
pub const KEYS_TTL_MS: u64 = 3_600_000;
/// The least time between two fetches of the keys, in ms: a token with a made-up `kid` cannot
/// make the worker fetch them more often than this.
pub const KEYS_REFETCH_MS: u64 = 30_000;

/// An isolate's copy of the team's keys and when it fetched them; time is passed in.
#[derive(Debug, Clone, Default)]
pub struct KeyCache {
    keys: Vec<RsaKey>,
    fetched_ms: Option<u64>,
    tried_ms: Option<u64>,
}

/// What the cache says about a `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A fresh key with that `kid`.
    Found(RsaKey),
    /// Fetch the keys first (none yet, too old, or an unknown `kid` and a fetch is allowed).
    Fetch,
    /// No key has that `kid`, and the keys were fetched too recently to fetch them again.
    Unknown,
}

impl KeyCache {
    /// The key of `kid` at `now_ms`, or whether to fetch the keys.
    pub fn lookup(&self, kid: &str, now_ms: u64) -> Lookup {
        let fresh = self
            .fetched_ms
            .is_some_and(|at| now_ms.saturating_sub(at) < KEYS_TTL_MS);
        let may_fetch = self
            .tried_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= KEYS_REFETCH_MS);
        match self.keys.iter().find(|k| k.kid == kid) {
            // A stale key serves while the keys cannot be fetched again (the team's old keys
            // stay valid a while after a rotation).
            Some(key) if fresh || !may_fetch => Lookup::Found(key.clone()),
            _ if may_fetch => Lookup::Fetch,
            _ => Lookup::Unknown,
        }
    }

    /// Notes a fetch started at `now_ms` (whatever its outcome).
    pub fn tried(&mut self, now_ms: u64) {
        self.tried_ms = Some(now_ms);
    }

    /// Keeps the keys fetched at `now_ms`.
    pub fn store(&mut self, keys: Vec<RsaKey>, now_ms: u64) {
        self.keys = keys;
        self.fetched_ms = Some(now_ms);
    }
}
