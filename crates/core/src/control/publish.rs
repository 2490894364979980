//! When a failed publish is retried: the Durable Object's alarm waits 2 s after the first
//! failure, doubling up to a minute, until the write to `CONFIG_KV` lands.

/// The first retry of a failed publish, in ms.
pub const PUBLISH_RETRY_MS: u64 = 2_000;
/// The longest wait between publish retries, in ms.
pub const PUBLISH_RETRY_MAX_MS: u64 = 60_000;

/// The wait before retry number `failures` (1 after the first failure), in ms.
///
/// ```
/// use pilot_gate_core::control::publish::retry_delay_ms;
/// let waits: Vec<u64> = (1..=7).map(retry_delay_ms).collect();
/// assert_eq!(waits, [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
/// ```
pub fn retry_delay_ms(failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(16);
    (PUBLISH_RETRY_MS << doublings).min(PUBLISH_RETRY_MAX_MS)
}
