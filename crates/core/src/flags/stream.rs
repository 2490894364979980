//! OFREP event streams (ADR-0008): the `eventStreams` entry of a bulk answer, the
//! `refetchEvaluation` event of each published set, the flag configuration's tag that the event
//! and the bulk answer carry, and the `flagConfigEtag` / `flagConfigLastModified` hints of a
//! re-fetch.
//!
//! The tag names the control plane's revision and is signed (HMAC-SHA256 under the cookie
//! secret): a re-fetch that names a newer revision than the isolate holds makes the edge read
//! the set from its stream object, and nobody can make it do so with a tag the control plane
//! never published.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::hex::{hex, unhex};
use crate::http::cors::CorsPolicy;
use crate::http::query::pairs;
use crate::http::sse::{Channel, Event};

/// The path of the flags' event stream.
pub const STREAM_PATH: &str = "/ofrep/v1/events";
/// What cross-origin stream clients may send (`EventSource` resends `Last-Event-ID`).
pub const CORS: CorsPolicy = CorsPolicy {
    methods: "GET, OPTIONS",
    headers: "Authorization, Last-Event-ID",
    expose: None,
};
/// Bytes of the MAC kept in a tag.
const TAG_MAC_BYTES: usize = 8;
/// The longest hint read, in bytes.
const MAX_HINT_BYTES: usize = 64;

/// The tag of the flag configuration that `revision` published: `"<revision>-<mac>"`.
///
/// ```
/// use pilot_gate_core::flags::stream::{config_etag, config_revision};
/// let tag = config_etag(b"secret", 12);
/// assert!(tag.starts_with("\"12-"));
/// assert_eq!(config_revision(b"secret", &tag), Ok(Some(12)));
/// assert_eq!(config_revision(b"other", &tag), Ok(None));
/// ```
pub fn config_etag(secret: &[u8], revision: u64) -> String {
    let mac = tag_mac(secret, revision).finalize().into_bytes();
    format!("\"{revision}-{}\"", hex(&mac[..TAG_MAC_BYTES]))
}

fn tag_mac(secret: &[u8], revision: u64) -> Hmac<Sha256> {
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(b"pilot-gate flag config ");
    m.update(revision.to_string().as_bytes());
    m
}

/// A `flagConfigEtag` that is not shaped like any tag of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedHint(pub &'static str);

/// The revision a tag names: `Ok(None)` for a well-formed tag that this secret did not sign
/// (a tag from before a secret rotation, or made up: ignored). The MAC is checked in constant
/// time.
pub fn config_revision(secret: &[u8], tag: &str) -> Result<Option<u64>, MalformedHint> {
    let bad = MalformedHint("flagConfigEtag is not a tag of this server");
    let inner = tag.trim().trim_start_matches("W/");
    let inner = inner
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or(bad.clone())?;
    let (revision, mac_hex) = inner.split_once('-').ok_or(bad.clone())?;
    if revision.is_empty() || !revision.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let revision: u64 = revision.parse().map_err(|_| bad.clone())?;
    let mac: [u8; TAG_MAC_BYTES] = unhex(mac_hex).ok_or(bad)?;
    let signed = tag_mac(secret, revision)
        .verify_truncated_left(&mac)
        .is_ok();
    Ok(signed.then_some(revision))
}

/// The hints of a re-fetch that an event triggered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefetchHint {
    /// `flagConfigEtag`, as sent.
    pub etag: Option<String>,
    /// `flagConfigLastModified`: Unix seconds or an ISO 8601 date-time, as sent.
    pub last_modified: Option<String>,
}

/// Reads the hints from a bulk request's URL; an over-long one is refused.
///
/// ```
/// use pilot_gate_core::flags::stream::refetch_hint;
/// let h = refetch_hint("https://w/ofrep/v1/evaluate/flags?flagConfigEtag=%2212-ab%22").unwrap();
/// assert_eq!(h.etag.as_deref(), Some("\"12-ab\""));
/// ```
pub fn refetch_hint(url: &str) -> Result<RefetchHint, MalformedHint> {
    let mut hint = RefetchHint::default();
    for (k, v) in pairs(url) {
        let slot = match k.as_str() {
            "flagConfigEtag" => &mut hint.etag,
            "flagConfigLastModified" => &mut hint.last_modified,
            _ => continue,
        };
        if v.len() > MAX_HINT_BYTES {
            return Err(MalformedHint("a flagConfig hint is over 64 bytes"));
        }
        *slot = Some(v);
    }
    Ok(hint)
}

/// The shard of a client's stream: a hash of its targeting key.
///
/// ```
/// use pilot_gate_core::flags::stream::shard_of;
/// assert_eq!(shard_of("visitor", 1), 0);
/// assert!(shard_of("visitor", 8) < 8);
/// ```
pub fn shard_of(targeting_key: &str, shards: u16) -> u16 {
    let h = Sha256::digest(targeting_key.as_bytes());
    let n = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    (n % u32::from(shards.max(1))) as u16
}

/// The stream a request names (`?s=<shard>`), when that shard exists.
pub fn channel_of(url: &str, shards: u16) -> Option<Channel> {
    let shard: u16 = pairs(url).find(|(k, _)| k == "s")?.1.parse().ok()?;
    (shard < shards).then_some(Channel::Flags { shard })
}

/// The bulk answer's `eventStreams`: the client's shard, on this origin.
///
/// ```
/// use pilot_gate_core::flags::stream::event_streams;
/// let s = event_streams(2, 120);
/// assert_eq!(s[0]["endpoint"]["requestUri"], "/ofrep/v1/events?s=2");
/// ```
pub fn event_streams(shard: u16, inactivity_delay_s: u64) -> Value {
    json!([{
        "type": "sse",
        "endpoint": {"requestUri": format!("{STREAM_PATH}?s={shard}")},
        "inactivityDelaySec": inactivity_delay_s,
    }])
}

/// The `refetchEvaluation` event of a published set (its id is the revision).
pub fn refetch_event(secret: &[u8], revision: u64, published_at_s: u64) -> Event {
    let data = json!({
        "type": "refetchEvaluation",
        "etag": config_etag(secret, revision),
        "lastModified": published_at_s,
    });
    Event {
        id: revision,
        data: data.to_string(),
    }
}

/// The event that tells a client with no usable history to fetch again (no id).
pub fn bare_refetch() -> String {
    "event: message\ndata: {\"type\":\"refetchEvaluation\"}\n\n".to_owned()
}
