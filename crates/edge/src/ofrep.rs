//! OFREP (`/ofrep/v1/evaluate/flags[/{key}]`) and `GET /api/config`: the caller's identity,
//! the token rule and CORS here; the answers are the core's. Every variant an answer hands out
//! is an exposure of the caller's unit.

use serde_json::Value;
use worker::{Env, Request};

use crate::flags;
use crate::sightings::{self, Visitor};
use pilot_gate_core::evidence::unit::Net;
use pilot_gate_core::flags::config::FlagsConfig;
use pilot_gate_core::flags::evaluate::{Context, Handed};
use pilot_gate_core::flags::model::FlagSet;
use pilot_gate_core::flags::ofrep::{self, OfrepError};
use pilot_gate_core::flags::source::Published;
use pilot_gate_core::flags::stream;
use pilot_gate_core::gate::answer::uid_cookie;
use pilot_gate_core::gate::cohort::{edge_context, Cohort, Decider, Rollout};
use pilot_gate_core::gate::config::GateConfig;
use pilot_gate_core::gate::identity;
use pilot_gate_core::http::cors::{self, origin_allowed, origin_of};
use pilot_gate_core::http::outcome::{Action, Outcome, Upstream};
use pilot_gate_core::http::route::{path_key, OfrepRoute};
use pilot_gate_shell::request::{read_body, BodyError, Facts};

/// Everything an OFREP or config request needs besides the request itself.
pub struct Ctx<'a> {
    /// Worker bindings (the flag set's KV).
    pub env: &'a Env,
    /// `PILOT_ROLLOUT_PCT`'s rollout, when set.
    pub rollout: Option<Rollout>,
    /// Now, ms since the epoch.
    pub now_ms: u64,
    /// The gate's section (identity).
    pub gate: &'a GateConfig,
    /// The flags section (token, origins).
    pub flags: &'a FlagsConfig,
    /// The request's facts.
    pub facts: &'a Facts,
    /// The request id.
    pub request_id: String,
    /// Fresh random bytes, for a visitor without a `pg_uid`.
    pub fresh_id: [u8; 16],
}

/// Answers an OFREP route.
pub async fn answer(route: OfrepRoute, req: &mut Request, ctx: Ctx<'_>) -> Outcome {
    let origin = ctx.facts.header("origin");
    let url = req.inner().url();
    let self_origin = origin_of(&url);
    if !origin_allowed(origin.as_deref(), self_origin, &ctx.flags.allowed_origins) {
        return Outcome::api(Ok::<_, OfrepError>(Action::Status(403)), ctx.request_id);
    }
    let policy = match route {
        OfrepRoute::Stream | OfrepRoute::StreamPreflight => stream::CORS,
        OfrepRoute::Single | OfrepRoute::Bulk | OfrepRoute::Preflight => ofrep::CORS,
    };
    if matches!(route, OfrepRoute::Preflight | OfrepRoute::StreamPreflight) {
        let origin = origin.as_deref().unwrap_or(self_origin);
        return cors::preflight(ctx.request_id, origin, policy);
    }
    let mut out = if route == OfrepRoute::Stream {
        let channel = trusted(&ctx).and_then(|_| {
            let shards = ctx.flags.stream_shards;
            stream::channel_of(&url, shards).ok_or_else(|| {
                OfrepError::BadQuery(format!("s must name a stream shard below {shards}"))
            })
        });
        let action = channel.map(|c| Action::PassThrough(Upstream::Stream(c)));
        Outcome::api(action, ctx.request_id)
    } else {
        let view = ctx.facts.view();
        let key = path_key(view.path).filter(|_| route == OfrepRoute::Single);
        let identity = identity::resolve(&ctx.gate.identity, &view, &ctx.fresh_id);
        let edge = edge_context(&identity, view.path, ctx.facts.country());
        let sender = (identity.net, identity.capped);
        match evaluate(req, &url, &ctx, key, &edge, sender).await {
            Ok((action, headers)) => {
                let mut out = Outcome::api(Ok::<_, OfrepError>(action), ctx.request_id);
                for (name, value) in headers {
                    out.set_header(name, value);
                }
                // A caller without a pg_uid keeps the identity it was just evaluated with.
                out.with_cookies(uid_cookie(ctx.gate, &identity).into_iter().collect())
            }
            Err(e) => Outcome::api(Err(e), ctx.request_id),
        }
    };
    if let Some(origin) = origin.as_deref() {
        cors::allow_origin(&mut out, origin, policy);
    }
    out
}

/// Whether the caller sent the OFREP token (trusted), or none; a wrong token is refused.
fn trusted(ctx: &Ctx<'_>) -> Result<bool, OfrepError> {
    match ctx.facts.header("authorization") {
        None => Ok(false),
        Some(auth) => {
            let token = ctx.flags.ofrep_token.as_deref();
            if pilot_gate_core::http::auth::bearer_ok(Some(&auth), token) {
                Ok(true)
            } else {
                Err(OfrepError::Unauthorized)
            }
        }
    }
}

/// The action of an OFREP evaluation and its headers (bulk: `ETag` and `Flag-Config-ETag`).
async fn evaluate(
    req: &mut Request,
    url: &str,
    ctx: &Ctx<'_>,
    key: Option<&str>,
    edge: &Value,
    (net, capped): (Option<Net>, bool),
) -> Result<(Action, Vec<(&'static str, String)>), OfrepError> {
    let trusted = trusted(ctx)?;
    let secret = &ctx.gate.identity.cookie_secret;
    // A re-fetch that an event triggered names the set it must see.
    let hint = stream::refetch_hint(url).map_err(|e| OfrepError::BadQuery(e.0.to_owned()))?;
    let wanted = match hint.etag.as_deref() {
        Some(tag) => stream::config_revision(secret, tag)
            .map_err(|e| OfrepError::BadQuery(e.0.to_owned()))?,
        None => None,
    };
    let body = read_body(req, ofrep::MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => OfrepError::BodyTooLarge,
            BodyError::Unreadable => OfrepError::Parse {
                key: key.map(str::to_owned),
                detail: "the body could not be read".to_owned(),
            },
        })?;
    let given = ofrep::parse_request(&body, key)?;
    let caller = ofrep::caller_context(given, trusted, edge);
    // The unit the answer exposes: the caller's signed identity, or (with the token) the
    // targeting key a server-side SDK evaluates for.
    let targeting_key = caller
        .get("targetingKey")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut context = Context::new(caller, ctx.now_ms / 1000);
    // The stream shard of the unit: the same for every call of one visitor (or, with the
    // token, one targeting key), so the bulk answer and its ETag stay the same.
    let shard = stream::shard_of(
        targeting_key.as_deref().unwrap_or_default(),
        ctx.flags.stream_shards,
    );
    // Read after the body, so an upload is consumed at once.
    let (env, gate, now_ms, id) = (ctx.env, ctx.gate, ctx.now_ms, &ctx.request_id);
    let published = match wanted {
        Some(revision) => flags::at_least(env, gate, now_ms, id, revision, shard).await,
        None => flags::current(env, gate, now_ms, id).await,
    };
    let empty = FlagSet::empty();
    let set = published.as_deref().map_or(&empty, |p| &p.set);
    let revision = published.as_deref().map_or(0, Published::revision);
    let expose = |handed: &[Handed]| {
        if let Some(key) = &targeting_key {
            let who = Visitor { key, net, capped };
            sightings::expose(secret, who, handed, revision, ctx.now_ms);
        }
    };
    match key {
        Some(key) => {
            let (status, body, handed) = ofrep::single(set, key, &mut context);
            expose(handed.as_slice());
            Ok((Action::Json(status, body), Vec::new()))
        }
        None => {
            let (mut body, handed) = ofrep::bulk(set, &mut context);
            expose(&handed);
            body["eventStreams"] = stream::event_streams(shard, ctx.flags.stream_inactivity_s);
            let tag = ofrep::etag(&body.to_string());
            let mut headers = vec![("ETag", tag.clone())];
            if revision > 0 {
                headers.push(("Flag-Config-ETag", stream::config_etag(secret, revision)));
            }
            let none_match = ctx.facts.header("if-none-match");
            if ofrep::not_modified(none_match.as_deref(), &tag) {
                return Ok((Action::Status(304), headers));
            }
            Ok((Action::Json(200, body), headers))
        }
    }
}

/// `GET /api/config`: `{flagKey: value}` for the caller's own signed identity.
pub async fn config(ctx: Ctx<'_>) -> Outcome {
    let view = ctx.facts.view();
    let identity = identity::resolve(&ctx.gate.identity, &view, &ctx.fresh_id);
    let published = flags::current(ctx.env, ctx.gate, ctx.now_ms, &ctx.request_id).await;
    let decider = Decider::new(
        ctx.rollout,
        published.as_deref(),
        ctx.now_ms,
        ctx.facts.country(),
    );
    let mut context = decider.context(&identity, view.path);
    let (mut values, mut handed) = match decider.set {
        Some(set) => ofrep::values(set, &mut context),
        None => (Value::Object(Default::default()), Vec::new()),
    };
    if let Some(r) = decider.rollout {
        let (cohort, by_vars) = decider.decide(r.flag, &identity, &mut context);
        values[r.flag] = Value::Bool(cohort == Cohort::Pilot);
        handed.retain(|h| h.flag != r.flag);
        handed.extend(by_vars);
    }
    let revision = published.as_deref().map_or(0, Published::revision);
    let secret = &ctx.gate.identity.cookie_secret;
    let who = Visitor {
        key: &identity.targeting_key,
        net: identity.net,
        capped: identity.capped,
    };
    sightings::expose(secret, who, &handed, revision, ctx.now_ms);
    let mut out = Outcome::api(
        Ok::<_, OfrepError>(Action::Json(200, values)),
        ctx.request_id,
    );
    out.set_header("Cache-Control", "private, max-age=30".to_owned());
    out.with_cookies(uid_cookie(ctx.gate, &identity).into_iter().collect())
}
