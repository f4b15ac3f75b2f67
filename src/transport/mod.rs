//! Caller transports: the bytes of Twilio Media Streams and of our browser protocol turned into
//! transport-neutral [`CallerEvent`]s, and [`CallerCommand`]s turned back into bytes.
//!
//! The call session never sees JSON or base64 framing; it sees these enums. Each transport owns
//! its own validation (sizes, formats, ordering) and reports problems as [`TransportError`]s, which
//! carry a WebSocket close code and a short, PHI-free reason.

pub mod browser;
pub mod token;
pub mod twilio;

/// Audio the caller sent, already validated by the transport.
#[derive(Debug, Clone)]
pub struct CallerAudio {
    /// Position on the caller's media clock, in milliseconds since the stream started (Twilio
    /// `media.timestamp`; browser: sequence × 20 ms).
    pub timestamp_ms: u64,
    /// The payload exactly as it should go upstream (base64 of the upstream's input format), so
    /// μ-law passes through byte for byte without re-encoding.
    pub upstream_b64: String,
    /// Decoded samples for the recorder and level metering.
    pub samples: Vec<i16>,
}

/// What the caller side told the session, whatever the transport.
#[derive(Debug, Clone)]
pub enum CallerEvent {
    /// A frame of caller audio.
    Audio(CallerAudio),
    /// A keypad digit (kept for the DTMF fallback; not interpreted yet).
    Dtmf(char),
    /// The player reached a mark we sent: all audio before it was played.
    MarkPlayed(String),
    /// The caller hung up (Twilio `stop`, browser `hangup`).
    Hangup,
    /// The player flushed its queue in answer to [`CallerCommand::Clear`], having played
    /// `played_samples` samples of agent audio (at the caller's playback rate) since the call
    /// started. Browser only: Twilio reports a clear through the pending marks alone.
    Cleared { played_samples: u64 },
}

/// What the session asks the caller side to do.
#[derive(Debug, Clone)]
pub enum CallerCommand {
    /// Play audio: base64 in the caller's format (μ-law for Twilio). `origin` is when the
    /// upstream frame carrying it was read, for the forwarding-latency histogram.
    Audio {
        b64: String,
        origin: Option<tokio::time::Instant>,
    },
    /// Echo this name back once the audio before it has played.
    Mark(String),
    /// Drop all queued audio (barge-in); pending marks come back at once.
    Clear,
    /// Show a line of the live transcript (browser only; Twilio ignores it).
    Transcript {
        speaker: TranscriptSpeaker,
        text: TranscriptText,
        /// `false` for a partial line that a later command with the same speaker replaces.
        is_final: bool,
    },
    /// Show what the agent is doing (browser only; Twilio ignores it).
    AgentState(AgentState),
    /// Close the connection (1000 for a normal end; for Twilio this continues the TwiML after
    /// `</Connect>`), with a short PHI-free reason.
    Close { code: u16, reason: String },
}

/// Who said a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptSpeaker {
    Caller,
    Agent,
}

/// The text of a transcript line. It is PHI: `Debug` shows only its length, so a logged command
/// never carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct TranscriptText(pub String);

impl std::fmt::Debug for TranscriptText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TranscriptText(<{} bytes>)", self.0.len())
    }
}

/// What the agent is doing, as the caller's screen shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// Waiting for the caller to speak.
    Listening,
    /// Agent audio is playing.
    Speaking,
    /// A tool call (scheduling, records) is running.
    Tool,
}

/// A caller-side protocol failure. Every variant ends only that one call; none is retryable.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("malformed JSON frame")]
    MalformedJson,
    #[error("unknown event")]
    UnknownEvent,
    #[error("invalid base64 audio payload")]
    BadBase64,
    #[error("audio payload of {0} bytes exceeds the frame limit")]
    OversizedPayload(usize),
    #[error("frame exceeds the size limit")]
    OversizedFrame,
    #[error("invalid field `{0}`")]
    BadField(&'static str),
    #[error("`{0}` before `start`")]
    BeforeStart(&'static str),
    #[error("second `start`")]
    DuplicateStart,
    #[error("unsupported media format")]
    MediaFormat,
    #[error("binary frame on a text-only protocol")]
    BinaryFrame,
    #[error("stream token rejected: {0}")]
    Token(&'static str),
    #[error("no `start` within the handshake deadline")]
    StartTimeout,
    #[error("websocket error")]
    Socket,
    #[error("`{0}` before `hello`")]
    BeforeHello(&'static str),
    #[error("second `hello`")]
    DuplicateHello,
    #[error("no `hello` within the handshake deadline")]
    HelloTimeout,
    #[error("unsupported sample rate {0} Hz")]
    UnsupportedRate(u32),
    #[error("audio frame of {got} bytes; expected {want}")]
    FrameLength { got: usize, want: usize },
    #[error("sequence gap of {0} frames exceeds the limit")]
    SequenceGap(u32),
    #[error("sequence number went backwards")]
    SequenceBackwards,
    #[error("audio frames ahead of real time")]
    Flood,
}

impl TransportError {
    /// WebSocket close code for this failure (RFC 6455 §7.4.1).
    pub fn close_code(&self) -> u16 {
        match self {
            TransportError::Token(_) => 1008,
            TransportError::OversizedPayload(_) | TransportError::OversizedFrame => 1009,
            TransportError::BinaryFrame => 1003,
            TransportError::FrameLength { .. } => 1007,
            TransportError::Socket => 1011,
            _ => 1008,
        }
    }

    /// Short, PHI-free close reason (the close frame's reason is limited to 123 bytes).
    pub fn close_reason(&self) -> String {
        let mut s = self.to_string();
        s.truncate(120);
        s
    }
}
