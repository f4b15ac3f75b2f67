//! Twilio: Media Streams framing, request signatures and per-call stream tokens.
//!
//! Facts come from `../shared/protocols/twilio-media-streams.md`.

pub mod codec;
pub mod signature;
pub mod token;
