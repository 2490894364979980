//! Random bytes from the platform's CSPRNG (`crypto.getRandomValues`).

use crate::log;
use pilot_gate_core::http::request::Entropy;

/// The random bytes of one request, drawn in one call. Falls back to zeros only if the platform
/// CSPRNG is unavailable, which workerd never is; the failure is logged.
pub fn entropy() -> Entropy {
    let mut b = [0u8; 24];
    if let Err(e) = getrandom::getrandom(&mut b) {
        log::error("-", "rng_failed", &e.to_string());
    }
    let mut rnd = Entropy {
        uid: [0; 16],
        request_id: [0; 8],
    };
    rnd.uid.copy_from_slice(&b[..16]);
    rnd.request_id.copy_from_slice(&b[16..]);
    rnd
}
