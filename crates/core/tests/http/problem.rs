//! Problems: one status per variant, generic 5xx bodies, and the headers each status needs.

use pilot_gate_core::events::error::EventsError;
use pilot_gate_core::http::outcome::{Action, Outcome};
use pilot_gate_core::http::problem::{reply, ApiError, Problem, GENERIC_DETAIL};

use crate::support::header;

fn all_api_errors() -> [ApiError; 7] {
    [
        ApiError::NotFound,
        ApiError::MethodNotAllowed {
            allow: "GET".into(),
        },
        ApiError::Unauthorized {
            token: "ADMIN_TOKEN",
        },
        ApiError::RateLimited { retry_after_s: 7 },
        ApiError::Misconfigured,
        ApiError::Unavailable,
        ApiError::Internal,
    ]
}

#[test]
fn api_errors_have_one_status_and_generic_5xx_bodies() {
    let all = all_api_errors();
    let statuses: Vec<u16> = all.iter().map(Problem::status).collect();
    assert_eq!(statuses, [404, 405, 401, 429, 503, 503, 500]);
    for e in &all {
        let r = reply(e);
        assert_eq!(r.status, e.status());
        assert_eq!(r.body["error"], e.code());
        if r.status >= 500 {
            assert_eq!(r.body["detail"], GENERIC_DETAIL, "{e:?}");
        }
        let retry = r.headers.iter().any(|(k, _)| *k == "Retry-After");
        assert_eq!(retry, matches!(r.status, 429 | 503), "{e:?}");
        assert!(r.body.get("index").is_none());
    }
    assert_eq!(reply(&all[1]).headers, [("Allow", "GET".to_owned())]);
    assert_eq!(
        reply(&ApiError::Misconfigured).headers,
        [("Retry-After", "30".to_owned())]
    );
    assert_eq!(
        reply(&ApiError::Unavailable).headers,
        [("Retry-After", "5".to_owned())]
    );
}

#[test]
fn a_failed_page_keeps_its_policy_headers_and_cookies() {
    // A pilot request whose upstream fails: the gate's headers and cookies stay, the action
    // becomes the problem's JSON with Retry-After.
    let mut o = Outcome::api(Ok::<_, ApiError>(Action::NoContent), "r".into())
        .with_cookies(vec!["pg_uid=x".into()]);
    o.fail(&ApiError::Unavailable);
    assert!(matches!(&o.action, Action::Json(503, b) if b["detail"] == GENERIC_DETAIL));
    assert_eq!(header(&o, "Retry-After"), Some("5"));
    assert_eq!(header(&o, "Cache-Control"), Some("private, no-store"));
    assert_eq!(o.set_cookies, ["pg_uid=x"]);
}

#[test]
fn a_5xx_never_carries_its_cause() {
    // Whatever the variant says, a 5xx body says only the generic detail.
    let e = EventsError::Api(ApiError::Internal);
    let r = reply(&e);
    assert_eq!(r.status, 500);
    assert_eq!(r.body["detail"], GENERIC_DETAIL);
}
