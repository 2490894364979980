//! `X-Pilot-Signature: sha256=<hex>`: HMAC-SHA256 of the raw body, for server-side senders.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::events::error::EventsError;
use crate::hex::{hex, unhex};

/// Checks `X-Pilot-Signature: sha256=<hex>` (HMAC-SHA256 of the raw body under `secret`).
///
/// Without a secret, signatures are not checked. With one, a present header must match, and a
/// missing one is an error only when `required`. The comparison runs in constant time.
pub fn verify_signature(
    secret: Option<&[u8]>,
    required: bool,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), EventsError> {
    let Some(secret) = secret else { return Ok(()) };
    let Some(header) = header else {
        return if required {
            Err(EventsError::BadSignature { missing: true })
        } else {
            Ok(())
        };
    };
    let bad = || EventsError::BadSignature { missing: false };
    let hex_sig = header.trim().strip_prefix("sha256=").ok_or_else(bad)?;
    let sig = unhex::<32>(hex_sig).ok_or_else(bad)?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| bad())?;
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| bad())
}

/// `sha256=<hex>` for a body: what a server-side sender puts in `X-Pilot-Signature`.
///
/// ```
/// use pilot_gate_core::events::signature::{sign_body, verify_signature};
/// let sig = sign_body(b"secret", b"[]");
/// assert!(verify_signature(Some(b"secret"), true, Some(&sig), b"[]").is_ok());
/// ```
pub fn sign_body(secret: &[u8], body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}
