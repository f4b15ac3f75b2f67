//! Streaming, per-frame conversion of a browser microphone (48 kHz, 44.1 kHz, …) to the upstream's
//! 24 kHz PCM16.
//!
//! Owns: one caller's resampler state, carried from one 20 ms frame to the next, and every buffer
//! the per-frame path touches (allocated once in [`MicResampler::new`]). Does not own: framing,
//! sequence numbers or sizes on the wire (`transport::browser` checks those), nor the prompts'
//! offline conversion (`audio::resample`).
//!
//! # Why rubato's FFT resampler, and these parameters
//! Every supported rate is a rational multiple of 24 kHz with a small denominator, so the
//! synchronous [`rubato::Fft`] resampler fits exactly: with `FixedSync::Input`, one FFT block per
//! 20 ms frame (`sub_chunks = 1`), its block sizes come out as one frame in and **exactly 480
//! samples out** for every rate (48 000: 960→480; 44 100: 882→480, since gcd(44100, 24000) = 300
//! gives minimum blocks of 147 in / 80 out and 882 = 6 × 147; 32 000: 640→480; 22 050: 441→480;
//! 16 000: 320→480). So each frame yields one full output frame, with no partial blocks held back.
//! - **Band limit.** The anti-alias filter is a windowed sinc as long as the input block (960 taps
//!   at 48 kHz), applied by overlap-add in the frequency domain. The window is `BlackmanHarris2`
//!   (rubato's default, and its highest-attenuation window: its side lobes sit far below the
//!   16-bit noise floor), and rubato places the cutoff so the transition band ends at the output
//!   Nyquist: about 11.6 kHz for every rate here, so speech (≤ 8 kHz) is untouched and nothing
//!   above 12 kHz folds back. The tests check > 60 dB SNR for tones up to 10 kHz and < −60 dB for
//!   15 and 20 kHz (measured margins are far larger; see the test output).
//! - **Delay.** Half an output block: 240 samples = 10 ms at 24 kHz, fixed for the life of the
//!   stream ([`MicResampler::delay_samples`]). Two frames per block would sharpen the filter but
//!   add 10 ms of latency and make the output bursty (nothing, then two frames); splitting a
//!   frame into sub-blocks would lower the delay but move the cutoff down towards speech.
//! - **Cost.** Two real FFTs of 2 × block size per frame; see `benches/resample.rs`.
//!
//! # Allocation
//! After [`MicResampler::new`], [`MicResampler::process`] allocates nothing: rubato's `Fft` works
//! in scratch buffers it sized at construction (its `process_into_buffer` with no `Indexing`
//! touches only those), the adapters wrap our own preallocated slices, and the i16↔f32
//! conversions write into buffers sized here. `tests/resample_alloc.rs` proves it with a counting
//! global allocator.

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

/// The rate every browser caller is converted to: the upstream's `pcm16` input rate.
pub const OUTPUT_RATE: u32 = 24_000;

/// Samples in one 20 ms output frame at [`OUTPUT_RATE`].
pub const OUTPUT_FRAME: usize = 480;

/// Microphone rates a page may declare. 48 000 and 44 100 are what `AudioContext`s run at on real
/// hardware; the others are what a page gets when it asks for a specific context rate (Chromium
/// honours it), and 24 000 passes through untouched.
pub const SUPPORTED_RATES: [u32; 6] = [48_000, 44_100, 32_000, 24_000, 22_050, 16_000];

/// Why a resampler could not be built or run. Not retryable: the rate or frame is wrong.
#[derive(Debug, thiserror::Error)]
pub enum StreamResampleError {
    /// The rate is not in [`SUPPORTED_RATES`].
    #[error("unsupported microphone rate {0} Hz")]
    UnsupportedRate(u32),
    /// A frame was not exactly 20 ms at the declared rate.
    #[error("frame of {got} samples; expected {want}")]
    FrameLength { got: usize, want: usize },
    /// rubato refused its own configuration (a bug here, not bad input).
    #[error("resampler setup failed")]
    Setup,
}

/// Samples in 20 ms at `rate` (all supported rates divide evenly by 50).
pub fn frame_samples(rate: u32) -> usize {
    (rate / 50) as usize
}

/// Streaming converter of one microphone to 24 kHz, one 20 ms frame at a time.
pub struct MicResampler {
    rate: u32,
    /// Input samples per frame at `rate`.
    frame_in: usize,
    /// `None` at 24 kHz: frames pass through untouched.
    fft: Option<Fft<f32>>,
    /// The current frame as f32 in [-1, 1), rubato's input (capacity: one frame).
    in_f32: Vec<f32>,
    /// rubato's output for the frame (capacity: one output frame).
    out_f32: Vec<f32>,
    /// The converted frame handed back to the caller (capacity: one output frame).
    out_i16: Vec<i16>,
}

impl std::fmt::Debug for MicResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicResampler")
            .field("rate", &self.rate)
            .field("frame_in", &self.frame_in)
            .finish_non_exhaustive()
    }
}

impl MicResampler {
    /// A resampler for 20 ms frames at `rate` Hz.
    ///
    /// # Errors
    /// [`StreamResampleError::UnsupportedRate`] for a rate outside [`SUPPORTED_RATES`].
    pub fn new(rate: u32) -> Result<MicResampler, StreamResampleError> {
        if !SUPPORTED_RATES.contains(&rate) {
            return Err(StreamResampleError::UnsupportedRate(rate));
        }
        let frame_in = frame_samples(rate);
        let fft = if rate == OUTPUT_RATE {
            None
        } else {
            let fft = Fft::<f32>::new_custom(
                rate as usize,
                OUTPUT_RATE as usize,
                frame_in,
                1,
                1,
                WindowFunction::BlackmanHarris2,
                FixedSync::Input,
            )
            .map_err(|_| StreamResampleError::Setup)?;
            // The one-frame-in, one-frame-out property the module doc relies on.
            if fft.input_frames_next() != frame_in || fft.output_frames_next() != OUTPUT_FRAME {
                return Err(StreamResampleError::Setup);
            }
            Some(fft)
        };
        Ok(MicResampler {
            rate,
            frame_in,
            fft,
            in_f32: vec![0.0; frame_in],
            out_f32: vec![0.0; OUTPUT_FRAME],
            out_i16: vec![0; OUTPUT_FRAME],
        })
    }

    /// The declared microphone rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Input samples per 20 ms frame at the declared rate (882 at 44.1 kHz).
    pub fn frame_samples(&self) -> usize {
        self.frame_in
    }

    /// Fixed delay of the output behind the input, in 24 kHz samples: output sample `n` is the
    /// input signal at time `(n - delay_samples()) / 24000` s. 240 (10 ms) when resampling (239 at
    /// 22 050 Hz, see [`Self::delay_secs`]), 0 when passing through.
    pub fn delay_samples(&self) -> usize {
        (self.delay_secs() * f64::from(OUTPUT_RATE)).round() as usize
    }

    /// The exact delay in seconds. Equal to `delay_samples() / 24000` for every rate except
    /// 22 050 Hz, whose 441-sample block has its filter centre on input sample 220, so the delay
    /// is 220 / 22050 s = 239.46 output samples (`delay_samples()` rounds it to 239).
    pub fn delay_secs(&self) -> f64 {
        self.fft
            .as_ref()
            .map_or(0.0, |f| (f.fft_size_in() / 2) as f64 / f64::from(self.rate))
    }

    /// Convert one 20 ms frame; the 480 returned samples are valid until the next call.
    ///
    /// # Errors
    /// [`StreamResampleError::FrameLength`] unless `frame` is exactly [`Self::frame_samples`] long.
    pub fn process(&mut self, frame: &[i16]) -> Result<&[i16], StreamResampleError> {
        self.check_len(frame.len())?;
        if self.fft.is_none() {
            self.out_i16.copy_from_slice(frame);
            return Ok(&self.out_i16);
        }
        for (dst, &s) in self.in_f32.iter_mut().zip(frame) {
            *dst = f32::from(s) / 32768.0;
        }
        self.run()
    }

    /// [`Self::process`] straight from the wire: `bytes` is PCM16 little-endian.
    ///
    /// # Errors
    /// [`StreamResampleError::FrameLength`] unless `bytes` is exactly one frame (odd lengths too).
    pub fn process_le_bytes(&mut self, bytes: &[u8]) -> Result<&[i16], StreamResampleError> {
        if !bytes.len().is_multiple_of(2) {
            return Err(StreamResampleError::FrameLength {
                got: bytes.len() / 2,
                want: self.frame_in,
            });
        }
        self.check_len(bytes.len() / 2)?;
        let samples = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]));
        if self.fft.is_none() {
            for (dst, s) in self.out_i16.iter_mut().zip(samples) {
                *dst = s;
            }
            return Ok(&self.out_i16);
        }
        for (dst, s) in self.in_f32.iter_mut().zip(samples) {
            *dst = f32::from(s) / 32768.0;
        }
        self.run()
    }

    fn check_len(&self, got: usize) -> Result<(), StreamResampleError> {
        if got == self.frame_in {
            Ok(())
        } else {
            Err(StreamResampleError::FrameLength {
                got,
                want: self.frame_in,
            })
        }
    }

    /// Resample `in_f32` into `out_i16`.
    fn run(&mut self) -> Result<&[i16], StreamResampleError> {
        let Some(fft) = self.fft.as_mut() else {
            return Err(StreamResampleError::Setup);
        };
        // Both adapters wrap buffers sized in `new`, so neither constructor can fail in practice.
        let input = SequentialSlice::new(&self.in_f32, 1, self.frame_in).map_err(|_| StreamResampleError::Setup)?;
        let mut output =
            SequentialSlice::new_mut(&mut self.out_f32, 1, OUTPUT_FRAME).map_err(|_| StreamResampleError::Setup)?;
        let (_, written) = fft
            .process_into_buffer(&input, &mut output, None)
            .map_err(|_| StreamResampleError::Setup)?;
        if written != OUTPUT_FRAME {
            return Err(StreamResampleError::Setup);
        }
        for (dst, &x) in self.out_i16.iter_mut().zip(&self.out_f32) {
            // Round to nearest and saturate: a full-scale input can overshoot slightly (Gibbs).
            *dst = (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        }
        Ok(&self.out_i16)
    }

    /// Capacities of the per-frame buffers (for tests: they must never grow).
    #[cfg(test)]
    fn capacities(&self) -> [usize; 3] {
        [self.in_f32.capacity(), self.out_f32.capacity(), self.out_i16.capacity()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `frames` 20 ms frames of a sine at `freq` Hz and amplitude `amp` (of full scale), sampled at `rate`.
    fn tone(rate: u32, freq: f64, amp: f64, frames: usize) -> Vec<i16> {
        let n = frame_samples(rate) * frames;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (amp * 32767.0 * (std::f64::consts::TAU * freq * t).sin()).round() as i16
            })
            .collect()
    }

    /// Run a whole signal through frame by frame and collect the output.
    fn run(rate: u32, input: &[i16]) -> (Vec<i16>, usize) {
        let mut r = MicResampler::new(rate).unwrap();
        let mut out = Vec::new();
        for frame in input.chunks(r.frame_samples()) {
            out.extend_from_slice(r.process(frame).unwrap());
        }
        (out, r.delay_samples())
    }

    /// SNR in dB of `out` against the ideal 24 kHz sine, after the fixed delay and a settling margin.
    fn snr_db(out: &[i16], delay: usize, freq: f64, amp: f64) -> f64 {
        snr_db_exact(out, delay as f64 / f64::from(OUTPUT_RATE), freq, amp)
    }

    /// [`snr_db`] with the delay in seconds.
    fn snr_db_exact(out: &[i16], delay_secs: f64, freq: f64, amp: f64) -> f64 {
        let (mut signal, mut noise) = (0f64, 0f64);
        // Skip the delay plus 10 ms of start-up transient, and the last frame.
        for (n, &y) in out.iter().enumerate().take(out.len() - OUTPUT_FRAME).skip(480) {
            let t = n as f64 / f64::from(OUTPUT_RATE) - delay_secs;
            let ideal = amp * 32767.0 * (std::f64::consts::TAU * freq * t).sin();
            signal += ideal * ideal;
            noise += (f64::from(y) - ideal).powi(2);
        }
        10.0 * (signal / noise.max(1e-12)).log10()
    }

    /// RMS level of the steady-state output relative to a full-scale sine, in dBFS.
    fn level_db(out: &[i16], delay: usize) -> f64 {
        let tail = &out[delay + 240..out.len() - OUTPUT_FRAME];
        let ms = tail.iter().map(|&y| f64::from(y).powi(2)).sum::<f64>() / tail.len() as f64;
        let full = 32767f64.powi(2) / 2.0;
        10.0 * (ms / full).max(1e-30).log10()
    }

    const SWEEP_HZ: [f64; 8] = [100.0, 300.0, 1000.0, 2500.0, 4000.0, 6000.0, 8000.0, 10_000.0];

    #[test]
    fn in_band_tones_keep_snr_above_60_db_from_48k_and_44k1() {
        for rate in [48_000, 44_100] {
            for f in SWEEP_HZ {
                let (out, delay) = run(rate, &tone(rate, f, 0.5, 50));
                let snr = snr_db(&out, delay, f, 0.5);
                println!("{rate} Hz → 24 kHz, {f} Hz: SNR {snr:.1} dB");
                assert!(snr > 60.0, "{rate} Hz, {f} Hz tone: SNR {snr:.1} dB");
            }
        }
    }

    #[test]
    fn upsampled_rates_keep_in_band_tones_too() {
        for (rate, top) in [(16_000, 6000.0), (22_050, 10_000.0), (32_000, 10_000.0)] {
            for f in [300.0, 1000.0, top] {
                let (out, _) = run(rate, &tone(rate, f, 0.5, 50));
                let delay = MicResampler::new(rate).unwrap().delay_secs();
                let snr = snr_db_exact(&out, delay, f, 0.5);
                assert!(snr > 60.0, "{rate} Hz, {f} Hz tone: SNR {snr:.1} dB");
            }
        }
    }

    #[test]
    fn tones_above_12_khz_do_not_alias() {
        for rate in [48_000, 44_100] {
            for f in [13_000.0, 15_000.0, 20_000.0] {
                let (out, delay) = run(rate, &tone(rate, f, 0.9, 50));
                let level = level_db(&out, delay);
                println!("{rate} Hz → 24 kHz, {f} Hz: {level:.1} dBFS");
                assert!(level < -60.0, "{rate} Hz, {f} Hz tone leaks at {level:.1} dBFS");
            }
        }
    }

    #[test]
    fn delay_is_ten_ms_for_every_resampled_rate_and_zero_for_24k() {
        for rate in SUPPORTED_RATES {
            let r = MicResampler::new(rate).unwrap();
            let want = match rate {
                OUTPUT_RATE => 0,
                22_050 => 239,
                _ => 240,
            };
            assert_eq!(r.delay_samples(), want, "{rate}");
        }
    }

    #[test]
    fn an_impulse_comes_out_at_the_declared_delay() {
        let mut input = vec![0i16; frame_samples(48_000) * 4];
        input[960] = 20_000; // the start of frame 1, i.e. 20 ms = 480 output samples
        let (out, delay) = run(48_000, &input);
        let peak = out
            .iter()
            .enumerate()
            .max_by_key(|(_, y)| y.unsigned_abs())
            .map(|(i, _)| i)
            .unwrap();
        assert_eq!(peak, 480 + delay);
    }

    #[test]
    fn twenty_four_khz_passes_through_unchanged() {
        let input = tone(24_000, 440.0, 0.5, 3);
        let (out, delay) = run(24_000, &input);
        assert_eq!((out, delay), (input, 0));
    }

    #[test]
    fn bytes_and_samples_give_the_same_output() {
        for rate in [44_100, 24_000] {
            let input = tone(rate, 1000.0, 0.3, 3);
            let mut a = MicResampler::new(rate).unwrap();
            let mut b = MicResampler::new(rate).unwrap();
            for frame in input.chunks(a.frame_samples()) {
                let bytes: Vec<u8> = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
                assert_eq!(a.process(frame).unwrap(), b.process_le_bytes(&bytes).unwrap());
            }
        }
    }

    #[test]
    fn wrong_rates_and_lengths_are_refused() {
        assert!(matches!(
            MicResampler::new(8000),
            Err(StreamResampleError::UnsupportedRate(8000))
        ));
        let mut r = MicResampler::new(44_100).unwrap();
        assert_eq!(r.frame_samples(), 882);
        assert!(matches!(
            r.process(&[0; 881]),
            Err(StreamResampleError::FrameLength { got: 881, want: 882 })
        ));
        assert!(matches!(
            r.process_le_bytes(&[0; 1763]),
            Err(StreamResampleError::FrameLength { .. })
        ));
        assert!(matches!(
            r.process_le_bytes(&[0; 1766]),
            Err(StreamResampleError::FrameLength { got: 883, .. })
        ));
        assert!(r.process_le_bytes(&[0; 1764]).is_ok());
    }

    #[test]
    fn buffers_never_grow() {
        for rate in SUPPORTED_RATES {
            let mut r = MicResampler::new(rate).unwrap();
            let before = r.capacities();
            let input = tone(rate, 1000.0, 0.5, 20);
            for frame in input.chunks(r.frame_samples()) {
                r.process(frame).unwrap();
            }
            assert_eq!(r.capacities(), before, "{rate}");
        }
    }

    #[test]
    fn full_scale_steps_saturate_instead_of_wrapping() {
        // 100 ms at +full scale, then 100 ms at -full scale: the step response overshoots (Gibbs),
        // and a wrapped sample would show up as the wrong sign right after each edge.
        let input: Vec<i16> = (0..48_000 / 5)
            .map(|i| if i < 4800 { i16::MAX } else { i16::MIN })
            .collect();
        let (out, delay) = run(48_000, &input);
        assert!(out[delay + 3..2400 + delay - 3].iter().all(|&y| y > 16_000));
        assert!(out[2400 + delay + 3..].iter().all(|&y| y < -16_000));
        assert!(
            out.contains(&i16::MAX) && out.contains(&i16::MIN),
            "overshoot was clamped"
        );
    }
}
