//! Where evidence comes from, and what each source may decide.
//!
//! - **Edge-observed**: exposures, upstream 5xx or failed fetches, time to first byte. Nobody
//!   can post these; they may roll back, fall back or step back.
//! - **Client-reported**: beacon events. Anybody with a free cookie can post these, so they are
//!   weighed one unit per net (each net's first unit in an arm speaks for it,
//!   [`UnitState::rep`](crate::evidence::tally::UnitState::rep)), and a crossing that rests on
//!   them may only pause, and only when the deciding units come from at least
//!   [`MIN_CLIENT_NETS`] nets. A guardrail may keep its `fallback` or `step_back` on client
//!   evidence when its plan says so (`"clientEvidence": "act"`), under the same floor.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Fewest distinct nets whose units must carry a client-reported crossing before it may act.
pub const MIN_CLIENT_NETS: u64 = 25;

/// Where a piece of evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    /// Observed by the edge itself: exposures, upstream errors, time to first byte.
    Edge,
    /// Reported by browsers through the beacon.
    Client,
}

impl Provenance {
    /// Its name in the API, the audit log and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::Edge => "edge",
            Provenance::Client => "client",
        }
    }

    /// How the audit log and the admin page say it.
    pub fn described(self) -> &'static str {
        match self {
            Provenance::Edge => "edge-observed",
            Provenance::Client => "client-reported",
        }
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.described())
    }
}
