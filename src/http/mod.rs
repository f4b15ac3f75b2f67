//! HTTP surface: health and metrics, Twilio webhooks (TwiML) and the media WebSocket upgrade.
//!
//! Handlers validate and translate; call logic lives in `call`. Error bodies are short and opaque.

pub mod health;
pub mod twilio_media;
pub mod twilio_webhook;
pub mod twiml;
