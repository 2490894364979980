//! The worker's answers by route and status class: every route has a label, statuses fall in
//! their class, counts add up across flushes.

use pilot_gate_core::http::answers::{label, status_of, AnswerCounts, CLASSES};
use pilot_gate_core::http::outcome::{Action, Outcome, Upstream};
use pilot_gate_core::http::problem::ApiError;
use pilot_gate_core::http::route::ENDPOINTS;

#[test]
fn every_route_of_the_table_has_a_label() {
    for e in ENDPOINTS {
        for (method, route, _) in e.methods {
            let l = label(Some(*route));
            assert!(!l.is_empty() && l != "unknown", "{method} {}", e.path);
        }
    }
}

#[test]
fn statuses_fall_in_their_class_and_others_are_not_counted() {
    let mut c = AnswerCounts::default();
    for (status, class) in [
        (101, 0),
        (200, 1),
        (204, 1),
        (302, 2),
        (304, 2),
        (404, 3),
        (429, 3),
        (500, 4),
        (599, 4),
    ] {
        let mut one = AnswerCounts::default();
        one.add("page", status, 1);
        let mut expected = [0; 5];
        expected[class] = 1;
        assert_eq!(one.0["page"], expected, "{status} is {}", CLASSES[class]);
        c.merge(&one);
    }
    for odd in [0, 99, 600, 999] {
        let mut one = AnswerCounts::default();
        one.add("page", odd, 1);
        assert!(one.is_empty(), "{odd}");
    }
    assert_eq!(c.0["page"], [1, 2, 2, 2, 2]);
    c.merge(&c.clone());
    assert_eq!(c.0["page"], [2, 4, 4, 4, 4]);
}

#[test]
fn the_worker_counts_its_own_answers_and_leaves_pass_throughs_to_their_upstream() {
    let own = Outcome::api(Err::<Action, _>(ApiError::Unavailable), "r".into());
    assert_eq!(status_of(&own), Some(503));
    let redirect = Outcome::api(Ok::<_, ApiError>(Action::Redirect("/".into())), "r".into());
    assert_eq!(status_of(&redirect), Some(302));
    let passed = Outcome::api(
        Ok::<_, ApiError>(Action::PassThrough(Upstream::Assets)),
        "r".into(),
    );
    assert_eq!(status_of(&passed), None);
}
