//! The security and caching header policy (docs/architecture.md, "HTTP").

/// What kind of route a response belongs to; it decides the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// A gated, per-user page: isolated and `private, no-store`.
    Gated,
    /// An isolated page that is not gated.
    Isolated,
    /// Anything under `/api/`: `no-store`.
    Api,
    /// Anything else the worker answers.
    Other,
}

/// The `Cross-Origin-Embedder-Policy` of isolated routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coep {
    /// `require-corp`: every cross-origin subresource must opt in with CORP or CORS.
    RequireCorp,
    /// `credentialless`: cross-origin no-cors subresources load without credentials.
    Credentialless,
}

impl Coep {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Coep::RequireCorp => "require-corp",
            Coep::Credentialless => "credentialless",
        }
    }
}

/// A header name and value that a response must carry.
pub type Header = (&'static str, &'static str);

/// The headers that every response the worker answers carries (besides `X-Request-Id`).
pub const BASE_HEADERS: [Header; 2] = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
];

/// `Cache-Control` for responses that are per user (and any that sets a cookie).
pub const PRIVATE_NO_STORE: &str = "private, no-store";

/// The header table for a route class. Headers are set (replacing what the app sent), never
/// appended. `X-Request-Id` is added by the caller.
///
/// ```
/// use pilot_gate_core::http::policy::{headers_for, Coep, RouteClass};
/// let h = headers_for(RouteClass::Gated, Coep::RequireCorp);
/// assert!(h.contains(&("Cross-Origin-Embedder-Policy", "require-corp")));
/// assert!(h.contains(&("Cache-Control", "private, no-store")));
/// ```
pub fn headers_for(class: RouteClass, coep: Coep) -> Vec<Header> {
    let mut out: Vec<Header> = BASE_HEADERS.to_vec();
    let isolation: [Header; 3] = [
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Embedder-Policy", coep.as_str()),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ];
    match class {
        RouteClass::Gated => {
            out.extend(isolation);
            out.push(("Cache-Control", PRIVATE_NO_STORE));
            out.push(("Vary", "Cookie"));
        }
        RouteClass::Isolated => out.extend(isolation),
        RouteClass::Api => {
            out.push(("Cache-Control", "no-store"));
            out.push(("Vary", "Cookie"));
        }
        RouteClass::Other => {}
    }
    out
}
