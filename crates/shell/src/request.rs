//! Copies the facts the core needs out of the runtime's request: method, URL and headers in one
//! call into `request.js`, and the `cf` object (parsed by the runtime on first access) only when a
//! route needs it.

use futures_util::StreamExt;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::web_sys;
use worker::{Cf, Request};

use pilot_gate_core::http::request::{path_of_url, RequestFacts};

#[wasm_bindgen(module = "/src/request.js")]
extern "C" {
    #[wasm_bindgen(js_name = requestFacts)]
    fn js_request_facts(request: &web_sys::Request) -> String;
}

/// What `request.js` writes for an absent header.
const ABSENT: &str = "\0";

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
    mint_capped: std::cell::Cell<bool>,
    request: web_sys::Request,
}

impl Facts {
    /// Reads the facts of `req` but its `cf` object ([`Facts::read_cf`]). Missing headers are
    /// `None`; nothing here fails.
    pub fn read(req: &web_sys::Request) -> Self {
        let packed = js_request_facts(req);
        let mut parts = packed.split('\n');
        let mut next = || parts.next().filter(|v| *v != ABSENT).map(str::to_owned);
        let method = next().unwrap_or_default();
        let path = path_of_url(&next().unwrap_or_default()).to_owned();
        Self {
            method,
            path,
            cookie: next().unwrap_or_default(),
            ip: next(),
            user_agent: next(),
            cf_ray: next(),
            verified_bot: false,
            country: None,
            mint_capped: std::cell::Cell::new(false),
            // A second reference to the same request, for headers a route reads later.
            request: Clone::clone(req),
        }
    }

    /// Reads what the core uses of `cf`: `botManagement.verifiedBot` and `country`.
    pub fn read_cf(&mut self) {
        use worker::worker_sys::ext::RequestExt;
        let Some(cf) = self.request.cf().map(Cf::from) else {
            return;
        };
        self.verified_bot = cf.bot_management().is_some_and(|b| b.verified_bot());
        self.country = cf.country();
    }

    /// Any other request header, by name, read when a route needs it.
    pub fn header(&self, name: &str) -> Option<String> {
        self.request.headers().get(name).ok().flatten()
    }

    /// Notes whether a new identity minted for this request is past its net's cap.
    pub fn set_mint_capped(&self, capped: bool) {
        self.mint_capped.set(capped);
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
            mint_capped: self.mint_capped.get(),
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
