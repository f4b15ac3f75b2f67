//! G.711 μ-law: arbitrary bytes as μ-law and as PCM16 through `decode_into` / `encode_into`.
//!
//! Properties (the codec is total, so these are the whole point):
//! - bytes → decode → encode gives the same bytes back, except negative zero (0x7F), which
//!   re-encodes as positive zero (0xFF); lengths are preserved both ways;
//! - decode → encode → decode is the identity on decoded values (every table value is a code point);
//! - samples → encode → decode stays within half a quantisation step of the input (clipped at ±32635),
//!   keeps the sign, and is monotonic: a larger input never decodes to a smaller value;
//! - the buffer helpers agree with the per-sample functions and only append.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voicegate::audio::mulaw;

fuzz_target!(|data: &[u8]| {
    // As μ-law bytes.
    let mut pcm = vec![7i16];
    mulaw::decode_into(data, &mut pcm);
    assert_eq!(pcm.len(), data.len() + 1);
    assert_eq!(pcm[0], 7, "decode_into must append");
    let pcm = &pcm[1..];
    let mut back = Vec::with_capacity(data.len());
    mulaw::encode_into(pcm, &mut back);
    assert_eq!(back.len(), data.len());
    for ((&b, &s), &e) in data.iter().zip(pcm).zip(&back) {
        assert_eq!(s, mulaw::decode(b));
        let want = if b == 0x7F { 0xFF } else { b };
        assert_eq!(e, want, "byte {b:#04x} → {s} → {e:#04x}");
        assert_eq!(mulaw::decode(e), s);
    }

    // As PCM16 little-endian samples.
    let samples: Vec<i16> = data.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    let mut coded = Vec::new();
    mulaw::encode_into(&samples, &mut coded);
    assert_eq!(coded.len(), samples.len());
    for (&x, &c) in samples.iter().zip(&coded) {
        assert_eq!(c, mulaw::encode(x));
        let y = mulaw::decode(c);
        let clipped = i32::from(x).clamp(-32635, 32635);
        // Steps in segment e are 2^(e+3) wide and the decoder reconstructs at their midpoint, so
        // the error is at most half a step of the segment the (clipped) value falls in.
        let half_step = 1i32 << (segment(clipped) + 2);
        let err = (clipped - i32::from(y)).abs();
        assert!(err <= half_step, "x={x} y={y} err={err} half step={half_step}");
        assert!(i32::from(y) * clipped >= 0, "sign flipped: x={x} y={y}");
    }
    for w in samples.windows(2) {
        let (a, b) = (w[0].min(w[1]), w[0].max(w[1]));
        assert!(
            mulaw::decode(mulaw::encode(a)) <= mulaw::decode(mulaw::encode(b)),
            "not monotonic: {a} {b}"
        );
    }
});

/// The μ-law segment (exponent) of a clipped magnitude, as the notes define it.
fn segment(x: i32) -> u32 {
    let m = (x.unsigned_abs() + 0x84) as u32;
    (31 - m.leading_zeros()) - 7
}
