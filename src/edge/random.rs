//! Random bytes from the platform's CSPRNG (`crypto.getRandomValues`).

use crate::core::http::request::Entropy;
use crate::edge::log;

/// `N` random bytes. Falls back to zeros only if the platform CSPRNG is unavailable, which
/// workerd never is; the failure is logged.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if let Err(e) = getrandom::getrandom(&mut out) {
        log::error("-", "rng_failed", &e.to_string());
    }
    out
}

/// The random bytes of one request, drawn in one call.
pub fn entropy() -> Entropy {
    let b: [u8; 24] = bytes();
    let mut rnd = Entropy {
        uid: [0; 16],
        request_id: [0; 8],
    };
    rnd.uid.copy_from_slice(&b[..16]);
    rnd.request_id.copy_from_slice(&b[16..]);
    rnd
}
