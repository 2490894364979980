//! Lowercase hex, for ids, tags and hashed keys.

/// Lowercase hex of `bytes`.
///
/// ```
/// assert_eq!(pilot_gate_core::hex::hex(&[0x0f, 0xa0]), "0fa0");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Decodes exactly `N` bytes from hex of either case; `None` for any other input.
pub(crate) fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    let mut out = [0u8; N];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        // Two hex digits make at most 0xff, so the cast cannot truncate.
        out[i] = (digit(pair[0])? << 4 | digit(pair[1])?) as u8;
    }
    Some(out)
}
