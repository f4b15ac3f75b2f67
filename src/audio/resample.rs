//! Offline sample-rate conversion for prompts (rubato, band-limited sinc).
//!
//! Prompts are converted once at start-up, so this favours quality over speed. The streaming
//! per-frame resampler of the browser leg lives with that transport.

use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType, WindowFunction};

/// Why a conversion failed (not retryable: the input or rates are wrong).
#[derive(Debug, thiserror::Error)]
#[error("resampling {from} Hz to {to} Hz failed: {why}")]
pub struct ResampleError {
    from: u32,
    to: u32,
    why: String,
}

/// Convert a whole mono clip from `from` Hz to `to` Hz.
///
/// # Errors
/// Rates rubato cannot handle.
pub fn resample_clip(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    let err = |why: String| ResampleError { from, to, why };
    let params = SincInterpolationParameters {
        sinc_len: 256,
        f_cutoff: Some(0.95),
        interpolation: SincInterpolationType::Cubic,
        oversampling_factor: 128,
        window: WindowFunction::BlackmanHarris2,
    };
    let mut resampler = Async::<f32>::new_sinc(
        f64::from(to) / f64::from(from),
        1.0,
        &params,
        1024,
        1,
        FixedAsync::Input,
    )
    .map_err(|e| err(e.to_string()))?;
    let data = vec![input.to_vec()];
    let adapter = SequentialSliceOfVecs::new(&data, 1, input.len()).map_err(|e| err(e.to_string()))?;
    let out = resampler
        .process_all(&adapter, input.len(), None)
        .map_err(|e| err(e.to_string()))?;
    Ok(out.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_keeps_its_frequency_and_length() {
        let from = 22050;
        let to = 8000;
        let tone: Vec<f32> = (0..from)
            .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / from as f32).sin() * 0.5)
            .collect();
        let out = resample_clip(&tone, from, to).unwrap();
        assert!((out.len() as i64 - i64::from(to)).abs() <= 2, "len {}", out.len());
        // Zero crossings of a 440 Hz tone over one second: 880 ± a few.
        let crossings = out.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
        assert!((870..=890).contains(&crossings), "{crossings}");
        let peak = out[100..out.len() - 100].iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!((0.45..0.55).contains(&peak), "{peak}");
    }
}
