//! G.711 μ-law (PCMU), as Twilio and the `audio/pcmu` upstream format use it.
//!
//! Encoding follows the biased 16-bit formulation in `../shared/protocols/twilio-media-streams.md`
//! §6 (clip to 32635, bias 0x84, segment = highest set bit); decoding is a 256-entry table built at
//! compile time so the per-frame cost is one lookup per sample.

/// Decoded value of every μ-law byte.
static DECODE: [i16; 256] = build_decode_table();

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        let b = !(i as u8);
        let sign = b & 0x80;
        let exponent = ((b >> 4) & 0x07) as i32;
        let mantissa = (b & 0x0F) as i32;
        let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
        table[i] = if sign != 0 { -magnitude as i16 } else { magnitude as i16 };
        i += 1;
    }
    table
}

/// One μ-law byte to linear PCM.
#[inline]
pub fn decode(byte: u8) -> i16 {
    DECODE[byte as usize]
}

/// One linear sample to μ-law.
#[inline]
pub fn encode(sample: i16) -> u8 {
    let x = i32::from(sample);
    let sign: i32 = if x < 0 { 0x80 } else { 0 };
    let magnitude = x.unsigned_abs().min(32635) as i32 + 0x84;
    // magnitude is in 132..=32767, so the highest set bit is 7..=14.
    let exponent = (31 - magnitude.leading_zeros() as i32) - 7;
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Decode a buffer, appending to `out` (no allocation when `out` has capacity).
pub fn decode_into(bytes: &[u8], out: &mut Vec<i16>) {
    out.extend(bytes.iter().map(|&b| decode(b)));
}

/// Encode a buffer, appending to `out`.
pub fn encode_into(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&s| encode(s)));
}

/// μ-law silence.
pub const SILENCE: u8 = 0xFF;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_points_from_the_notes() {
        assert_eq!(encode(0), 0xFF);
        assert_eq!(encode(32767), 0x80);
        assert_eq!(encode(-32768), 0x00);
        assert_eq!(decode(0xFF), 0);
        assert_eq!(decode(0x7F), 0);
        assert_eq!(decode(0x80), 32124);
        assert_eq!(decode(0x00), -32124);
    }

    #[test]
    fn every_byte_survives_decode_then_encode() {
        for b in 0..=255u8 {
            let back = encode(decode(b));
            // 0x7F is negative zero and re-encodes as positive zero (0xFF).
            if b == 0x7F {
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, b, "byte {b:#04x}");
            }
        }
    }

    #[test]
    fn encoding_error_stays_within_one_step() {
        for x in (i16::MIN..=i16::MAX).step_by(7) {
            let y = decode(encode(x));
            let err = (i32::from(x) - i32::from(y)).abs();
            // The step size of the top segment is 1024 (plus clipping at 32635).
            assert!(err <= 1024 + 132, "x={x} y={y}");
        }
    }
}
