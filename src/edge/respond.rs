//! Writes the core's [`Outcome`] as a `worker::Response`, fetching upstream when it passes through.

use worker::{Env, Fetch, Headers, Request, Response, ResponseBody, Result};

use crate::core::http::outcome::{Action, Outcome, Upstream};
use crate::core::http::problem::ApiError;
use crate::edge::log;

/// Builds the final response: the action's status and body, then the outcome's headers and
/// cookies. A failed upstream becomes the problem answer of [`ApiError::Unavailable`].
pub async fn finish(req: Request, env: &Env, mut outcome: Outcome) -> Result<Response> {
    let (status, headers, body) = match &outcome.action {
        Action::PassThrough(upstream) => match fetch_upstream(req, env, *upstream).await {
            Ok(resp) => {
                let headers = copy_headers(resp.headers())?;
                (resp.status_code(), headers, resp.into_parts().1)
            }
            Err(e) => {
                log::error(&outcome.request_id, "upstream_failed", &e.to_string());
                outcome.fail(&ApiError::Unavailable);
                own_parts(&outcome.action)?
            }
        },
        action => own_parts(action)?,
    };
    for (name, value) in &outcome.headers {
        headers.set(name, value)?;
    }
    for cookie in &outcome.set_cookies {
        headers.append("Set-Cookie", cookie)?;
    }
    Ok(Response::builder()
        .with_status(status)
        .with_headers(headers)
        .body(body))
}

/// Status, headers and body of an answer the worker gives itself.
fn own_parts(action: &Action) -> Result<(u16, Headers, ResponseBody)> {
    let h = Headers::new();
    Ok(match action {
        Action::Redirect(location) => {
            h.set("Location", location)?;
            (302, h, ResponseBody::Empty)
        }
        Action::Json(status, body) => {
            h.set("Content-Type", "application/json; charset=utf-8")?;
            (
                *status,
                h,
                ResponseBody::Body(body.to_string().into_bytes()),
            )
        }
        Action::NoContent => (204, h, ResponseBody::Empty),
        Action::Status(status) => (*status, h, ResponseBody::Empty),
        Action::Text(content_type, text) => {
            h.set("Content-Type", content_type)?;
            (200, h, ResponseBody::Body(text.clone().into_bytes()))
        }
        // `finish` fetches pass-throughs itself; there is no body of the worker's own.
        Action::PassThrough(_) => (502, h, ResponseBody::Empty),
    })
}

/// A mutable copy of upstream headers (fetched responses have immutable ones), made by the
/// runtime in one call rather than header by header across the wasm boundary.
fn copy_headers(src: &Headers) -> Result<Headers> {
    Ok(Headers(worker::web_sys::Headers::new_with_headers(&src.0)?))
}

async fn fetch_upstream(req: Request, env: &Env, upstream: Upstream) -> Result<Response> {
    match upstream {
        Upstream::Assets => env.assets("ASSETS")?.fetch_request(req).await,
        Upstream::Origin => Fetch::Request(req).send().await,
    }
}
