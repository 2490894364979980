//! Cloudflare Access: the config, tokens taken apart and every claim checked on fixed vectors,
//! the roles of emails and domains, the team's keys, and when the isolate fetches them. The
//! RS256 signature itself is the runtime's WebCrypto's, tested end to end.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pilot_gate_core::http::access::{
    check_claims, parse_keys, parse_token, AccessConfig, AccessError, KeyCache, Lookup, RsaKey,
    KEYS_REFETCH_MS, KEYS_TTL_MS,
};
use pilot_gate_core::http::auth::Role;
use pilot_gate_core::vars::{ConfigError, Vars};
use serde_json::{json, Value};

const NOW_S: u64 = 1_800_000_000;
const ISS: &str = "https://pilot.cloudflareaccess.com";
const AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";

fn config(vars: &[(&str, &str)]) -> Result<Option<AccessConfig>, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = |name: &str| map.get(name).cloned();
    AccessConfig::from_vars(&Vars::new(&lookup))
}

fn team() -> AccessConfig {
    config(&[
        ("ACCESS_TEAM_DOMAIN", "pilot.cloudflareaccess.com"),
        ("ACCESS_AUD", AUD),
        (
            "ACCESS_ROLES",
            "ana@example.com:admin, @example.com:viewer,bo@ops.example.org:operator",
        ),
    ])
    .unwrap()
    .unwrap()
}

/// A token with this header and payload (as JSON text) and a signature of three bytes.
fn token(header: &str, payload: &Value) -> String {
    let enc = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    format!(
        "{}.{}.{}",
        enc(header.as_bytes()),
        enc(payload.to_string().as_bytes()),
        enc(&[1, 2, 3])
    )
}

/// The claims of a valid token of Access for `email` (Cloudflare's shape).
fn claims(email: &str) -> Value {
    json!({"aud": [AUD], "email": email, "exp": NOW_S + 60, "iat": NOW_S - 10,
        "nbf": NOW_S - 10, "iss": ISS, "type": "app", "identity_nonce": "x",
        "sub": "7335d417-61da-459d-899c-0a01c76a2e38", "country": "NZ"})
}

const RS256: &str = r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#;

#[test]
fn the_config_names_the_issuer_certs_and_roles_and_refuses_what_is_missing() {
    let t = team();
    assert_eq!(t.issuer, ISS);
    assert_eq!(t.certs_url, format!("{ISS}/cdn-cgi/access/certs"));
    let t2 = config(&[
        ("ACCESS_TEAM_DOMAIN", "https://pilot.cloudflareaccess.com/"),
        ("ACCESS_AUD", AUD),
        ("ACCESS_CERTS_URL", "http://127.0.0.1:9/certs"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(t2.issuer, ISS);
    assert_eq!(t2.certs_url, "http://127.0.0.1:9/certs");
    assert_eq!(
        config(&[("ACCESS_AUD", AUD)]).unwrap(),
        None,
        "off without a team"
    );
    for (vars, var) in [
        (
            vec![("ACCESS_TEAM_DOMAIN", "pilot.cloudflareaccess.com")],
            "ACCESS_AUD",
        ),
        (
            vec![("ACCESS_TEAM_DOMAIN", "a b"), ("ACCESS_AUD", AUD)],
            "ACCESS_TEAM_DOMAIN",
        ),
        (
            vec![
                ("ACCESS_TEAM_DOMAIN", "t.cloudflareaccess.com"),
                ("ACCESS_AUD", AUD),
                ("ACCESS_CERTS_URL", "ftp://x"),
            ],
            "ACCESS_CERTS_URL",
        ),
        (
            vec![
                ("ACCESS_TEAM_DOMAIN", "t.cloudflareaccess.com"),
                ("ACCESS_AUD", AUD),
                ("ACCESS_ROLES", "ana@example.com:root"),
            ],
            "ACCESS_ROLES",
        ),
        (
            vec![
                ("ACCESS_TEAM_DOMAIN", "t.cloudflareaccess.com"),
                ("ACCESS_AUD", AUD),
                ("ACCESS_ROLES", "example.com:viewer"),
            ],
            "ACCESS_ROLES",
        ),
    ] {
        assert_eq!(config(&vars).unwrap_err().var(), var, "{vars:?}");
    }
}

#[test]
fn an_email_has_its_own_role_else_its_domains_else_none() {
    let t = team();
    assert_eq!(t.role_of("ana@example.com"), Some(Role::Admin));
    assert_eq!(t.role_of("Ana@Example.com"), Some(Role::Admin));
    assert_eq!(t.role_of("cy@example.com"), Some(Role::Viewer));
    assert_eq!(t.role_of("bo@ops.example.org"), Some(Role::Operator));
    assert_eq!(t.role_of("cy@ops.example.org"), None);
    assert_eq!(t.role_of("cy@evil-example.com"), None);
}

#[test]
fn a_valid_token_gives_its_email_and_role() {
    let jwt = parse_token(&token(RS256, &claims("ana@example.com"))).unwrap();
    assert_eq!(jwt.kid, "k1");
    assert_eq!(jwt.signature, vec![1, 2, 3]);
    assert_eq!(jwt.signing_input.matches('.').count(), 1);
    assert_eq!(
        check_claims(&jwt.claims, &team(), NOW_S),
        Ok(("ana@example.com".to_owned(), Some(Role::Admin)))
    );
    // An audience given as a string counts too; a known email outside ACCESS_ROLES has no role.
    let mut c = claims("zed@elsewhere.net");
    c["aud"] = json!(AUD);
    assert_eq!(
        check_claims(&c, &team(), NOW_S),
        Ok(("zed@elsewhere.net".to_owned(), None))
    );
}

#[test]
fn every_bad_claim_is_refused_for_its_own_reason() {
    let t = team();
    let check = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims("ana@example.com");
        edit(&mut c);
        check_claims(&c, &t, NOW_S)
    };
    assert_eq!(
        check(&|c| c["exp"] = json!(NOW_S)),
        Err(AccessError::Expired)
    );
    assert_eq!(
        check(&|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
        Err(AccessError::Expired)
    );
    assert_eq!(
        check(&|c| c["nbf"] = json!(NOW_S + 1)),
        Err(AccessError::NotYetValid)
    );
    assert_eq!(
        check(&|c| c["aud"] = json!(["another-application"])),
        Err(AccessError::Audience)
    );
    assert_eq!(
        check(&|c| {
            c.as_object_mut().unwrap().remove("aud");
        }),
        Err(AccessError::Audience)
    );
    assert_eq!(
        check(&|c| c["iss"] = json!("https://evil.cloudflareaccess.com")),
        Err(AccessError::Issuer)
    );
    assert_eq!(
        check(&|c| {
            c.as_object_mut().unwrap().remove("email");
            c["common_name"] = json!("service-token.access");
        }),
        Err(AccessError::NoEmail)
    );
    assert_eq!(
        check(&|c| c["email"] = json!("guard")),
        Err(AccessError::NoEmail)
    );
}

#[test]
fn only_rs256_with_a_kid_and_well_formed_tokens_are_taken_apart() {
    let c = claims("ana@example.com");
    for (header, alg) in [
        (r#"{"alg":"none","kid":"k1"}"#, "none"),
        (r#"{"alg":"HS256","kid":"k1"}"#, "HS256"),
        (r#"{"alg":"RS256"}"#, "RS256"),
        (r#"{"alg":"RS256","kid":""}"#, "RS256"),
    ] {
        assert_eq!(
            parse_token(&token(header, &c)),
            Err(AccessError::Algorithm(alg.to_owned())),
            "{header}"
        );
    }
    // `alg: none` with an empty signature, as an attacker sends it.
    let enc = |s: &str| URL_SAFE_NO_PAD.encode(s.as_bytes());
    let unsigned = format!("{}.{}.", enc(r#"{"alg":"none"}"#), enc(&c.to_string()));
    assert!(matches!(
        parse_token(&unsigned),
        Err(AccessError::Algorithm(_))
    ));
    let good = token(RS256, &c);
    for bad in [
        good.rsplit_once('.').unwrap().0.to_owned(),
        format!("{good}.x"),
        good.replace('.', ".!"),
        format!("{}.{}.AQID", enc(RS256), enc("not json")),
        format!("{}.{}.AQID", enc(RS256), enc("[1]")),
        "x".repeat(9000),
        String::new(),
    ] {
        assert_eq!(parse_token(&bad), Err(AccessError::Malformed), "{bad:.40}");
    }
}

#[test]
fn the_team_keys_are_its_rsa_keys() {
    let certs = json!({"keys": [
        {"kid": "k1", "kty": "RSA", "alg": "RS256", "use": "sig", "e": "AQAB", "n": "sXch"},
        {"kid": "k2", "kty": "EC", "crv": "P-256", "x": "a", "y": "b"},
        {"kid": "k3", "kty": "RSA", "alg": "RS512", "e": "AQAB", "n": "x"},
        {"kty": "RSA", "e": "AQAB", "n": "nokid"}],
        "public_cert": {"kid": "k1", "cert": "-----BEGIN CERTIFICATE-----"}});
    let keys = parse_keys(certs.to_string().as_bytes()).unwrap();
    assert_eq!(
        keys,
        vec![RsaKey {
            kid: "k1".into(),
            n: "sXch".into(),
            e: "AQAB".into()
        }]
    );
    assert!(parse_keys(b"<html>").is_err());
}

#[test]
fn keys_are_fetched_when_missing_stale_or_a_new_kid_appears_but_not_more_than_every_30_s() {
    let key = |kid: &str| RsaKey {
        kid: kid.into(),
        n: "n".into(),
        e: "AQAB".into(),
    };
    let t0 = 1_000_000;
    let mut cache = KeyCache::default();
    assert_eq!(cache.lookup("k1", t0), Lookup::Fetch, "none yet");
    cache.tried(t0);
    cache.store(vec![key("k1")], t0);
    assert_eq!(cache.lookup("k1", t0 + 1), Lookup::Found(key("k1")));
    // A made-up kid: one fetch per 30 s at most, whatever the number of tokens.
    assert_eq!(cache.lookup("forged", t0 + 1), Lookup::Unknown);
    assert_eq!(cache.lookup("forged", t0 + KEYS_REFETCH_MS), Lookup::Fetch);
    cache.tried(t0 + KEYS_REFETCH_MS);
    assert_eq!(
        cache.lookup("forged", t0 + KEYS_REFETCH_MS + 1),
        Lookup::Unknown
    );
    // After an hour the keys are fetched again; while that fails, the old ones still serve.
    let later = t0 + KEYS_TTL_MS;
    assert_eq!(cache.lookup("k1", later), Lookup::Fetch);
    cache.tried(later);
    assert_eq!(cache.lookup("k1", later + 1), Lookup::Found(key("k1")));
    // A rotation brings the new kid.
    cache.store(vec![key("k1"), key("k2")], later + 2);
    assert_eq!(cache.lookup("k2", later + 3), Lookup::Found(key("k2")));
}
