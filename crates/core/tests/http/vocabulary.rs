//! The shared vocabulary: the header policy, CORS, bearer auth and query strings.

use pilot_gate_core::http::auth::bearer_ok;
use pilot_gate_core::http::cors::{self, origin_allowed, origin_of, CorsPolicy};
use pilot_gate_core::http::outcome::Action;
use pilot_gate_core::http::policy::{headers_for, Coep, RouteClass};
use pilot_gate_core::http::query;

use crate::support::header;

#[test]
fn header_table_matches_the_design() {
    let gated = headers_for(RouteClass::Gated, Coep::RequireCorp);
    for h in [
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Embedder-Policy", "require-corp"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Cache-Control", "private, no-store"),
        ("Vary", "Cookie"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ] {
        assert!(gated.contains(&h), "gated lacks {h:?}");
    }
    let api = headers_for(RouteClass::Api, Coep::RequireCorp);
    assert!(api.contains(&("Cache-Control", "no-store")));
    assert!(api.contains(&("Vary", "Cookie")));
    assert!(!api.iter().any(|(k, _)| k.starts_with("Cross-Origin")));
    let isolated = headers_for(RouteClass::Isolated, Coep::Credentialless);
    assert!(isolated.contains(&("Cross-Origin-Embedder-Policy", "credentialless")));
    assert!(!isolated.iter().any(|(k, _)| *k == "Cache-Control"));
    assert_eq!(headers_for(RouteClass::Other, Coep::RequireCorp).len(), 2);
}

#[test]
fn cors_origins() {
    let allowed = vec!["https://app.example".to_owned()];
    assert!(origin_allowed(None, "http://127.0.0.1:8787", &allowed));
    assert!(origin_allowed(
        Some("http://127.0.0.1:8787"),
        "http://127.0.0.1:8787",
        &allowed
    ));
    assert!(origin_allowed(
        Some("https://app.example"),
        "http://x",
        &allowed
    ));
    assert!(!origin_allowed(
        Some("https://app.example.evil"),
        "http://x",
        &allowed
    ));
    assert!(!origin_allowed(Some("null"), "http://x", &allowed));
    assert!(origin_allowed(
        Some("https://any"),
        "http://x",
        &["*".to_owned()]
    ));
    assert_eq!(
        origin_of("https://a.example/api/events?x=1#f"),
        "https://a.example"
    );
    assert_eq!(origin_of("http://127.0.0.1:8787"), "http://127.0.0.1:8787");
    assert_eq!(origin_of("http://h:1?q"), "http://h:1");
}

#[test]
fn cors_answers_carry_the_origin_and_the_policy() {
    let policy = CorsPolicy {
        methods: "POST, OPTIONS",
        headers: "Content-Type, X-Pilot-Signature",
        expose: Some("ETag"),
    };
    let p = cors::preflight("r".into(), "https://app.example", policy);
    assert_eq!(p.action, Action::NoContent);
    assert_eq!(
        header(&p, "Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert_eq!(
        header(&p, "Access-Control-Allow-Methods"),
        Some("POST, OPTIONS")
    );
    assert_eq!(
        header(&p, "Access-Control-Allow-Headers"),
        Some("Content-Type, X-Pilot-Signature")
    );
    assert_eq!(header(&p, "Access-Control-Max-Age"), Some("600"));
    assert_eq!(header(&p, "Access-Control-Expose-Headers"), Some("ETag"));
    assert_eq!(header(&p, "Vary"), Some("Origin, Cookie"));
    assert_eq!(
        p.headers.iter().filter(|(k, _)| *k == "Vary").count(),
        1,
        "Vary is replaced, not repeated"
    );
}

#[test]
fn bearer_tokens() {
    assert!(bearer_ok(Some("Bearer tok-123"), Some("tok-123")));
    assert!(!bearer_ok(Some("Bearer tok-124"), Some("tok-123")));
    assert!(!bearer_ok(Some("Bearer tok-123x"), Some("tok-123")));
    assert!(!bearer_ok(Some("Basic tok-123"), Some("tok-123")));
    assert!(!bearer_ok(None, Some("tok-123")));
    assert!(
        !bearer_ok(Some("Bearer "), None),
        "no token configured closes the endpoint"
    );
}

#[test]
fn query_pairs_are_decoded_in_order() {
    let q: Vec<(String, String)> =
        query::pairs("http://h/?name=a+b%zz&x&limit=5#limit=9").collect();
    assert_eq!(
        q,
        [
            ("name".to_owned(), "a b%zz".to_owned()),
            ("x".to_owned(), String::new()),
            ("limit".to_owned(), "5".to_owned()),
        ]
    );
    assert_eq!(query::pairs("http://h/p").count(), 0);
    assert_eq!(
        query::pairs("http://h/p?k%41=%e2%82%ac").collect::<Vec<_>>(),
        [("kA".to_owned(), "€".to_owned())]
    );
}
