//! Bearer-token checks, in constant time.

use sha2::{Digest, Sha256};

/// Whether `authorization` is `Bearer <token>` for the configured token, compared in constant
/// time (over SHA-256 digests, so the length does not leak either). No token configured means
/// the endpoint is closed.
///
/// ```
/// use pilot_gate::core::http::auth::bearer_ok;
/// assert!(bearer_ok(Some("Bearer s3cret"), Some("s3cret")));
/// assert!(!bearer_ok(Some("Bearer s3cret"), None));
/// ```
pub fn bearer_ok(authorization: Option<&str>, token: Option<&str>) -> bool {
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
