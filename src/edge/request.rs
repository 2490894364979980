//! Copies the facts the core needs out of the runtime's request, reading each header once and
//! the `cf` object (parsed by the runtime on first access) only when a route needs it.

use futures_util::StreamExt;
use worker::{Cf, Headers, Request};

use crate::core::http::request::{path_of_url, RequestFacts};

/// Owned request facts; [`Facts::view`] borrows them as the core's [`RequestFacts`].
pub struct Facts {
    method: String,
    path: String,
    cookie: String,
    ip: Option<String>,
    user_agent: Option<String>,
    cf_ray: Option<String>,
    verified_bot: bool,
    country: Option<String>,
    headers: Headers,
}

impl Facts {
    /// Reads the facts of `req` but its `cf` object ([`Facts::read_cf`]). Missing headers are
    /// `None`; nothing here fails.
    pub fn read(req: &worker::web_sys::Request) -> Self {
        // One handle on the headers; cloning `Headers` clones a reference, not the headers.
        let headers = Headers(req.headers());
        let header = |name: &str| headers.get(name).ok().flatten();
        Self {
            method: req.method(),
            path: path_of_url(&req.url()).to_owned(),
            cookie: header("cookie").unwrap_or_default(),
            ip: header("cf-connecting-ip"),
            user_agent: header("user-agent"),
            cf_ray: header("cf-ray"),
            verified_bot: false,
            country: None,
            headers,
        }
    }

    /// Reads what the core uses of `cf`: `botManagement.verifiedBot` and `country`.
    pub fn read_cf(&mut self, req: &worker::web_sys::Request) {
        use worker::worker_sys::ext::RequestExt;
        let Some(cf) = req.cf().map(Cf::from) else {
            return;
        };
        self.verified_bot = cf.bot_management().is_some_and(|b| b.verified_bot());
        self.country = cf.country();
    }

    /// Any other request header, by name, read when a route needs it.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }

    /// The visitor's country, when [`Facts::read_cf`] found one.
    pub fn country(&self) -> Option<&str> {
        self.country.as_deref()
    }

    /// The core's view of the request.
    pub fn view(&self) -> RequestFacts<'_> {
        RequestFacts {
            method: &self.method,
            path: &self.path,
            cookie_header: self.cookie.as_bytes(),
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            verified_bot: self.verified_bot,
            cf_ray: self.cf_ray.as_deref(),
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (by `Content-Length` or counted while streaming).
    TooLarge,
    /// The stream failed.
    Unreadable,
}

/// Reads the body, counting while streaming: stops at `limit_bytes + 1`, so a chunked body
/// without `Content-Length` can neither pass the limit nor make the worker buffer more.
pub async fn read_body(req: &mut Request, limit_bytes: usize) -> Result<Vec<u8>, BodyError> {
    let Ok(mut stream) = req.stream() else {
        return Ok(Vec::new()); // no body
    };
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if buf.len() + chunk.len() > limit_bytes {
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}
