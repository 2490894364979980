//! OFREP's bodies and statuses (flagd's answers), the bulk ETag, the token rule, `/api/config`.

use pilot_gate_core::flags::evaluate::{Context, Handed};
use pilot_gate_core::flags::model::FlagSet;
use pilot_gate_core::flags::ofrep::{
    bulk, caller_context, etag, not_modified, parse_request, single, values, OfrepError,
};
use pilot_gate_core::http::problem::{reply, Problem};
use serde_json::{json, Value};

fn set() -> FlagSet {
    FlagSet::load(include_str!("sets/operators.json")).unwrap()
}

fn ctx(v: Value) -> Context {
    Context::new(v, 0)
}

#[test]
fn single_evaluations_answer_as_flagd_does() {
    let s = set();
    let (status, body, _) = single(&s, "static-string", &mut ctx(json!({})));
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"key": "static-string", "value": "2", "variant": "two", "reason": "STATIC",
               "metadata": {"flagSetId": "operators", "team": "edge"}})
    );
    let (status, body, _) = single(&s, "disabled", &mut ctx(json!({})));
    assert_eq!((status, &body["reason"]), (200, &json!("DISABLED")));
    assert!(body.get("value").is_none() && body.get("variant").is_none());
    let (status, body, _) = single(&s, "no-default-variant", &mut ctx(json!({"country": "DE"})));
    assert_eq!((status, &body["reason"]), (200, &json!("DEFAULT")));
    assert!(body.get("value").is_none());
    let (status, body, _) = single(&s, "nope", &mut ctx(json!({})));
    assert_eq!(status, 404);
    assert_eq!(body["errorCode"], "FLAG_NOT_FOUND");
    assert_eq!(body["errorDetails"], "flag `nope` does not exist");
    let (status, body, _) = single(&s, "unknown-operator", &mut ctx(json!({})));
    assert_eq!((status, &body["errorCode"]), (400, &json!("PARSE_ERROR")));
    let (status, body, _) = single(
        &s,
        "missing-variant",
        &mut ctx(json!({"user": {"name": "x"}})),
    );
    assert_eq!((status, &body["errorCode"]), (400, &json!("GENERAL")));
}

#[test]
fn bulk_lists_every_flag_with_the_set_metadata_and_a_stable_etag() {
    let s = set();
    let (body, _) = bulk(&s, &mut ctx(json!({"targetingKey": "k"})));
    let flags = body["flags"].as_array().unwrap();
    assert_eq!(flags.len(), s.flags.len());
    assert!(flags.iter().all(|f| f["key"].is_string()));
    assert!(flags.iter().any(|f| f["errorCode"] == "PARSE_ERROR"));
    assert_eq!(body["metadata"]["flagSetId"], "operators");
    let tag = etag(&body.to_string());
    assert_eq!(
        tag,
        etag(
            &bulk(&s, &mut ctx(json!({"targetingKey": "k"})))
                .0
                .to_string()
        )
    );
    assert_ne!(
        tag,
        etag(
            &bulk(&s, &mut ctx(json!({"targetingKey": "other", "age": 40})))
                .0
                .to_string()
        )
    );
    assert!(tag.starts_with('"') && tag.ends_with('"'));
    assert!(not_modified(Some(&tag), &tag));
    assert!(not_modified(Some(&format!("W/{tag}, \"x\"")), &tag));
    assert!(not_modified(Some("*"), &tag));
    assert!(!not_modified(Some("\"x\""), &tag));
    assert!(!not_modified(None, &tag));
}

#[test]
fn requests_parse_and_the_token_rule_holds() {
    assert_eq!(parse_request(b"", None), Ok(json!({})));
    assert_eq!(parse_request(b"{}", None), Ok(json!({})));
    assert_eq!(
        parse_request(br#"{"context": {"targetingKey": "a", "n": 1}}"#, None),
        Ok(json!({"targetingKey": "a", "n": 1}))
    );
    let e = parse_request(b"not json", Some("pilot")).unwrap_err();
    let r = reply(&e);
    assert_eq!(r.status, 400);
    assert_eq!(
        (r.body["key"].as_str(), r.body["errorCode"].as_str()),
        (Some("pilot"), Some("PARSE_ERROR"))
    );
    assert!(parse_request(br#"{"context": [1]}"#, None).is_err());
    // Without the token the edge's attributes replace the caller's (and one the edge does not
    // know is removed); the rest stays. With it, the context is used as given.
    let given = json!({"targetingKey": "qa-internal-1", "email": "x", "country": "US",
        "bot": false, "path": "/admin"});
    let edge = json!({"targetingKey": "abc", "path": "/ofrep/v1/evaluate/flags", "bot": true});
    assert_eq!(
        caller_context(given.clone(), false, &edge),
        json!({"targetingKey": "abc", "email": "x", "bot": true,
            "path": "/ofrep/v1/evaluate/flags"})
    );
    assert_eq!(caller_context(given.clone(), true, &edge), given);
    assert_eq!(caller_context(json!({}), false, &edge), edge);
    // 401 and 413 bodies are OFREP's.
    assert_eq!(OfrepError::Unauthorized.status(), 401);
    assert!(reply(&OfrepError::Unauthorized).body.is_null());
    assert_eq!(
        reply(&OfrepError::BodyTooLarge).body,
        json!({"errorDetails": "request body too large"})
    );
}

#[test]
fn config_values_are_the_callers_own() {
    let s = demo_set();
    let (v, variants) = values(&s, &mut ctx(json!({"targetingKey": "qa-internal-1"})));
    assert_eq!(v["pilot"], true);
    // The exposures it makes: every flag that resolved to a variant, with it.
    let pilot = Handed {
        flag: "pilot".into(),
        variant: "on".into(),
        outside: true,
    };
    assert!(variants.contains(&pilot), "{variants:?}");
    assert!(
        variants.iter().all(|h| h.flag != "legacyExport"),
        "{variants:?}"
    );
    assert_eq!(
        (
            v["syncEnabled"].clone(),
            v["minIntervalSec"].clone(),
            v["retryCap"].clone()
        ),
        (json!(true), json!(60), json!(3))
    );
    assert!(
        v.get("legacyExport").is_none(),
        "a disabled flag has no value"
    );
}

#[test]
fn an_answer_hands_out_what_evaluation_gives_and_says_whom_the_split_placed() {
    let s = demo_set();
    let mut c = ctx(json!({"targetingKey": "qa-internal-1"}));
    let (body, handed) = bulk(&s, &mut c);
    let (_, evaluated) = values(&s, &mut c);
    assert_eq!(handed, evaluated, "bulk hands out what evaluation gives");
    let answered = body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("variant").is_some())
        .count();
    assert_eq!(
        handed.len(),
        answered,
        "every success with a variant, no other"
    );
    // The allowlist placed qa-internal-1 in the pilot: outside the random split.
    let (_, _, one) = single(&s, "pilot", &mut c);
    assert_eq!(
        one,
        Some(Handed {
            flag: "pilot".into(),
            variant: "on".into(),
            outside: true
        })
    );
    // A visitor the tier's share placed (in or out) is inside it.
    for key in ["visitor-1", "visitor-2", "visitor-3"] {
        let (_, _, h) = single(&s, "pilot", &mut ctx(json!({"targetingKey": key})));
        assert_eq!(h.map(|h| h.outside), Some(false), "{key}");
    }
    let (_, _, missing) = single(&s, "nope", &mut c);
    assert_eq!(missing, None);
}

/// The demo set as the control plane publishes it (its plans compiled).
fn demo_set() -> FlagSet {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../../flags/demo.json")).unwrap();
    FlagSet::from_value(&pilot_gate_core::control::compile::compile_document(&doc).unwrap())
        .unwrap()
}
