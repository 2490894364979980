//! OFREP, the OpenFeature Remote Evaluation Protocol (open-feature/protocol
//! `service/openapi.yaml`), with flagd's answers: single and bulk evaluation, their bodies and
//! statuses, the bulk `ETag`, and the rule that a caller without the token cannot choose its
//! `targetingKey`.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::flags::evaluate::{Context, ErrorCode, Handed, Reason, Resolution};
use crate::flags::model::FlagSet;
use crate::hex::hex;
use crate::http::cors::CorsPolicy;
use crate::http::problem::Problem;

/// Largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What cross-origin callers may use; SDKs read `ETag`.
pub const CORS: CorsPolicy = CorsPolicy {
    methods: "POST, OPTIONS",
    headers: "Content-Type, If-None-Match, Authorization",
    expose: Some("ETag, Flag-Config-ETag"),
};

/// Why an OFREP request was refused before evaluation. Bodies are OFREP's, not pilot-gate's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfrepError {
    /// A bearer token that is not `OFREP_TOKEN`: 401 without a body.
    Unauthorized,
    /// The body is over [`MAX_BODY_BYTES`]: 413.
    BodyTooLarge,
    /// The body is not JSON, or `context` is not an object: 400 `PARSE_ERROR`.
    Parse {
        /// The flag of a single evaluation.
        key: Option<String>,
        /// The parser's message.
        detail: String,
    },
    /// A query parameter that is not ours (a stream's shard, a re-fetch hint): 400 `GENERAL`.
    BadQuery(String),
}

impl Problem for OfrepError {
    fn status(&self) -> u16 {
        match self {
            OfrepError::Unauthorized => 401,
            OfrepError::BodyTooLarge => 413,
            OfrepError::Parse { .. } | OfrepError::BadQuery(_) => 400,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            OfrepError::Unauthorized => "unauthorized",
            OfrepError::BodyTooLarge => "body_too_large",
            OfrepError::Parse { .. } => ErrorCode::ParseError.as_str(),
            OfrepError::BadQuery(_) => ErrorCode::General.as_str(),
        }
    }

    fn detail(&self) -> String {
        match self {
            OfrepError::Unauthorized => String::new(),
            OfrepError::BodyTooLarge => "request body too large".to_owned(),
            OfrepError::Parse { detail, .. } | OfrepError::BadQuery(detail) => detail.clone(),
        }
    }

    fn body(&self) -> Option<Value> {
        Some(match self {
            OfrepError::Unauthorized => Value::Null,
            OfrepError::BodyTooLarge => json!({"errorDetails": self.detail()}),
            OfrepError::BadQuery(detail) => {
                json!({"errorCode": self.code(), "errorDetails": detail})
            }
            OfrepError::Parse { key, detail } => {
                let mut body = json!({"errorCode": self.code(), "errorDetails": detail});
                if let Some(k) = key {
                    body["key"] = json!(k);
                }
                body
            }
        })
    }
}

/// The evaluation context of a request body (`{"context": {...}}`; an empty body is an empty
/// context).
pub fn parse_request(body: &[u8], key: Option<&str>) -> Result<Value, OfrepError> {
    let parse = |detail: String| OfrepError::Parse {
        key: key.map(str::to_owned),
        detail,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let doc: Value = serde_json::from_slice(body).map_err(|e| parse(e.to_string()))?;
    match doc.get("context") {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(ctx @ Value::Object(_)) => Ok(ctx.clone()),
        Some(_) => Err(parse("context must be an object".to_owned())),
    }
}

/// The attributes of a context that only the edge may set for a caller without the OFREP
/// token: what it observed itself.
pub const EDGE_ATTRIBUTES: [&str; 4] = ["targetingKey", "path", "bot", "country"];

/// The context a caller is evaluated with: as given when it holds the token (a server-side SDK
/// evaluating for its own users); otherwise every [`EDGE_ATTRIBUTES`] is the edge's (`edge`,
/// the caller's signed identity, the request's path, the bot check and the country), whatever
/// the caller sent, and absent when the edge does not know it.
pub fn caller_context(mut ctx: Value, trusted: bool, edge: &Value) -> Value {
    if trusted {
        return ctx;
    }
    if !ctx.is_object() {
        ctx = Value::Object(Map::new());
    }
    if let Some(obj) = ctx.as_object_mut() {
        for name in EDGE_ATTRIBUTES {
            match edge.get(name) {
                Some(v) => obj.insert(name.to_owned(), v.clone()),
                None => obj.remove(name),
            };
        }
    }
    ctx
}

/// One flag's answer inside OFREP: success `{key, value?, reason, variant?, metadata}` or error
/// `{key, errorCode, errorDetails, metadata}`, with flagd's status for it.
fn answer(key: &str, r: &Resolution<'_>) -> (u16, Value) {
    let metadata = Value::Object(r.metadata.clone());
    if let Some((code, _)) = r.error {
        let (status, details) = match code {
            ErrorCode::FlagNotFound => (404, format!("flag `{key}` does not exist")),
            ErrorCode::ParseError => (400, format!("error parsing the flag `{key}`")),
            ErrorCode::General => (400, "error processing the flag for evaluation".to_owned()),
        };
        return (
            status,
            json!({"key": key, "errorCode": code.as_str(), "errorDetails": details, "metadata": metadata}),
        );
    }
    let mut body = json!({"key": key, "reason": r.reason.as_str(), "metadata": metadata});
    // Disabled flags and flags without a default variant answer without value or variant.
    if r.reason != Reason::Disabled {
        if let (Some(value), Some(variant)) = (&r.value, &r.variant) {
            body["value"] = value.clone();
            body["variant"] = json!(variant);
        }
    }
    (200, body)
}

/// `POST /ofrep/v1/evaluate/flags/{key}`: the status and body, and the variant it hands out.
pub fn single(set: &FlagSet, key: &str, ctx: &mut Context) -> (u16, Value, Option<Handed>) {
    let r = set.evaluate(key, ctx);
    let (status, body) = answer(key, &r);
    (status, body, r.handed(key))
}

/// `POST /ofrep/v1/evaluate/flags`: every flag, and the flag set's metadata; and the variants
/// it hands out.
pub fn bulk(set: &FlagSet, ctx: &mut Context) -> (Value, Vec<Handed>) {
    let mut handed = Vec::new();
    let flags: Vec<Value> = set
        .flags
        .keys()
        .map(|key| {
            let r = set.evaluate(key, ctx);
            handed.extend(r.handed(key));
            answer(key, &r).1
        })
        .collect();
    let body = json!({"flags": flags, "metadata": Value::Object(set.metadata.clone())});
    (body, handed)
}

/// The `ETag` of a bulk answer: a strong tag over its bytes.
pub fn etag(body: &str) -> String {
    format!("\"{}\"", hex(&Sha256::digest(body.as_bytes())[..16]))
}

/// Whether `If-None-Match` already holds `etag` (a list, `*`, or weak tags).
pub fn not_modified(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|h| {
        h.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag)
    })
}

/// `GET /api/config`: `{flagKey: value}` of every flag that resolves to a value, and the
/// variants it hands out (the exposures it makes).
pub fn values(set: &FlagSet, ctx: &mut Context) -> (Value, Vec<Handed>) {
    let mut out = Map::new();
    let mut handed = Vec::new();
    for key in set.flags.keys() {
        let r = set.evaluate(key, ctx);
        handed.extend(r.handed(key));
        if let Some(v) = r.value {
            out.insert(key.clone(), v);
        }
    }
    (Value::Object(out), handed)
}
