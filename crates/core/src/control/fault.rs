//! Faults that tests and drills inject through `POST /api/admin/faults`, refused (404) unless
//! the worker's `PILOT_GATE_FAULTS` variable is `true`: never set it in a deployment.

use serde::Deserialize;

/// The variable that enables fault injection.
pub const FAULTS_VAR: &str = "PILOT_GATE_FAULTS";

/// Longest outage one fault may cause, in seconds.
pub const MAX_DOWN_S: u64 = 600;

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A flag's evidence object answers 503 to everything for `seconds` (an outage).
    EvidenceDown {
        /// The flag.
        flag: String,
        /// How long, 0..=600 s (0 ends an outage).
        seconds: u64,
    },
    /// `body` is sent, as it is, to a queue (to make a poison message, or a letter as the
    /// platform would move it after its retries).
    Enqueue {
        /// Which queue.
        queue: FaultQueue,
        /// The message's text.
        body: String,
    },
    /// Every event stream's object drops its connections (clients reconnect and resume).
    StreamsCut,
}

/// A fault's body as sent: `{"fault": "evidence_down", "flag", "seconds"}` or
/// `{"fault": "enqueue", "queue": "events"|"evidence"|"dead_letters", "body"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultText {
    fault: String,
    flag: Option<String>,
    seconds: Option<u64>,
    queue: Option<String>,
    body: Option<String>,
}

/// The queues a fault can write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultQueue {
    /// `pilot-gate-events`.
    Events,
    /// `pilot-gate-evidence`.
    Evidence,
    /// `pilot-gate-events-dlq`.
    DeadLetters,
}

impl FaultQueue {
    /// The producer binding of the queue.
    pub fn binding(self) -> &'static str {
        match self {
            FaultQueue::Events => "EVENTS_QUEUE",
            FaultQueue::Evidence => "EVIDENCE_QUEUE",
            FaultQueue::DeadLetters => "EVENTS_DLQ",
        }
    }
}

impl Fault {
    /// One line for the log (never a message's body).
    ///
    /// ```
    /// use pilot_gate_core::control::fault::{Fault, FaultQueue};
    /// let f = Fault::Enqueue { queue: FaultQueue::Evidence, body: "[]".into() };
    /// assert_eq!(f.summary(), "enqueue 2 bytes to EVIDENCE_QUEUE");
    /// ```
    pub fn summary(&self) -> String {
        match self {
            Fault::EvidenceDown { flag, seconds } => {
                format!("evidence of {flag} down for {seconds} s")
            }
            Fault::Enqueue { queue, body } => {
                format!("enqueue {} bytes to {}", body.len(), queue.binding())
            }
            Fault::StreamsCut => "every event stream cut".to_owned(),
        }
    }

    /// Parses and bounds a fault.
    ///
    /// ```
    /// use pilot_gate_core::control::fault::Fault;
    /// let f = Fault::parse(r#"{"fault":"evidence_down","flag":"pilot","seconds":60}"#);
    /// assert!(f.is_ok());
    /// assert!(Fault::parse(r#"{"fault":"evidence_down","flag":"pilot","seconds":601}"#).is_err());
    /// assert!(Fault::parse(r#"{"fault":"enqueue","queue":"mail","body":""}"#).is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        let f: FaultText = serde_json::from_str(text).map_err(|e| format!("the fault: {e}"))?;
        let missing = |field: &str| format!("a {} fault needs {field}", f.fault);
        match f.fault.as_str() {
            "evidence_down" => {
                let seconds = f.seconds.ok_or_else(|| missing("seconds"))?;
                if seconds > MAX_DOWN_S {
                    return Err(format!("seconds must be at most {MAX_DOWN_S}"));
                }
                let flag = f.flag.clone().ok_or_else(|| missing("flag"))?;
                Ok(Fault::EvidenceDown { flag, seconds })
            }
            "enqueue" => {
                let queue = match f.queue.as_deref() {
                    Some("events") => FaultQueue::Events,
                    Some("evidence") => FaultQueue::Evidence,
                    Some("dead_letters") => FaultQueue::DeadLetters,
                    _ => return Err("queue must be events, evidence or dead_letters".into()),
                };
                let body = f.body.clone().ok_or_else(|| missing("body"))?;
                Ok(Fault::Enqueue { queue, body })
            }
            "streams_cut" => Ok(Fault::StreamsCut),
            other => Err(format!(
                "no fault {other:?}; faults are evidence_down, enqueue and streams_cut"
            )),
        }
    }
}
