//! Where the edge reads the flag set: one KV value (binding `CONFIG_KV`, key [`FLAGSET_KEY`]),
//! `{"version": "<any string>", "document": <a flagd flag-definition document>, "metrics": {...}}`.
//! The version and the metrics travel outside the flagd document, which stays exactly flagd's.

use serde_json::Value;

use crate::evidence::metric::{self, Metrics, Reads};
use crate::flags::model::{FlagSet, LoadError};

/// The KV key of the flag set in force.
pub const FLAGSET_KEY: &str = "flagset";
/// How long an isolate keeps a flag set before it reads KV again, in ms (KV's minimum cacheTtl).
pub const CACHE_MS: u64 = 30_000;

/// A versioned flag set, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Published {
    /// The publisher's version of the set.
    pub version: String,
    /// The compiled set.
    pub set: FlagSet,
    /// The set's metrics (from the envelope's `metrics`; none when absent or unreadable).
    pub metrics: Metrics,
    /// What those metrics read of client events.
    pub reads: Reads,
}

impl Published {
    /// The control plane's revision that published it (its version is that number); 0 for a
    /// version of another kind (a set put into KV by hand), which no evidence window counts.
    pub fn revision(&self) -> u64 {
        self.version.parse().unwrap_or(0)
    }
}

/// The version of a stored envelope, read without compiling its flags.
pub fn version_of(envelope: &Value) -> Option<&str> {
    envelope.get("version")?.as_str()
}

/// Compiles a stored envelope.
pub fn load(envelope: &Value) -> Result<Published, LoadError> {
    let version = version_of(envelope).ok_or(LoadError::NotAFlagSet(
        r#"expected {"version": "...", "document": {...}}"#,
    ))?;
    let set = FlagSet::from_value(envelope.get("document").unwrap_or(&Value::Null))?;
    // The control plane validated them; a hand-written envelope's bad metrics count nothing.
    let metrics = metric::parse(envelope.get("metrics")).unwrap_or_default();
    Ok(Published {
        version: version.to_owned(),
        reads: Reads::of(&metrics),
        metrics,
        set,
    })
}

/// The envelope of a flagd document under `version`, with the set's metrics (what the
/// consumer counts), as the control plane stores it.
pub fn envelope(version: &str, document: Value, metrics: &Metrics) -> Value {
    let mut e = serde_json::json!({"version": version, "document": document});
    if !metrics.is_empty() {
        e["metrics"] = serde_json::json!(metrics);
    }
    e
}
