//! `/api/admin/*`: who the operator is and whether their role may call the route (done before
//! any admin route, `/api/events`' reads included), then the request goes to the one
//! `RolloutControl` object with the operator's name and role, and its answer is relayed. If the
//! object cannot be reached the answer is 503; no page route ever waits on it.

use worker::{Env, Headers, Method, Request, RequestInit};

use crate::access;
use pilot_gate_core::control::error::ControlError;
use pilot_gate_core::http::auth::{bearer_ok, AdminAuth, Operator, Role};
use pilot_gate_core::http::outcome::{Action, Outcome};
use pilot_gate_core::http::problem::ApiError;
use pilot_gate_core::http::route::Needs;
use pilot_gate_core::vars::ConfigError;
use pilot_gate_shell::request::{read_body, BodyError, Facts};
use pilot_gate_shell::{internal, log};

/// Largest admin body (a whole flagd document), in bytes.
pub const MAX_ADMIN_BODY_BYTES: usize = 1 << 20;
/// Cloudflare Access's token header.
pub const ACCESS_HEADER: &str = "Cf-Access-Jwt-Assertion";
/// Request headers the object reads from the client.
pub const FORWARDED_HEADERS: [&str; 3] = ["Idempotency-Key", "If-Match", "Content-Type"];
/// The verified operator's name, set by the worker for the object (never the client's).
pub const OPERATOR_HEADER: &str = "X-Pilot-Operator";
/// The verified operator's role, set by the worker for the object.
pub const ROLE_HEADER: &str = "X-Pilot-Role";

/// What an admin request needs from the worker.
pub struct Ctx<'a> {
    /// Bindings.
    pub env: &'a Env,
    /// The operator, verified.
    pub operator: Operator,
    /// The request's facts.
    pub facts: &'a Facts,
    /// The request id.
    pub request_id: String,
}

/// The operator that calls a route needing `needs`: 503 while the admin section is
/// misconfigured (logged with the variable); with Cloudflare Access configured and a
/// `Cf-Access-Jwt-Assertion`, the token's email with the role `ACCESS_ROLES` gives it (401 for
/// any failed check, logged with its reason); else the operator whose token `Authorization`
/// carries (401 when none); 403 when the role is below `needs`.
pub async fn authorize(
    auth: &Result<AdminAuth, ConfigError>,
    facts: &Facts,
    needs: Role,
    now_ms: u64,
    request_id: &str,
) -> Result<Operator, ApiError> {
    let auth = auth.as_ref().map_err(|e| {
        log::config_invalid(request_id, "admin", e);
        ApiError::Misconfigured
    })?;
    let unauthorized = ApiError::Unauthorized {
        token: "ADMIN_TOKENS",
    };
    let jwt = facts.header(ACCESS_HEADER);
    let operator = match (&auth.access, jwt) {
        (Some(access), Some(jwt)) => {
            let (email, role) = access::verify(access, &jwt, now_ms, request_id)
                .await
                .map_err(|e| {
                    log::error(request_id, "access_refused", &e.to_string());
                    unauthorized
                })?;
            let role = role.ok_or(ApiError::Forbidden { needs })?;
            Operator { name: email, role }
        }
        _ => facts
            .header("Authorization")
            .and_then(|h| auth.credentials.identify(&h))
            .ok_or(unauthorized)?,
    };
    Needs::Role(needs).admits(operator.role)?;
    Ok(operator)
}

/// Answers an admin route for a verified operator.
pub async fn answer(req: &mut Request, ctx: Ctx<'_>) -> Outcome {
    let id = ctx.request_id.clone();
    let body = match read_body(req, MAX_ADMIN_BODY_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let e = ControlError::BodyTooLarge {
                limit_bytes: MAX_ADMIN_BODY_BYTES,
            };
            return Outcome::api(Err(e), id);
        }
        Err(BodyError::Unreadable) => {
            let e = ControlError::BadRequest("the body could not be read".into());
            return Outcome::api(Err(e), id);
        }
    };
    match relay(req, body, &ctx).await {
        Ok((status, etag, body)) => {
            let mut out = Outcome::api(Ok::<_, ApiError>(Action::Json(status, body)), id);
            if let Some(etag) = etag {
                out.set_header("ETag", etag);
            }
            out
        }
        Err(e) => {
            log::error(&id, "control_unavailable", &e.to_string());
            Outcome::api(Err(ApiError::Unavailable), id)
        }
    }
}

/// `Content-Type` of the Prometheus text exposition.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: bearer `METRICS_TOKEN`; the object's snapshot as Prometheus text.
pub async fn metrics(env: &Env, facts: &Facts, token: Option<&str>, request_id: String) -> Outcome {
    if !bearer_ok(facts.header("Authorization").as_deref(), token) {
        let e = ApiError::Unauthorized {
            token: "METRICS_TOKEN",
        };
        return Outcome::api(Err(e), request_id);
    }
    let text =
        async { internal::call(&internal::control(env)?, Method::Get, "metrics", None).await };
    match text.await {
        Ok(text) => Outcome::api(
            Ok::<_, ApiError>(Action::Text(PROMETHEUS_TEXT, text)),
            request_id,
        ),
        Err(e) => {
            log::error(&request_id, "control_unavailable", &e.to_string());
            Outcome::api(Err(ApiError::Unavailable), request_id)
        }
    }
}

async fn relay(
    req: &Request,
    body: Vec<u8>,
    ctx: &Ctx<'_>,
) -> worker::Result<(u16, Option<String>, serde_json::Value)> {
    let headers = Headers::new();
    for name in FORWARDED_HEADERS {
        if let Some(v) = ctx.facts.header(name) {
            headers.set(name, &v)?;
        }
    }
    headers.set("X-Request-Id", &ctx.request_id)?;
    headers.set(OPERATOR_HEADER, &ctx.operator.name)?;
    headers.set(ROLE_HEADER, ctx.operator.role.as_str())?;
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    if req.method() != Method::Get && !body.is_empty() {
        init.with_body(Some(
            worker::js_sys::Uint8Array::from(body.as_slice()).into(),
        ));
    }
    let inner = Request::new_with_init(&req.inner().url(), &init)?;
    let mut resp = internal::control(ctx.env)?
        .fetch_with_request(inner)
        .await?;
    let etag = resp.headers().get("ETag")?;
    let body = resp.json::<serde_json::Value>().await?;
    Ok((resp.status_code(), etag, body))
}
