//! `Cookie` request-header parsing and `Set-Cookie` formatting (RFC 6265).
//!
//! The parser is built for hostile input: it works on raw bytes, never panics, never allocates,
//! ignores pairs that are not valid UTF-8 or carry bytes that RFC 6265 forbids in a value, and
//! stops after [`MAX_COOKIE_HEADER_BYTES`] or [`MAX_COOKIE_PAIRS`].

/// Bytes of a `Cookie` header that are looked at; the rest is ignored.
pub const MAX_COOKIE_HEADER_BYTES: usize = 16 * 1024;
/// Pairs of a `Cookie` header that are looked at; the rest are ignored.
pub const MAX_COOKIE_PAIRS: usize = 200;
/// Four hundred days, the longest lifetime browsers honour (RFC 6265bis).
pub const MAX_AGE_400_DAYS_S: u32 = 400 * 24 * 60 * 60;

/// Iterates the `name=value` pairs of a `Cookie` header, in order, skipping malformed ones.
pub fn pairs(header: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    let header = &header[..header.len().min(MAX_COOKIE_HEADER_BYTES)];
    header
        .split(|&b| b == b';')
        .take(MAX_COOKIE_PAIRS)
        .filter_map(parse_pair)
}

fn parse_pair(raw: &[u8]) -> Option<(&str, &str)> {
    let raw = raw.trim_ascii();
    let eq = raw.iter().position(|&b| b == b'=')?;
    let name = raw[..eq].trim_ascii();
    let mut value = raw[eq + 1..].trim_ascii();
    if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
        return None;
    }
    if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
        value = &value[1..value.len() - 1];
    }
    if !value.iter().all(|&b| is_cookie_octet(b)) {
        return None;
    }
    // Both are ASCII by now, so these conversions cannot fail; keep them fallible anyway.
    Some((
        std::str::from_utf8(name).ok()?,
        std::str::from_utf8(value).ok()?,
    ))
}

/// The value of the first well-formed cookie called `name`, if any.
///
/// Browsers send the most specific cookie first when names repeat, so the first one wins.
///
/// ```
/// use pilot_gate_core::gate::cookie::get;
/// assert_eq!(get(b"a=1; pilot_cohort=pilot; a=2", "a"), Some("1"));
/// assert_eq!(get(b"pilot_cohort=\xff", "pilot_cohort"), None);
/// ```
pub fn get<'h>(header: &'h [u8], name: &str) -> Option<&'h str> {
    pairs(header).find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// RFC 7230 `token` characters, which cookie names are made of.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6265 `cookie-octet`: printable ASCII except space, `"`, `,`, `;` and `\`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// The `SameSite` attribute of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on top-level navigations from other sites, not on their subresource requests.
    Lax,
    /// Never sent on requests from other sites.
    Strict,
}

/// A `Set-Cookie` header value. Formatting it with `to_string()` gives the header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie<'a> {
    /// Cookie name, a token.
    pub name: &'a str,
    /// Cookie value, cookie-octets only (callers pass values they built).
    pub value: &'a str,
    /// `Max-Age` in seconds; 0 deletes the cookie.
    pub max_age_s: u32,
    /// Hidden from page scripts when true.
    pub http_only: bool,
    /// Sent over HTTPS only (and to `localhost`/`127.0.0.1` by browsers).
    pub secure: bool,
    /// The `SameSite` policy.
    pub same_site: SameSite,
}

impl std::fmt::Display for SetCookie<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}={}; Path=/; Max-Age={}",
            self.name, self.value, self.max_age_s
        )?;
        if self.http_only {
            f.write_str("; HttpOnly")?;
        }
        if self.secure {
            f.write_str("; Secure")?;
        }
        f.write_str(match self.same_site {
            SameSite::Lax => "; SameSite=Lax",
            SameSite::Strict => "; SameSite=Strict",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_every_attribute() {
        let c = SetCookie {
            name: "pg_uid",
            value: "v1.abc",
            max_age_s: MAX_AGE_400_DAYS_S,
            http_only: true,
            secure: true,
            same_site: SameSite::Lax,
        };
        assert_eq!(
            c.to_string(),
            "pg_uid=v1.abc; Path=/; Max-Age=34560000; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn readable_cookie_has_no_http_only() {
        let c = SetCookie {
            name: "pilot_cohort",
            value: "pilot",
            max_age_s: 60,
            http_only: false,
            secure: false,
            same_site: SameSite::Strict,
        };
        assert_eq!(
            c.to_string(),
            "pilot_cohort=pilot; Path=/; Max-Age=60; SameSite=Strict"
        );
    }
}
