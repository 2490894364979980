//! Random bytes from the platform's CSPRNG (`crypto.getRandomValues`).

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
