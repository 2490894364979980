//! Host tests of `core::control`: the tier ladder as a state machine, validation with the path
//! of the bad field, the operations on the whole state (If-Match, kill, import, audit), the
//! compiler from plans to flagd (evaluated by pilot-gate's engine), the consumer's delta and its
//! dedupe, each guard on hand-computed cases, and simulated A/A and R = 3 pilots.

mod approvals;
mod auto;
mod compile;
mod diff;
mod guards;
mod input;
mod ladder;
mod no_default;
mod notify;
mod state;
mod tally;
mod windows;

use pilot_gate_core::control::audit::Actor;
use pilot_gate_core::control::state::{Caller, ControlState};
use pilot_gate_core::http::auth::{Operator, Role};
use serde_json::{json, Value};

/// A fixed "now", ms since the epoch.
pub const NOW: u64 = 1_800_000_000_000;

/// An operator named `name` with `role`.
pub fn operator(name: &str, role: Role) -> Actor {
    Actor::Operator(Operator {
        name: name.into(),
        role,
    })
}

/// The admin `alice` at `now_ms`.
pub fn caller(now_ms: u64) -> Caller {
    Caller {
        actor: operator("alice", Role::Admin),
        now_ms,
        if_match: None,
    }
}

/// A boolean flag definition.
pub fn boolean() -> Value {
    json!({"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"})
}

/// A state with the given flags (key, plan spec), imported at [`NOW`].
pub fn imported(flags: &[(&str, Value)]) -> ControlState {
    let mut doc = json!({"flags": {}, "plans": {}});
    for (key, plan) in flags {
        doc["flags"][key] = boolean();
        doc["plans"][key] = plan.clone();
    }
    let mut s = ControlState::default();
    s.import(&doc, &caller(NOW)).expect("valid import");
    s
}
