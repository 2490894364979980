//! The facts of a request that the core looks at, the random bytes drawn for it, and its id.

use crate::hex::hex;

/// The facts of a request, borrowed from the edge's copy of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// URL path, starting with `/`.
    pub path: &'a str,
    /// The raw `Cookie` header (may be empty).
    pub cookie_header: &'a [u8],
    /// The client IP (`CF-Connecting-IP`), if known.
    pub ip: Option<&'a str>,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<&'a str>,
    /// `cf.botManagement.verifiedBot`, when the platform provides it.
    pub verified_bot: bool,
    /// The `cf-ray` header, when present.
    pub cf_ray: Option<&'a str>,
    /// A new identity minted for this request would be past its net's per-minute cap: it is
    /// minted capped (`pilot_gate_core::gate::identity`).
    pub mint_capped: bool,
}

/// Random bytes drawn once per request by the shell.
#[derive(Debug, Clone, Copy)]
pub struct Entropy {
    /// A fresh visitor id, used only if one must be minted.
    pub uid: [u8; 16],
    /// A request id, used only when there is no usable `cf-ray`.
    pub request_id: [u8; 8],
}

/// The request id: `cf-ray` when it looks like one, else 16 hex characters of fresh randomness.
///
/// ```
/// use pilot_gate_core::http::request::request_id;
/// assert_eq!(request_id(Some("8a1b2c3d4e5f6789-AMS"), &[0; 8]), "8a1b2c3d4e5f6789-AMS");
/// assert_eq!(request_id(Some("<script>"), &[1; 8]), "0101010101010101");
/// ```
pub fn request_id(cf_ray: Option<&str>, random: &[u8; 8]) -> String {
    match cf_ray {
        Some(ray)
            if !ray.is_empty()
                && ray.len() <= 64
                && ray.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            ray.to_owned()
        }
        _ => hex(random),
    }
}

/// The path of an absolute URL as the runtime serializes it (`https://host/path?query`), without
/// parsing it again: the first `/` after `://` starts the path, which ends at `?` or `#`. A URL
/// without a path is `/`.
///
/// ```
/// use pilot_gate_core::http::request::path_of_url;
/// assert_eq!(path_of_url("https://example.com/try/x?a=1#f"), "/try/x");
/// assert_eq!(path_of_url("http://127.0.0.1:8787/"), "/");
/// assert_eq!(path_of_url("https://example.com"), "/");
/// ```
pub fn path_of_url(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let Some(start) = rest.find('/') else {
        return "/";
    };
    let path = &rest[start..];
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}
