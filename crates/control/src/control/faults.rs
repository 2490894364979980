//! `POST /api/admin/faults` (`pilot_gate_core::control::fault`): an outage of a flag's evidence object, or
//! a message sent as it is to a queue. Refused with 404 unless `PILOT_GATE_FAULTS` is `true`.

use serde_json::{json, Value};
use worker::Result;

use crate::live;
use pilot_gate_core::control::error::ControlError;
use pilot_gate_core::control::fault::{Fault, FAULTS_VAR};
use pilot_gate_core::http::problem::ApiError;
use pilot_gate_shell::queue::text_message;
use pilot_gate_shell::{internal, log};

use super::{problem, RolloutControl};

impl RolloutControl {
    /// Injects one fault, when faults are enabled.
    pub(super) async fn fault(&self, text: &str) -> Result<(u16, Value)> {
        let enabled = self
            .env
            .var(FAULTS_VAR)
            .is_ok_and(|v| v.to_string() == "true");
        if !enabled {
            return Ok(problem(&ApiError::NotFound));
        }
        let fault = match Fault::parse(text) {
            Ok(f) => f,
            Err(e) => return Ok(problem(&ControlError::BadRequest(e))),
        };
        log::error("control", "fault_injected", &fault.summary());
        match fault {
            Fault::EvidenceDown { flag, seconds } => {
                let stub = internal::evidence(&self.env, &flag)?;
                let route = format!("fault/{flag}");
                let _: Value =
                    internal::post_json(&stub, &route, &json!({"seconds": seconds})).await?;
            }
            Fault::Enqueue { queue, body } => {
                self.env
                    .queue(queue.binding())?
                    .send_raw(text_message(&body))
                    .await?;
            }
            Fault::StreamsCut => live::cut_all(&self.env).await?,
        }
        Ok((200, json!({"injected": true})))
    }
}
