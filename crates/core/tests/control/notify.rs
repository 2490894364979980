//! Notifications: the section's parsing, each kind of entry's `text`, the delivery order.

use std::collections::HashMap;

use pilot_gate_core::control::audit::{Actor, AuditEntry};
use pilot_gate_core::control::notify::{delivery_order, notice, NotifyConfig, MAX_TEXT_CHARS};
use pilot_gate_core::http::auth::{Operator, Role};
use pilot_gate_core::vars::Vars;

fn parse(pairs: &[(&str, &str)]) -> Result<Option<NotifyConfig>, String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| map.get(k).cloned();
    NotifyConfig::from_vars(&Vars::new(&lookup)).map_err(|e| e.var().to_owned())
}

#[test]
fn the_section_needs_a_url_and_signs_with_the_secret_when_set() {
    assert_eq!(parse(&[]), Ok(None));
    assert_eq!(parse(&[("NOTIFY_URL", "")]), Ok(None));
    let c = parse(&[
        ("NOTIFY_URL", "https://hooks.example.com/x"),
        ("NOTIFY_SECRET", "s3cret"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(c.url, "https://hooks.example.com/x");
    assert_eq!(c.secret.as_deref(), Some(&b"s3cret"[..]));
    assert_eq!(
        parse(&[("NOTIFY_URL", "http://127.0.0.1:9/h")])
            .unwrap()
            .unwrap()
            .secret,
        None
    );
    for bad in [
        "hooks.example.com",
        "ftp://x",
        "https://",
        "https:///path",
        "https://a b",
    ] {
        assert_eq!(
            parse(&[("NOTIFY_URL", bad)]),
            Err("NOTIFY_URL".to_owned()),
            "{bad}"
        );
    }
}

fn entry(actor: &Actor, action: &str, flag: Option<&str>, reason: Option<&str>) -> AuditEntry {
    let mut e = AuditEntry::new(actor, 1_800_000_000_000, action);
    e.flag = flag.map(str::to_owned);
    e.reason = reason.map(str::to_owned);
    e
}

#[test]
fn the_text_says_who_did_what_to_which_flag_and_why() {
    let ada = Actor::Operator(Operator {
        name: "ada".into(),
        role: Role::Admin,
    });
    let cases = [
        (
            entry(&ada, "rollback", Some("pilot"), Some("errors up")),
            "pilot-gate: ada (admin) rollback on pilot: errors up",
            false,
        ),
        (
            entry(&ada, "kill", None, Some("incident")),
            "pilot-gate: ada (admin) kill: incident",
            false,
        ),
        (
            entry(&ada, "put", Some("beta_ui"), None),
            "pilot-gate: ada (admin) put on beta_ui",
            false,
        ),
        (
            entry(
                &Actor::Guard,
                "rollback",
                Some("pilot"),
                Some("breaker tripped"),
            ),
            "pilot-gate: guard rollback on pilot (automatic): breaker tripped",
            true,
        ),
        (
            entry(&Actor::System, "advance", Some("pilot"), None),
            "pilot-gate: system advance on pilot (automatic)",
            true,
        ),
    ];
    for (i, (e, text, automatic)) in cases.iter().enumerate() {
        let n = notice(i as u64 + 1, e);
        assert_eq!(n.text, *text);
        assert_eq!(n.automatic, *automatic);
        assert_eq!(n.seq, i as u64 + 1);
        assert_eq!(n.at_ms, e.at_ms);
    }
    let long = entry(&ada, "pause", Some("pilot"), Some(&"x".repeat(2_000)));
    let n = notice(9, &long);
    assert_eq!(n.text.chars().count(), MAX_TEXT_CHARS);
    assert!(n.text.ends_with('…'));
    assert_eq!(
        n.reason.as_deref().map(str::len),
        Some(2_000),
        "the JSON keeps the whole reason"
    );
}

#[test]
fn a_batch_is_delivered_in_seq_order() {
    assert_eq!(delivery_order(&[7, 3, 5]), vec![1, 2, 0]);
    assert_eq!(delivery_order(&[]), Vec::<usize>::new());
    assert_eq!(
        delivery_order(&[2, 2, 1]),
        vec![2, 0, 1],
        "stable for a repeated seq"
    );
}
