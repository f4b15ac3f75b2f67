//! Test support shipped in the binary (feature `testkit`, on by default) so `voicegate simulate`
//! and the load tester use the same peers as the tests: a fake OpenAI Realtime server, a fake
//! red-flag classifier (chat completions), a Twilio caller that plays audio like Twilio's player,
//! a log capture, and a tiny HTTP client for signed webhooks. One implementation of each.

pub mod browser_caller;
pub mod fake_classifier;
pub mod fake_realtime;
pub mod fake_twilio_sms;
pub mod loadtest;
pub mod log_capture;
pub mod session_harness;
pub mod simulate;
pub mod twilio_caller;
pub mod webhook;
