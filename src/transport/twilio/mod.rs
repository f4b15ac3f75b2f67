//! Twilio: Media Streams framing and request signatures (stream tokens: [`crate::transport::token`]).
//!
//! Facts come from `../shared/protocols/twilio-media-streams.md`.

pub mod codec;
pub mod signature;
