//! OFREP event streams: the signed tag of a published set, the re-fetch hints, the shard of a
//! client, and the bulk answer's `eventStreams`.

use pilot_gate_core::flags::stream::{
    channel_of, config_etag, config_revision, event_streams, refetch_event, refetch_hint, shard_of,
    MalformedHint,
};
use pilot_gate_core::http::sse::Channel;

const SECRET: &[u8] = b"a cookie secret of at least thirty-two bytes";

#[test]
fn a_tag_names_its_revision_and_only_our_secret_signs_it() {
    for revision in [1, 2, 77, u64::MAX] {
        let tag = config_etag(SECRET, revision);
        assert_eq!(config_revision(SECRET, &tag), Ok(Some(revision)));
        assert_eq!(
            config_revision(SECRET, &format!("W/{tag}")),
            Ok(Some(revision))
        );
        assert_eq!(config_revision(b"another secret", &tag), Ok(None));
    }
    // A forged future revision with a made-up MAC is well formed and ignored.
    assert_eq!(
        config_revision(SECRET, "\"999999-0123456789abcdef\""),
        Ok(None)
    );
    // Another revision's MAC does not sign this one.
    let two = config_etag(SECRET, 2);
    let forged = two.replacen("\"2-", "\"3-", 1);
    assert_eq!(config_revision(SECRET, &forged), Ok(None));
}

#[test]
fn a_malformed_tag_is_refused() {
    for bad in [
        "",
        "12",
        "\"12\"",
        "\"x-0123456789abcdef\"",
        "\"12-0123\"",
        "\"12-0123456789abcdeg\"",
        "12-0123456789abcdef",
    ] {
        assert!(
            matches!(config_revision(SECRET, bad), Err(MalformedHint(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn the_event_carries_the_tag_the_bulk_answer_carries() {
    let e = refetch_event(SECRET, 12, 1_800_000_000);
    assert_eq!(e.id, 12);
    let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
    assert_eq!(data["type"], "refetchEvaluation");
    assert_eq!(data["etag"], config_etag(SECRET, 12));
    assert_eq!(data["lastModified"], 1_800_000_000);
    assert!(!e.data.contains('\n'));
}

#[test]
fn hints_are_read_from_the_query_and_bounded() {
    let h = refetch_hint("https://w/ofrep/v1/evaluate/flags?flagConfigEtag=%2212-ab%22&flagConfigLastModified=1771622898").unwrap();
    assert_eq!(h.etag.as_deref(), Some("\"12-ab\""));
    assert_eq!(h.last_modified.as_deref(), Some("1771622898"));
    assert_eq!(
        refetch_hint("https://w/ofrep/v1/evaluate/flags").unwrap(),
        Default::default()
    );
    let long = format!("https://w/x?flagConfigLastModified={}", "9".repeat(65));
    assert!(refetch_hint(&long).is_err());
}

#[test]
fn clients_spread_over_the_shards_and_keep_theirs() {
    let shards = 8;
    let mut counts = [0u32; 8];
    for i in 0..8000 {
        let key = format!("visitor-{i}");
        let s = shard_of(&key, shards);
        assert_eq!(s, shard_of(&key, shards), "stable");
        counts[usize::from(s)] += 1;
    }
    for c in counts {
        assert!((800..1200).contains(&c), "{counts:?}");
    }
    assert_eq!(shard_of("anyone", 0), 0);
}

#[test]
fn a_stream_request_names_an_existing_shard() {
    assert_eq!(
        channel_of("https://w/ofrep/v1/events?s=3", 4),
        Some(Channel::Flags { shard: 3 })
    );
    for bad in ["?s=4", "?s=-1", "?s=x", "", "?shard=1"] {
        assert_eq!(
            channel_of(&format!("https://w/ofrep/v1/events{bad}"), 4),
            None,
            "{bad}"
        );
    }
    let s = event_streams(3, 120);
    assert_eq!(s.as_array().map(Vec::len), Some(1));
    assert_eq!(s[0]["type"], "sse");
    assert_eq!(s[0]["inactivityDelaySec"], 120);
    assert!(s[0].get("url").is_none(), "exactly one of url and endpoint");
    assert_eq!(
        channel_of(
            &format!(
                "https://w{}",
                s[0]["endpoint"]["requestUri"].as_str().unwrap()
            ),
            4
        ),
        Some(Channel::Flags { shard: 3 })
    );
}
