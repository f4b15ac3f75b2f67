//! Call recording: what the session emits on the call's media clock.
//!
//! The session sends every caller frame and every agent chunk, placed on the media clock, plus the
//! cut point of each barge-in, over a bounded channel that is awaited (backpressure, never loss).
//! [`recorder`] turns them into one encrypted stereo WAV with its manifest.

pub mod recorder;

pub use recorder::{ManifestInput, RecorderHandle, StoredRecording};

/// Room for more than 2 s of a call's events (50 caller frames/s plus agent chunks), so a slow
/// disk never stalls forwarding.
pub const RECORDER_QUEUE: usize = 256;

/// Which side of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// What the caller said (left channel).
    Caller,
    /// What the caller heard: disclosure and agent audio (right channel).
    Agent,
}

/// One event on the call's media clock.
#[derive(Debug, Clone)]
pub enum AudioChunk {
    /// `samples` of `leg` starting at `sample_index` (the leg's native rate).
    Audio {
        leg: Leg,
        sample_index: u64,
        samples: Vec<i16>,
    },
    /// Barge-in: agent audio from `at_sample` on was flushed unplayed and must be dropped.
    CutAgent { at_sample: u64 },
}

/// What the recorder saw (exposed for tests and the call record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecorderStats {
    pub caller_samples: u64,
    pub agent_samples: u64,
    pub cuts: u64,
    /// End of the furthest audio on the media clock.
    pub end_sample: u64,
}
