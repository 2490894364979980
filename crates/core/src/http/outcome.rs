//! What the core tells the shell to answer: an [`Action`] plus the headers and cookies of the
//! response. The shell writes it; it decides nothing.

use crate::http::policy::{headers_for, Coep, RouteClass, PRIVATE_NO_STORE};
use crate::http::problem::{reply, Problem};

/// Where a passed-through request is served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// The static assets binding (`www/`), as under `wrangler dev`.
    Assets,
    /// The origin behind the worker's route, when deployed in front of an app.
    Origin,
    /// The `FlagEvents` object that holds an event stream (its answer streams through).
    Stream(crate::http::sse::Channel),
    /// The control worker (the edge's service binding `CONTROL`): the operators' routes and
    /// `/metrics`, relayed as they came and answered as the control worker answers.
    Control,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Serve the request from upstream and apply the headers.
    PassThrough(Upstream),
    /// Answer `302 Found` to this same-origin location.
    Redirect(String),
    /// Answer with this status and JSON body.
    Json(u16, serde_json::Value),
    /// Answer `204 No Content` (a CORS preflight).
    NoContent,
    /// Answer with this status and no body (`304`, OFREP's `401`).
    Status(u16),
    /// Answer `200` with this text and `Content-Type` (`/metrics`).
    Text(&'static str, String),
}

/// The core's answer: an action plus the headers and cookies to put on the response.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What to do.
    pub action: Action,
    /// Headers to set on the final response (replacing upstream values).
    pub headers: Vec<(&'static str, String)>,
    /// `Set-Cookie` values, each appended as its own header.
    pub set_cookies: Vec<String>,
    /// The request id, for logs.
    pub request_id: String,
}

impl Outcome {
    /// An outcome with the policy headers of `class` and the request id (`X-Request-Id`).
    pub fn new(action: Action, class: RouteClass, coep: Coep, request_id: String) -> Self {
        let mut headers: Vec<(&'static str, String)> = headers_for(class, coep)
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        headers.push(("X-Request-Id", request_id.clone()));
        Self {
            action,
            headers,
            set_cookies: Vec::new(),
            request_id,
        }
    }

    /// The edge's relay of a route that the control worker serves ([`Route::worker`]): its
    /// answer goes back as it is, with no header of the edge's.
    ///
    /// [`Route::worker`]: crate::http::route::Route::worker
    pub fn relay(request_id: String) -> Self {
        Self {
            action: Action::PassThrough(Upstream::Control),
            headers: Vec::new(),
            set_cookies: Vec::new(),
            request_id,
        }
    }

    /// The answer of an API route: its action, or the problem's answer.
    pub fn api<P: Problem>(answer: Result<Action, P>, request_id: String) -> Self {
        match answer {
            Ok(action) => Self::api_action(action, request_id),
            Err(p) => {
                let mut out = Self::api_action(Action::NoContent, request_id);
                out.fail(&p);
                out
            }
        }
    }

    fn api_action(action: Action, request_id: String) -> Self {
        // COEP only matters on isolated routes, which API routes are not.
        Self::new(action, RouteClass::Api, Coep::RequireCorp, request_id)
    }

    /// Replaces the action with the problem's answer and adds its headers; the policy headers
    /// and cookies stay.
    pub fn fail(&mut self, p: &dyn Problem) {
        let r = reply(p);
        self.action = if r.body.is_null() {
            Action::Status(r.status)
        } else {
            Action::Json(r.status, r.body)
        };
        for (name, value) in r.headers {
            self.set_header(name, value);
        }
    }

    /// Adds `Set-Cookie` values. A response that sets a cookie is never cached and shared, so
    /// this also makes it `private, no-store`.
    pub fn with_cookies(mut self, cookies: Vec<String>) -> Self {
        if !cookies.is_empty() {
            self.set_header("Cache-Control", PRIVATE_NO_STORE.to_owned());
        }
        self.set_cookies.extend(cookies);
        self
    }

    /// Sets a header, replacing any value it had.
    pub fn set_header(&mut self, name: &'static str, value: String) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name, value));
    }

    /// The value of a header, by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
