//! Integration tests: the real server on loopback, a real Twilio-protocol WebSocket caller and the
//! fake realtime peer, both from `voicegate::testkit`.

mod helpers;

mod bad_input;
mod call_twilio;
mod lifecycle;
mod signatures;
mod simulate;
