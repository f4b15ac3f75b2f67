//! The per-call recorder: both legs on the call's media clock, spooled encrypted, one stereo WAV.
//!
//! The session sends every caller frame and agent chunk placed on the media clock, and the cut
//! point of each barge-in. The recorder keeps a short window in memory — caller audio can arrive
//! slightly out of order, and agent audio is placed ahead of "now" (it is queued at the caller)
//! and may still be cut by a barge-in — and flushes everything older than [`LOOKBEHIND_MS`] behind
//! the caller clock to an encrypted spool blob as interleaved PCM (left = caller, right = agent).
//! Memory per call is therefore bounded whatever the call's length.
//!
//! At the end the spool is turned into a WAV (header from hound, samples streamed from the spool,
//! never written in the clear), stored with its manifest in the blob store, and the spool removed.
//! A spool left by a crash is found at the next start ([`find_interrupted`]) and finalised
//! ([`finalise_interrupted`]), marked incomplete.

use std::collections::VecDeque;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::recording::{AudioChunk, Leg, RECORDER_QUEUE, RecorderStats};
use crate::storage::blob::{BlobError, BlobWriter, Blobs};

/// Caller audio up to this far behind the newest caller frame may still arrive (jitter, bursts);
/// it is also the deepest a barge-in cut is expected to reach back.
pub const LOOKBEHIND_MS: u64 = 2000;

/// Upper bound on the in-memory window (5 minutes of audio): agent audio queued further ahead than
/// this is flushed rather than held (it cannot be cut back any more, which is logged).
const MAX_WINDOW_MS: u64 = 300_000;

/// The window is spooled once this much is ready behind the look-behind, not on every chunk.
const DRAIN_BATCH_MS: u64 = 500;

/// Bytes per interleaved stereo frame of 16-bit samples.
const FRAME_BYTES: u64 = 4;

/// Blob key prefix of in-progress spools.
pub const SPOOL_PREFIX: &str = "recordings/spool/";

/// Blob key prefix of recordings waiting for their upload (the manifest input of each).
pub const OUTBOX_PREFIX: &str = "recordings/outbox/";

/// Upload attempts at call end before a recording is parked in the outbox.
const STORE_ATTEMPTS: u32 = 3;
/// First retry delay (doubles each time).
const STORE_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(500);

/// Recording failures (the session logs them; the audit record says what was stored).
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The blob store failed (retryable: the spool stays for the next start).
    #[error("recording storage failed")]
    Blob(#[from] BlobError),
    /// The recorder task ended abnormally.
    #[error("recorder task failed")]
    Task,
    /// A manifest could not be encoded (a bug).
    #[error("manifest could not be encoded")]
    Manifest(#[from] serde_json::Error),
    /// The WAV header could not be produced.
    #[error("WAV header could not be produced")]
    Wav(#[from] hound::Error),
}

/// The spool a finished recorder left.
#[derive(Debug, Clone)]
pub struct Spooled {
    pub key: String,
    pub sample_rate: u32,
    pub frames: u64,
    pub stats: RecorderStats,
}

/// A stored recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecording {
    pub wav_key: String,
    pub manifest_key: String,
    pub wav_sha256: String,
    pub sample_rate: u32,
    pub duration_ms: u64,
    /// Id of the key protecting it (the blob master key id locally; the KMS key with S3).
    pub key_id: String,
    pub incomplete: bool,
}

/// The two legs, from `base` on.
#[derive(Debug, Default)]
struct Window {
    base: u64,
    left: VecDeque<i16>,
    right: VecDeque<i16>,
    /// End of the newest caller frame.
    caller_end: u64,
    late_samples: u64,
}

impl Window {
    fn ensure(&mut self, end: u64) {
        let len = end.saturating_sub(self.base) as usize;
        if self.left.len() < len {
            self.left.resize(len, 0);
            self.right.resize(len, 0);
        }
    }

    fn put(&mut self, leg: Leg, at: u64, samples: &[i16]) {
        let skip = self.base.saturating_sub(at) as usize;
        if skip > 0 {
            self.late_samples += skip.min(samples.len()) as u64;
        }
        let Some(samples) = samples.get(skip..) else { return };
        let start = at.max(self.base);
        self.ensure(start + samples.len() as u64);
        let offset = (start - self.base) as usize;
        let channel = match leg {
            Leg::Caller => &mut self.left,
            Leg::Agent => &mut self.right,
        };
        for (i, s) in samples.iter().enumerate() {
            channel[offset + i] = *s;
        }
        if leg == Leg::Caller {
            self.caller_end = self.caller_end.max(start + samples.len() as u64);
        }
    }

    /// Agent audio from `at` on was flushed at the caller unplayed.
    fn cut_agent(&mut self, at: u64) {
        if at < self.base {
            tracing::warn!(
                behind = self.base - at,
                "barge-in cut reaches into audio already spooled"
            );
        }
        let from = at.saturating_sub(self.base) as usize;
        for s in self.right.iter_mut().skip(from) {
            *s = 0;
        }
    }

    /// Interleaved little-endian bytes of `[base, until)`, removed from the window.
    fn drain_until(&mut self, until: u64) -> Vec<u8> {
        let n = until.saturating_sub(self.base).min(self.left.len() as u64) as usize;
        let mut out = vec![0u8; n * FRAME_BYTES as usize];
        // Both channels were resized together, so their ring buffers split at the same index
        // only if they started aligned; interleave from plain indices to stay correct either way.
        let (l0, l1) = self.left.as_slices();
        let (r0, r1) = self.right.as_slices();
        let left = l0.iter().chain(l1).take(n);
        let right = r0.iter().chain(r1).take(n);
        for ((frame, l), r) in out.chunks_exact_mut(FRAME_BYTES as usize).zip(left).zip(right) {
            frame[..2].copy_from_slice(&l.to_le_bytes());
            frame[2..].copy_from_slice(&r.to_le_bytes());
        }
        self.left.drain(..n);
        self.right.drain(..n);
        self.base += n as u64;
        out
    }

    fn end(&self) -> u64 {
        self.base + self.left.len() as u64
    }
}

/// Handle to one call's recorder task.
#[derive(Debug)]
pub struct RecorderHandle {
    pub tx: mpsc::Sender<AudioChunk>,
    task: tokio::task::JoinHandle<Result<Spooled, RecordingError>>,
    stores: Stores,
}

/// Where a recorder writes: the spool (and outbox) always in the local encrypted folder, which
/// survives a crash; the finished recording in the configured store (local or S3 + KMS).
#[derive(Debug, Clone)]
pub struct Stores {
    pub local: Blobs,
    pub store: Blobs,
}

impl RecorderHandle {
    /// Start recording `call_id` at `sample_rate` (the caller leg's native rate).
    pub fn spawn(stores: Stores, call_id: &str, sample_rate: u32) -> RecorderHandle {
        let (tx, rx) = mpsc::channel(RECORDER_QUEUE);
        let key = format!("{SPOOL_PREFIX}{call_id}-{sample_rate}.pcm");
        let task = tokio::spawn(run(stores.local.clone(), key, sample_rate, rx));
        RecorderHandle { tx, task, stores }
    }

    /// Close the channel, let the recorder spool everything, then store the WAV and manifest.
    ///
    /// # Errors
    /// The spool or the blob store failed; a spool that exists is finalised at the next start.
    pub async fn finish(self, manifest: ManifestInput) -> Result<(StoredRecording, RecorderStats), RecordingError> {
        let RecorderHandle { tx, task, stores } = self;
        drop(tx);
        let spooled = task.await.map_err(|_| RecordingError::Task)??;
        let stats = spooled.stats.clone();
        // Retry with backoff; if the store stays unavailable, park the call in the local outbox
        // (the spool stays, encrypted) for the background retry and the next start.
        let mut delay = STORE_RETRY_FIRST;
        for attempt in 1..=STORE_ATTEMPTS {
            match store(&stores, &spooled, manifest.clone(), false).await {
                Ok(stored) => return Ok((stored, stats)),
                Err(RecordingError::Blob(e)) if e.is_retryable() && attempt < STORE_ATTEMPTS => {
                    tracing::warn!(attempt, error.message = %e, "recording upload failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    park_in_outbox(&stores.local, &spooled, &manifest).await?;
                    return Err(e);
                }
            }
        }
        Err(RecordingError::Task)
    }
}

async fn run(
    blobs: Blobs,
    key: String,
    sample_rate: u32,
    mut rx: mpsc::Receiver<AudioChunk>,
) -> Result<Spooled, RecordingError> {
    let mut writer: BlobWriter = blobs.create_writer(&key).await?;
    let lookbehind = LOOKBEHIND_MS * u64::from(sample_rate) / 1000;
    let max_window = MAX_WINDOW_MS * u64::from(sample_rate) / 1000;
    let drain_batch = DRAIN_BATCH_MS * u64::from(sample_rate) / 1000;
    let mut window = Window::default();
    let mut stats = RecorderStats::default();
    let mut frames = 0u64;
    while let Some(chunk) = rx.recv().await {
        match chunk {
            AudioChunk::Audio {
                leg,
                sample_index,
                samples,
            } => {
                let n = samples.len() as u64;
                match leg {
                    Leg::Caller => stats.caller_samples += n,
                    Leg::Agent => stats.agent_samples += n,
                }
                stats.end_sample = stats.end_sample.max(sample_index + n);
                window.put(leg, sample_index, &samples);
            }
            AudioChunk::CutAgent { at_sample } => {
                stats.cuts += 1;
                window.cut_agent(at_sample);
            }
        }
        let mut until = window.caller_end.saturating_sub(lookbehind);
        if window.end().saturating_sub(window.base) > max_window {
            until = until.max(window.end() - max_window);
        }
        // Spool in batches (not per frame): the blob writer buffers 64 KiB blocks anyway.
        if until >= window.base + drain_batch {
            let bytes = window.drain_until(until);
            frames += bytes.len() as u64 / FRAME_BYTES;
            writer.write(&bytes).await?;
        }
    }
    let end = window.end();
    let bytes = window.drain_until(end);
    frames += bytes.len() as u64 / FRAME_BYTES;
    writer.write(&bytes).await?;
    writer.finish().await?;
    if window.late_samples > 0 {
        tracing::warn!(
            samples = window.late_samples,
            "late audio arrived behind the recorder window and was dropped"
        );
    }
    Ok(Spooled {
        key,
        sample_rate,
        frames,
        stats,
    })
}

/// What the manifest says besides the audio (from the session). Transcripts make it PHI: it is
/// stored encrypted like the audio.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct ManifestInput {
    pub call_id: String,
    pub call_sid: Option<String>,
    pub transport: String,
    pub started_at_ms: u64,
    pub ended_at_ms: u64,
    pub outcome: String,
    pub disclosure_played: bool,
    pub transcript: Vec<TranscriptSegment>,
    pub tool_calls: Vec<ToolCallEntry>,
    pub truncations: Vec<TruncationEntry>,
    /// The audit chain position at call end (`call.ended`), when it was appended.
    pub audit_position: Option<AuditPosition>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TranscriptSegment {
    /// `caller`, `agent` or `system`.
    pub speaker: String,
    pub text: String,
    /// Where it starts on the media clock, when known.
    pub start_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ToolCallEntry {
    pub name: String,
    pub outcome: String,
    pub at_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TruncationEntry {
    pub audio_end_ms: u32,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AuditPosition {
    pub index: u64,
    pub hash: String,
}

/// Manifest format version (see `recordings-schema/`).
pub const MANIFEST_SCHEMA: &str = "https://voicegate.invalid/schemas/recording-manifest/v1";

/// Where a call's recording lives: by day, then call id.
fn recording_key(call_id: &str, started_at_ms: u64, ext: &str) -> String {
    let days = started_at_ms / 86_400_000;
    let (y, m, d) = civil_from_days(days as i64);
    format!("recordings/{y:04}/{m:02}/{d:02}/{call_id}.{ext}")
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A 16-bit stereo WAV header for `frames` frames at `rate` (laid out by hound, sizes filled in).
fn wav_header(rate: u32, frames: u64) -> Result<Vec<u8>, RecordingError> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    hound::WavWriter::new(&mut cursor, spec)?.finalize()?;
    let mut header = cursor.into_inner();
    let data_len = u32::try_from(frames * FRAME_BYTES).map_err(|_| hound::Error::TooWide)?;
    // hound writes a canonical 44-byte header for this spec: RIFF size at 4, data size at 40.
    if header.len() != 44 || &header[36..40] != b"data" {
        return Err(hound::Error::Unsupported.into());
    }
    header[4..8].copy_from_slice(&(36 + data_len).to_le_bytes());
    header[40..44].copy_from_slice(&data_len.to_le_bytes());
    Ok(header)
}

/// Turn a spool into the stored WAV + manifest, then remove the spool.
async fn store(
    stores: &Stores,
    spooled: &Spooled,
    mut manifest: ManifestInput,
    incomplete: bool,
) -> Result<StoredRecording, RecordingError> {
    let wav_key = recording_key(&manifest.call_id, manifest.started_at_ms, "wav");
    let manifest_key = recording_key(&manifest.call_id, manifest.started_at_ms, "manifest.json");
    let spool_len = stores.local.len(&spooled.key).await?;
    let frames = spool_len / FRAME_BYTES;
    let mut writer = stores.store.create_writer(&wav_key).await?;
    let header = wav_header(spooled.sample_rate, frames)?;
    let mut sha = Sha256::new();
    sha.update(&header);
    writer.write(&header).await?;
    // Stream the spool through in bounded steps: memory stays flat for hour-long calls.
    const STEP: u64 = 1 << 20;
    let mut at = 0;
    while at < frames * FRAME_BYTES {
        let end = (at + STEP).min(frames * FRAME_BYTES);
        let bytes = stores.local.get_range(&spooled.key, at, end).await?;
        sha.update(&bytes);
        writer.write(&bytes).await?;
        at = end;
    }
    let info = writer.finish().await?;
    let wav_sha256 = crate::config::hex(&sha.finalize());
    let duration_ms = frames * 1000 / u64::from(spooled.sample_rate.max(1));
    if manifest.ended_at_ms == 0 {
        manifest.ended_at_ms = manifest.started_at_ms + duration_ms;
    }
    let doc = serde_json::json!({
        "$schema": MANIFEST_SCHEMA,
        "schema_version": 1,
        "call_id": manifest.call_id,
        "call_sid": manifest.call_sid,
        "transport": manifest.transport,
        "started_at_ms": manifest.started_at_ms,
        "ended_at_ms": manifest.ended_at_ms,
        "outcome": manifest.outcome,
        "disclosure_played": manifest.disclosure_played,
        "incomplete": incomplete,
        "audio": {
            "format": "wav",
            "sample_rate": spooled.sample_rate,
            "bits_per_sample": 16,
            "channels": [{"index": 0, "label": "caller"}, {"index": 1, "label": "agent"}],
            "duration_ms": duration_ms,
            "frames": frames,
            "sha256": wav_sha256,
        },
        "storage": {"store": stores.store.store_kind(), "key": wav_key, "key_id": info.key_id},
        "transcript": manifest.transcript,
        "tool_calls": manifest.tool_calls,
        "truncations": manifest.truncations,
        "audit_position": manifest.audit_position,
    });
    stores
        .store
        .put(&manifest_key, &serde_json::to_vec_pretty(&doc)?)
        .await?;
    stores.local.delete(&spooled.key).await?;
    let outbox = outbox_key(&manifest.call_id);
    if stores.local.len(&outbox).await.is_ok() {
        stores.local.delete(&outbox).await?;
    }
    Ok(StoredRecording {
        wav_key,
        manifest_key,
        wav_sha256,
        sample_rate: spooled.sample_rate,
        duration_ms,
        key_id: info.key_id,
        incomplete,
    })
}

/// A recording spool a crash left behind. Spools live in this replica's own local folder, so the
/// call was this replica's, and it never finished: its end is recorded at the next start.
#[derive(Debug, Clone)]
pub struct InterruptedSpool {
    pub call_id: String,
    /// `twilio` (8 kHz spools) or `browser`: the guess from the rate, for a call with no row.
    pub transport: &'static str,
    spooled: Spooled,
}

impl InterruptedSpool {
    /// How much of the call's media clock the spool holds: a lower bound on the call's length
    /// (audio still in the recorder's window or unsealed chunk when the process died is lost).
    pub fn duration_ms(&self) -> u64 {
        self.spooled.frames * 1000 / u64::from(self.spooled.sample_rate.max(1))
    }

    /// The manifest input for finalising this spool: what start-up knows about the call.
    pub fn manifest(&self, started_at_ms: u64, ended_at_ms: u64, outcome: &str) -> ManifestInput {
        ManifestInput {
            call_id: self.call_id.clone(),
            transport: self.transport.into(),
            started_at_ms,
            ended_at_ms,
            outcome: outcome.into(),
            ..ManifestInput::default()
        }
    }
}

/// Spools a crash left behind, partial writes recovered first (every whole sealed chunk kept).
/// Calls that ended and only wait for their upload are left to [`retry_outbox`] (complete).
/// Run before any recorder starts: a spool being written must not be recovered.
///
/// # Errors
/// The local folder cannot be listed or read; individual partial spools that cannot be
/// recovered are logged and left in place.
pub async fn find_interrupted(stores: &Stores) -> Result<Vec<InterruptedSpool>, RecordingError> {
    let blobs = &stores.local;
    let mut keys = blobs.list(SPOOL_PREFIX).await?;
    for partial in blobs.list_partial(SPOOL_PREFIX).await? {
        match blobs.recover_partial(&partial).await {
            Ok(Some(info)) => keys.push(info.key),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(key = %partial, error.message = %e, "crashed recording spool could not be recovered")
            }
        }
    }
    keys.sort();
    keys.dedup();
    let mut found = Vec::new();
    for key in keys {
        let Some((call_id, rate)) = parse_spool_key(&key) else {
            tracing::warn!(key = %key, "unrecognised spool blob left in place");
            continue;
        };
        // A finished call waiting for its upload is retried by `retry_outbox`, complete.
        if blobs.len(&outbox_key(&call_id)).await.is_ok() {
            continue;
        }
        let frames = blobs.len(&key).await? / FRAME_BYTES;
        found.push(InterruptedSpool {
            call_id,
            transport: if rate == 8000 { "twilio" } else { "browser" },
            spooled: Spooled {
                key,
                sample_rate: rate,
                frames,
                stats: RecorderStats::default(),
            },
        });
    }
    Ok(found)
}

/// Store an interrupted call's recording from its spool (marked incomplete), then remove the
/// spool: the spool is what marks the call as interrupted, so it goes last.
///
/// # Errors
/// The blob store failed; the spool stays for the next start.
pub async fn finalise_interrupted(
    stores: &Stores,
    spool: &InterruptedSpool,
    manifest: ManifestInput,
) -> Result<StoredRecording, RecordingError> {
    let stored = store(stores, &spool.spooled, manifest, true).await?;
    tracing::warn!(call_id = %spool.call_id, "recording of an interrupted call finalised (incomplete)");
    Ok(stored)
}

fn outbox_key(call_id: &str) -> String {
    format!("{OUTBOX_PREFIX}{call_id}.json")
}

/// What the outbox keeps for a recording whose upload failed: where its spool is and its manifest
/// input (PHI: stored encrypted in the local folder like the audio).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct OutboxEntry {
    spool_key: String,
    sample_rate: u32,
    frames: u64,
    manifest: ManifestInput,
}

async fn park_in_outbox(local: &Blobs, spooled: &Spooled, manifest: &ManifestInput) -> Result<(), RecordingError> {
    let entry = OutboxEntry {
        spool_key: spooled.key.clone(),
        sample_rate: spooled.sample_rate,
        frames: spooled.frames,
        manifest: manifest.clone(),
    };
    local
        .put(&outbox_key(&manifest.call_id), &serde_json::to_vec(&entry)?)
        .await?;
    tracing::warn!(call_id = %manifest.call_id, "recording parked in the local outbox until the store is back");
    Ok(())
}

/// Upload every recording in the outbox (at start and periodically). Returns what was stored;
/// entries that still fail stay for the next round.
///
/// # Errors
/// The local folder cannot be listed.
pub async fn retry_outbox(stores: &Stores) -> Result<Vec<StoredRecording>, RecordingError> {
    let mut stored = Vec::new();
    for key in stores.local.list(OUTBOX_PREFIX).await? {
        let entry: OutboxEntry = match stores.local.get(&key).await.map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(e)) => e,
            _ => {
                tracing::error!(key = %key, "unreadable outbox entry left in place");
                continue;
            }
        };
        let spooled = Spooled {
            key: entry.spool_key,
            sample_rate: entry.sample_rate,
            frames: entry.frames,
            stats: RecorderStats::default(),
        };
        match store(stores, &spooled, entry.manifest, false).await {
            Ok(s) => stored.push(s),
            Err(e) => tracing::warn!(key = %key, error.message = %e, "outbox upload still failing"),
        }
    }
    Ok(stored)
}

/// `recordings/spool/<call_id>-<rate>.pcm` → (call_id, rate).
fn parse_spool_key(key: &str) -> Option<(String, u32)> {
    let name = key.strip_prefix(SPOOL_PREFIX)?.strip_suffix(".pcm")?;
    let (call_id, rate) = name.rsplit_once('-')?;
    Some((call_id.to_owned(), rate.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_places_legs_and_cuts_the_agent() {
        let mut w = Window::default();
        w.put(Leg::Caller, 0, &[1, 1, 1, 1]);
        w.put(Leg::Agent, 2, &[5, 5, 5, 5]);
        w.cut_agent(4);
        let bytes = w.drain_until(6);
        let frames: Vec<(i16, i16)> = bytes
            .chunks(4)
            .map(|c| (i16::from_le_bytes([c[0], c[1]]), i16::from_le_bytes([c[2], c[3]])))
            .collect();
        assert_eq!(frames, vec![(1, 0), (1, 0), (1, 5), (1, 5), (0, 0), (0, 0)]);
    }

    #[test]
    fn gaps_in_caller_audio_are_silence() {
        let mut w = Window::default();
        w.put(Leg::Caller, 0, &[3; 2]);
        w.put(Leg::Caller, 5, &[4; 2]);
        let bytes = w.drain_until(7);
        let left: Vec<i16> = bytes.chunks(4).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
        assert_eq!(left, vec![3, 3, 0, 0, 0, 4, 4]);
    }

    #[test]
    fn keys_are_dated_and_spools_parse_back() {
        assert_eq!(
            recording_key("call_x", 1_795_000_000_000, "wav"),
            "recordings/2026/11/18/call_x.wav"
        );
        assert_eq!(
            parse_spool_key("recordings/spool/call_ab-8000.pcm"),
            Some(("call_ab".into(), 8000))
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn wav_header_is_valid_for_the_frame_count() {
        let mut bytes = wav_header(8000, 3).unwrap();
        bytes.extend_from_slice(&[0; 12]);
        let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(reader.spec().channels, 2);
        assert_eq!(reader.duration(), 3);
    }
}
