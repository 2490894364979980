//! Who may call what: bearer tokens compared in constant time, operators' roles, and the named
//! credentials of `ADMIN_TOKENS` (or the one `ADMIN_TOKEN`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::http::access::AccessConfig;
use crate::vars::{ConfigError, Vars};

/// Whether `authorization` is `Bearer <token>` for the configured token, compared in constant
/// time (over SHA-256 digests, so the length does not leak either). No token configured means
/// the endpoint is closed.
///
/// ```
/// use pilot_gate_core::http::auth::bearer_ok;
/// assert!(bearer_ok(Some("Bearer s3cret"), Some("s3cret")));
/// assert!(!bearer_ok(Some("Bearer s3cret"), None));
/// ```
pub fn bearer_ok(authorization: Option<&str>, token: Option<&str>) -> bool {
    let (Some(given), Some(token)) = (authorization.and_then(bearer), token) else {
        return false;
    };
    same_digest(&Sha256::digest(given), &Sha256::digest(token))
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(authorization: &str) -> Option<&str> {
    authorization.strip_prefix("Bearer ").map(str::trim)
}

/// Whether two digests are equal, looking at every byte whatever differs first.
fn same_digest(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What an operator may do. Each role may do everything the roles below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads flags, stats, the audit log, stored events and dead letters.
    Viewer,
    /// Runs commands: start, advance, back, pause, resume, rollback, kill, approvals, replays.
    Operator,
    /// Changes definitions and plans, imports, deletes.
    Admin,
}

impl Role {
    /// The role's name, as in `ADMIN_TOKENS` and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The role of a name (`viewer`, `operator`, `admin`).
    pub fn parse(name: &str) -> Option<Role> {
        [Role::Viewer, Role::Operator, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

/// A named operator with a role: who an admin request comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// The operator's name (from `ADMIN_TOKENS`) or email (from Cloudflare Access).
    pub name: String,
    /// What the operator may do.
    pub role: Role,
}

/// Names that only the control plane's own decisions carry in the audit log.
pub const RESERVED_NAMES: [&str; 2] = ["guard", "system"];
/// Shortest operator token, in characters.
pub const MIN_TOKEN_CHARS: usize = 32;
/// Longest operator name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Whether `name` may name an operator: 1 to 64 of `A-Z a-z 0-9 _ . @ + -`, and not a reserved
/// name (`guard`, `system`).
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@+-".contains(&b))
        && !RESERVED_NAMES.contains(&name.to_ascii_lowercase().as_str())
}

/// Whether `token` is long and plain enough: at least 32 of `A-Z a-z 0-9 _ -`.
fn valid_token(token: &str) -> bool {
    token.len() >= MIN_TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One credential: an operator and the SHA-256 of their token (the token itself is not kept).
#[derive(Debug, Clone)]
struct Credential {
    operator: Operator,
    digest: [u8; 32],
}

/// The operators' bearer credentials: `ADMIN_TOKENS` (comma-separated `name:role:token`) and
/// `ADMIN_TOKEN` (one `admin` named `admin`). None configured closes the admin API.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    entries: Vec<Credential>,
}

/// How operators sign in: their tokens, and Cloudflare Access when it is configured. The admin
/// section of the config: invalid, every operator route fails closed.
#[derive(Debug, Clone, Default)]
pub struct AdminAuth {
    /// `ADMIN_TOKENS` and `ADMIN_TOKEN`.
    pub credentials: Credentials,
    /// Cloudflare Access (`ACCESS_TEAM_DOMAIN`, `ACCESS_AUD`, `ACCESS_CERTS_URL`, `ACCESS_ROLES`).
    pub access: Option<AccessConfig>,
}

impl AdminAuth {
    /// Reads the admin section's variables; the first invalid one is the error.
    pub fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            credentials: Credentials::from_vars(vars)?,
            access: AccessConfig::from_vars(vars)?,
        })
    }
}

/// What `ADMIN_TOKENS` must look like.
pub const ADMIN_TOKENS_EXPECTED: &str =
    "comma-separated name:role:token (role viewer, operator or admin; a unique name of 1-64 of \
     A-Z a-z 0-9 _ . @ + -, not guard or system; a unique token of at least 32 of A-Z a-z 0-9 _ -)";
/// What `ADMIN_TOKEN` must look like.
pub const ADMIN_TOKEN_EXPECTED: &str = "a token of at least 32 of A-Z a-z 0-9 _ -";

impl Credentials {
    /// Reads `ADMIN_TOKENS` and `ADMIN_TOKEN`. Any malformed entry, a short token, a repeated
    /// name or token fails the whole list (the error names the variable and the entry, never a
    /// token).
    ///
    /// ```
    /// use pilot_gate_core::http::auth::{Credentials, Role};
    /// let tokens = "ana:operator:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    /// let vars = |n: &str| (n == "ADMIN_TOKENS").then(|| tokens.to_owned());
    /// let creds = Credentials::from_lookup(&vars).unwrap();
    /// let ana = creds.identify("Bearer aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").unwrap();
    /// assert_eq!((ana.name.as_str(), ana.role), ("ana", Role::Operator));
    /// ```
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::new(lookup))
    }

    /// [`Credentials::from_lookup`] over parsed vars.
    pub fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let mut entries = Vec::new();
        if let Some(list) = vars.get("ADMIN_TOKENS") {
            for (i, entry) in list.split(',').map(str::trim).enumerate() {
                let bad = |what: &str| {
                    ConfigError::invalid(
                        "ADMIN_TOKENS",
                        &format!("entry {} ({what})", i + 1),
                        ADMIN_TOKENS_EXPECTED,
                    )
                };
                let mut parts = entry.splitn(3, ':');
                let (Some(name), Some(role), Some(token)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(bad("not name:role:token"));
                };
                if !valid_name(name) {
                    return Err(bad("the name"));
                }
                let Some(role) = Role::parse(role) else {
                    return Err(bad("the role"));
                };
                if !valid_token(token) {
                    return Err(bad("the token: at least 32 of A-Z a-z 0-9 _ -"));
                }
                push(
                    &mut entries,
                    Credential::new(name, role, token),
                    "ADMIN_TOKENS",
                )?;
            }
        }
        if let Some(token) = vars.get("ADMIN_TOKEN") {
            if !valid_token(&token) {
                return Err(ConfigError::invalid(
                    "ADMIN_TOKEN",
                    "a token that is too short or not plain",
                    ADMIN_TOKEN_EXPECTED,
                ));
            }
            push(
                &mut entries,
                Credential::new("admin", Role::Admin, &token),
                "ADMIN_TOKEN",
            )?;
        }
        Ok(Self { entries })
    }

    /// Whether no credential is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The operator whose token `authorization` (`Bearer <token>`) carries, comparing with every
    /// credential in constant time.
    pub fn identify(&self, authorization: &str) -> Option<Operator> {
        let given = Sha256::digest(bearer(authorization)?);
        let mut found = None;
        for c in &self.entries {
            if same_digest(&given, &c.digest) {
                found = Some(&c.operator);
            }
        }
        found.cloned()
    }
}

/// Adds a credential read from `var`, refusing a name or a token that is already taken.
fn push(
    entries: &mut Vec<Credential>,
    c: Credential,
    var: &'static str,
) -> Result<(), ConfigError> {
    let taken = if entries.iter().any(|e| e.operator.name == c.operator.name) {
        format!("the name {:?} twice", c.operator.name)
    } else if entries.iter().any(|e| e.digest == c.digest) {
        format!("{:?} has another operator's token", c.operator.name)
    } else {
        entries.push(c);
        return Ok(());
    };
    Err(ConfigError::invalid(var, &taken, ADMIN_TOKENS_EXPECTED))
}

impl Credential {
    fn new(name: &str, role: Role, token: &str) -> Self {
        Self {
            operator: Operator {
                name: name.to_owned(),
                role,
            },
            digest: Sha256::digest(token).into(),
        }
    }
}
