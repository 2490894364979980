//! Writes the core's [`Outcome`] as the response, in one call into `respond.js`: the worker's own
//! answers at once, pass-throughs as a promise of the upstream's answer with the outcome's
//! headers. A failed upstream becomes the problem answer of [`ApiError::Unavailable`].

use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::web_sys;
use worker::Env;

use crate::{internal, log};
use pilot_gate_core::http::answers::{label_index, AnswerCounts, LABELS};
use pilot_gate_core::http::outcome::{Action, Outcome, Upstream};
use pilot_gate_core::http::problem::{reply, ApiError};

/// The assets binding that pass-throughs to [`Upstream::Assets`] use.
const ASSETS: &str = "ASSETS";
/// The edge's service binding to the control worker, that [`Upstream::Control`] uses.
pub const CONTROL: &str = "CONTROL";
const JSON: &str = "application/json; charset=utf-8";

#[wasm_bindgen(module = "/src/respond.js")]
extern "C" {
    #[wasm_bindgen(js_name = respond)]
    fn js_respond(status: u16, body: Option<String>, packed: &str, cookies: &str) -> JsValue;

    #[wasm_bindgen(js_name = passThrough)]
    #[allow(clippy::too_many_arguments)]
    fn js_pass_through(
        fetcher: &JsValue,
        request: &web_sys::Request,
        packed: &str,
        cookies: &str,
        fail_status: u16,
        fail_body: &JsValue,
        fail_packed: &JsValue,
        on_error: &JsValue,
        request_id: &str,
        on_upstream: &JsValue,
        token: Option<String>,
        kind: u8,
    ) -> JsValue;

    /// The pass-throughs' answers counted since the last call: per route label of
    /// [`LABELS`], five status classes (1xx to 5xx).
    #[wasm_bindgen(js_name = takePassed)]
    fn js_take_passed() -> Vec<u32>;
}

// respond.js counts 16 labels.
const _: () = assert!(LABELS.len() <= 16);

/// The pass-throughs' answers since the last call (one crossing into JS per flush).
pub fn take_passed() -> AnswerCounts {
    let mut counts = AnswerCounts::default();
    for (i, n) in js_take_passed().into_iter().enumerate() {
        if let Some(route) = LABELS.get(i / 5) {
            // Class i % 5 is status (i % 5 + 1) * 100.
            counts.add(route, ((i % 5 + 1) * 100) as u16, u64::from(n));
        }
    }
    counts
}

/// The response to `req` for `outcome`: a `Response`, or a promise of one for a pass-through,
/// whose answer is counted under the route's `label` and whose upstream answer is recorded
/// under `token` when there is one (a gated route's exposure; see [`on_upstream`]).
pub fn write(
    outcome: Outcome,
    req: &web_sys::Request,
    env: &Env,
    token: Option<String>,
    label: &'static str,
) -> JsValue {
    let packed = pack(
        outcome
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str())),
    );
    let cookies = outcome.set_cookies.join("\n");
    let (status, body, content_type) = match outcome.action {
        Action::PassThrough(upstream) => {
            return PER_ISOLATE.with(|p| {
                let kind = label_index(label) as u8;
                let fetcher = match upstream {
                    // A missing binding is `undefined`, which fails the pass-through (a 503).
                    Upstream::Assets => worker::js_sys::Reflect::get(env.as_ref(), &p.assets)
                        .unwrap_or(JsValue::UNDEFINED),
                    Upstream::Control => worker::js_sys::Reflect::get(env.as_ref(), &p.control)
                        .unwrap_or(JsValue::UNDEFINED),
                    Upstream::Origin => JsValue::NULL,
                    Upstream::Stream(channel) => internal::stream(env, channel)
                        .map_or(JsValue::UNDEFINED, |stub| stub.into_rpc::<JsValue>()),
                };
                js_pass_through(
                    &fetcher,
                    req,
                    &packed,
                    &cookies,
                    p.fail_status,
                    &p.fail_body,
                    &p.fail_packed,
                    p.on_upstream_error.as_ref(),
                    &outcome.request_id,
                    p.on_upstream.as_ref(),
                    token,
                    kind,
                )
            });
        }
        Action::Redirect(location) => {
            let packed = format!("Location\n{location}\n{packed}");
            return js_respond(302, None, &packed, &cookies);
        }
        Action::Json(status, body) => (status, Some(body.to_string()), Some(JSON)),
        Action::NoContent => (204, None, None),
        Action::Status(status) => (status, None, None),
        Action::Text(content_type, text) => (200, Some(text), Some(content_type)),
    };
    let packed = match content_type {
        Some(ct) => format!("Content-Type\n{ct}\n{packed}"),
        None => packed,
    };
    js_respond(status, body, &packed, &cookies)
}

/// `name\nvalue\n...`, as `respond.js` reads it. Names and values are the worker's own (the
/// request id, the one taken from a request, is checked to be alphanumeric): none holds a
/// newline, which HTTP forbids anyway.
fn pack<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::with_capacity(512);
    for (name, value) in headers {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(name);
        out.push('\n');
        out.push_str(value);
    }
    out
}

/// What records an upstream's answer under a pass-through's token: the token, the status
/// (0 when the upstream failed), the time to its headers in ms, and now in ms.
pub type UpstreamHook = fn(&str, u16, f64, u64);

static UPSTREAM_HOOK: std::sync::OnceLock<UpstreamHook> = std::sync::OnceLock::new();

/// Sets, once per isolate, what records the upstream's answer of a pass-through written with a
/// token (the edge's exposures); a worker that sets none records nothing.
pub fn on_upstream(hook: UpstreamHook) {
    let _ = UPSTREAM_HOOK.set(hook);
}

/// The JS values every pass-through passes, made once per isolate rather than per request.
struct PerIsolate {
    /// The name of the assets binding.
    assets: JsValue,
    /// The name of the control worker's service binding.
    control: JsValue,
    /// What a pass-through answers when its upstream fails: [`ApiError::Unavailable`].
    fail_status: u16,
    fail_body: JsValue,
    fail_packed: JsValue,
    /// Logs a failed upstream with the request id.
    on_upstream_error: Closure<dyn Fn(String, String)>,
    /// Records what the upstream answered an exposed visitor.
    on_upstream: Closure<dyn Fn(String, u16, f64)>,
}

thread_local! {
    static PER_ISOLATE: PerIsolate = {
        let r = reply(&ApiError::Unavailable);
        let headers = [("Content-Type", JSON)]
            .into_iter()
            .chain(r.headers.iter().map(|(k, v)| (*k, v.as_str())));
        PerIsolate {
            assets: JsValue::from_str(ASSETS),
            control: JsValue::from_str(CONTROL),
            fail_status: r.status,
            fail_body: JsValue::from_str(&r.body.to_string()),
            fail_packed: JsValue::from_str(&pack(headers)),
            on_upstream_error: Closure::new(|request_id: String, detail: String| {
                log::error(&request_id, "upstream_failed", &detail);
            }),
            on_upstream: Closure::new(|token: String, status: u16, ttfb_ms: f64| {
                if let Some(hook) = UPSTREAM_HOOK.get() {
                    let now_ms = worker::js_sys::Date::now() as u64;
                    hook(&token, status, ttfb_ms, now_ms);
                }
            }),
        }
    };
}
