//! OpenAI Realtime: one upstream text frame → `events::parse` (plus the log-safe type helpers).
//!
//! Properties, beyond "never panics":
//! - a known variant comes only from a frame whose `type` is that variant's wire name (checked when
//!   `type` is a JSON string; see the note on `wire_name`), and `Unknown` never from a known name;
//! - what reaches logs is sanitised: `ParseError::kind` and `event_type` are ASCII letters, digits,
//!   `_` and `.`, at most 64 of them; `loggable_unknown_type` is the placeholder or the frame's own
//!   (sanitised) type;
//! - `parse` fails only on frames that are not JSON objects with a usable shape, never on a valid
//!   frame of an unknown type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voicegate::realtime::events::{self, ServerEvent};

const PLACEHOLDER: &str = "<unrecognised type>";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let sanitised = events::event_type(&text);
    assert_loggable(&sanitised);

    let logged = events::loggable_unknown_type(&text);
    assert!(
        logged == PLACEHOLDER || logged == sanitised,
        "{logged:?} vs {sanitised:?}"
    );

    let value: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    // A frame with two `type` members is refused by serde's tagged enums (and never sent); the
    // tag checks below are about frames with one.
    let single_type = serde_json::from_str::<TypeMembers>(&text).is_ok_and(|m| m.0 == 1);
    let type_str = value
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(|t| t.as_str())
        .filter(|_| single_type);

    match events::parse(&text) {
        Ok(event) => {
            let wire = wire_name(&event);
            if let Some(t) = type_str {
                match wire {
                    Some(name) => assert_eq!(t, name, "parsed as {event:?}"),
                    None => assert!(!KNOWN.contains(&t), "known type {t} parsed as Unknown"),
                }
            }
            if let ServerEvent::AudioDelta { delta, .. } = &event {
                // The delta is forwarded as is; parsing must not have altered it.
                let v = value.as_ref().expect("parsed frame is JSON");
                assert_eq!(v["delta"].as_str(), Some(delta.as_str()));
            }
        }
        Err(e) => {
            assert_loggable(&e.kind);
            assert_eq!(e.kind, sanitised);
            // An object whose `type` is a string we do not know is always skippable.
            if let Some(t) = type_str {
                assert!(KNOWN.contains(&t), "unknown type {t:?} was a parse error");
            }
        }
    }
});

fn assert_loggable(s: &str) {
    if s == "<none>" {
        return;
    }
    assert!(s.len() <= 64, "{} bytes", s.len());
    assert!(
        s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.')),
        "{s:?}"
    );
}

/// Wire names of the variants `parse` knows, in declaration order.
const KNOWN: &[&str] = &[
    "session.created",
    "session.updated",
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.timeout_triggered",
    "conversation.item.added",
    "conversation.item.done",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.failed",
    "response.created",
    "response.output_audio.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.function_call_arguments.done",
    "response.done",
    "conversation.item.truncated",
    "error",
];

/// The `type` a variant is parsed from (`None` for `Unknown`).
///
/// Checked only when the frame's `type` is a JSON string: serde's internally tagged enums also
/// accept a variant *index* as the tag (`{"type":0}` is `SessionCreated`), which the real upstream
/// never sends.
fn wire_name(event: &ServerEvent) -> Option<&'static str> {
    use ServerEvent as E;
    let i = match event {
        E::SessionCreated {} => 0,
        E::SessionUpdated {} => 1,
        E::SpeechStarted { .. } => 2,
        E::SpeechStopped { .. } => 3,
        E::InputTimeout {} => 4,
        E::ItemAdded { .. } => 5,
        E::ItemDone { .. } => 6,
        E::InputTranscript { .. } => 7,
        E::InputTranscriptFailed { .. } => 8,
        E::ResponseCreated { .. } => 9,
        E::AudioDelta { .. } => 10,
        E::AudioDone { .. } => 11,
        E::OutputTranscript { .. } => 12,
        E::FunctionCall { .. } => 13,
        E::ResponseDone { .. } => 14,
        E::Truncated { .. } => 15,
        E::Error { .. } => 16,
        E::Unknown => return None,
    };
    Some(KNOWN[i])
}

/// How many members named `type` a JSON object has (duplicates included, unlike `Value`).
struct TypeMembers(usize);

impl<'de> serde::Deserialize<'de> for TypeMembers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TypeMembers;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<TypeMembers, A::Error> {
                let mut n = 0;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    n += usize::from(key == "type");
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                Ok(TypeMembers(n))
            }
        }
        d.deserialize_map(Visitor)
    }
}
