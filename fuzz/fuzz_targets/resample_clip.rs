//! The offline prompt resampler (`resample_clip`): arbitrary PCM16 clips between the rates prompts
//! come in and go out at.
//!
//! It runs once per prompt at start-up, on our own assets, so this target is about robustness of the
//! rubato set-up rather than hostile input. It is slow per execution (each call builds a 256-tap,
//! 128× oversampled sinc table), so runs are bounded to short clips.
//!
//! Properties, beyond "never panics" and "never errors for these rates":
//! - same rate or empty input is returned unchanged;
//! - the output length is the input's duration at the new rate, within 2 samples;
//! - every output sample is finite, and silence stays silence.
//!
//! Input format: `from: u8, to: u8` (indices into the rates below, mod 6), then PCM16 LE samples.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voicegate::audio::resample::resample_clip;

/// Rates prompts are rendered at and converted to (assets, Twilio's 8 kHz, the upstream's 24 kHz).
const RATES: [u32; 6] = [8_000, 16_000, 22_050, 24_000, 44_100, 48_000];

/// Longest clip per execution, in samples (about 20 ms at 48 kHz): longer clips only repeat the
/// same block loop, and the set-up dominates anyway.
const MAX_LEN: usize = 1_024;

fuzz_target!(|data: &[u8]| {
    let [from, to, pcm @ ..] = data else { return };
    let from = RATES[usize::from(*from) % RATES.len()];
    let to = RATES[usize::from(*to) % RATES.len()];
    let clip: Vec<f32> = pcm
        .chunks_exact(2)
        .take(MAX_LEN)
        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect();
    let out = resample_clip(&clip, from, to).expect("supported rates convert");
    if from == to || clip.is_empty() {
        assert_eq!(out, clip);
        return;
    }
    let want = clip.len() as f64 * f64::from(to) / f64::from(from);
    assert!(
        (out.len() as f64 - want).abs() <= 2.0,
        "{} samples at {from} Hz → {} at {to} Hz (want ≈ {want:.1})",
        clip.len(),
        out.len()
    );
    assert!(out.iter().all(|y| y.is_finite()), "non-finite output");
    if clip.iter().all(|&x| x == 0.0) {
        assert!(out.iter().all(|&y| y == 0.0), "silence came out as noise");
    }
});
