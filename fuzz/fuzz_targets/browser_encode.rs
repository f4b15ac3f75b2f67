//! Browser protocol, server → page: arbitrary command sequences through one `BrowserEncoder`.
//!
//! Properties, beyond "never panics":
//! - audio: every binary frame is a whole number of PCM16 samples, and the binary frames are exactly
//!   the decoded audio bytes in order, except that a `clear` drops a pending half sample (no byte is
//!   invented, reordered or lost otherwise);
//! - base64 that is not base64 is `BadBase64` and changes nothing;
//! - every text frame is JSON with the documented `type` and carries mark names and transcript text
//!   unchanged; a close is an `ended`/`error` notice followed by the close frame itself.
//!
//! Input format (integers little-endian; the input ends at the first short read): operations, each
//! a tag byte (mod 7) and:
//! - 0 audio: `len: u16`, `len` bytes, sent base64-encoded as the upstream sends it;
//! - 1 raw audio: `len: u16`, `len` bytes used as the base64 text itself (may be invalid);
//! - 2 mark: `len: u8`, name; 3 clear; 4 transcript: `flags: u8` (bit 0 agent, bit 1 final),
//!   `len: u16`, text; 5 agent state: `u8`; 6 close: `code: u16, len: u8`, reason.
#![no_main]

#[path = "../common/reader.rs"]
mod reader;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use libfuzzer_sys::fuzz_target;
use voicegate::transport::browser::{BrowserEncoder, WsFrame};
use voicegate::transport::{AgentState, CallerCommand, TranscriptSpeaker, TranscriptText, TransportError};

#[derive(Debug)]
enum Op {
    /// Audio as the upstream sends it: base64 of these bytes.
    Audio(Vec<u8>),
    /// A payload that may not be base64 at all.
    RawAudio(String),
    Mark(String),
    Clear,
    Transcript {
        agent: bool,
        text: String,
        is_final: bool,
    },
    State(u8),
    Close {
        code: u16,
        reason: String,
    },
}

/// Most operations per input.
const MAX_OPS: usize = 256;

fn read_op(r: &mut reader::Reader<'_>) -> Option<Op> {
    Some(match r.u8()? % 7 {
        0 => {
            let len = r.u16()?;
            Op::Audio(r.bytes(usize::from(len))?.to_vec())
        }
        1 => {
            let len = r.u16()?;
            Op::RawAudio(r.string(usize::from(len))?)
        }
        2 => {
            let len = r.u8()?;
            Op::Mark(r.string(usize::from(len))?)
        }
        3 => Op::Clear,
        4 => {
            let flags = r.u8()?;
            let len = r.u16()?;
            Op::Transcript {
                agent: flags & 1 != 0,
                is_final: flags & 2 != 0,
                text: r.string(usize::from(len))?,
            }
        }
        5 => Op::State(r.u8()?),
        _ => {
            let code = r.u16()?;
            let len = r.u8()?;
            Op::Close {
                code,
                reason: r.string(usize::from(len))?,
            }
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let mut r = reader::Reader::new(data);
    let ops = std::iter::from_fn(|| read_op(&mut r)).take(MAX_OPS);
    let mut enc = BrowserEncoder::new();
    // Bytes sent as audio and not yet seen in a binary frame (at most one: the carried half sample).
    let mut pending: Vec<u8> = Vec::new();
    for op in ops {
        match op {
            Op::Audio(bytes) => {
                pending.extend_from_slice(&bytes);
                let frames: Vec<WsFrame> = enc
                    .encode(CallerCommand::Audio {
                        b64: B64.encode(&bytes),
                        origin: None,
                    })
                    .expect("valid base64 renders")
                    .collect();
                take_audio(frames, &mut pending);
            }
            Op::RawAudio(b64) => {
                let decoded = B64.decode(b64.as_bytes());
                match enc.encode(CallerCommand::Audio { b64, origin: None }) {
                    Ok(frames) => {
                        pending.extend_from_slice(&decoded.expect("accepted base64 decodes"));
                        take_audio(frames.collect(), &mut pending);
                    }
                    Err(e) => {
                        assert!(decoded.is_err(), "valid base64 refused");
                        assert!(matches!(e, TransportError::BadBase64));
                    }
                }
            }
            Op::Mark(name) => {
                let v = one_text(&mut enc, CallerCommand::Mark(name.clone()));
                assert_eq!(
                    (v["type"].as_str(), v["name"].as_str()),
                    (Some("mark"), Some(name.as_str()))
                );
            }
            Op::Clear => {
                let v = one_text(&mut enc, CallerCommand::Clear);
                assert_eq!(v, serde_json::json!({"type": "clear"}));
                pending.clear();
            }
            Op::Transcript { agent, text, is_final } => {
                let speaker = if agent {
                    TranscriptSpeaker::Agent
                } else {
                    TranscriptSpeaker::Caller
                };
                let v = one_text(
                    &mut enc,
                    CallerCommand::Transcript {
                        speaker,
                        text: TranscriptText(text.clone()),
                        is_final,
                    },
                );
                assert_eq!(v["type"], "transcript");
                assert_eq!(v["speaker"], if agent { "agent" } else { "caller" });
                assert_eq!(v["text"].as_str(), Some(text.as_str()));
                assert_eq!(v["final"].as_bool(), Some(is_final));
            }
            Op::State(s) => {
                let state = [AgentState::Listening, AgentState::Speaking, AgentState::Tool][usize::from(s % 3)];
                let v = one_text(&mut enc, CallerCommand::AgentState(state));
                assert_eq!(v["type"], "agent_state");
            }
            Op::Close { code, reason } => {
                let frames: Vec<WsFrame> = enc
                    .encode(CallerCommand::Close {
                        code,
                        reason: reason.clone(),
                    })
                    .expect("close renders")
                    .collect();
                let [WsFrame::Text(notice), WsFrame::Close { code: c, reason: r }] = frames.as_slice() else {
                    panic!("close rendered as {frames:?}")
                };
                assert_eq!((*c, r.as_str()), (code, reason.as_str()));
                let v: serde_json::Value = serde_json::from_str(notice).expect("notice is JSON");
                if matches!(code, 1000 | 1001) {
                    assert_eq!(
                        (v["type"].as_str(), v["reason"].as_str()),
                        (Some("ended"), Some(reason.as_str()))
                    );
                } else {
                    assert_eq!(v["type"], "error");
                    assert!(matches!(
                        v["code"].as_str(),
                        Some("busy" | "refused" | "protocol" | "server")
                    ));
                    assert_eq!(v["message"].as_str(), Some(reason.as_str()));
                }
            }
        }
        assert!(pending.len() <= 1, "{} audio bytes held back", pending.len());
    }
});

/// The binary frames of one audio command must be the front of `pending`, in whole samples.
fn take_audio(frames: Vec<WsFrame>, pending: &mut Vec<u8>) {
    assert!(frames.len() <= 1);
    for frame in frames {
        let WsFrame::Binary(pcm) = frame else {
            panic!("audio rendered as {frame:?}")
        };
        assert!(!pcm.is_empty() && pcm.len().is_multiple_of(2), "{} bytes", pcm.len());
        assert!(pcm.len() <= pending.len());
        assert_eq!(pcm[..], pending[..pcm.len()], "audio bytes changed");
        pending.drain(..pcm.len());
    }
}

fn one_text(enc: &mut BrowserEncoder, command: CallerCommand) -> serde_json::Value {
    let frames: Vec<WsFrame> = enc.encode(command).expect("renders").collect();
    let [WsFrame::Text(t)] = frames.as_slice() else {
        panic!("rendered as {frames:?}")
    };
    serde_json::from_str(t).expect("text frame is JSON")
}
