//! voicegate: a clinic's phone line and web page answered by a voice AI, with the server (not the
//! model) enforcing the rules, recording both sides and auditing every access to patient data.
//!
//! Crate map:
//! - [`config`]: settings tree, layered load (embedded base → file → env), keyed secrets.
//! - [`telemetry`], [`metrics`]: JSON logs without PHI; Prometheus instruments with fixed labels.
//! - [`startup`], [`shutdown`]: application assembly, router, drain policy.
//! - [`http`]: health, Twilio webhooks (TwiML), media upgrade.
//! - [`transport`]: caller protocols (Twilio Media Streams) ↔ transport-neutral events.
//! - [`realtime`]: OpenAI Realtime GA client and typed events.
//! - [`call`]: one task per call: media clock, playout, state, session loop, registry.
//! - [`audio`]: μ-law, resampling, pre-rendered prompts.
//! - [`recording`]: the recorder contract on the media clock.
//! - [`storage`]: SQLite/PostgreSQL (calls, next steps, audit table) and the encrypted blob store.
//! - [`audit`]: the hash-chained HIPAA audit log, checkpoints, verification.
//! - [`clinic`]: clinic operations: the appointment lifecycle (pure) and its history.
//! - [`clock`]: injectable wall clock.
//! - [`tools`]: the agent's tools behind the verification gate; the built-in EHR.
//! - [`safety`]: red-flag detection (911 / 988), the fixed scripts, the optional classifier.
//! - [`notify`]: confirmations and reminders (SMS, email): outbox, worker, consent, templates.
//! - [`outbound`]: the HTTPS client for outbound peers (FHIR, classifier).
//! - [`domain`]: validated patient identifiers (name, birth date, phone) that redact themselves.
//! - `testkit` (feature): fake realtime peer, Twilio caller, log capture, simulator.
//!
//! Data flow of one call:
//! ```text
//! Twilio WS ──read task──► transport::twilio::codec ─CallerInput─┐
//!     ▲ write task ◄── bounded mpsc<CallerCommand> ◄─────────────┤
//!                                              call::session::Session (owns CallState,
//! OpenAI WS ──pump──► realtime::events ── bounded mpsc ─────────►│  MediaClock, Playout)
//!           ◄─pump◄── bounded mpsc<client event> ◄───────────────┤ select! { caller, upstream,
//!                     recorder task ◄── bounded mpsc<AudioChunk> ◄┘   timers, cancel }
//! ```

pub mod audio;
pub mod audit;
pub mod call;
pub mod clinic;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod os;
pub mod outbound;
pub mod realtime;
pub mod recording;
pub mod review;
pub mod safety;
pub mod shutdown;
pub mod startup;
pub mod storage;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tools;
pub mod transport;
