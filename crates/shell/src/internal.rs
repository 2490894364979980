//! Calls between the workers and the Durable Objects on their internal routes: the one
//! `RolloutControl` (the control plane), one `FlagEvidence` per flag and the `FlagEvents`
//! streams. The objects live in the control worker; the edge binds them across scripts. Only
//! the workers' own code reaches these routes; the control worker's admin relay forwards
//! `/api/admin/*` alone.

use pilot_gate_core::http::sse::Channel;
use serde_json::Value;
use worker::{Env, Method, Request, RequestInit, Stub};

/// The binding of the control plane's Durable Object namespace.
pub const ROLLOUT_CONTROL: &str = "ROLLOUT_CONTROL";
/// The name of the one control-plane object per deployment.
pub const CONTROL_NAME: &str = "main";
/// The binding of the evidence objects' namespace (one object per flag, named by its key).
pub const FLAG_EVIDENCE: &str = "FLAG_EVIDENCE";
/// The binding of the stream objects' namespace.
pub const FLAG_EVENTS: &str = "FLAG_EVENTS";
/// Where internal routes live on every object.
pub const INTERNAL: &str = "/_internal/";

/// The control plane's object.
pub fn control(env: &Env) -> worker::Result<Stub> {
    env.durable_object(ROLLOUT_CONTROL)?
        .get_by_name(CONTROL_NAME)
}

/// The evidence object of `flag`.
pub fn evidence(env: &Env, flag: &str) -> worker::Result<Stub> {
    env.durable_object(FLAG_EVIDENCE)?.get_by_name(flag)
}

/// Calls `route` (under [`INTERNAL`]) on `stub` and answers the body of a 200; any other
/// status is an error that names the route.
pub async fn call(
    stub: &Stub,
    method: Method,
    route: &str,
    body: Option<String>,
) -> worker::Result<String> {
    let mut init = RequestInit::new();
    init.with_method(method).with_body(body.map(Into::into));
    let req = Request::new_with_init(&format!("https://object{INTERNAL}{route}"), &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    let text = resp.text().await?;
    match resp.status_code() {
        200 => Ok(text),
        s => Err(worker::Error::RustError(format!(
            "{route}: {s} {}",
            text.chars().take(200).collect::<String>()
        ))),
    }
}

/// POSTs `body` as JSON to `route` on `stub`, and reads the answer as JSON.
pub async fn post_json<T: serde::Serialize, R: serde::de::DeserializeOwned>(
    stub: &Stub,
    route: &str,
    body: &T,
) -> worker::Result<R> {
    let text = serde_json::to_string(body).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let answer = call(stub, Method::Post, route, Some(text)).await?;
    serde_json::from_str(&answer).map_err(|e| worker::Error::RustError(format!("{route}: {e}")))
}

/// Sends `body` to one of the control plane's internal routes.
pub async fn post_control(env: &Env, route: &str, body: String) -> worker::Result<()> {
    call(&control(env)?, Method::Post, route, Some(body))
        .await
        .map(drop)
}

/// The stream object that holds `channel`.
pub fn stream(env: &Env, channel: Channel) -> worker::Result<Stub> {
    env.durable_object(FLAG_EVENTS)?
        .get_by_name(&channel.object_name())
}

/// The flag set the control plane last published, as the stream object of `shard` holds it.
pub async fn published(env: &Env, shard: u16) -> worker::Result<Value> {
    let stub = stream(env, Channel::Flags { shard })?;
    let text = call(&stub, Method::Get, "flagset", None).await?;
    serde_json::from_str(&text).map_err(|e| worker::Error::RustError(e.to_string()))
}
