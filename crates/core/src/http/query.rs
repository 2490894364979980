//! Query strings: decoded `key=value` pairs of an absolute URL.

/// The decoded `(key, value)` pairs of the query of `url` (`...?limit=10&name=ttv#frag`), in
/// order; a key without `=` has an empty value.
///
/// ```
/// use pilot_gate_core::http::query::pairs;
/// let q: Vec<_> = pairs("http://h/p?a=1&b=x%20y+z&c#f").collect();
/// assert_eq!(q, [("a".into(), "1".into()), ("b".into(), "x y z".into()), ("c".into(), "".into())]);
/// ```
pub fn pairs(url: &str) -> impl Iterator<Item = (String, String)> + '_ {
    let query = url
        .split('#')
        .next()
        .and_then(|u| u.split_once('?'))
        .map_or("", |(_, q)| q);
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

/// A `limit` parameter: an integer from 1 to `max`, else the reason to answer 400 with.
///
/// ```
/// use pilot_gate_core::http::query::limit;
/// assert_eq!(limit("20", 100), Ok(20));
/// assert_eq!(limit("0", 100), Err("limit must be an integer from 1 to 100".into()));
/// assert!(limit("x", 100).is_err());
/// ```
pub fn limit(v: &str, max: usize) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| format!("limit must be an integer from 1 to {max}"))
}

/// Decodes `%XX` escapes and `+` (form encoding); invalid escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
