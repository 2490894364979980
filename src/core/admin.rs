//! Admin reads of the beacon: bearer-token check and the `GET /api/events` query.

use sha2::{Digest, Sha256};

use crate::core::error::BeaconError;

/// Default and largest `limit` of `GET /api/events`.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest `limit` of `GET /api/events` (one KV list page).
pub const MAX_LIMIT: usize = 1000;

/// Whether `authorization` is `Bearer <token>` for the configured token, compared in constant
/// time (over SHA-256 digests, so the length does not leak either). No token configured means
/// the admin API is closed.
pub fn authorized(authorization: Option<&str>, token: Option<&str>) -> bool {
    let (Some(header), Some(token)) = (authorization, token) else {
        return false;
    };
    let Some(given) = header.strip_prefix("Bearer ") else {
        return false;
    };
    let (a, b) = (Sha256::digest(given.trim()), Sha256::digest(token));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The query of `GET /api/events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// How many events, newest first (1..=1000, default 50).
    pub limit: usize,
    /// Only events with this name.
    pub name: Option<String>,
}

/// Parses `limit` and `name` from URL query pairs (already percent-decoded).
pub fn parse_list_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ListQuery, BeaconError> {
    let mut q = ListQuery {
        limit: DEFAULT_LIMIT,
        name: None,
    };
    for (k, v) in pairs {
        match k {
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| BeaconError::BadQuery {
                        detail: format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    })?;
            }
            "name" => q.name = Some(v.to_owned()),
            _ => {}
        }
    }
    Ok(q)
}
