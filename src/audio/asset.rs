//! Pre-rendered prompts: the recording disclosure every call opens with, and the red-flag scripts.
//!
//! These must play whatever the model does (the disclosure before any agent turn, while the
//! upstream is still connecting; a 911 script even if the model ignores it), so they cannot come
//! from the model. Each is rendered once at start-up from a WAV (a built-in rendering, or a
//! clinic's own file) into the formats the transports need. The built-in WAVs are made by
//! `assets/render.sh` (espeak-ng).

use std::path::Path;

use crate::audio::{mulaw, resample};

/// The default disclosure, spoken by espeak-ng from `call.disclosure_text`'s default.
const BUILTIN_DISCLOSURE_WAV: &[u8] = include_bytes!("../../assets/disclosure.wav");

/// Why a prompt could not be prepared (not retryable: the file is wrong).
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("prompt WAV could not be read: {0}")]
    Wav(#[from] hound::Error),
    #[error("prompt WAV must be mono 16-bit PCM, got {channels} channel(s) at {bits} bits")]
    Format { channels: u16, bits: u16 },
    #[error(transparent)]
    Resample(#[from] resample::ResampleError),
}

/// A prompt ready for every transport.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// Text of what is said (for transcripts and the call record).
    pub text: String,
    /// G.711 μ-law at 8 kHz, for Twilio legs.
    pub mulaw_8k: Vec<u8>,
    /// PCM16 at 24 kHz, for browser legs.
    pub pcm_24k: Vec<i16>,
}

impl Prompt {
    /// Load `wav` (or the built-in disclosure when None) and render it.
    ///
    /// # Errors
    /// An unreadable or non-mono-16-bit file.
    pub fn disclosure(text: &str, wav: Option<&Path>) -> Result<Prompt, AssetError> {
        match wav {
            Some(path) => Prompt::load(text, path),
            None => Prompt::builtin(text, BUILTIN_DISCLOSURE_WAV),
        }
    }

    /// Load a WAV file and render it.
    ///
    /// # Errors
    /// An unreadable or non-mono-16-bit file.
    pub fn load(text: &str, path: &Path) -> Result<Prompt, AssetError> {
        Prompt::render(text, read(hound::WavReader::open(path)?)?)
    }

    /// Render a WAV compiled into the binary.
    ///
    /// # Errors
    /// A malformed or non-mono-16-bit WAV.
    pub fn builtin(text: &str, wav: &[u8]) -> Result<Prompt, AssetError> {
        Prompt::render(text, read(hound::WavReader::new(std::io::Cursor::new(wav))?)?)
    }

    fn render(text: &str, (samples, rate): (Vec<f32>, u32)) -> Result<Prompt, AssetError> {
        let at_8k = resample::resample_clip(&samples, rate, 8000)?;
        let at_24k = resample::resample_clip(&samples, rate, 24000)?;
        let mut mulaw_8k = Vec::with_capacity(at_8k.len());
        mulaw::encode_into(&at_8k.iter().map(|&x| to_i16(x)).collect::<Vec<_>>(), &mut mulaw_8k);
        Ok(Prompt {
            text: text.to_owned(),
            mulaw_8k,
            pcm_24k: at_24k.iter().map(|&x| to_i16(x)).collect(),
        })
    }
}

fn read<R: std::io::Read>(reader: hound::WavReader<R>) -> Result<(Vec<f32>, u32), AssetError> {
    let spec = reader.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
        return Err(AssetError::Format {
            channels: spec.channels,
            bits: spec.bits_per_sample,
        });
    }
    let samples = reader
        .into_samples::<i16>()
        .map(|s| s.map(|v| f32::from(v) / 32768.0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((samples, spec.sample_rate))
}

fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_disclosure_renders_to_both_rates() {
        let p = Prompt::disclosure("x", None).unwrap();
        // About four seconds at each rate, and not silence.
        assert!((30_000..34_000).contains(&p.mulaw_8k.len()), "{}", p.mulaw_8k.len());
        assert!((90_000..100_000).contains(&p.pcm_24k.len()), "{}", p.pcm_24k.len());
        assert!(p.mulaw_8k.iter().filter(|&&b| b != mulaw::SILENCE).count() > 10_000);
    }

    #[test]
    fn stereo_prompt_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        w.write_sample(0i16).unwrap();
        w.write_sample(0i16).unwrap();
        w.finalize().unwrap();
        assert!(matches!(
            Prompt::disclosure("x", Some(&path)),
            Err(AssetError::Format { channels: 2, .. })
        ));
    }
}
