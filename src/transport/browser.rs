//! The browser protocol on `GET /browser/ws` ↔ [`CallerEvent`] / [`CallerCommand`].
//!
//! Owns: validating everything a page sends (hello first and once, a supported rate, exact 20 ms
//! frames, sequence numbers, a real-time pace, known JSON), converting its microphone to the
//! upstream's 24 kHz PCM16 ([`MicResampler`]), and rendering commands as WebSocket frames. Does not
//! own: the socket, the token check (the hello's token is handed to the caller of
//! [`BrowserDecoder::text`]), the Origin check (done on the upgrade), or any clock: time comes in as
//! an argument, so every rule here is a pure function of its inputs.
//!
//! # Wire format
//! Page → server:
//! - binary: `u32` little-endian sequence number (0, 1, 2, … per 20 ms frame), then exactly 20 ms
//!   of PCM16 little-endian mono at the hello's `sample_rate` (e.g. 4 + 1764 bytes at 44.1 kHz).
//! - text (JSON, `type` tagged): `hello {sample_rate, token?, format?, channels?, frame_ms?,
//!   audio?}` first and once; `mark {name}` once the audio before a mark we sent has played;
//!   `cleared {played_samples}` in answer to `clear`; `hangup`.
//!
//! Server → page:
//! - binary: PCM16 little-endian mono at 24 kHz, any whole number of samples, **no header**. The
//!   WebSocket is one ordered, lossless stream, so a sequence number could only ever count up by
//!   one; position is tracked by the `mark`s interleaved in the same stream, exactly as Twilio
//!   does it, and a header would only make the page copy every chunk to strip it.
//! - text: `ready {playback_rate}`, `mark {name}`, `clear`, `transcript {speaker, text, final}`,
//!   `agent_state {state}`, `ended {reason}` or `error {code, message}` just before the close.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use crate::audio::stream_resample::{self, MicResampler, OUTPUT_FRAME, OUTPUT_RATE, StreamResampleError};
use crate::transport::{AgentState, CallerAudio, CallerCommand, CallerEvent, TranscriptSpeaker, TransportError};

/// Length of one frame of audio on the wire, both ways.
pub const FRAME_MS: u64 = 20;

/// The rate of server → page audio: the upstream's `pcm16` output, forwarded without resampling.
pub const PLAYBACK_RATE: u32 = OUTPUT_RATE;

/// Bytes of the sequence number that starts every page → server binary frame.
const SEQ_BYTES: usize = 4;

/// Largest binary frame any supported rate produces (20 ms at 48 kHz plus the sequence number).
/// Also the value for the upgrade's `max_message_size`: a larger frame is never valid, so the
/// socket can refuse it before buffering it.
pub const MAX_BINARY_FRAME: usize = SEQ_BYTES + 2 * 960;

/// Largest text frame accepted. Our largest is a hello with a token (a few hundred bytes); 4 KiB
/// leaves room for forward-compatible fields while bounding JSON parsing per frame.
pub const MAX_TEXT_FRAME: usize = 4096;

/// Longest mark name we accept back (ours are short; a longer one is not ours).
const MAX_MARK_NAME: usize = 128;

/// Longest token accepted in a hello (ours are well under 200 bytes).
const MAX_TOKEN: usize = 1024;

/// Per-call limits on the page's audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrowserLimits {
    /// Most frames a single jump in sequence numbers may skip. The page drops frames only when its
    /// socket is backlogged (`bufferedAmount`), a few at a time; a jump of more than a second is a
    /// broken or hostile client, and would desynchronise the media clock.
    pub max_sequence_gap: u32,
    /// How far the stream may run ahead of real time, in frames, measured from the first frame's
    /// arrival. A page captures in real time, so anything beyond network jitter plus clock drift
    /// (a few frames) is a flood, which would otherwise make us resample and forward faster than
    /// real time.
    pub max_ahead_frames: u64,
}

impl Default for BrowserLimits {
    fn default() -> BrowserLimits {
        BrowserLimits {
            max_sequence_gap: 50,
            max_ahead_frames: 50,
        }
    }
}

/// The audio processing the page's microphone track actually got (`track.getSettings()`):
/// recorded with the call so a poor recording can be explained. Not PHI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct AudioSettings {
    #[serde(default)]
    pub echo_cancellation: Option<bool>,
    #[serde(default)]
    pub noise_suppression: Option<bool>,
    #[serde(default)]
    pub auto_gain_control: Option<bool>,
}

/// The page's token, as sent. `Debug` hides it: it is a credential.
#[derive(Clone, PartialEq, Eq)]
pub struct HelloToken(pub String);

impl std::fmt::Debug for HelloToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HelloToken(<redacted>)")
    }
}

/// A validated `hello`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Microphone rate, one of [`stream_resample::SUPPORTED_RATES`].
    pub sample_rate: u32,
    /// The call token, when the page sends it in the hello rather than on the upgrade.
    pub token: Option<HelloToken>,
    /// What the microphone track reports about its processing.
    pub audio: Option<AudioSettings>,
}

/// A validated message from the page.
#[derive(Debug, Clone)]
pub enum Inbound {
    /// The page's hello: check its token, then answer with [`BrowserEncoder::ready`].
    Hello(Hello),
    /// Anything after the hello.
    Event(CallerEvent),
}

/// Counters for metrics. Gaps are not errors up to [`BrowserLimits::max_sequence_gap`]: the page
/// drops frames when its socket backs up, and the media clock places later frames by their
/// sequence numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Audio frames accepted.
    pub frames: u64,
    /// Jumps in sequence numbers.
    pub gaps: u64,
    /// Frames skipped by those jumps.
    pub missing_frames: u64,
}

/// Validates one page's messages, in order, and turns them into [`Inbound`]s.
///
/// Every error is terminal for the call: the caller closes with [`TransportError::close_code`].
#[derive(Debug)]
pub struct BrowserDecoder {
    limits: BrowserLimits,
    stream: Option<Stream>,
    stats: DecoderStats,
    /// 24 kHz output as PCM16 LE, reused for the base64 of every frame.
    pcm_le: Vec<u8>,
}

/// State after the hello.
#[derive(Debug)]
struct Stream {
    resampler: MicResampler,
    /// Exact length of a binary frame at the declared rate, header included.
    frame_bytes: usize,
    /// The sequence number the next frame should carry.
    next_seq: u32,
    /// `now_ms - seq × 20` at the first frame: when sequence 0 would have arrived. Fixed, so a
    /// flood cannot drag it along.
    origin_ms: Option<i64>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Wire {
    Hello(HelloWire),
    Mark {
        name: String,
    },
    Cleared {
        played_samples: u64,
    },
    Hangup,
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct HelloWire {
    sample_rate: u32,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    channels: Option<u16>,
    #[serde(default)]
    frame_ms: Option<u64>,
    #[serde(default)]
    audio: Option<AudioSettings>,
}

#[derive(Deserialize)]
struct TypeName {
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl BrowserDecoder {
    pub fn new(limits: BrowserLimits) -> BrowserDecoder {
        BrowserDecoder {
            limits,
            stream: None,
            stats: DecoderStats::default(),
            pcm_le: Vec::with_capacity(2 * OUTPUT_FRAME),
        }
    }

    /// Counters so far (the reader adds their deltas to the call metrics).
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// The declared microphone rate, once the hello is in.
    pub fn sample_rate(&self) -> Option<u32> {
        self.stream.as_ref().map(|s| s.resampler.rate())
    }

    /// One text frame.
    ///
    /// # Errors
    /// Oversized or malformed JSON, unknown `type`s, bad fields, anything but `hello` (or `hangup`)
    /// before the hello, and a second hello.
    pub fn text(&mut self, text: &str) -> Result<Inbound, TransportError> {
        if text.len() > MAX_TEXT_FRAME {
            return Err(TransportError::OversizedFrame);
        }
        let wire: Wire = serde_json::from_str(text).map_err(|_| classify(text))?;
        match wire {
            Wire::Hello(hello) => self.hello(hello).map(Inbound::Hello),
            // A page may hang up before its hello (the user pressed stop at once).
            Wire::Hangup => Ok(Inbound::Event(CallerEvent::Hangup)),
            _ if self.stream.is_none() => Err(TransportError::BeforeHello(match wire {
                Wire::Mark { .. } => "mark",
                Wire::Cleared { .. } => "cleared",
                _ => "unknown",
            })),
            Wire::Mark { name } => {
                if name.is_empty() || name.len() > MAX_MARK_NAME {
                    return Err(TransportError::BadField("mark.name"));
                }
                Ok(Inbound::Event(CallerEvent::MarkPlayed(name)))
            }
            Wire::Cleared { played_samples } => Ok(Inbound::Event(CallerEvent::Cleared { played_samples })),
            // The peer's type name is not echoed anywhere: a hostile page could put anything there.
            Wire::Unknown => Err(TransportError::UnknownEvent),
        }
    }

    fn hello(&mut self, hello: HelloWire) -> Result<Hello, TransportError> {
        if self.stream.is_some() {
            return Err(TransportError::DuplicateHello);
        }
        if hello.format.as_deref().is_some_and(|f| f != "pcm16le") {
            return Err(TransportError::MediaFormat);
        }
        if hello.channels.is_some_and(|c| c != 1) {
            return Err(TransportError::BadField("hello.channels"));
        }
        if hello.frame_ms.is_some_and(|ms| ms != FRAME_MS) {
            return Err(TransportError::BadField("hello.frame_ms"));
        }
        if hello
            .token
            .as_ref()
            .is_some_and(|t| t.is_empty() || t.len() > MAX_TOKEN)
        {
            return Err(TransportError::BadField("hello.token"));
        }
        let resampler = MicResampler::new(hello.sample_rate).map_err(|e| match e {
            StreamResampleError::UnsupportedRate(rate) => TransportError::UnsupportedRate(rate),
            // Setup failures at a supported rate are our bug; report them as a server error.
            StreamResampleError::FrameLength { .. } | StreamResampleError::Setup => TransportError::Socket,
        })?;
        self.stream = Some(Stream {
            frame_bytes: SEQ_BYTES + 2 * resampler.frame_samples(),
            resampler,
            next_seq: 0,
            origin_ms: None,
        });
        Ok(Hello {
            sample_rate: hello.sample_rate,
            token: hello.token.map(HelloToken),
            audio: hello.audio,
        })
    }

    /// One binary frame, received at `now_ms` on a monotonic millisecond clock of the caller's
    /// choosing (only differences matter).
    ///
    /// The returned audio is at 24 kHz and lags the page's by
    /// [`MicResampler::delay_samples`] (10 ms when resampling); its `timestamp_ms` is
    /// `sequence × 20`.
    ///
    /// # Errors
    /// Oversized frames, audio before the hello, a length other than one 20 ms frame, a sequence
    /// number that goes backwards or jumps too far, and a stream too far ahead of real time.
    pub fn binary(&mut self, bytes: &[u8], now_ms: u64) -> Result<CallerEvent, TransportError> {
        if bytes.len() > MAX_BINARY_FRAME {
            return Err(TransportError::OversizedFrame);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(TransportError::BeforeHello("audio"));
        };
        if bytes.len() != stream.frame_bytes {
            return Err(TransportError::FrameLength {
                got: bytes.len(),
                want: stream.frame_bytes,
            });
        }
        let (head, pcm) = bytes.split_at(SEQ_BYTES);
        let seq = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let gap = seq
            .checked_sub(stream.next_seq)
            .ok_or(TransportError::SequenceBackwards)?;
        if gap > self.limits.max_sequence_gap {
            return Err(TransportError::SequenceGap(gap));
        }
        let media_ms = i64::from(seq) * FRAME_MS as i64;
        let now = i64::try_from(now_ms).map_err(|_| TransportError::BadField("clock"))?;
        let origin = *stream.origin_ms.get_or_insert(now - media_ms);
        // How far this frame's end is ahead of the time elapsed since sequence 0 "arrived".
        let ahead_ms = media_ms + FRAME_MS as i64 - (now - origin);
        if ahead_ms > self.limits.max_ahead_frames as i64 * FRAME_MS as i64 {
            return Err(TransportError::Flood);
        }
        let next = seq.checked_add(1).ok_or(TransportError::SequenceGap(u32::MAX))?;

        let samples = stream
            .resampler
            .process_le_bytes(pcm)
            .map_err(|_| TransportError::FrameLength {
                got: bytes.len(),
                want: stream.frame_bytes,
            })?;
        // Frames the page dropped become silence, so the upstream's audio timeline (which its
        // `audio_start_ms` values count) stays the media clock's: the audio after a gap is not
        // pulled earlier.
        let silence = gap as usize * OUTPUT_FRAME;
        self.pcm_le.clear();
        self.pcm_le.resize(2 * silence, 0);
        self.pcm_le.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
        let mut pcm = Vec::with_capacity(silence + samples.len());
        pcm.resize(silence, 0);
        pcm.extend_from_slice(samples);
        let audio = CallerAudio {
            timestamp_ms: u64::from(seq - gap) * FRAME_MS,
            upstream_b64: B64.encode(&self.pcm_le),
            samples: pcm,
        };

        stream.next_seq = next;
        self.stats.frames += 1;
        if gap > 0 {
            self.stats.gaps += 1;
            self.stats.missing_frames += u64::from(gap);
        }
        Ok(CallerEvent::Audio(audio))
    }
}

/// Why a text frame did not parse, without echoing any of it.
fn classify(text: &str) -> TransportError {
    match serde_json::from_str::<TypeName>(text) {
        Ok(TypeName { kind: Some(kind) }) if known(&kind) => TransportError::BadField("message body"),
        Ok(TypeName { kind: Some(_) }) => TransportError::UnknownEvent,
        Ok(TypeName { kind: None }) => TransportError::BadField("type"),
        Err(_) => TransportError::MalformedJson,
    }
}

fn known(kind: &str) -> bool {
    matches!(kind, "hello" | "mark" | "cleared" | "hangup")
}

/// One WebSocket message for the page; the writer maps it onto its socket type
/// (`Message::Text`, `Message::Binary`, `Message::Close`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    Text(String),
    Binary(Vec<u8>),
    Close { code: u16, reason: String },
}

/// Up to two frames rendered from one command (`ended`/`error` is followed by the close).
#[derive(Debug, Default)]
pub struct Encoded(Option<WsFrame>, Option<WsFrame>);

impl Iterator for Encoded {
    type Item = WsFrame;

    fn next(&mut self) -> Option<WsFrame> {
        self.0.take().or_else(|| self.1.take())
    }
}

/// Renders [`CallerCommand`]s for one page.
#[derive(Debug, Default)]
pub struct BrowserEncoder {
    /// A trailing odd byte of the last audio command, completed by the next one: the upstream's
    /// chunks are whole samples, but nothing here depends on that.
    carry: Option<u8>,
}

impl BrowserEncoder {
    pub fn new() -> BrowserEncoder {
        BrowserEncoder::default()
    }

    /// The answer to an accepted hello.
    pub fn ready(&self) -> WsFrame {
        WsFrame::Text(serde_json::json!({"type": "ready", "playback_rate": PLAYBACK_RATE}).to_string())
    }

    /// Render one command.
    ///
    /// # Errors
    /// [`TransportError::BadBase64`] if an audio command's payload is not base64 (it comes from
    /// the upstream, so this is not the page's fault; the writer should log it and go on).
    pub fn encode(&mut self, command: CallerCommand) -> Result<Encoded, TransportError> {
        let one = |frame: WsFrame| Ok(Encoded(Some(frame), None));
        match command {
            CallerCommand::Audio { b64, .. } => {
                let mut pcm = Vec::with_capacity(b64.len() / 4 * 3 + 1);
                pcm.extend(self.carry);
                B64.decode_vec(b64.as_bytes(), &mut pcm)
                    .map_err(|_| TransportError::BadBase64)?;
                // Only now is the carried byte spent: a refused payload must keep it, or every later
                // sample would be off by one byte (loud noise) until the next clear.
                self.carry = None;
                if !pcm.len().is_multiple_of(2) {
                    self.carry = pcm.pop();
                }
                if pcm.is_empty() {
                    return Ok(Encoded::default());
                }
                one(WsFrame::Binary(pcm))
            }
            CallerCommand::Mark(name) => one(text(serde_json::json!({"type": "mark", "name": name}))),
            CallerCommand::Clear => {
                // Whatever was queued is dropped, including half a sample.
                self.carry = None;
                one(text(serde_json::json!({"type": "clear"})))
            }
            CallerCommand::Transcript {
                speaker,
                text: line,
                is_final,
            } => {
                let speaker = match speaker {
                    TranscriptSpeaker::Caller => "caller",
                    TranscriptSpeaker::Agent => "agent",
                };
                one(text(
                    serde_json::json!({"type": "transcript", "speaker": speaker, "text": line.0, "final": is_final}),
                ))
            }
            CallerCommand::AgentState(state) => {
                let state = match state {
                    AgentState::Listening => "listening",
                    AgentState::Speaking => "speaking",
                    AgentState::Tool => "tool",
                };
                one(text(serde_json::json!({"type": "agent_state", "state": state})))
            }
            CallerCommand::Close { code, reason } => {
                let notice = match code {
                    1000 | 1001 => serde_json::json!({"type": "ended", "reason": reason}),
                    _ => serde_json::json!({"type": "error", "code": page_error_code(code), "message": reason}),
                };
                Ok(Encoded(Some(text(notice)), Some(WsFrame::Close { code, reason })))
            }
        }
    }
}

fn text(value: serde_json::Value) -> WsFrame {
    WsFrame::Text(value.to_string())
}

/// The `error.code` the page switches on, from the close code.
fn page_error_code(close_code: u16) -> &'static str {
    match close_code {
        1013 => "busy",
        1008 => "refused",
        1003 | 1007 | 1009 => "protocol",
        _ => "server",
    }
}

/// Samples per 20 ms frame at `rate` (re-exported for the page's and tests' arithmetic).
pub fn frame_samples(rate: u32) -> usize {
    stream_resample::frame_samples(rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TranscriptText;

    const HELLO_48K: &str = r#"{"type":"hello","sample_rate":48000,"format":"pcm16le","channels":1,"frame_ms":20,"token":"t0k","audio":{"echo_cancellation":true,"noise_suppression":false}}"#;

    fn frame(seq: u32, rate: u32) -> Vec<u8> {
        let mut f = seq.to_le_bytes().to_vec();
        for i in 0..frame_samples(rate) {
            let s = ((i as f64 * 0.1).sin() * 8000.0) as i16;
            f.extend_from_slice(&s.to_le_bytes());
        }
        f
    }

    fn streaming(rate: u32) -> BrowserDecoder {
        let mut d = BrowserDecoder::new(BrowserLimits::default());
        let hello = format!(r#"{{"type":"hello","sample_rate":{rate}}}"#);
        assert!(matches!(d.text(&hello), Ok(Inbound::Hello(_))));
        d
    }

    #[test]
    fn happy_path_hello_audio_marks_cleared_hangup() {
        let mut d = BrowserDecoder::new(BrowserLimits::default());
        let Ok(Inbound::Hello(h)) = d.text(HELLO_48K) else {
            panic!("hello")
        };
        assert_eq!(h.sample_rate, 48_000);
        assert_eq!(h.token, Some(HelloToken("t0k".into())));
        assert_eq!(h.audio.and_then(|a| a.echo_cancellation), Some(true));
        assert_eq!(d.sample_rate(), Some(48_000));
        for seq in 0..3 {
            let Ok(CallerEvent::Audio(a)) = d.binary(&frame(seq, 48_000), 1000 + u64::from(seq) * 20) else {
                panic!("audio {seq}")
            };
            assert_eq!(a.timestamp_ms, u64::from(seq) * 20);
            assert_eq!(a.samples.len(), 480);
            let pcm = B64.decode(&a.upstream_b64).unwrap();
            let back: Vec<i16> = pcm.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
            assert_eq!(back, a.samples);
        }
        assert!(matches!(
            d.text(r#"{"type":"mark","name":"g1:item_7:3"}"#),
            Ok(Inbound::Event(CallerEvent::MarkPlayed(n))) if n == "g1:item_7:3"
        ));
        assert!(matches!(
            d.text(r#"{"type":"cleared","played_samples":12345}"#),
            Ok(Inbound::Event(CallerEvent::Cleared { played_samples: 12345 }))
        ));
        assert!(matches!(
            d.text(r#"{"type":"hangup"}"#),
            Ok(Inbound::Event(CallerEvent::Hangup))
        ));
        assert_eq!(
            d.stats(),
            DecoderStats {
                frames: 3,
                gaps: 0,
                missing_frames: 0
            }
        );
    }

    #[test]
    fn every_supported_rate_gives_480_samples_per_frame() {
        for rate in stream_resample::SUPPORTED_RATES {
            let mut d = streaming(rate);
            let Ok(CallerEvent::Audio(a)) = d.binary(&frame(0, rate), 0) else {
                panic!("{rate}")
            };
            assert_eq!(a.samples.len(), 480, "{rate}");
        }
    }

    #[test]
    fn hello_must_come_first_and_once() {
        let mut d = BrowserDecoder::new(BrowserLimits::default());
        assert!(matches!(
            d.binary(&frame(0, 48_000), 0),
            Err(TransportError::BeforeHello("audio"))
        ));
        assert!(matches!(
            d.text(r#"{"type":"mark","name":"m"}"#),
            Err(TransportError::BeforeHello("mark"))
        ));
        assert!(matches!(
            d.text(r#"{"type":"cleared","played_samples":0}"#),
            Err(TransportError::BeforeHello("cleared"))
        ));
        assert!(d.text(HELLO_48K).is_ok());
        assert!(matches!(d.text(HELLO_48K), Err(TransportError::DuplicateHello)));
    }

    #[test]
    fn hangup_before_hello_is_a_hangup() {
        let mut d = BrowserDecoder::new(BrowserLimits::default());
        assert!(matches!(
            d.text(r#"{"type":"hangup"}"#),
            Ok(Inbound::Event(CallerEvent::Hangup))
        ));
    }

    #[test]
    fn bad_hellos_are_refused_with_their_reason() {
        let cases = [
            (
                r#"{"type":"hello","sample_rate":8000}"#,
                "unsupported sample rate 8000 Hz",
            ),
            (r#"{"type":"hello","sample_rate":0}"#, "unsupported sample rate 0 Hz"),
            (r#"{"type":"hello"}"#, "invalid field `message body`"),
            (
                r#"{"type":"hello","sample_rate":"48000"}"#,
                "invalid field `message body`",
            ),
            (r#"{"type":"hello","sample_rate":-1}"#, "invalid field `message body`"),
            (
                r#"{"type":"hello","sample_rate":48000,"format":"f32"}"#,
                "unsupported media format",
            ),
            (
                r#"{"type":"hello","sample_rate":48000,"channels":2}"#,
                "invalid field `hello.channels`",
            ),
            (
                r#"{"type":"hello","sample_rate":48000,"frame_ms":10}"#,
                "invalid field `hello.frame_ms`",
            ),
            (
                r#"{"type":"hello","sample_rate":48000,"token":""}"#,
                "invalid field `hello.token`",
            ),
        ];
        for (text, reason) in cases {
            let mut d = BrowserDecoder::new(BrowserLimits::default());
            let err = d.text(text).unwrap_err();
            assert_eq!(err.to_string(), reason, "{text}");
            assert_eq!(err.close_code(), 1008, "{text}");
        }
        let long = format!(
            r#"{{"type":"hello","sample_rate":48000,"token":"{}"}}"#,
            "x".repeat(1025)
        );
        assert!(matches!(
            BrowserDecoder::new(BrowserLimits::default()).text(&long),
            Err(TransportError::BadField("hello.token"))
        ));
    }

    #[test]
    fn malformed_and_unknown_json_never_echo_the_input() {
        let mut d = streaming(48_000);
        let secret = "Jane Doe 1970-01-01";
        let cases = [
            (format!("{{not json {secret}"), "malformed JSON frame"),
            (format!(r#"{{"type":"{secret}"}}"#), "unknown event"),
            (format!(r#"{{"kind":"{secret}"}}"#), "invalid field `type`"),
            (
                format!(r#"{{"type":"mark","nom":"{secret}"}}"#),
                "invalid field `message body`",
            ),
            (
                r#"{"type":"cleared","played_samples":-3}"#.to_string(),
                "invalid field `message body`",
            ),
            ("[1,2]".to_string(), "malformed JSON frame"),
            ("{}".to_string(), "invalid field `type`"),
        ];
        for (text, reason) in cases {
            let err = d.text(&text).unwrap_err();
            assert_eq!(err.to_string(), reason, "{text}");
            assert!(!err.close_reason().contains("Jane"));
            assert!(!format!("{err:?}").contains("Jane"));
        }
        assert!(matches!(
            d.text(r#"{"type":"mark","name":""}"#),
            Err(TransportError::BadField("mark.name"))
        ));
        let long = format!(r#"{{"type":"mark","name":"{}"}}"#, "m".repeat(129));
        assert!(matches!(d.text(&long), Err(TransportError::BadField("mark.name"))));
        let huge = format!(r#"{{"type":"mark","name":"{}"}}"#, "m".repeat(MAX_TEXT_FRAME));
        assert!(matches!(d.text(&huge), Err(TransportError::OversizedFrame)));
    }

    #[test]
    fn frames_must_be_exactly_twenty_ms() {
        let mut d = streaming(44_100);
        let good = frame(0, 44_100);
        assert_eq!(good.len(), 4 + 1764);
        for len in [
            0,
            3,
            4,
            5,
            good.len() - 1,
            good.len() - 2,
            good.len() + 1,
            good.len() + 2,
        ] {
            let mut f = good.clone();
            f.resize(len, 0);
            let err = d.binary(&f, 0).unwrap_err();
            assert!(
                matches!(err, TransportError::FrameLength { got, want: 1768 } if got == len),
                "{len}: {err}"
            );
            assert_eq!(err.close_code(), 1007);
        }
        // A 48 kHz frame on a 44.1 kHz stream is the wrong length, not oversized.
        assert!(matches!(
            d.binary(&frame(0, 48_000), 0),
            Err(TransportError::FrameLength { got: 1924, want: 1768 })
        ));
        assert!(d.binary(&good, 0).is_ok());
    }

    #[test]
    fn oversized_frames_are_refused_before_anything_else() {
        let mut d = BrowserDecoder::new(BrowserLimits::default());
        let err = d.binary(&vec![0; MAX_BINARY_FRAME + 1], 0).unwrap_err();
        assert!(matches!(err, TransportError::OversizedFrame));
        assert_eq!(err.close_code(), 1009);
        let mut d = streaming(16_000);
        assert!(matches!(
            d.binary(&vec![0; 100_000], 0),
            Err(TransportError::OversizedFrame)
        ));
    }

    #[test]
    fn small_gaps_are_counted_and_large_ones_refused() {
        let mut d = streaming(48_000);
        assert!(d.binary(&frame(0, 48_000), 0).is_ok());
        // Frames 1 and 2 dropped by the page.
        let Ok(CallerEvent::Audio(a)) = d.binary(&frame(3, 48_000), 60) else {
            panic!("gap")
        };
        // The two missing frames are filled with silence where they belonged.
        assert_eq!(a.timestamp_ms, 20);
        assert_eq!(a.samples.len(), 3 * OUTPUT_FRAME);
        assert!(a.samples[..2 * OUTPUT_FRAME].iter().all(|&s| s == 0));
        assert!(a.samples[2 * OUTPUT_FRAME..].iter().any(|&s| s != 0));
        assert_eq!(B64.decode(&a.upstream_b64).unwrap().len(), 2 * 3 * OUTPUT_FRAME);
        assert!(d.binary(&frame(4, 48_000), 80).is_ok());
        assert!(d.binary(&frame(10, 48_000), 200).is_ok());
        assert_eq!(
            d.stats(),
            DecoderStats {
                frames: 4,
                gaps: 2,
                missing_frames: 7
            }
        );
        let err = d.binary(&frame(11 + 51, 48_000), 1240).unwrap_err();
        assert!(matches!(err, TransportError::SequenceGap(51)), "{err}");
    }

    #[test]
    fn the_first_frame_may_follow_a_small_gap_but_not_a_large_one() {
        let mut d = streaming(48_000);
        assert!(d.binary(&frame(2, 48_000), 0).is_ok());
        assert_eq!(d.stats().missing_frames, 2);
        let mut d = streaming(48_000);
        assert!(matches!(
            d.binary(&frame(1000, 48_000), 0),
            Err(TransportError::SequenceGap(1000))
        ));
    }

    #[test]
    fn repeated_or_backwards_sequence_numbers_are_refused() {
        let mut d = streaming(48_000);
        assert!(d.binary(&frame(0, 48_000), 0).is_ok());
        assert!(d.binary(&frame(1, 48_000), 20).is_ok());
        assert!(matches!(
            d.binary(&frame(1, 48_000), 40),
            Err(TransportError::SequenceBackwards)
        ));
        let mut d = streaming(48_000);
        assert!(d.binary(&frame(5, 48_000), 0).is_ok());
        assert!(matches!(
            d.binary(&frame(0, 48_000), 20),
            Err(TransportError::SequenceBackwards)
        ));
    }

    #[test]
    fn a_stream_at_real_time_with_jitter_passes() {
        let mut d = streaming(48_000);
        // Frames arrive in bursts of five every 100 ms, with the first one late.
        for seq in 0..500u32 {
            let now = 5000 + u64::from(seq / 5) * 100 + 100;
            assert!(d.binary(&frame(seq, 48_000), now).is_ok(), "{seq}");
        }
    }

    #[test]
    fn a_flood_ahead_of_real_time_is_refused() {
        let limits = BrowserLimits::default();
        let mut d = streaming(48_000);
        // All at the same instant: the first max_ahead_frames are tolerated (a burst after a stall).
        let mut refused_at = None;
        for seq in 0..200u32 {
            if let Err(e) = d.binary(&frame(seq, 48_000), 7000) {
                assert!(matches!(e, TransportError::Flood), "{e}");
                refused_at = Some(seq);
                break;
            }
        }
        assert_eq!(refused_at, Some(limits.max_ahead_frames as u32));
    }

    #[test]
    fn a_slow_flood_is_caught_once_it_builds_up() {
        // Twice real time: 40 ms of audio every 20 ms.
        let mut d = streaming(48_000);
        let mut refused = None;
        for seq in 0..1000u32 {
            if d.binary(&frame(seq, 48_000), u64::from(seq) * 10).is_err() {
                refused = Some(seq);
                break;
            }
        }
        // ahead = 20·(seq+1) − 10·seq > 1000 ms ⇔ seq > 98.
        assert_eq!(refused, Some(99));
    }

    #[test]
    fn gaps_cannot_be_used_to_run_ahead() {
        let mut d = streaming(48_000);
        assert!(d.binary(&frame(0, 48_000), 0).is_ok());
        // Jumping 40 frames at a time, 20 ms apart, runs ahead of real time.
        let err = (1..10u32)
            .map(|i| d.binary(&frame(i * 40, 48_000), u64::from(i) * 20))
            .find_map(Result::err);
        assert!(matches!(err, Some(TransportError::Flood)));
    }

    #[test]
    fn decoded_audio_is_the_resampled_microphone() {
        // A 1 kHz tone at 48 kHz comes out as a 1 kHz tone at 24 kHz (after the 10 ms delay).
        let mut d = streaming(48_000);
        let mut out = Vec::new();
        for seq in 0..10u32 {
            let mut f = seq.to_le_bytes().to_vec();
            for i in 0..960 {
                let n = f64::from(seq * 960 + i);
                let s = (10_000.0 * (std::f64::consts::TAU * 1000.0 * n / 48_000.0).sin()).round() as i16;
                f.extend_from_slice(&s.to_le_bytes());
            }
            let Ok(CallerEvent::Audio(a)) = d.binary(&f, u64::from(seq) * 20) else {
                panic!()
            };
            out.extend(a.samples);
        }
        for (n, &y) in out.iter().enumerate().skip(960).take(2000) {
            let ideal = 10_000.0 * (std::f64::consts::TAU * 1000.0 * (n as f64 - 240.0) / 24_000.0).sin();
            assert!((f64::from(y) - ideal).abs() < 5.0, "{n}: {y} vs {ideal}");
        }
    }

    fn texts(e: Encoded) -> Vec<serde_json::Value> {
        e.map(|f| match f {
            WsFrame::Text(t) => serde_json::from_str(&t).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect()
    }

    #[test]
    fn encoder_renders_every_command() {
        let mut enc = BrowserEncoder::new();
        let WsFrame::Text(ready) = enc.ready() else { panic!() };
        let v: serde_json::Value = serde_json::from_str(&ready).unwrap();
        assert_eq!(
            (v["type"].as_str(), v["playback_rate"].as_u64()),
            (Some("ready"), Some(24_000))
        );

        let pcm: Vec<u8> = (0..960u32).map(|i| i as u8).collect();
        let frames: Vec<_> = enc
            .encode(CallerCommand::Audio {
                b64: B64.encode(&pcm),
                origin: None,
            })
            .unwrap()
            .collect();
        assert_eq!(frames, vec![WsFrame::Binary(pcm)]);

        let v = texts(enc.encode(CallerCommand::Mark("a\"b".into())).unwrap());
        assert_eq!(
            (v[0]["type"].as_str(), v[0]["name"].as_str()),
            (Some("mark"), Some("a\"b"))
        );
        let v = texts(enc.encode(CallerCommand::Clear).unwrap());
        assert_eq!(v[0], serde_json::json!({"type": "clear"}));
        let v = texts(
            enc.encode(CallerCommand::Transcript {
                speaker: TranscriptSpeaker::Caller,
                text: TranscriptText("I'd like \"an\" appointment".into()),
                is_final: true,
            })
            .unwrap(),
        );
        assert_eq!(
            v[0],
            serde_json::json!({"type": "transcript", "speaker": "caller", "text": "I'd like \"an\" appointment", "final": true})
        );
        for (state, name) in [
            (AgentState::Listening, "listening"),
            (AgentState::Speaking, "speaking"),
            (AgentState::Tool, "tool"),
        ] {
            let v = texts(enc.encode(CallerCommand::AgentState(state)).unwrap());
            assert_eq!(v[0], serde_json::json!({"type": "agent_state", "state": name}));
        }
    }

    #[test]
    fn close_is_preceded_by_ended_or_error() {
        let mut enc = BrowserEncoder::new();
        let frames: Vec<_> = enc
            .encode(CallerCommand::Close {
                code: 1000,
                reason: "call ended".into(),
            })
            .unwrap()
            .collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[0],
            WsFrame::Text(r#"{"reason":"call ended","type":"ended"}"#.into())
        );
        assert_eq!(
            frames[1],
            WsFrame::Close {
                code: 1000,
                reason: "call ended".into()
            }
        );
        for (code, page) in [(1013, "busy"), (1008, "refused"), (1009, "protocol"), (1011, "server")] {
            let mut frames = enc
                .encode(CallerCommand::Close {
                    code,
                    reason: "why".into(),
                })
                .unwrap();
            let Some(WsFrame::Text(t)) = frames.next() else {
                panic!()
            };
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            assert_eq!((v["type"].as_str(), v["code"].as_str()), (Some("error"), Some(page)));
            assert!(matches!(frames.next(), Some(WsFrame::Close { code: c, .. }) if c == code));
            assert_eq!(frames.next(), None);
        }
    }

    #[test]
    fn audio_split_mid_sample_is_rejoined_and_clear_drops_the_half() {
        let mut enc = BrowserEncoder::new();
        let audio = |bytes: &[u8]| CallerCommand::Audio {
            b64: B64.encode(bytes),
            origin: None,
        };
        let a: Vec<_> = enc.encode(audio(&[1, 2, 3])).unwrap().collect();
        assert_eq!(a, vec![WsFrame::Binary(vec![1, 2])]);
        let b: Vec<_> = enc.encode(audio(&[4, 5, 6, 7, 8])).unwrap().collect();
        assert_eq!(b, vec![WsFrame::Binary(vec![3, 4, 5, 6, 7, 8])]);
        assert_eq!(enc.encode(audio(&[9])).unwrap().count(), 0);
        let _ = enc.encode(CallerCommand::Clear).unwrap().count();
        let c: Vec<_> = enc.encode(audio(&[10, 11])).unwrap().collect();
        assert_eq!(c, vec![WsFrame::Binary(vec![10, 11])]);
        assert!(matches!(
            enc.encode(CallerCommand::Audio {
                b64: "@@@".into(),
                origin: None
            }),
            Err(TransportError::BadBase64)
        ));
    }

    /// Found by `fuzz/fuzz_targets/browser_encode.rs` (minimised input `00 01 00 00 01 01 00 72 00
    /// 01 00 72`: audio `[00]`, audio base64 `"r"` (invalid), audio `[72]`): a refused payload used to
    /// drop the carried half sample, shifting every later sample by one byte.
    #[test]
    fn bad_base64_keeps_the_carried_half_sample() {
        let mut enc = BrowserEncoder::new();
        let audio = |bytes: &[u8]| CallerCommand::Audio {
            b64: B64.encode(bytes),
            origin: None,
        };
        assert_eq!(enc.encode(audio(&[0x00])).unwrap().count(), 0);
        assert!(matches!(
            enc.encode(CallerCommand::Audio {
                b64: "r".into(),
                origin: None
            }),
            Err(TransportError::BadBase64)
        ));
        let frames: Vec<_> = enc.encode(audio(&[0x72])).unwrap().collect();
        assert_eq!(frames, vec![WsFrame::Binary(vec![0x00, 0x72])]);
    }

    #[test]
    fn secrets_and_transcripts_stay_out_of_debug() {
        let hello = Hello {
            sample_rate: 48_000,
            token: Some(HelloToken("secret-token".into())),
            audio: None,
        };
        assert!(!format!("{hello:?}").contains("secret-token"));
        let cmd = CallerCommand::Transcript {
            speaker: TranscriptSpeaker::Caller,
            text: TranscriptText("my birthday is 1970-01-01".into()),
            is_final: true,
        };
        assert!(!format!("{cmd:?}").contains("1970"));
    }
}
