//! The one route table: `(method, path) -> Route`, or 404 / 405 with `Allow` derived from it.
//! The edge dispatches with one `match` on [`Route`]; the README's route table is checked
//! against [`ENDPOINTS`] by a host test.

use crate::core::http::problem::ApiError;

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET`/`HEAD /api/healthz`: liveness and the rollout in force.
    Healthz,
    /// `/api/events`: the beacon and its admin reads.
    Events(EventsRoute),
    /// `GET /api/config`: every flag's value for the caller.
    Config,
    /// `/ofrep/v1/evaluate/flags[/{key}]`: OpenFeature Remote Evaluation Protocol.
    Ofrep(OfrepRoute),
    /// Any path outside the reserved prefixes: a page, gated or not, served from upstream.
    Page,
}

/// The routes of `/api/events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsRoute {
    /// `POST`: the beacon.
    Ingest,
    /// `OPTIONS`: the beacon's CORS preflight.
    Preflight,
    /// `GET`: admin listing of stored events.
    List,
    /// `DELETE`: admin deletion of every stored event.
    Delete,
}

/// The routes of OFREP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfrepRoute {
    /// `POST /ofrep/v1/evaluate/flags/{key}`: one flag.
    Single,
    /// `POST /ofrep/v1/evaluate/flags`: every flag.
    Bulk,
    /// `OPTIONS` of either: the CORS preflight.
    Preflight,
}

/// One path of the table and the route of each method it allows.
#[derive(Debug)]
pub struct Endpoint {
    /// The exact path, or a prefix and `{key}` for one more path segment.
    pub path: &'static str,
    /// Methods, in the order `Allow` lists them.
    pub methods: &'static [(&'static str, Route)],
}

impl Endpoint {
    /// The `Allow` header of this path: its methods, in table order.
    pub fn allow(&self) -> String {
        let mut allow = String::new();
        for (method, _) in self.methods {
            if !allow.is_empty() {
                allow.push_str(", ");
            }
            allow.push_str(method);
        }
        allow
    }
}

/// Path prefixes that belong to the worker: a path under one that is not in the table is 404,
/// never a page.
pub const RESERVED_PREFIXES: [&str; 2] = ["/api/", "/ofrep/"];

/// Every endpoint the worker serves itself.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/api/healthz",
        methods: &[("GET", Route::Healthz), ("HEAD", Route::Healthz)],
    },
    Endpoint {
        path: "/api/events",
        methods: &[
            ("POST", Route::Events(EventsRoute::Ingest)),
            ("OPTIONS", Route::Events(EventsRoute::Preflight)),
            ("GET", Route::Events(EventsRoute::List)),
            ("DELETE", Route::Events(EventsRoute::Delete)),
        ],
    },
    Endpoint {
        path: "/api/config",
        methods: &[("GET", Route::Config)],
    },
    Endpoint {
        path: "/ofrep/v1/evaluate/flags",
        methods: &[
            ("POST", Route::Ofrep(OfrepRoute::Bulk)),
            ("OPTIONS", Route::Ofrep(OfrepRoute::Preflight)),
        ],
    },
    Endpoint {
        path: "/ofrep/v1/evaluate/flags/{key}",
        methods: &[
            ("POST", Route::Ofrep(OfrepRoute::Single)),
            ("OPTIONS", Route::Ofrep(OfrepRoute::Preflight)),
        ],
    },
];

/// The last segment of a path that matched a `{key}` endpoint.
///
/// ```
/// use pilot_gate::core::http::route::path_key;
/// assert_eq!(path_key("/ofrep/v1/evaluate/flags/pilot"), Some("pilot"));
/// assert_eq!(path_key("/ofrep/v1/evaluate/flags"), None);
/// ```
pub fn path_key(path: &str) -> Option<&str> {
    ENDPOINTS.iter().find_map(|e| e.key_of(path))
}

impl Endpoint {
    /// The `{key}` segment of `path`, when this endpoint has one and `path` matches it.
    fn key_of<'p>(&self, path: &'p str) -> Option<&'p str> {
        let prefix = self.path.strip_suffix("{key}")?;
        path.strip_prefix(prefix)
            .filter(|k| !k.is_empty() && !k.contains('/'))
    }

    fn matches(&self, path: &str) -> bool {
        self.path == path || self.key_of(path).is_some()
    }
}

/// The route of a request.
///
/// ```
/// use pilot_gate::core::http::route::{resolve, EventsRoute, Route};
/// assert_eq!(resolve("POST", "/api/events"), Ok(Route::Events(EventsRoute::Ingest)));
/// assert_eq!(resolve("PUT", "/try"), Ok(Route::Page));
/// assert!(resolve("GET", "/api/nope").is_err());
/// ```
pub fn resolve(method: &str, path: &str) -> Result<Route, ApiError> {
    let Some(endpoint) = ENDPOINTS.iter().find(|e| e.matches(path)) else {
        return if RESERVED_PREFIXES.iter().any(|p| path.starts_with(p)) {
            Err(ApiError::NotFound)
        } else {
            Ok(Route::Page)
        };
    };
    endpoint
        .methods
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, route)| *route)
        .ok_or_else(|| ApiError::MethodNotAllowed {
            allow: endpoint.allow(),
        })
}
