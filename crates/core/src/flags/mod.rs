//! Flags in OpenFeature flagd's flag-definition format, evaluated with flagd's semantics:
//! JsonLogic plus `fractional` (v2, and v3 per flagd's accepted ADR), `sem_ver`, `starts_with`,
//! `ends_with`, `$ref` to `$evaluators`, and the `$flagd` context enrichment.
//!
//! [`model::FlagSet::load`] reads a document once per version and compiles every rule;
//! [`model::FlagSet::evaluate`] resolves one flag for one context.

pub mod cbor;
pub mod coerce;
pub mod config;
pub mod evaluate;
pub mod logic;
pub mod model;
pub mod ofrep;
pub mod ops;
pub mod semver;
pub mod source;
pub mod split;
pub mod stream;
