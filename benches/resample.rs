//! Cost of resampling one 20 ms browser microphone frame to 24 kHz (run:
//! `cargo bench --bench resample`).
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

criterion_group!(benches, per_frame);
criterion_main!(benches);
