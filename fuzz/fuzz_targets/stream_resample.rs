//! The browser leg's streaming resampler (`MicResampler`): arbitrary i16 audio at any supported rate,
//! fed in arbitrarily sized chunks, some of them not one frame long.
//!
//! Properties, beyond "never panics":
//! - a chunk of the wrong length is refused with `FrameLength { got, want }` and leaves the state
//!   untouched, and `process` (samples) and `process_le_bytes` (wire bytes, odd lengths included)
//!   agree exactly: a resampler fed every chunk gives the same output as a second one that only
//!   ever saw the accepted frames, through the other entry point;
//! - every accepted frame gives exactly 480 samples (20 ms at 24 kHz); 24 kHz passes through bit
//!   for bit;
//! - silence stays silence: after enough all-zero frames to flush the filter, the output is exactly
//!   zero (no denormal noise or DC from the FFT path).
//!
//! Input format (integers little-endian; the input ends at the first short read): `rate: u8`
//! (index into the supported rates, mod 6), then chunks, each a tag byte (mod 4) and:
//! - 0 frame: `n: u8`, `n` samples cycled to exactly one frame; 1 one frame of silence;
//! - 2 any samples: `len: u16`, `len` samples; 3 wire bytes: `len: u16`, `len` bytes.
#![no_main]

#[path = "../common/reader.rs"]
mod reader;

use libfuzzer_sys::fuzz_target;
use voicegate::audio::stream_resample::{
    MicResampler, OUTPUT_FRAME, OUTPUT_RATE, SUPPORTED_RATES, StreamResampleError, frame_samples,
};

#[derive(Debug)]
enum Chunk {
    /// One frame of exactly the right length, its samples cycled from these.
    Frame(Vec<i16>),
    /// A frame of silence.
    Silence,
    /// Any chunk, most likely of the wrong length.
    Any(Vec<i16>),
    /// A chunk of wire bytes (odd lengths too).
    Bytes(Vec<u8>),
}

/// Most chunks per input.
const MAX_CHUNKS: usize = 24;

fn read_chunk(r: &mut reader::Reader<'_>) -> Option<Chunk> {
    Some(match r.u8()? % 4 {
        0 => {
            let n = r.u8()?;
            Chunk::Frame(r.samples(usize::from(n))?)
        }
        1 => Chunk::Silence,
        2 => {
            let len = r.u16()?;
            Chunk::Any(r.samples(usize::from(len))?)
        }
        _ => {
            let len = r.u16()?;
            Chunk::Bytes(r.bytes(usize::from(len))?.to_vec())
        }
    })
}

/// Zero frames after which the filter has forgotten everything before them (one FFT block of
/// overlap, plus one for margin).
const FLUSH_FRAMES: usize = 2;

fuzz_target!(|data: &[u8]| {
    let mut r = reader::Reader::new(data);
    let Some(rate) = r.u8() else { return };
    let rate = SUPPORTED_RATES[usize::from(rate) % SUPPORTED_RATES.len()];
    let n = frame_samples(rate);
    // `dirty` sees every chunk; `clean` only the accepted frames, each through the *other* entry
    // point (samples vs wire bytes). Equal outputs show both that refusals leave no trace and that
    // the two entry points agree.
    let mut dirty = MicResampler::new(rate).expect("supported rate");
    let mut clean = MicResampler::new(rate).expect("supported rate");
    assert_eq!(dirty.frame_samples(), n);
    let mut zero_run = 0usize;

    for chunk in std::iter::from_fn(|| read_chunk(&mut r)).take(MAX_CHUNKS) {
        let (frame, bytes, via_bytes) = match chunk {
            Chunk::Frame(pcm) => {
                let frame: Vec<i16> = (0..n)
                    .map(|i| if pcm.is_empty() { 0 } else { pcm[i % pcm.len()] })
                    .collect();
                let bytes = le_bytes(&frame);
                (frame, bytes, false)
            }
            Chunk::Silence => (vec![0; n], vec![0; 2 * n], false),
            Chunk::Any(pcm) => {
                let bytes = le_bytes(&pcm);
                (pcm, bytes, false)
            }
            // Straight from the wire, odd lengths included.
            Chunk::Bytes(bytes) => {
                let frame = bytes
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect();
                (frame, bytes, true)
            }
        };
        let got = if via_bytes {
            dirty.process_le_bytes(&bytes).map(<[i16]>::to_vec)
        } else {
            dirty.process(&frame).map(<[i16]>::to_vec)
        };
        if bytes.len() != 2 * n {
            let Err(StreamResampleError::FrameLength { got, want }) = got else {
                panic!("{} bytes accepted at {rate} Hz: {got:?}", bytes.len())
            };
            assert_eq!((got, want), (bytes.len() / 2, n));
            continue;
        }
        let got = got.expect("one frame is accepted");
        let want = if via_bytes {
            clean.process(&frame)
        } else {
            clean.process_le_bytes(&bytes)
        }
        .expect("one frame is accepted");
        assert_eq!(got, want, "a refused chunk changed the state, or bytes and samples disagree");
        zero_run = if frame.iter().all(|&s| s == 0) { zero_run + 1 } else { 0 };
        check_frame(rate, &frame, &got, zero_run);
    }
});

fn le_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn check_frame(rate: u32, input: &[i16], out: &[i16], zero_run: usize) {
    assert_eq!(out.len(), OUTPUT_FRAME);
    if rate == OUTPUT_RATE {
        assert_eq!(out, input, "24 kHz must pass through");
    }
    if zero_run > FLUSH_FRAMES {
        assert!(
            out.iter().all(|&s| s == 0),
            "silence came out as noise after {zero_run} silent frames"
        );
    }
}
