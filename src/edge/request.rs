//! Copies the facts the core needs out of a `worker::Request`.

use worker::{Headers, Request};

use crate::core::gate::GateRequest;
use crate::core::identity::IdentityInputs;

/// Owned request facts; [`Facts::view`] borrows them as the core's [`GateRequest`].
pub struct Facts {
    method: String,
    path: String,
    cookie: String,
    ip: Option<String>,
    user_agent: Option<String>,
    cf_ray: Option<String>,
    verified_bot: bool,
    headers: Headers,
}

impl Facts {
    /// Reads the facts of `req`. Missing headers are `None`; nothing here fails.
    pub fn read(req: &Request) -> Self {
        let header = |name: &str| req.headers().get(name).ok().flatten();
        // Cloning `Headers` clones a reference to the same JS object, not the headers.
        Self {
            method: req.method().to_string(),
            path: req.path(),
            cookie: header("cookie").unwrap_or_default(),
            ip: header("cf-connecting-ip"),
            user_agent: header("user-agent"),
            cf_ray: header("cf-ray"),
            verified_bot: req
                .cf()
                .and_then(|cf| cf.bot_management())
                .is_some_and(|b| b.verified_bot()),
            headers: req.headers().clone(),
        }
    }

    /// Any request header, by name.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }

    /// The HTTP method, upper case.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The core's view of the request.
    pub fn view(&self) -> GateRequest<'_> {
        GateRequest {
            method: &self.method,
            path: &self.path,
            identity: IdentityInputs {
                cookie_header: self.cookie.as_bytes(),
                ip: self.ip.as_deref(),
                user_agent: self.user_agent.as_deref(),
                verified_bot: self.verified_bot,
            },
            cf_ray: self.cf_ray.as_deref(),
        }
    }
}
