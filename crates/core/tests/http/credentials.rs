//! The operators' credentials: `ADMIN_TOKENS` and `ADMIN_TOKEN`, parsed strictly (any bad entry
//! closes the admin API, naming the variable and never the token), and identified in constant
//! time.

use std::collections::HashMap;

use pilot_gate_core::http::auth::{Credentials, Operator, Role};
use pilot_gate_core::vars::ConfigError;

const ANA: &str = "ana-token-0123456789abcdefghijklmnopq";
const BO: &str = "bo_token_0123456789ABCDEFGHIJKLMNOPQ";
const CY: &str = "cy-token-0123456789abcdefghijklmnopq";

fn parse(vars: &[(&str, &str)]) -> Result<Credentials, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Credentials::from_lookup(&|name: &str| map.get(name).cloned())
}

fn who(creds: &Credentials, token: &str) -> Option<(String, Role)> {
    creds
        .identify(&format!("Bearer {token}"))
        .map(|Operator { name, role }| (name, role))
}

#[test]
fn each_token_names_its_operator_and_role() {
    let list = format!("ana:viewer:{ANA}, bo:operator:{BO},cy@example.com:admin:{CY}");
    let creds = parse(&[("ADMIN_TOKENS", &list)]).unwrap();
    assert_eq!(who(&creds, ANA), Some(("ana".into(), Role::Viewer)));
    assert_eq!(who(&creds, BO), Some(("bo".into(), Role::Operator)));
    assert_eq!(
        who(&creds, CY),
        Some(("cy@example.com".into(), Role::Admin))
    );
    // Near misses are nobody.
    assert_eq!(who(&creds, &ANA[..ANA.len() - 1]), None);
    assert_eq!(who(&creds, &format!("{ANA}x")), None);
    assert_eq!(creds.identify(&format!("Basic {ANA}")), None);
    assert_eq!(creds.identify("Bearer "), None);
    assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
}

#[test]
fn admin_token_alone_is_one_admin_named_admin_and_none_closes_the_api() {
    let creds = parse(&[("ADMIN_TOKEN", ANA)]).unwrap();
    assert_eq!(who(&creds, ANA), Some(("admin".into(), Role::Admin)));
    let both = parse(&[
        ("ADMIN_TOKENS", &format!("bo:viewer:{BO}")),
        ("ADMIN_TOKEN", ANA),
    ])
    .unwrap();
    assert_eq!(who(&both, BO), Some(("bo".into(), Role::Viewer)));
    assert_eq!(who(&both, ANA), Some(("admin".into(), Role::Admin)));
    let none = parse(&[]).unwrap();
    assert!(none.is_empty());
    assert_eq!(who(&none, ANA), None);
    assert_eq!(none.identify("Bearer "), None);
}

#[test]
fn a_malformed_entry_fails_the_whole_list_naming_the_variable_not_the_token() {
    let short = "s".repeat(31);
    let cases: Vec<(String, &str, &str)> = vec![
        (format!("ana:viewer:{ANA},bo"), "ADMIN_TOKENS", "entry 2"),
        (format!("ana:reader:{ANA}"), "ADMIN_TOKENS", "the role"),
        (format!("ana:viewer:{short}"), "ADMIN_TOKENS", "the token"),
        (format!("ana:viewer:{ANA}!"), "ADMIN_TOKENS", "the token"),
        (format!("guard:admin:{ANA}"), "ADMIN_TOKENS", "the name"),
        (format!("System:admin:{ANA}"), "ADMIN_TOKENS", "the name"),
        (format!("a b:admin:{ANA}"), "ADMIN_TOKENS", "the name"),
        (format!(":admin:{ANA}"), "ADMIN_TOKENS", "the name"),
        (
            format!("ana:viewer:{ANA},ana:admin:{BO}"),
            "ADMIN_TOKENS",
            "twice",
        ),
        (
            format!("ana:viewer:{ANA},bo:admin:{ANA}"),
            "ADMIN_TOKENS",
            "another operator's token",
        ),
        (format!("ana:viewer:{ANA},"), "ADMIN_TOKENS", "entry 2"),
    ];
    for (list, var, what) in cases {
        let e = parse(&[("ADMIN_TOKENS", &list)]).unwrap_err();
        assert_eq!(e.var(), var, "{list}");
        let text = e.to_string();
        assert!(text.contains(what), "{list}: {text}");
        for token in [ANA, BO, short.as_str()] {
            assert!(!text.contains(token), "{list}: the error shows a token");
        }
    }
    // ADMIN_TOKEN is held to the same length, and may not reuse a listed name.
    let e = parse(&[("ADMIN_TOKEN", "change-me-admin-token")]).unwrap_err();
    assert_eq!(e.var(), "ADMIN_TOKEN");
    assert!(!e.to_string().contains("change-me"));
    let e = parse(&[
        ("ADMIN_TOKENS", &format!("admin:viewer:{BO}")),
        ("ADMIN_TOKEN", ANA),
    ])
    .unwrap_err();
    assert_eq!(e.var(), "ADMIN_TOKEN");
}
