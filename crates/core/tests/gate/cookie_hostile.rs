//! Cookie parsing with hostile input: huge headers, odd separators, invalid UTF-8, duplicates.

use pilot_gate_core::gate::cookie::{get, pairs, MAX_COOKIE_HEADER_BYTES, MAX_COOKIE_PAIRS};
use proptest::prelude::*;

#[test]
fn plain_pairs_in_order() {
    let got: Vec<_> = pairs(b"a=1; b=2;c=3").collect();
    assert_eq!(got, vec![("a", "1"), ("b", "2"), ("c", "3")]);
}

#[test]
fn first_duplicate_wins() {
    assert_eq!(
        get(b"pilot_cohort=pilot; pilot_cohort=control", "pilot_cohort"),
        Some("pilot")
    );
}

#[test]
fn malformed_first_duplicate_falls_through_to_a_valid_one() {
    assert_eq!(get(b"x=\"bad value\"; x=good", "x"), Some("good"));
}

#[test]
fn odd_separators_and_whitespace() {
    assert_eq!(get(b";;; ;a=1;;  ;\t b = 2 ;", "b"), Some("2"));
    assert_eq!(
        get(b"a=1,b=2", "a"),
        None,
        "comma is not a pair separator in a value"
    );
    assert_eq!(get(b"a==1", "a"), Some("=1"));
    assert_eq!(get(b"=novalue; a=1", "a"), Some("1"));
    assert_eq!(get(b"noequals; a=1", "a"), Some("1"));
    assert_eq!(get(b"a=", "a"), Some(""));
}

#[test]
fn quoted_values_are_unquoted() {
    assert_eq!(get(b"a=\"v1\"", "a"), Some("v1"));
    assert_eq!(get(b"a=\"", "a"), None);
}

#[test]
fn invalid_utf8_and_control_bytes_are_ignored() {
    assert_eq!(get(b"a=\xff\xfe; b=ok", "a"), None);
    assert_eq!(get(b"a=\xff\xfe; b=ok", "b"), Some("ok"));
    assert_eq!(get(b"\xc3\xa9=1; b=ok", "b"), Some("ok"));
    assert_eq!(get(b"a=x\x00y", "a"), None);
    assert_eq!(get(b"a=x\ny", "a"), None);
}

#[test]
fn names_must_be_tokens_and_match_exactly() {
    assert_eq!(get(b"A=1", "a"), None, "names are case-sensitive");
    assert_eq!(get(b"a b=1", "a b"), None);
    assert_eq!(get(b"pg_uid_x=1", "pg_uid"), None);
}

#[test]
fn huge_header_is_cut_at_the_limit() {
    let mut header = "x=".to_owned() + &"y".repeat(MAX_COOKIE_HEADER_BYTES);
    header.push_str("; late=1");
    assert_eq!(get(header.as_bytes(), "late"), None);
    let early = format!("early=1; x={}", "y".repeat(1 << 20));
    assert_eq!(get(early.as_bytes(), "early"), Some("1"));
}

#[test]
fn too_many_pairs_are_cut_at_the_limit() {
    let mut header: String = (0..MAX_COOKIE_PAIRS).map(|i| format!("c{i}=v;")).collect();
    header.push_str("late=1");
    assert_eq!(get(header.as_bytes(), "c0"), Some("v"));
    assert_eq!(get(header.as_bytes(), "late"), None);
}

proptest! {
    #[test]
    fn never_panics_and_yields_only_valid_pairs(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for (name, value) in pairs(&bytes) {
            prop_assert!(!name.is_empty());
            prop_assert!(name.bytes().all(|b| b.is_ascii_graphic() && b != b'=' && b != b';'));
            prop_assert!(value.bytes().all(|b| b.is_ascii_graphic() && !b",;\\\" ".contains(&b)));
        }
    }

    #[test]
    fn finds_a_cookie_among_noise(noise in "[a-z]{1,8}=[a-z0-9]{0,8}(; [a-z]{1,8}=[a-z0-9]{0,8}){0,10}", v in "[A-Za-z0-9._-]{0,40}") {
        let header = format!("{noise}; pg_target={v}");
        let first = noise.split("; ").find_map(|p| p.strip_prefix("pg_target="));
        prop_assert_eq!(get(header.as_bytes(), "pg_target"), Some(first.unwrap_or(&v)));
    }
}
