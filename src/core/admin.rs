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
    /// Answer only the number of matching events (`count=true`), over all of them.
    pub count_only: bool,
}

/// Parses `limit` and `name` from the query of an absolute URL (`...?limit=10&name=ttv`).
pub fn parse_list_query(url: &str) -> Result<ListQuery, BeaconError> {
    let mut q = ListQuery {
        limit: DEFAULT_LIMIT,
        name: None,
        count_only: false,
    };
    let query = url
        .split('#')
        .next()
        .and_then(|u| u.split_once('?'))
        .map_or("", |(_, q)| q);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match percent_decode(k).as_str() {
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| BeaconError::BadQuery {
                        detail: format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    })?;
            }
            "name" => q.name = Some(v),
            "count" => q.count_only = matches!(v.as_str(), "true" | "1"),
            _ => {}
        }
    }
    Ok(q)
}

/// Decodes `%XX` escapes and `+` (form encoding); invalid escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
