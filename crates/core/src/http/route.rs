//! The one route table: `(method, path) -> Route`, or 404 / 405 with `Allow` derived from it.
//! The edge dispatches with one `match` on [`Route`]; the README's route table is checked
//! against [`ENDPOINTS`] by a host test.

use crate::http::auth::Role;
use crate::http::problem::ApiError;

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
    /// `/api/admin/*`: the control plane's API (an operator with the route's role).
    Admin(AdminRoute),
    /// `GET /metrics`: Prometheus text (bearer `METRICS_TOKEN`).
    Metrics,
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

/// The routes of the control plane's admin API, each answered by the `RolloutControl` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute {
    /// `GET /api/admin/me`: the caller's operator name and role (answered by the worker).
    Me,
    /// `GET /api/admin/status`: revision, published version, kill switch.
    Status,
    /// `GET /api/admin/events`: the operators' event stream (SSE: audit appended, plan and
    /// stats changed), answered by the `admin` stream object.
    Events,
    /// `GET /api/admin/flags`: every flag with its plan.
    ListFlags,
    /// `GET /api/admin/flags/{key}`.
    GetFlag,
    /// `PUT /api/admin/flags/{key}`: create or change a flag (`If-Match` honoured).
    PutFlag,
    /// `DELETE /api/admin/flags/{key}`.
    DeleteFlag,
    /// `POST /api/admin/flags/{key}/start`.
    Start,
    /// `POST /api/admin/flags/{key}/advance`.
    Advance,
    /// `POST /api/admin/flags/{key}/pause`.
    Pause,
    /// `POST /api/admin/flags/{key}/resume`.
    Resume,
    /// `POST /api/admin/flags/{key}/rollback`.
    Rollback,
    /// `POST /api/admin/flags/{key}/back`: down to a lower tier.
    Back,
    /// `GET /api/admin/requests`: the commands waiting for approvals.
    Requests,
    /// `POST /api/admin/requests/{key}/approve`: approve a pending request (`{key}` is its id).
    Approve,
    /// `POST /api/admin/requests/{key}/reject`: drop a pending request.
    Reject,
    /// `POST /api/admin/kill`: every flag off at once.
    Kill,
    /// `POST /api/admin/unkill`.
    Unkill,
    /// `GET /api/admin/flagset`: the compiled flagd document.
    GetFlagset,
    /// `PUT /api/admin/flagset`: import a whole flagd document.
    PutFlagset,
    /// `GET /api/admin/audit?flag=&limit=`.
    Audit,
    /// `GET /api/admin/stats/{key}?window=1h|24h|tier`: the configured metrics per arm and the
    /// guards.
    Stats,
    /// `GET /api/admin/dead-letters?limit=&kind=`: the dead letters kept, oldest first.
    DeadLetters,
    /// `POST /api/admin/dead-letters/replay`: send dead letters back to their queues.
    ReplayDeadLetters,
    /// `POST /api/admin/dead-letters/discard`: delete dead letters.
    DiscardDeadLetters,
    /// `POST /api/admin/faults`: inject a fault (tests and drills only; 404 unless the
    /// `PILOT_GATE_FAULTS` variable is `true`).
    Faults,
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
    /// `GET /ofrep/v1/events?s={shard}`: the flags' event stream (SSE, ADR-0008).
    Stream,
    /// `OPTIONS /ofrep/v1/events`: the stream's CORS preflight.
    StreamPreflight,
}

/// The worker that serves a route ([`Route::worker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// The edge: pages, the beacon, OFREP, `/api/config`, `/api/healthz`.
    Edge,
    /// The control worker, behind the edge's service binding: the operators' routes and
    /// `/metrics`.
    Control,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Anyone: the route applies its own rules (CORS, the OFREP token, rate limits).
    Anyone,
    /// `Authorization: Bearer <METRICS_TOKEN>` (a Prometheus scraper, not an operator).
    MetricsToken,
    /// An operator with this role or a higher one.
    Role(Role),
}

impl Needs {
    /// Whether an operator of `role` may call a route that needs this: 403 naming the role
    /// it needs when not.
    ///
    /// ```
    /// use pilot_gate_core::http::auth::Role;
    /// use pilot_gate_core::http::route::Needs;
    /// assert!(Needs::Role(Role::Operator).admits(Role::Admin).is_ok());
    /// assert!(Needs::Role(Role::Operator).admits(Role::Viewer).is_err());
    /// ```
    pub fn admits(self, role: Role) -> Result<(), ApiError> {
        match self {
            Needs::Role(needs) if role < needs => Err(ApiError::Forbidden { needs }),
            _ => Ok(()),
        }
    }
}

impl Route {
    /// Which worker serves this route: the control worker those that need an operator's role
    /// or the metrics token (the edge relays them), the edge every other.
    ///
    /// ```
    /// use pilot_gate_core::http::route::{AdminRoute, Route, Worker};
    /// assert_eq!(Route::Metrics.worker(), Worker::Control);
    /// assert_eq!(Route::Admin(AdminRoute::Status).worker(), Worker::Control);
    /// assert_eq!(Route::Page.worker(), Worker::Edge);
    /// ```
    pub fn worker(self) -> Worker {
        match self.needs() {
            Needs::Anyone => Worker::Edge,
            Needs::Role(_) | Needs::MetricsToken => Worker::Control,
        }
    }

    /// Who may call this route, as the route table says.
    ///
    /// ```
    /// use pilot_gate_core::http::auth::Role;
    /// use pilot_gate_core::http::route::{AdminRoute, Needs, Route};
    /// assert_eq!(Route::Admin(AdminRoute::Kill).needs(), Needs::Role(Role::Operator));
    /// ```
    pub fn needs(self) -> Needs {
        ENDPOINTS
            .iter()
            .flat_map(|e| e.methods)
            .find(|(_, r, _)| *r == self)
            .map_or(Needs::Anyone, |(_, _, needs)| *needs)
    }
}

/// One path of the table and the route of each method it allows.
#[derive(Debug)]
pub struct Endpoint {
    /// The exact path, or one with a `{key}` segment that matches any one path segment.
    pub path: &'static str,
    /// Methods, in the order `Allow` lists them.
    pub methods: &'static [(&'static str, Route, Needs)],
}

impl Endpoint {
    /// The `Allow` header of this path: its methods, in table order.
    pub fn allow(&self) -> String {
        let mut allow = String::new();
        for (method, _, _) in self.methods {
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
        methods: &[
            ("GET", Route::Healthz, Needs::Anyone),
            ("HEAD", Route::Healthz, Needs::Anyone),
        ],
    },
    Endpoint {
        path: "/api/events",
        methods: &[
            ("POST", Route::Events(EventsRoute::Ingest), Needs::Anyone),
            (
                "OPTIONS",
                Route::Events(EventsRoute::Preflight),
                Needs::Anyone,
            ),
            (
                "GET",
                Route::Events(EventsRoute::List),
                Needs::Role(Role::Viewer),
            ),
            (
                "DELETE",
                Route::Events(EventsRoute::Delete),
                Needs::Role(Role::Admin),
            ),
        ],
    },
    Endpoint {
        path: "/api/config",
        methods: &[("GET", Route::Config, Needs::Anyone)],
    },
    Endpoint {
        path: "/ofrep/v1/evaluate/flags",
        methods: &[
            ("POST", Route::Ofrep(OfrepRoute::Bulk), Needs::Anyone),
            (
                "OPTIONS",
                Route::Ofrep(OfrepRoute::Preflight),
                Needs::Anyone,
            ),
        ],
    },
    Endpoint {
        path: "/ofrep/v1/evaluate/flags/{key}",
        methods: &[
            ("POST", Route::Ofrep(OfrepRoute::Single), Needs::Anyone),
            (
                "OPTIONS",
                Route::Ofrep(OfrepRoute::Preflight),
                Needs::Anyone,
            ),
        ],
    },
    Endpoint {
        path: "/ofrep/v1/events",
        methods: &[
            ("GET", Route::Ofrep(OfrepRoute::Stream), Needs::Anyone),
            (
                "OPTIONS",
                Route::Ofrep(OfrepRoute::StreamPreflight),
                Needs::Anyone,
            ),
        ],
    },
    Endpoint {
        path: "/api/admin/events",
        methods: &[(
            "GET",
            Route::Admin(AdminRoute::Events),
            Needs::Role(Role::Viewer),
        )],
    },
    Endpoint {
        path: "/api/admin/me",
        methods: &[(
            "GET",
            Route::Admin(AdminRoute::Me),
            Needs::Role(Role::Viewer),
        )],
    },
    Endpoint {
        path: "/api/admin/status",
        methods: &[(
            "GET",
            Route::Admin(AdminRoute::Status),
            Needs::Role(Role::Viewer),
        )],
    },
    Endpoint {
        path: "/api/admin/flags",
        methods: &[(
            "GET",
            Route::Admin(AdminRoute::ListFlags),
            Needs::Role(Role::Viewer),
        )],
    },
    Endpoint {
        path: "/api/admin/flags/{key}",
        methods: &[
            (
                "GET",
                Route::Admin(AdminRoute::GetFlag),
                Needs::Role(Role::Viewer),
            ),
            (
                "PUT",
                Route::Admin(AdminRoute::PutFlag),
                Needs::Role(Role::Admin),
            ),
            (
                "DELETE",
                Route::Admin(AdminRoute::DeleteFlag),
                Needs::Role(Role::Admin),
            ),
        ],
    },
    Endpoint {
        path: "/api/admin/flags/{key}/start",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::Start),
            Needs::Role(Role::Operator),
        )],
    },
    Endpoint {
        path: "/api/admin/flags/{key}/advance",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::Advance),
            Needs::Role(Role::Operator),
        )],
    },
    Endpoint {
        path: "/api/admin/flags/{key}/pause",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::Pause),
            Needs::Role(Role::Operator),
        )],
    },
    Endpoint {
        path: "/api/admin/flags/{key}/resume",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::Resume),
            Needs::Role(Role::Operator),
        )],
    },
    Endpoint {
        path: "/api/admin/flags/{key}/rollback",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::Rollback),
            Needs::Role(Role::Operator),
        )],
    },
    Endpoint {
        path: "/api/admin/flags/{key}/back",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::Back),
            Needs::Role(Role::Operator),
        )],
    },
    Endpoint {
        path: "/api/admin/requests",
        methods: &[(
            "GET",
            Route::Admin(AdminRoute::Requests),
            Needs::Role(Role::Viewer),
        )],
    },
    Endpoint {
        path: "/api/admin/requests/{key}/approve",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::Approve),
            Needs::Role(Role::Operator),
        )],
    },
    Endpoint {
        path: "/api/admin/requests/{key}/reject",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::Reject),
            Needs::Role(Role::Operator),
        )],
    },
    Endpoint {
        path: "/api/admin/kill",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::Kill),
            Needs::Role(Role::Operator),
        )],
    },
    Endpoint {
        path: "/api/admin/unkill",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::Unkill),
            Needs::Role(Role::Operator),
        )],
    },
    Endpoint {
        path: "/api/admin/flagset",
        methods: &[
            (
                "GET",
                Route::Admin(AdminRoute::GetFlagset),
                Needs::Role(Role::Viewer),
            ),
            (
                "PUT",
                Route::Admin(AdminRoute::PutFlagset),
                Needs::Role(Role::Admin),
            ),
        ],
    },
    Endpoint {
        path: "/api/admin/stats/{key}",
        methods: &[(
            "GET",
            Route::Admin(AdminRoute::Stats),
            Needs::Role(Role::Viewer),
        )],
    },
    Endpoint {
        path: "/metrics",
        methods: &[("GET", Route::Metrics, Needs::MetricsToken)],
    },
    Endpoint {
        path: "/api/admin/audit",
        methods: &[(
            "GET",
            Route::Admin(AdminRoute::Audit),
            Needs::Role(Role::Viewer),
        )],
    },
    Endpoint {
        path: "/api/admin/dead-letters",
        methods: &[(
            "GET",
            Route::Admin(AdminRoute::DeadLetters),
            Needs::Role(Role::Viewer),
        )],
    },
    Endpoint {
        path: "/api/admin/dead-letters/replay",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::ReplayDeadLetters),
            Needs::Role(Role::Operator),
        )],
    },
    Endpoint {
        path: "/api/admin/dead-letters/discard",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::DiscardDeadLetters),
            Needs::Role(Role::Admin),
        )],
    },
    Endpoint {
        path: "/api/admin/faults",
        methods: &[(
            "POST",
            Route::Admin(AdminRoute::Faults),
            Needs::Role(Role::Admin),
        )],
    },
];

/// The `{key}` segment of a path that matched a `{key}` endpoint.
///
/// ```
/// use pilot_gate_core::http::route::path_key;
/// assert_eq!(path_key("/ofrep/v1/evaluate/flags/pilot"), Some("pilot"));
/// assert_eq!(path_key("/api/admin/flags/pilot/advance"), Some("pilot"));
/// assert_eq!(path_key("/ofrep/v1/evaluate/flags"), None);
/// ```
pub fn path_key(path: &str) -> Option<&str> {
    ENDPOINTS.iter().find_map(|e| e.key_of(path))
}

impl Endpoint {
    /// The `{key}` segment of `path`, when this endpoint has one and `path` matches it.
    fn key_of<'p>(&self, path: &'p str) -> Option<&'p str> {
        let (prefix, suffix) = self.path.split_once("{key}")?;
        path.strip_prefix(prefix)?
            .strip_suffix(suffix)
            .filter(|k| !k.is_empty() && !k.contains('/'))
    }

    fn matches(&self, path: &str) -> bool {
        self.path == path || self.key_of(path).is_some()
    }
}

/// The route of a request.
///
/// ```
/// use pilot_gate_core::http::route::{resolve, EventsRoute, Route};
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
        .find(|(m, _, _)| *m == method)
        .map(|(_, route, _)| *route)
        .ok_or_else(|| ApiError::MethodNotAllowed {
            allow: endpoint.allow(),
        })
}
