//! What both workers' queue consumers and producers share: messages sent as text, and a
//! message asked for again after the delay its age calls for.

use pilot_gate_core::events::delivery::retry_delay_s;
use worker::wasm_bindgen::JsValue;
use worker::{
    Message, MessageExt, QueueContentType, QueueRetryOptionsBuilder, RawMessageBuilder, SendMessage,
};

/// A queue message sent as UTF-8 text, so its size is its bytes (which the sender bounded),
/// not those of a JSON string that quotes them again.
pub fn text_message(text: &str) -> SendMessage<JsValue> {
    RawMessageBuilder::new(text.into()).build_with_content_type(QueueContentType::Text)
}

/// Asks for a message again after the delay its age calls for
/// (`pilot_gate_core::events::delivery`).
pub fn retry_later(message: &Message<String>) {
    let age_ms = worker::Date::now()
        .as_millis()
        .saturating_sub(message.timestamp().as_millis());
    let delay_s = retry_delay_s(age_ms / 1000);
    message.retry_with_options(
        &QueueRetryOptionsBuilder::new()
            .with_delay_seconds(delay_s)
            .build(),
    );
}
