//! Per-20 ms-frame costs on the call's hot path (run: `cargo bench --bench frame_path`).
//!
//! Each benchmark is one frame's work: a Twilio `media` event decoded (JSON + base64), μ-law
//! decoded for the recorder and encoded, the `input_audio_buffer.append` built for the upstream, an
//! upstream `response.output_audio.delta` parsed, and the Twilio `media` rendered back.

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use criterion::{Criterion, criterion_group, criterion_main};
use voicegate::audio::mulaw;
use voicegate::realtime::events;
use voicegate::transport::twilio::codec::{self, Outbound};

fn frame() -> Vec<u8> {
    (0..160u32).map(|i| (i * 37 % 251) as u8).collect()
}

fn twilio_media_json(payload: &[u8]) -> String {
    format!(
        r#"{{"event":"media","sequenceNumber":"42","media":{{"track":"inbound","chunk":"41","timestamp":"820","payload":"{}"}},"streamSid":"MZ00000000000000000000000000000000"}}"#,
        B64.encode(payload)
    )
}

fn per_frame(c: &mut Criterion) {
    let payload = frame();
    let inbound = twilio_media_json(&payload);
    c.bench_function("twilio media decode (JSON + base64)", |b| {
        b.iter(|| codec::decode(black_box(&inbound)))
    });

    c.bench_function("mulaw decode 160 samples", |b| {
        let mut out = Vec::with_capacity(160);
        b.iter(|| {
            out.clear();
            mulaw::decode_into(black_box(&payload), &mut out);
        })
    });
    let pcm: Vec<i16> = payload.iter().map(|&b| mulaw::decode(b)).collect();
    c.bench_function("mulaw encode 160 samples", |b| {
        let mut out = Vec::with_capacity(160);
        b.iter(|| {
            out.clear();
            mulaw::encode_into(black_box(&pcm), &mut out);
        })
    });

    let b64 = B64.encode(&payload);
    c.bench_function("upstream append encode", |b| {
        b.iter(|| events::append(black_box(b64.clone())))
    });

    let delta = format!(
        r#"{{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"{}"}}"#,
        B64.encode([0x55u8; 800])
    );
    c.bench_function("upstream audio delta parse (100 ms)", |b| {
        b.iter(|| events::parse(black_box(&delta)))
    });

    let out = Outbound::new("MZ00000000000000000000000000000000");
    c.bench_function("twilio media render", |b| b.iter(|| out.media(black_box(&b64))));

    // The whole inbound path of one caller frame, minus the socket and channel hops.
    c.bench_function("caller frame: decode + recorder samples + append", |b| {
        let mut samples = Vec::with_capacity(160);
        b.iter(|| {
            let Ok(codec::Inbound::Media(frame)) = codec::decode(black_box(&inbound)) else {
                unreachable!()
            };
            samples.clear();
            mulaw::decode_into(&frame.mulaw, &mut samples);
            black_box(events::append(frame.payload_b64));
        })
    });
}

criterion_group!(benches, per_frame);
criterion_main!(benches);
