//! OpenAI Realtime (GA) upstream: typed events and the WebSocket client.
//!
//! Facts come from `../shared/protocols/openai-realtime.md`. Server events are parsed into our own
//! [`events::ServerEvent`] with an `Unknown` catch-all, because async-openai 0.43's server-event enum
//! fails on real GA frames (user audio items with `transcript: null`, noise reduction, unknown
//! types; notes §9). Client events reuse async-openai's types where they serialise correctly
//! (append, truncate, cancel, function_call_output) and are built as JSON where they do not
//! (`session.update` needs partial objects; `response.create` must omit `response`).

pub mod client;
pub mod events;
