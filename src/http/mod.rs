//! HTTP surface: health and metrics, Twilio webhooks (TwiML) and the media WebSocket upgrade, and
//! the browser page with its token endpoint and call socket, and the compliance review pages and API.
//!
//! Handlers validate and translate; call logic lives in `call`. Error bodies are short and opaque.

pub mod browser;
pub mod health;
pub mod rate_limit;
pub mod review;
pub mod tls;
pub mod twilio_media;
pub mod twilio_sms;
pub mod twilio_webhook;
pub mod twiml;
pub mod unsubscribe;
