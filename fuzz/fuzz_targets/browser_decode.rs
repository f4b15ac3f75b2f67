//! Browser protocol, page → server: a whole connection's worth of text and binary frames through one
//! `BrowserDecoder`, in an order the fuzzer chooses.
//!
//! Raw frames exercise the parsers; the structured operations (a hello at a supported rate, frames
//! of exactly 20 ms with a chosen sequence number and arrival time) get past the length and hello
//! checks so the sequence, flood and resampling paths are reached too.
//!
//! Properties, beyond "never panics":
//! - a hello is accepted at most once, at a supported rate, and `sample_rate()` reports it;
//! - every accepted audio frame yields a whole number of 480-sample (20 ms at 24 kHz) frames, at
//!   most `max_sequence_gap + 1` of them, and its base64 is exactly those samples as PCM16 LE;
//! - the media clock is contiguous: each frame's `timestamp_ms` is the audio emitted before it
//!   (gaps are filled with silence, never skipped), and `stats()` counts exactly that;
//! - arrival time never runs further ahead of real time than `max_ahead_frames` allows;
//! - oversized text frames, bad mark names and errors behave as documented (close codes from the
//!   fixed set, reasons that fit a close frame).
//!
//! Input format (all integers little-endian; the input ends at the first short read):
//! `max_sequence_gap: u8, max_ahead_frames: u8`, then operations, each a tag byte (mod 7) and:
//! - 0 text: `len: u16`, `len` bytes;
//! - 1 binary: `advance_ms: u16, len: u16`, `len` bytes;
//! - 2 hello: `rate: u8` (index into the supported rates; ≥ 6 means `any_rate`), `any_rate: u32`,
//!   `token: u8` (0: none, n: the next n − 1 bytes);
//! - 3 mark: `len: u8`, `len` bytes of name;
//! - 4 cleared: `played_samples: u64`;
//! - 5 frame: `skip: u8, absolute: u8` (odd: use `seq`), `seq: u32, advance_ms: u16, n: u8`, then
//!   `n` samples cycled to fill exactly 20 ms at the hello's rate;
//! - 6 hangup.
#![no_main]

#[path = "../common/reader.rs"]
mod reader;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use libfuzzer_sys::fuzz_target;
use voicegate::audio::stream_resample::{OUTPUT_FRAME, SUPPORTED_RATES};
use voicegate::transport::browser::{
    BrowserDecoder, BrowserLimits, DecoderStats, FRAME_MS, Inbound, MAX_BINARY_FRAME, MAX_TEXT_FRAME, frame_samples,
};
use voicegate::transport::{CallerEvent, TransportError};

#[derive(Debug)]
enum Op {
    /// Any text frame.
    Text(String),
    /// Any binary frame, arriving `advance_ms` after the previous operation.
    Binary {
        bytes: Vec<u8>,
        advance_ms: u16,
    },
    /// A well-formed hello at one of the supported rates (or, for index ≥ 6, an arbitrary one).
    Hello {
        rate: u8,
        any_rate: u32,
        token: Option<String>,
    },
    /// A mark echo with this name.
    Mark(String),
    /// A `cleared` report.
    Cleared(u64),
    /// A binary frame of exactly 20 ms at the declared rate: sequence number `next + skip` (or an
    /// absolute one), samples repeated from `pcm`.
    Frame {
        skip: u8,
        absolute: Option<u32>,
        pcm: Vec<i16>,
        advance_ms: u16,
    },
    Hangup,
}

#[derive(Debug)]
struct Input {
    max_sequence_gap: u8,
    max_ahead_frames: u8,
    ops: Vec<Op>,
}

/// Most operations per input: a connection's worth, and it keeps executions fast.
const MAX_OPS: usize = 64;

fn read_input(data: &[u8]) -> Option<Input> {
    let mut r = reader::Reader::new(data);
    let mut input = Input {
        max_sequence_gap: r.u8()?,
        max_ahead_frames: r.u8()?,
        ops: Vec::new(),
    };
    while input.ops.len() < MAX_OPS {
        let Some(op) = read_op(&mut r) else { break };
        input.ops.push(op);
    }
    Some(input)
}

fn read_op(r: &mut reader::Reader<'_>) -> Option<Op> {
    Some(match r.u8()? % 7 {
        0 => {
            let len = r.u16()?;
            Op::Text(r.string(usize::from(len))?)
        }
        1 => {
            let advance_ms = r.u16()?;
            let len = r.u16()?;
            Op::Binary {
                bytes: r.bytes(usize::from(len))?.to_vec(),
                advance_ms,
            }
        }
        2 => {
            let rate = r.u8()?;
            let any_rate = r.u32()?;
            let token = match r.u8()? {
                0 => None,
                n => Some(r.string(usize::from(n) - 1)?),
            };
            Op::Hello { rate, any_rate, token }
        }
        3 => {
            let len = r.u8()?;
            Op::Mark(r.string(usize::from(len))?)
        }
        4 => Op::Cleared(r.u64()?),
        5 => {
            let skip = r.u8()?;
            let absolute = r.u8()? % 2 == 1;
            let seq = r.u32()?;
            let advance_ms = r.u16()?;
            let n = r.u8()?;
            Op::Frame {
                skip,
                absolute: absolute.then_some(seq),
                pcm: r.samples(usize::from(n))?,
                advance_ms,
            }
        }
        _ => Op::Hangup,
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = read_input(data) else { return };
    let limits = BrowserLimits {
        max_sequence_gap: u32::from(input.max_sequence_gap),
        max_ahead_frames: u64::from(input.max_ahead_frames),
    };
    let mut d = BrowserDecoder::new(limits);
    let mut now_ms: u64 = 1_000;
    let mut hello_rate: Option<u32> = None;
    // Sequence number the decoder expects next, mirrored from what it accepted.
    let mut next_seq: u32 = 0;
    // Audio emitted so far, in 24 kHz samples.
    let mut emitted: u64 = 0;
    let mut want_stats = DecoderStats::default();
    // When sequence 0 "arrived" (fixed at the first accepted frame).
    let mut origin_ms: Option<i64> = None;

    for op in input.ops {
        match op {
            Op::Text(text) => {
                let result = d.text(&text);
                if text.len() > MAX_TEXT_FRAME {
                    assert!(matches!(result, Err(TransportError::OversizedFrame)));
                }
                check_text(result, &mut hello_rate, &d);
            }
            Op::Hello { rate, any_rate, token } => {
                let rate = SUPPORTED_RATES.get(usize::from(rate)).copied().unwrap_or(any_rate);
                let mut hello = serde_json::json!({"type": "hello", "sample_rate": rate, "format": "pcm16le"});
                if let Some(t) = token {
                    hello["token"] = t.into();
                }
                let was_streaming = hello_rate.is_some();
                let result = d.text(&hello.to_string());
                if was_streaming {
                    assert!(matches!(result, Err(TransportError::DuplicateHello)), "{result:?}");
                }
                check_text(result, &mut hello_rate, &d);
            }
            Op::Mark(name) => {
                let result = d.text(&serde_json::json!({"type": "mark", "name": name}).to_string());
                if let Ok(Inbound::Event(CallerEvent::MarkPlayed(back))) = &result {
                    assert_eq!(back, &name);
                }
                check_text(result, &mut hello_rate, &d);
            }
            Op::Cleared(n) => {
                let result = d.text(&format!(r#"{{"type":"cleared","played_samples":{n}}}"#));
                match &result {
                    Ok(Inbound::Event(CallerEvent::Cleared { played_samples })) => assert_eq!(*played_samples, n),
                    _ => assert!(hello_rate.is_none(), "cleared refused while streaming: {result:?}"),
                }
                check_text(result, &mut hello_rate, &d);
            }
            Op::Hangup => {
                let result = d.text(r#"{"type":"hangup"}"#);
                assert!(matches!(result, Ok(Inbound::Event(CallerEvent::Hangup))));
            }
            Op::Binary { bytes, advance_ms } => {
                now_ms += u64::from(advance_ms);
                let result = d.binary(&bytes, now_ms);
                if bytes.len() > MAX_BINARY_FRAME {
                    assert!(matches!(result, Err(TransportError::OversizedFrame)));
                }
                if hello_rate.is_none() {
                    assert!(result.is_err());
                }
                let accepted_seq = bytes.get(..4).map(|h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]));
                check_audio(
                    result,
                    accepted_seq,
                    now_ms,
                    &limits,
                    &mut next_seq,
                    &mut emitted,
                    &mut want_stats,
                    &mut origin_ms,
                );
            }
            Op::Frame {
                skip,
                absolute,
                pcm,
                advance_ms,
            } => {
                let Some(rate) = hello_rate else { continue };
                now_ms += u64::from(advance_ms);
                let seq = absolute.unwrap_or_else(|| next_seq.saturating_add(u32::from(skip)));
                let mut frame = seq.to_le_bytes().to_vec();
                let n = frame_samples(rate);
                frame.extend((0..n).flat_map(|i| {
                    let s = if pcm.is_empty() { 0 } else { pcm[i % pcm.len()] };
                    s.to_le_bytes()
                }));
                let result = d.binary(&frame, now_ms);
                if let Err(e) = &result {
                    // The length is right, so only the sequence or pace can be wrong.
                    assert!(
                        matches!(
                            e,
                            TransportError::SequenceBackwards | TransportError::SequenceGap(_) | TransportError::Flood
                        ),
                        "{e}"
                    );
                }
                check_audio(
                    result,
                    Some(seq),
                    now_ms,
                    &limits,
                    &mut next_seq,
                    &mut emitted,
                    &mut want_stats,
                    &mut origin_ms,
                );
            }
        }
        assert_eq!(d.stats(), want_stats);
        assert_eq!(d.sample_rate(), hello_rate);
    }
});

fn check_text(result: Result<Inbound, TransportError>, hello_rate: &mut Option<u32>, d: &BrowserDecoder) {
    match result {
        Ok(Inbound::Hello(h)) => {
            assert!(hello_rate.is_none(), "second hello accepted");
            assert!(SUPPORTED_RATES.contains(&h.sample_rate), "{}", h.sample_rate);
            assert!(h.token.as_ref().is_none_or(|t| !t.0.is_empty() && t.0.len() <= 1024));
            assert_eq!(d.sample_rate(), Some(h.sample_rate));
            *hello_rate = Some(h.sample_rate);
        }
        Ok(Inbound::Event(CallerEvent::MarkPlayed(name))) => {
            assert!(hello_rate.is_some(), "mark before hello");
            assert!(!name.is_empty() && name.len() <= 128);
        }
        Ok(Inbound::Event(CallerEvent::Cleared { .. })) => assert!(hello_rate.is_some(), "cleared before hello"),
        Ok(Inbound::Event(CallerEvent::Hangup)) => {}
        Ok(Inbound::Event(other)) => panic!("a text frame produced {other:?}"),
        Err(e) => check_error(&e),
    }
}

#[allow(clippy::too_many_arguments)]
fn check_audio(
    result: Result<CallerEvent, TransportError>,
    seq: Option<u32>,
    now_ms: u64,
    limits: &BrowserLimits,
    next_seq: &mut u32,
    emitted: &mut u64,
    stats: &mut DecoderStats,
    origin_ms: &mut Option<i64>,
) {
    let audio = match result {
        Ok(CallerEvent::Audio(a)) => a,
        Ok(other) => panic!("a binary frame produced {other:?}"),
        Err(e) => {
            check_error(&e);
            return;
        }
    };
    let seq = seq.expect("accepted frame has a header");
    let gap = seq
        .checked_sub(*next_seq)
        .expect("accepted a backwards sequence number");
    assert!(gap <= limits.max_sequence_gap, "gap {gap} accepted");
    assert_eq!(audio.samples.len(), (gap as usize + 1) * OUTPUT_FRAME);
    assert!(
        audio.samples[..gap as usize * OUTPUT_FRAME].iter().all(|&s| s == 0),
        "gap not silent"
    );
    // Contiguous media clock: this frame starts where the audio so far ends.
    assert_eq!(audio.timestamp_ms, *emitted / 24, "timestamp off the media clock");
    assert_eq!(audio.timestamp_ms, u64::from(*next_seq) * FRAME_MS);
    let pcm = B64.decode(&audio.upstream_b64).expect("upstream base64 decodes");
    let le: Vec<u8> = audio.samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    assert_eq!(pcm, le, "upstream bytes differ from the recorder's samples");
    // The pace rule, recomputed: the frame's end is at most max_ahead_frames ahead of real time.
    let media_ms = i64::from(seq) * FRAME_MS as i64;
    let origin = *origin_ms.get_or_insert(now_ms as i64 - media_ms);
    let ahead = media_ms + FRAME_MS as i64 - (now_ms as i64 - origin);
    assert!(
        ahead <= limits.max_ahead_frames as i64 * FRAME_MS as i64,
        "{ahead} ms ahead accepted"
    );

    *emitted += audio.samples.len() as u64;
    *next_seq = seq + 1;
    stats.frames += 1;
    if gap > 0 {
        stats.gaps += 1;
        stats.missing_frames += u64::from(gap);
    }
}

fn check_error(e: &TransportError) {
    assert!(matches!(e.close_code(), 1003 | 1007 | 1008 | 1009 | 1011), "{e}");
    assert!(e.close_reason().len() <= 123);
}
