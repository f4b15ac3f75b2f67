//! Integration tests: the real server on loopback, a real Twilio-protocol WebSocket caller and the
//! fake realtime peer, both from `voicegate::testkit`.

mod helpers;

mod audit;
mod bad_input;
mod booking;
mod browser_chromium;
mod call_browser;
mod call_twilio;
mod cli;
mod clinic;
mod ehr_fhir;
mod fault_storage;
mod fhir_peer;
mod keypad;
mod lifecycle;
mod notify_email;
mod notify_sms;
mod openapi_doc;
mod phi_leak;
mod recording;
mod recording_s3;
mod red_flag;
mod reports;
mod resilience;
mod review;
mod review_chromium;
mod schedule;
mod scheduling;
mod signatures;
mod simulate;
mod smtp_peer;
mod tools;
