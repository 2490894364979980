//! Deterministic bucketing, compatible with OpenFeature flagd's `fractional` operator (v2).
//!
//! A backend, another OpenFeature evaluator or this worker compute the same assignment for the
//! same key:
//!
//! ```text
//! h      = murmur3_x86_32(bucketing_key, seed = 0)
//! bucket = (h as u64 * total_weight as u64) >> 32          in [0, total_weight)
//! walk the variants in order, adding weights; the first whose running sum exceeds bucket wins
//! bucketing_key = flag_key + targeting_key                  (plain concatenation)
//! ```
//!
//! A rollout of `p` basis points is the variants `[("on", p), ("off", 10_000 - p)]`, so a key is
//! in iff its bucket is below `p`: raising `p` never removes anyone.

/// Basis points in 100 %: a rollout is expressed in `0..=MAX_BASIS_POINTS`.
pub const MAX_BASIS_POINTS: u32 = 10_000;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// Streaming MurmurHash3 (x86, 32-bit) over several byte slices, as if they were concatenated.
///
/// This avoids allocating `flag_key + targeting_key` on the hot path.
fn murmur3_x86_32_parts(parts: &[&[u8]], seed: u32) -> u32 {
    let mut h = seed;
    let mut tail = [0u8; 4];
    let mut tail_len = 0usize;
    let mut total_len: usize = 0;
    for part in parts {
        total_len += part.len();
        let mut rest: &[u8] = part;
        // Complete a block that an earlier part left unfinished.
        while tail_len > 0 && tail_len < 4 && !rest.is_empty() {
            tail[tail_len] = rest[0];
            tail_len += 1;
            rest = &rest[1..];
        }
        if tail_len == 4 {
            h = mix_block(h, u32::from_le_bytes(tail));
            tail_len = 0;
        }
        let mut blocks = rest.chunks_exact(4);
        for block in &mut blocks {
            h = mix_block(
                h,
                u32::from_le_bytes([block[0], block[1], block[2], block[3]]),
            );
        }
        for &b in blocks.remainder() {
            tail[tail_len] = b;
            tail_len += 1;
        }
    }
    if tail_len > 0 {
        let mut k: u32 = 0;
        for (i, &b) in tail[..tail_len].iter().enumerate() {
            k |= u32::from(b) << (8 * i);
        }
        h ^= scramble(k);
    }
    // The reference algorithm mixes the length in modulo 2^32.
    h ^= total_len as u32;
    fmix32(h)
}

#[inline]
fn scramble(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

#[inline]
fn mix_block(h: u32, k: u32) -> u32 {
    (h ^ scramble(k))
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

#[inline]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// MurmurHash3 x86 32-bit of `bytes` under `seed`, as in the reference implementation.
///
/// ```
/// assert_eq!(pilot_gate_core::bucket::murmur3_x86_32(b"hello", 0), 0x248b_fa47);
/// ```
pub fn murmur3_x86_32(bytes: &[u8], seed: u32) -> u32 {
    murmur3_x86_32_parts(&[bytes], seed)
}

/// Maps a hash onto `[0, total_weight)` the way flagd v2 does: `(h * total) >> 32`.
#[inline]
fn scale(hash: u32, total_weight: u64) -> u64 {
    ((u128::from(hash) * u128::from(total_weight)) >> 32) as u64
}

/// Picks a variant the way flagd's `fractional` operator (v2) does.
///
/// `bucketing_key` is already the concatenation `flag_key + targeting_key`. `weights` are the
/// variants' weights in order. Returns the index of the chosen variant, or `None` when the
/// weights sum to 0.
///
/// ```
/// use pilot_gate_core::bucket::fractional;
/// // flagd testbed: "fractional-flag" + "jack" over four equal suits lands on hearts (index 2).
/// assert_eq!(fractional("fractional-flagjack", &[25, 25, 25, 25]), Some(2));
/// assert_eq!(fractional("anything", &[0, 0]), None);
/// ```
pub fn fractional(bucketing_key: &str, weights: &[u32]) -> Option<usize> {
    pick(murmur3_x86_32(bucketing_key.as_bytes(), 0), weights)
}

/// The variant of a 32-bit hash over `weights`: `bucket = (hash * total) >> 32`, then the first
/// variant whose running weight exceeds the bucket. `None` when the weights sum to 0.
///
/// ```
/// use pilot_gate_core::bucket::pick;
/// assert_eq!(pick(0, &[1, 1]), Some(0));
/// assert_eq!(pick(u32::MAX, &[1, 1]), Some(1));
/// assert_eq!(pick(7, &[0, 0]), None);
/// ```
pub fn pick(hash: u32, weights: &[u32]) -> Option<usize> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return None;
    }
    let bucket = scale(hash, total);
    let mut running: u64 = 0;
    weights.iter().position(|&w| {
        running += u64::from(w);
        running > bucket
    })
}

/// The bucket of a key in `[0, MAX_BASIS_POINTS)`: `flag_key + targeting_key` scaled to 10 000.
///
/// ```
/// let b = pilot_gate_core::bucket::bucket_bp("pilot", "visitor-1");
/// assert!(b < pilot_gate_core::bucket::MAX_BASIS_POINTS);
/// ```
pub fn bucket_bp(flag_key: &str, targeting_key: &str) -> u32 {
    let h = murmur3_x86_32_parts(&[flag_key.as_bytes(), targeting_key.as_bytes()], 0);
    // The result is below MAX_BASIS_POINTS, so it fits in u32.
    scale(h, u64::from(MAX_BASIS_POINTS)) as u32
}

/// Whether `targeting_key` is inside a rollout of `basis_points` (0..=10 000) for `flag_key`.
///
/// Equivalent to `fractional(flag_key + targeting_key, [bp, 10_000 - bp]) == Some(0)`, without
/// allocating. Values above 10 000 are treated as 10 000. Monotonic: a key that is in at `p`
/// is in at every `q >= p`.
///
/// ```
/// use pilot_gate_core::bucket::in_rollout;
/// assert!(!in_rollout("pilot", "visitor-1", 0));
/// assert!(in_rollout("pilot", "visitor-1", 10_000));
/// // Same answer as the general operator:
/// let inside = in_rollout("pilot", "visitor-1", 2_500);
/// let via_fractional = pilot_gate_core::bucket::fractional("pilotvisitor-1", &[2_500, 7_500]);
/// assert_eq!(inside, via_fractional == Some(0));
/// ```
pub fn in_rollout(flag_key: &str, targeting_key: &str, basis_points: u32) -> bool {
    bucket_bp(flag_key, targeting_key) < basis_points.min(MAX_BASIS_POINTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_reference_vectors() {
        // Vectors of the reference implementation (SMHasher), also used by most ports.
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"", 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(&[0, 0, 0, 0], 0), 0x2362_f9de);
        assert_eq!(murmur3_x86_32(b"aaaa", 0x9747_b28c), 0x5a97_808a);
        assert_eq!(murmur3_x86_32(b"abc", 0), 0xb3dd_93fa);
        assert_eq!(murmur3_x86_32(b"Hello, world!", 0x9747_b28c), 0x2488_4cba);
        assert_eq!(
            murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0x9747_b28c),
            0x2fa8_26cd
        );
    }

    #[test]
    fn split_parts_hash_like_the_concatenation() {
        let whole = b"fractional-flag-shorthandjon@company.com";
        for cut_a in 0..whole.len() {
            for cut_b in cut_a..whole.len() {
                let parts: [&[u8]; 3] = [&whole[..cut_a], &whole[cut_a..cut_b], &whole[cut_b..]];
                assert_eq!(
                    murmur3_x86_32_parts(&parts, 0),
                    murmur3_x86_32(whole, 0),
                    "cuts at {cut_a}, {cut_b}"
                );
            }
        }
    }

    #[test]
    fn scale_stays_in_range_at_the_extremes() {
        assert_eq!(scale(0, 10_000), 0);
        assert_eq!(scale(u32::MAX, 10_000), 9_999);
        assert_eq!(
            scale(u32::MAX, u64::from(u32::MAX) * 4),
            u64::from(u32::MAX) * 4 - 4
        );
    }
}
