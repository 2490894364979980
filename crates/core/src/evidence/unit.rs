//! The unit of every count: the visitor, as a salted 64-bit hash of its targeting key. No raw
//! id is stored, and without the secret nobody can tell which visitor a unit is or make up one.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// One visitor, as the evidence counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Unit(pub u64);

impl Unit {
    /// The unit of a targeting key under `secret` (the first 64 bits of
    /// HMAC-SHA256(`secret`, `"unit.v1." + key`)).
    ///
    /// ```
    /// use pilot_gate_core::evidence::unit::Unit;
    /// let a = Unit::of(b"secret", "0123456789abcdef0123456789abcdef");
    /// assert_eq!(a, Unit::of(b"secret", "0123456789abcdef0123456789abcdef"));
    /// assert_ne!(a, Unit::of(b"other secret", "0123456789abcdef0123456789abcdef"));
    /// ```
    pub fn of(secret: &[u8], targeting_key: &str) -> Self {
        // HMAC accepts keys of any length, so this never fails.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"unit.v1.");
        mac.update(targeting_key.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&tag[..8]);
        Unit(u64::from_be_bytes(first))
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
