//! Cost of resampling one 20 ms browser microphone frame to 24 kHz, and of the reverse
//! direction (run: `cargo bench --bench resample`).
//!
//! Each iteration is one frame through a warmed-up [`MicResampler`], from little-endian wire bytes
//! to 480 samples at 24 kHz: the work the browser transport does per frame before base64.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use voicegate::audio::stream_resample::{MicResampler, frame_samples};

fn wire_frame(rate: u32) -> Vec<u8> {
    (0..frame_samples(rate))
        .map(|i| ((i as f64 * 0.05).sin() * 12_000.0) as i16)
        .flat_map(i16::to_le_bytes)
        .collect()
}

fn per_frame(c: &mut Criterion) {
    for (name, rate) in [
        ("resample 20 ms frame 48 kHz → 24 kHz", 48_000),
        ("resample 20 ms frame 44.1 kHz → 24 kHz", 44_100),
        ("resample 20 ms frame 16 kHz → 24 kHz", 16_000),
    ] {
        let mut resampler = MicResampler::new(rate).expect("supported rate");
        let frame = wire_frame(rate);
        c.bench_function(name, |b| {
            b.iter(|| {
                let out = resampler.process_le_bytes(black_box(&frame)).expect("one frame");
                black_box(out[0]);
            })
        });
    }
}

/// The other direction, 24 kHz agent audio → 48 kHz, with the same rubato FFT resampler and
/// window. voicegate does not run it: the page plays agent audio through an `AudioContext`
/// opened at 24 kHz and the browser converts to the output device. Measured so a client that
/// needed 48 kHz from the server would know the cost.
fn agent_upsample(c: &mut Criterion) {
    use rubato::audioadapter_buffers::direct::SequentialSlice;
    use rubato::{Fft, FixedSync, Resampler, WindowFunction};

    let mut fft = Fft::<f32>::new_custom(
        24_000,
        48_000,
        480,
        1,
        1,
        WindowFunction::BlackmanHarris2,
        FixedSync::Input,
    )
    .expect("24 kHz → 48 kHz resampler");
    assert_eq!((fft.input_frames_next(), fft.output_frames_next()), (480, 960));
    let input: Vec<f32> = (0..480).map(|i| (i as f32 * 0.05).sin() * 0.4).collect();
    let mut out = vec![0f32; 960];
    c.bench_function("resample 20 ms frame 24 kHz → 48 kHz", |b| {
        b.iter(|| {
            let inp = SequentialSlice::new(black_box(&input[..]), 1, 480).expect("input adapter");
            let mut outp = SequentialSlice::new_mut(&mut out[..], 1, 960).expect("output adapter");
            let (_, written) = fft.process_into_buffer(&inp, &mut outp, None).expect("one frame");
            black_box(written);
        })
    });
}

criterion_group!(benches, per_frame, agent_upsample);
criterion_main!(benches);
