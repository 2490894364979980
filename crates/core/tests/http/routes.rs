//! The one route table: resolution, 404 and 405 with `Allow` derived from it, and the README's
//! route table kept equal to it.

use std::collections::BTreeSet;

use pilot_gate_core::http::auth::Role;
use pilot_gate_core::http::outcome::{Action, Outcome};
use pilot_gate_core::http::problem::ApiError;
use pilot_gate_core::http::route::{
    resolve, EventsRoute, Needs, Route, ENDPOINTS, RESERVED_PREFIXES,
};

use crate::support::header;

#[test]
fn every_endpoint_and_method_resolves_to_its_route() {
    use pilot_gate_core::http::route::{AdminRoute as A, OfrepRoute as O};
    // Written out by hand (not derived from the table), with a concrete key where the path has
    // one: what each (method, path) must reach.
    let expected: &[(&str, &str, Route)] = &[
        ("GET", "/api/healthz", Route::Healthz),
        ("HEAD", "/api/healthz", Route::Healthz),
        ("POST", "/api/events", Route::Events(EventsRoute::Ingest)),
        (
            "OPTIONS",
            "/api/events",
            Route::Events(EventsRoute::Preflight),
        ),
        ("GET", "/api/events", Route::Events(EventsRoute::List)),
        ("DELETE", "/api/events", Route::Events(EventsRoute::Delete)),
        ("GET", "/api/config", Route::Config),
        ("POST", "/ofrep/v1/evaluate/flags", Route::Ofrep(O::Bulk)),
        (
            "OPTIONS",
            "/ofrep/v1/evaluate/flags",
            Route::Ofrep(O::Preflight),
        ),
        (
            "POST",
            "/ofrep/v1/evaluate/flags/k",
            Route::Ofrep(O::Single),
        ),
        (
            "OPTIONS",
            "/ofrep/v1/evaluate/flags/k",
            Route::Ofrep(O::Preflight),
        ),
        ("GET", "/ofrep/v1/events", Route::Ofrep(O::Stream)),
        (
            "OPTIONS",
            "/ofrep/v1/events",
            Route::Ofrep(O::StreamPreflight),
        ),
        ("GET", "/api/admin/events", Route::Admin(A::Events)),
        ("GET", "/api/admin/me", Route::Admin(A::Me)),
        ("GET", "/api/admin/status", Route::Admin(A::Status)),
        ("GET", "/api/admin/flags", Route::Admin(A::ListFlags)),
        ("GET", "/api/admin/flags/k", Route::Admin(A::GetFlag)),
        ("PUT", "/api/admin/flags/k", Route::Admin(A::PutFlag)),
        ("DELETE", "/api/admin/flags/k", Route::Admin(A::DeleteFlag)),
        ("POST", "/api/admin/flags/k/start", Route::Admin(A::Start)),
        (
            "POST",
            "/api/admin/flags/k/advance",
            Route::Admin(A::Advance),
        ),
        ("POST", "/api/admin/flags/k/pause", Route::Admin(A::Pause)),
        ("POST", "/api/admin/flags/k/resume", Route::Admin(A::Resume)),
        (
            "POST",
            "/api/admin/flags/k/rollback",
            Route::Admin(A::Rollback),
        ),
        ("POST", "/api/admin/flags/k/back", Route::Admin(A::Back)),
        ("GET", "/api/admin/requests", Route::Admin(A::Requests)),
        (
            "POST",
            "/api/admin/requests/7/approve",
            Route::Admin(A::Approve),
        ),
        (
            "POST",
            "/api/admin/requests/7/reject",
            Route::Admin(A::Reject),
        ),
        ("POST", "/api/admin/kill", Route::Admin(A::Kill)),
        ("POST", "/api/admin/unkill", Route::Admin(A::Unkill)),
        ("GET", "/api/admin/flagset", Route::Admin(A::GetFlagset)),
        ("PUT", "/api/admin/flagset", Route::Admin(A::PutFlagset)),
        ("GET", "/api/admin/stats/k", Route::Admin(A::Stats)),
        ("GET", "/api/admin/audit", Route::Admin(A::Audit)),
        (
            "GET",
            "/api/admin/dead-letters",
            Route::Admin(A::DeadLetters),
        ),
        (
            "POST",
            "/api/admin/dead-letters/replay",
            Route::Admin(A::ReplayDeadLetters),
        ),
        (
            "POST",
            "/api/admin/dead-letters/discard",
            Route::Admin(A::DiscardDeadLetters),
        ),
        ("POST", "/api/admin/faults", Route::Admin(A::Faults)),
        ("GET", "/metrics", Route::Metrics),
    ];
    for (method, path, route) in expected {
        assert_eq!(resolve(method, path), Ok(*route), "{method} {path}");
    }
    // And the table has nothing more.
    let in_table: usize = ENDPOINTS.iter().map(|e| e.methods.len()).sum();
    assert_eq!(
        in_table,
        expected.len(),
        "a route of the table is not listed here"
    );
}

#[test]
fn ofrep_and_config_resolve_with_their_key() {
    use pilot_gate_core::http::route::{path_key, OfrepRoute};
    let single = "/ofrep/v1/evaluate/flags/pilot";
    assert_eq!(
        resolve("POST", single),
        Ok(Route::Ofrep(OfrepRoute::Single))
    );
    assert_eq!(path_key(single), Some("pilot"));
    assert_eq!(
        resolve("POST", "/ofrep/v1/evaluate/flags"),
        Ok(Route::Ofrep(OfrepRoute::Bulk))
    );
    assert_eq!(
        resolve("OPTIONS", single),
        Ok(Route::Ofrep(OfrepRoute::Preflight))
    );
    assert_eq!(resolve("GET", "/api/config"), Ok(Route::Config));
    assert_eq!(
        resolve("GET", single),
        Err(ApiError::MethodNotAllowed {
            allow: "POST, OPTIONS".into()
        })
    );
    for nope in [
        "/ofrep/v1/evaluate/flags/a/b",
        "/ofrep/v1/evaluate/flags/",
        "/ofrep/x",
    ] {
        assert_eq!(resolve("POST", nope), Err(ApiError::NotFound), "{nope}");
    }
}

#[test]
fn pages_are_any_method_outside_the_reserved_prefixes() {
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/try"),
        ("POST", "/try/form"),
        ("GET", "/api"),
        ("GET", "/apix/healthz"),
    ] {
        assert_eq!(resolve(method, path), Ok(Route::Page), "{method} {path}");
    }
}

#[test]
fn unknown_api_paths_are_404_and_wrong_methods_405_with_allow_from_the_table() {
    assert_eq!(resolve("GET", "/api/nope"), Err(ApiError::NotFound));
    assert_eq!(resolve("GET", "/api/healthz/"), Err(ApiError::NotFound));
    assert_eq!(
        resolve("POST", "/api/healthz"),
        Err(ApiError::MethodNotAllowed {
            allow: "GET, HEAD".into()
        })
    );
    assert_eq!(
        resolve("PUT", "/api/events"),
        Err(ApiError::MethodNotAllowed {
            allow: "POST, OPTIONS, GET, DELETE".into()
        })
    );
    // The answers, as the worker writes them.
    let o = Outcome::api(
        Err(resolve("POST", "/api/healthz").unwrap_err()),
        "r".into(),
    );
    assert!(matches!(&o.action, Action::Json(405, b) if b["error"] == "method_not_allowed"));
    assert_eq!(header(&o, "Allow"), Some("GET, HEAD"));
    let o = Outcome::api(Err(resolve("GET", "/api/nope").unwrap_err()), "r".into());
    assert!(matches!(&o.action, Action::Json(404, b) if b["error"] == "not_found"));
    assert_eq!(header(&o, "Cache-Control"), Some("no-store"));
}

/// `(method, path, who)` of every row of the README's "Routes" table whose path is exact.
fn readme_routes() -> BTreeSet<(String, String, String)> {
    let readme = include_str!("../../../../README.md");
    let section = readme
        .split("\n## Routes\n")
        .nth(1)
        .expect("README has a ## Routes section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut out = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let ticked = |cell: &str| -> Vec<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };
        for path in ticked(cells[2]).into_iter().filter(|p| !p.contains('*')) {
            for method in ticked(cells[1]) {
                out.insert((method, path.clone(), cells[3].to_owned()));
            }
        }
    }
    out
}

#[test]
fn the_readme_route_table_is_the_code_route_table() {
    let who = |needs: &Needs| match needs {
        Needs::Anyone => "anyone".to_owned(),
        Needs::MetricsToken => "`METRICS_TOKEN`".to_owned(),
        Needs::Role(role) => role.as_str().to_owned(),
    };
    let code: BTreeSet<(String, String, String)> = ENDPOINTS
        .iter()
        .flat_map(|e| {
            e.methods
                .iter()
                .map(move |(m, _, needs)| ((*m).to_owned(), e.path.to_owned(), who(needs)))
        })
        .collect();
    assert_eq!(
        readme_routes(),
        code,
        "README ## Routes and src/core/http/route.rs differ"
    );
    let readme = include_str!("../../../../README.md");
    for prefix in RESERVED_PREFIXES {
        assert!(
            readme.contains(&format!("`{prefix}*`")),
            "README names the reserved prefix {prefix}*"
        );
    }
}

#[test]
fn every_admin_route_names_a_role_and_only_reads_are_open_to_viewers() {
    use pilot_gate_core::http::route::AdminRoute as A;
    for endpoint in ENDPOINTS {
        for (method, route, needs) in endpoint.methods {
            let operators_route = matches!(route, Route::Admin(_))
                || endpoint.path == "/api/events" && *method != "POST" && *method != "OPTIONS";
            if !operators_route {
                assert!(
                    !matches!(needs, Needs::Role(_)),
                    "{method} {}: not an operator's route",
                    endpoint.path
                );
                continue;
            }
            let Needs::Role(role) = needs else {
                panic!("{method} {} names no role", endpoint.path);
            };
            // A viewer reads; anything that is not a GET needs more.
            assert_eq!(
                *role == Role::Viewer,
                *method == "GET",
                "{method} {}: {role:?}",
                endpoint.path
            );
            assert_eq!(route.needs(), *needs, "Route::needs reads the table");
        }
    }
    // Definitions, imports and deletions are an admin's; commands an operator's.
    for (route, role) in [
        (A::PutFlag, Role::Admin),
        (A::DeleteFlag, Role::Admin),
        (A::PutFlagset, Role::Admin),
        (A::DiscardDeadLetters, Role::Admin),
        (A::Faults, Role::Admin),
        (A::Advance, Role::Operator),
        (A::Kill, Role::Operator),
        (A::Rollback, Role::Operator),
        (A::ReplayDeadLetters, Role::Operator),
        (A::Audit, Role::Viewer),
    ] {
        assert_eq!(Route::Admin(route).needs(), Needs::Role(role), "{route:?}");
    }
    assert_eq!(
        Route::Events(EventsRoute::Delete).needs(),
        Needs::Role(Role::Admin)
    );
    assert_eq!(Route::Metrics.needs(), Needs::MetricsToken);
    assert_eq!(Route::Config.needs(), Needs::Anyone);
}

#[test]
fn a_role_below_the_routes_is_403_naming_the_role_it_needs() {
    let needs = Route::Admin(pilot_gate_core::http::route::AdminRoute::Advance).needs();
    assert!(needs.admits(Role::Operator).is_ok());
    assert!(needs.admits(Role::Admin).is_ok());
    let e = needs.admits(Role::Viewer).unwrap_err();
    let o = Outcome::api(Err(e), "r".into());
    match &o.action {
        Action::Json(403, b) => {
            assert_eq!(b["error"], "forbidden");
            assert_eq!(b["detail"], "needs operator");
        }
        other => panic!("{other:?}"),
    }
}
