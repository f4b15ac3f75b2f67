//! Realtime events: server events parsed at the edge, client events rendered to text frames.

use async_openai::types::realtime::{
    AssistantMessageContent, AssistantMessageContentOutputText, RealtimeClientEvent,
    RealtimeClientEventConversationItemCreate, RealtimeClientEventConversationItemTruncate,
    RealtimeClientEventInputAudioBufferAppend, RealtimeClientEventResponseCancel, RealtimeConversationItem,
    RealtimeConversationItemFunctionCallOutput, RealtimeConversationItemMessage,
    RealtimeConversationItemMessageAssistant,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::RealtimeSettings;

/// Server events the gateway acts on. Anything else is [`ServerEvent::Unknown`]: logged by type
/// and skipped, never fatal (the GA server adds and renames events).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub enum ServerEvent {
    #[serde(rename = "session.created")]
    SessionCreated {},
    #[serde(rename = "session.updated")]
    SessionUpdated {},
    #[serde(rename = "input_audio_buffer.speech_started")]
    SpeechStarted {
        #[serde(default)]
        audio_start_ms: u64,
        #[serde(default)]
        item_id: Option<String>,
    },
    #[serde(rename = "input_audio_buffer.speech_stopped")]
    SpeechStopped {
        #[serde(default)]
        audio_end_ms: u64,
    },
    #[serde(rename = "input_audio_buffer.timeout_triggered")]
    InputTimeout {},
    #[serde(rename = "conversation.item.added")]
    ItemAdded { item: ItemRef },
    #[serde(rename = "conversation.item.done")]
    ItemDone { item: ItemRef },
    #[serde(rename = "conversation.item.input_audio_transcription.completed")]
    InputTranscript { item_id: String, transcript: String },
    #[serde(rename = "conversation.item.input_audio_transcription.failed")]
    InputTranscriptFailed { item_id: String },
    #[serde(rename = "response.created")]
    ResponseCreated { response: ResponseRef },
    #[serde(rename = "response.output_audio.delta")]
    AudioDelta {
        response_id: String,
        item_id: String,
        delta: String,
    },
    #[serde(rename = "response.output_audio.done")]
    AudioDone { item_id: String },
    #[serde(rename = "response.output_audio_transcript.done")]
    OutputTranscript { item_id: String, transcript: String },
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCall {
        call_id: String,
        name: String,
        arguments: String,
    },
    #[serde(rename = "response.done")]
    ResponseDone { response: ResponseRef },
    #[serde(rename = "conversation.item.truncated")]
    Truncated { item_id: String, audio_end_ms: u64 },
    #[serde(rename = "error")]
    Error { error: ApiError },
    #[serde(other)]
    Unknown,
}

/// The parts of a conversation item the session tracks.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemRef {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub role: Option<String>,
}

/// The parts of a response the session tracks.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponseRef {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
}

/// A server `error` event body.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
}

#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Why a frame could not be used (each is logged and skipped).
#[derive(Debug, thiserror::Error)]
#[error("upstream event `{kind}` did not parse")]
pub struct ParseError {
    /// The frame's `type`, sanitised; never the frame body (it may carry transcripts).
    pub kind: String,
}

/// Parse one text frame.
///
/// # Errors
/// A known event type with fields of the wrong shape.
pub fn parse(text: &str) -> Result<ServerEvent, ParseError> {
    serde_json::from_str(text).map_err(|_| ParseError { kind: event_type(text) })
}

/// GA event types the gateway deliberately ignores (notes §2, §5): named in logs as they are.
const IGNORED_TYPES: &[&str] = &[
    "conversation.created",
    "conversation.item.created",
    "conversation.item.deleted",
    "conversation.item.retrieved",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.segment",
    "input_audio_buffer.committed",
    "input_audio_buffer.cleared",
    "input_audio_buffer.dtmf_event_received",
    "output_audio_buffer.started",
    "output_audio_buffer.stopped",
    "output_audio_buffer.cleared",
    "rate_limits.updated",
    "response.output_item.added",
    "response.output_item.done",
    "response.content_part.added",
    "response.content_part.done",
    "response.output_audio_transcript.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.function_call_arguments.delta",
];

/// The `type` of an unknown frame as it may appear in a log: known GA names as they are, anything
/// else replaced (a peer could put any text, even patient data, into `type`).
pub fn loggable_unknown_type(text: &str) -> &'static str {
    let kind = event_type(text);
    IGNORED_TYPES
        .iter()
        .find(|t| **t == kind)
        .copied()
        .unwrap_or("<unrecognised type>")
}

/// The `type` of a frame, sanitised for logs.
pub fn event_type(text: &str) -> String {
    match serde_json::from_str::<TypeOnly>(text).ok().and_then(|t| t.kind) {
        Some(kind) => kind
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
            .take(64)
            .collect(),
        None => "<none>".into(),
    }
}

/// The audio format of a session's legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// G.711 μ-law, 8 kHz: Twilio legs pass through untouched.
    Pcmu,
    /// PCM16 at 24 kHz: browser legs.
    Pcm24k,
}

impl AudioFormat {
    fn wire(self) -> Value {
        match self {
            AudioFormat::Pcmu => json!({"type": "audio/pcmu"}),
            AudioFormat::Pcm24k => json!({"type": "audio/pcm", "rate": 24000}),
        }
    }
    /// Samples per millisecond.
    pub fn samples_per_ms(self) -> u64 {
        match self {
            AudioFormat::Pcmu => 8,
            AudioFormat::Pcm24k => 24,
        }
    }
    /// Bytes per sample on the wire.
    pub fn bytes_per_sample(self) -> u64 {
        match self {
            AudioFormat::Pcmu => 1,
            AudioFormat::Pcm24k => 2,
        }
    }
}

/// `session.update` for a call: instructions, tools, voice, server VAD and transcription.
pub fn session_update(settings: &RealtimeSettings, format: AudioFormat, tools: &[Value]) -> String {
    let mut input = json!({
        "format": format.wire(),
        "turn_detection": {
            "type": "server_vad",
            "threshold": settings.vad_threshold,
            "prefix_padding_ms": settings.vad_prefix_padding_ms,
            "silence_duration_ms": settings.vad_silence_duration_ms,
            "create_response": true,
            "interrupt_response": true,
        },
    });
    if let Some(model) = &settings.transcription_model {
        let mut t = json!({"model": model});
        if let Some(lang) = &settings.transcription_language {
            t["language"] = json!(lang);
        }
        input["transcription"] = t;
    }
    if let Some(nr) = &settings.noise_reduction {
        input["noise_reduction"] = json!({"type": nr});
    }
    json!({
        "type": "session.update",
        "event_id": "vg-session-1",
        "session": {
            "type": "realtime",
            "output_modalities": ["audio"],
            "instructions": settings.instructions,
            "audio": {
                "input": input,
                "output": {"format": format.wire(), "voice": settings.voice},
            },
            "tools": tools,
            "tool_choice": "auto",
        }
    })
    .to_string()
}

fn render(event: RealtimeClientEvent) -> String {
    // These async-openai types serialise plain strings and integers; failure is impossible.
    serde_json::to_string(&event).unwrap_or_else(|_| unreachable!("client events always serialise"))
}

/// `input_audio_buffer.append` with an already base64-encoded payload.
pub fn append(audio_b64: String) -> String {
    render(RealtimeClientEvent::InputAudioBufferAppend(
        RealtimeClientEventInputAudioBufferAppend {
            event_id: None,
            audio: audio_b64,
        },
    ))
}

/// `conversation.item.truncate` of an assistant item's first content part.
pub fn truncate(item_id: &str, audio_end_ms: u32) -> String {
    render(RealtimeClientEvent::ConversationItemTruncate(
        RealtimeClientEventConversationItemTruncate {
            event_id: None,
            item_id: item_id.to_owned(),
            content_index: 0,
            audio_end_ms,
        },
    ))
}

/// `response.cancel` of a specific in-flight response.
pub fn cancel(response_id: &str) -> String {
    render(RealtimeClientEvent::ResponseCancel(RealtimeClientEventResponseCancel {
        event_id: None,
        response_id: Some(response_id.to_owned()),
    }))
}

/// `conversation.item.create` carrying a tool's result.
pub fn function_output(call_id: &str, output: &str) -> String {
    render(RealtimeClientEvent::ConversationItemCreate(
        RealtimeClientEventConversationItemCreate {
            event_id: None,
            previous_item_id: None,
            item: RealtimeConversationItem::FunctionCallOutput(RealtimeConversationItemFunctionCallOutput {
                call_id: call_id.to_owned(),
                output: output.to_owned(),
                id: None,
                object: None,
                status: "completed".into(),
            }),
        },
    ))
}

/// `session.update` replacing only the instructions (GA: only fields present change; `type` is
/// required in every update).
pub fn instructions_update(instructions: &str) -> String {
    json!({"type": "session.update", "session": {"type": "realtime", "instructions": instructions}}).to_string()
}

/// `conversation.item.create` of an assistant text message: tells the model what the server itself
/// said to the caller (a fixed safety script), so its next reply follows on from it.
pub fn assistant_said(text: &str) -> String {
    render(RealtimeClientEvent::ConversationItemCreate(
        RealtimeClientEventConversationItemCreate {
            event_id: None,
            previous_item_id: None,
            item: RealtimeConversationItem::Message(RealtimeConversationItemMessage::Assistant(
                RealtimeConversationItemMessageAssistant {
                    content: vec![AssistantMessageContent::OutputText(AssistantMessageContentOutputText {
                        text: text.to_owned(),
                    })],
                    id: None,
                    object: None,
                    status: None,
                },
            )),
        },
    ))
}

/// The caller's words as a user message item (replayed into a replacement session).
pub fn user_said(text: &str) -> String {
    serde_json::json!({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}],
    }})
    .to_string()
}

/// A function call the model made, as an item (replayed into a replacement session with its
/// original `call_id`, so the output after it still answers it).
pub fn function_call_item(call_id: &str, name: &str, arguments: &str) -> String {
    serde_json::json!({"type": "conversation.item.create", "item": {
        "type": "function_call", "call_id": call_id, "name": name, "arguments": arguments,
    }})
    .to_string()
}

/// `response.create`, optionally with per-response instructions and tool choice. Built as JSON:
/// async-openai cannot omit the optional fields (notes §9 gap 3).
pub fn response_create(instructions: Option<&str>, tool_choice_none: bool) -> String {
    let mut response = serde_json::Map::new();
    if let Some(i) = instructions {
        response.insert("instructions".into(), json!(i));
    }
    if tool_choice_none {
        response.insert("tool_choice".into(), json!("none"));
    }
    if response.is_empty() {
        json!({"type": "response.create"}).to_string()
    } else {
        json!({"type": "response.create", "response": response}).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_ga_frames_parse() {
        let user_item = r#"{"type":"conversation.item.added","event_id":"e1","previous_item_id":null,"item":{"id":"item_1","type":"message","status":"completed","role":"user","content":[{"type":"input_audio","transcript":null}]}}"#;
        assert!(
            matches!(parse(user_item), Ok(ServerEvent::ItemAdded { item }) if item.role.as_deref() == Some("user"))
        );
        let delta = r#"{"type":"response.output_audio.delta","event_id":"e2","response_id":"resp_1","item_id":"item_2","output_index":0,"content_index":0,"delta":"/w=="}"#;
        assert!(matches!(parse(delta), Ok(ServerEvent::AudioDelta { delta, .. }) if delta == "/w=="));
        let err = r#"{"type":"error","event_id":"e3","error":{"type":"invalid_request_error","code":null,"message":"x","param":null,"event_id":null}}"#;
        assert!(matches!(parse(err), Ok(ServerEvent::Error { error }) if error.code.is_none()));
        let done = r#"{"type":"response.done","event_id":"e4","response":{"id":"resp_1","status":"cancelled","status_details":{"type":"cancelled","reason":"turn_detected"},"output":[]}}"#;
        assert!(
            matches!(parse(done), Ok(ServerEvent::ResponseDone { response }) if response.status.as_deref() == Some("cancelled"))
        );
    }

    #[test]
    fn unknown_and_legacy_types_are_skippable() {
        assert!(matches!(
            parse(r#"{"type":"conversation.created","x":1}"#),
            Ok(ServerEvent::Unknown)
        ));
        assert!(matches!(
            parse(r#"{"type":"response.audio.delta","delta":"AA=="}"#),
            Ok(ServerEvent::Unknown)
        ));
        let bad = parse(r#"{"type":"response.output_audio.delta","delta":5}"#).unwrap_err();
        assert_eq!(bad.kind, "response.output_audio.delta");
        assert_eq!(event_type("not json"), "<none>");
    }

    #[test]
    fn session_update_is_ga_shaped_and_never_hard_wires_language() {
        let s = crate::config::Settings::embedded().unwrap();
        let v: Value = serde_json::from_str(&session_update(&s.realtime, AudioFormat::Pcmu, &[])).unwrap();
        assert_eq!(v["session"]["type"], "realtime");
        assert_eq!(v["session"]["audio"]["input"]["format"]["type"], "audio/pcmu");
        assert_eq!(v["session"]["audio"]["output"]["voice"], "marin");
        assert_eq!(v["session"]["audio"]["input"]["turn_detection"]["type"], "server_vad");
        assert!(
            v["session"]["audio"]["input"]["transcription"]
                .get("language")
                .is_none()
        );
        assert!(v["session"].get("modalities").is_none());
    }

    #[test]
    fn client_events_have_ga_shape() {
        let v: Value = serde_json::from_str(&append("AAAA".into())).unwrap();
        assert_eq!(v, json!({"type":"input_audio_buffer.append","audio":"AAAA"}));
        let v: Value = serde_json::from_str(&truncate("item_1", 1380)).unwrap();
        assert_eq!(
            v,
            json!({"type":"conversation.item.truncate","item_id":"item_1","content_index":0,"audio_end_ms":1380})
        );
        assert_eq!(response_create(None, false), r#"{"type":"response.create"}"#);
        let v: Value = serde_json::from_str(&function_output("call_1", "{}")).unwrap();
        assert_eq!(v["item"]["type"], "function_call_output");
        assert_eq!(v["item"]["output"], "{}");
    }
}
