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

/// The network a request came from, as the evidence counts it: a keyed 32-bit hash of the
/// client's /24 (IPv4) or /48 (IPv6) prefix. No address is stored; without the key nobody can
/// tell which network a `Net` is. A unit keeps its first exposure's net, and a client event
/// counts for it only from that net; one unit per net and arm speaks for the net when client
/// evidence is weighed (`pilot_gate_core::evidence::tally`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Net(pub u32);

/// The label that derives the nets' key from the cookie secret.
const NET_KEY_LABEL: &[u8] = b"pilot-gate net key v1";

impl Net {
    /// The key of [`Net::of`], derived from the cookie secret with a label of its own.
    pub fn key(cookie_secret: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(cookie_secret)
            .expect("HMAC takes keys of any length");
        mac.update(NET_KEY_LABEL);
        mac.finalize().into_bytes().into()
    }

    /// The net of a client address (`CF-Connecting-IP`) under `key` ([`Net::key`]): its /24 for
    /// IPv4 (and IPv4-mapped IPv6), its /48 for IPv6. `None` when `ip` is not an address.
    ///
    /// ```
    /// use pilot_gate_core::evidence::unit::Net;
    /// let key = Net::key(b"secret");
    /// assert_eq!(Net::of(&key, "203.0.113.7"), Net::of(&key, "203.0.113.250"));
    /// assert_ne!(Net::of(&key, "203.0.113.7"), Net::of(&key, "203.0.114.7"));
    /// assert_eq!(Net::of(&key, "2001:db8:1:aa::1"), Net::of(&key, "2001:db8:1:bb::2"));
    /// assert_ne!(Net::of(&key, "2001:db8:1::1"), Net::of(&key, "2001:db8:2::1"));
    /// assert_eq!(Net::of(&key, "::ffff:203.0.113.9"), Net::of(&key, "203.0.113.1"));
    /// assert_eq!(Net::of(&key, "not an address"), None);
    /// ```
    pub fn of(key: &[u8; 32], ip: &str) -> Option<Net> {
        let addr: std::net::IpAddr = ip.trim().parse().ok()?;
        let prefix: Vec<u8> = match addr {
            std::net::IpAddr::V4(v4) => [&[4u8][..], &v4.octets()[..3]].concat(),
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => [&[4u8][..], &v4.octets()[..3]].concat(),
                None => [&[6u8][..], &v6.octets()[..6]].concat(),
            },
        };
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(&prefix);
        let tag = mac.finalize().into_bytes();
        Some(Net(u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]])))
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}
