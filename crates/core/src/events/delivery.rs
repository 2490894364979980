//! How the queue consumer retries: a message whose write or delta failed comes back after a
//! delay that grows with its age (so the waits double), and goes to the dead-letter queue only
//! after [`MAX_RETRIES`]: an outage of KV or of the control plane is waited out, not burnt
//! through in three immediate retries. The age is what the platform tells (the time the
//! message was sent), so no count of attempts needs keeping.

/// Retries before the dead-letter queue (wrangler.toml `max_retries` of the consumer; a host
/// test keeps the two equal).
pub const MAX_RETRIES: u32 = 10;
/// The shortest delay before a retry, in seconds.
pub const RETRY_MIN_S: u32 = 5;
/// The longest delay before a retry, in seconds.
pub const RETRY_MAX_S: u32 = 300;

/// The delay before the next delivery of a message sent `age_s` seconds ago: as long as it has
/// waited so far, from 5 s to 5 minutes.
///
/// ```
/// use pilot_gate_core::events::delivery::retry_delay_s;
/// assert_eq!(retry_delay_s(0), 5);
/// assert_eq!(retry_delay_s(40), 40);
/// assert_eq!(retry_delay_s(4_000), 300);
/// ```
pub fn retry_delay_s(age_s: u64) -> u32 {
    age_s.clamp(u64::from(RETRY_MIN_S), u64::from(RETRY_MAX_S)) as u32
}

/// How long a message that fails at once on every delivery is retried before it is
/// dead-lettered, in seconds: the sum of the delays of its [`MAX_RETRIES`] retries.
pub fn patience_s() -> u64 {
    (0..MAX_RETRIES).fold(0, |age_s, _| age_s + u64::from(retry_delay_s(age_s)))
}
