//! Turns the core's [`Outcome`] into a `worker::Response`, fetching upstream when it passes through.

use worker::{Env, Fetch, Headers, Request, Response, Result};

use crate::core::config::PassThrough;
use crate::core::error::GateError;
use crate::core::gate::{self, Action, Outcome};

/// Writes one structured error log line, keyed by request id.
pub fn log_error(request_id: &str, event: &str, detail: &str) {
    worker::console_error!(
        "{}",
        serde_json::json!({"level": "error", "event": event, "request_id": request_id, "detail": detail})
    );
}

/// Builds the final response: the action's body, then the policy headers and cookies.
pub async fn finish(
    req: Request,
    env: &Env,
    mut outcome: Outcome,
    pass_through: PassThrough,
) -> Result<Response> {
    let (status, headers, body) = match &outcome.action {
        Action::PassThrough => match upstream(req, env, pass_through).await {
            Ok(resp) => {
                let headers = copy_headers(resp.headers())?;
                let status = resp.status_code();
                let (_, body) = resp.into_parts();
                (status, headers, body)
            }
            Err(e) => {
                log_error(&outcome.request_id, "upstream_failed", &e.to_string());
                let err = GateError::UpstreamUnavailable;
                outcome.headers.extend(gate::error_headers(&err));
                outcome.action = gate::error(&err);
                json_parts(&outcome.action)
            }
        },
        Action::Redirect(location) => {
            let h = Headers::new();
            h.set("Location", location)?;
            (302, h, worker::ResponseBody::Empty)
        }
        Action::Json(..) => json_parts(&outcome.action),
        Action::NoContent => (204, Headers::new(), worker::ResponseBody::Empty),
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

fn json_parts(action: &Action) -> (u16, Headers, worker::ResponseBody) {
    let (status, body) = match action {
        Action::Json(status, body) => (*status, body.to_string()),
        _ => (500, String::from("{\"error\":\"internal\"}")),
    };
    let h = Headers::new();
    let _ = h.set("Content-Type", "application/json; charset=utf-8");
    (status, h, worker::ResponseBody::Body(body.into_bytes()))
}

/// A mutable copy of upstream headers (fetched responses have immutable ones), made by the
/// runtime in one call rather than header by header across the wasm boundary.
fn copy_headers(src: &Headers) -> Result<Headers> {
    Ok(Headers(worker::web_sys::Headers::new_with_headers(&src.0)?))
}

async fn upstream(req: Request, env: &Env, pass_through: PassThrough) -> Result<Response> {
    match pass_through {
        PassThrough::Assets => env.assets("ASSETS")?.fetch_request(req).await,
        PassThrough::Origin => Fetch::Request(req).send().await,
    }
}
