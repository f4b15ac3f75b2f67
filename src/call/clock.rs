//! The call's media clock and the agent playout model.
//!
//! One clock per call, in samples at the caller leg's rate, starting when the stream started.
//! Caller audio is placed by its own timestamps (Twilio `media.timestamp`). Agent audio is placed by
//! a playout model: a chunk starts at max(caller clock now, end of agent audio already queued), is
//! confirmed played when the caller side echoes the mark sent after it, and is cut at the point of
//! a `clear`. Between two mark echoes, the position inside the playing chunk is interpolated from
//! elapsed time (players play in real time), capped at the chunk's length, so barge-in truncation
//! is accurate to well under one 20 ms frame without a mark per frame.
//!
//! Recording, transcript timings, truncation and audit all read this one clock. Pure logic: the
//! caller passes `now` in; nothing here sleeps or reads a clock.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::time::Instant;

/// Mark names we send are `"{MARK_PREFIX}{n}"`; anything else echoed back is not ours.
pub const MARK_PREFIX: &str = "a";

/// One chunk of agent audio sent to the caller and not yet confirmed played.
#[derive(Debug, Clone)]
struct Segment {
    /// Sequence number carried by the mark sent right after this chunk.
    mark: u64,
    /// Upstream item the audio belongs to (generation-tagged by the session).
    item: Arc<str>,
    /// Offset of this chunk inside the item, in samples.
    item_offset: u64,
    /// Where the chunk starts on the call's media clock, in samples.
    start: u64,
    /// Length in samples.
    len: u64,
}

/// Where the caller's player is right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayPosition {
    /// The item being played.
    pub item: Arc<str>,
    /// Samples of that item played so far.
    pub item_samples: u64,
    /// The point on the media clock.
    pub at_sample: u64,
}

/// What a mark echo meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkOutcome {
    /// Audio up to this point was played.
    Played { item: Arc<str>, item_samples: u64 },
    /// A mark from before the last `clear`: the audio before it was flushed, not played.
    Stale,
    /// Not a mark of ours, or already confirmed.
    Unknown,
}

/// Agent playout bookkeeping for one caller connection.
#[derive(Debug)]
pub struct Playout {
    /// Samples per millisecond on this leg.
    samples_per_ms: u64,
    segments: VecDeque<Segment>,
    /// End of queued agent audio on the media clock.
    queued_end: u64,
    /// When the head segment started playing (estimate, corrected by every mark echo).
    head_started: Option<Instant>,
    next_mark: u64,
    /// Marks numbered below this were sent before the last `clear`.
    stale_below: u64,
}

impl Playout {
    pub fn new(samples_per_ms: u64) -> Playout {
        Playout {
            samples_per_ms,
            segments: VecDeque::new(),
            queued_end: 0,
            head_started: None,
            next_mark: 0,
            stale_below: 0,
        }
    }

    /// Agent audio is queued at the caller (not yet confirmed played).
    pub fn is_playing(&self) -> bool {
        !self.segments.is_empty()
    }

    /// Keep agent audio from starting before `until` (audio the server played itself, such as
    /// the disclosure, occupies the clock up to there).
    pub fn reserve(&mut self, until: u64) {
        self.queued_end = self.queued_end.max(until);
    }

    /// End of queued agent audio on the media clock.
    pub fn queued_end(&self) -> u64 {
        self.queued_end
    }

    /// Register `len` samples of `item` (starting `item_offset` samples into it) sent now.
    /// Returns the mark name to send after the audio and where the chunk sits on the media clock.
    pub fn enqueue(
        &mut self,
        item: Arc<str>,
        item_offset: u64,
        len: u64,
        caller_now: u64,
        now: Instant,
    ) -> (String, u64) {
        let start = if self.segments.is_empty() {
            caller_now.max(self.queued_end)
        } else {
            self.queued_end
        };
        if self.segments.is_empty() {
            self.head_started = Some(now);
        }
        let mark = self.next_mark;
        self.next_mark += 1;
        self.segments.push_back(Segment {
            mark,
            item,
            item_offset,
            start,
            len,
        });
        self.queued_end = start + len;
        (format!("{MARK_PREFIX}{mark}"), start)
    }

    /// A mark came back from the caller side.
    pub fn mark_echoed(&mut self, name: &str, now: Instant) -> MarkOutcome {
        let Some(seq) = name.strip_prefix(MARK_PREFIX).and_then(|n| n.parse::<u64>().ok()) else {
            return MarkOutcome::Unknown;
        };
        if seq < self.stale_below {
            return MarkOutcome::Stale;
        }
        let mut last = None;
        while self.segments.front().is_some_and(|s| s.mark <= seq) {
            last = self.segments.pop_front();
        }
        match last {
            Some(s) => {
                self.head_started = if self.segments.is_empty() { None } else { Some(now) };
                MarkOutcome::Played {
                    item: s.item,
                    item_samples: s.item_offset + s.len,
                }
            }
            None => MarkOutcome::Unknown,
        }
    }

    /// The player's position now, if agent audio is queued.
    pub fn position(&self, now: Instant) -> Option<PlayPosition> {
        let head = self.segments.front()?;
        let started = self.head_started.unwrap_or(now);
        let elapsed_ms = now.saturating_duration_since(started).as_millis() as u64;
        let into = (elapsed_ms * self.samples_per_ms).min(head.len);
        Some(PlayPosition {
            item: head.item.clone(),
            item_samples: head.item_offset + into,
            at_sample: head.start + into,
        })
    }

    /// A `clear` was sent now: everything queued is flushed. Returns where playback stopped.
    /// Marks echoed from now on for earlier audio are stale.
    pub fn clear(&mut self, now: Instant, caller_now: u64) -> Option<PlayPosition> {
        let position = self.position(now);
        self.segments.clear();
        self.head_started = None;
        self.stale_below = self.next_mark;
        self.queued_end = position.as_ref().map_or(caller_now, |p| p.at_sample);
        position
    }
}

/// The caller side of the media clock.
#[derive(Debug)]
pub struct MediaClock {
    samples_per_ms: u64,
    /// End of the latest caller frame, in samples.
    caller_now: u64,
    /// Caller timestamp (ms) of the first frame appended upstream: upstream `audio_start_ms` /
    /// `audio_end_ms` count from there.
    first_appended_ms: Option<u64>,
}

impl MediaClock {
    pub fn new(samples_per_ms: u64) -> MediaClock {
        MediaClock {
            samples_per_ms,
            caller_now: 0,
            first_appended_ms: None,
        }
    }

    /// A caller frame of `samples` samples at `timestamp_ms`; returns its sample index.
    pub fn caller_frame(&mut self, timestamp_ms: u64, samples: u64) -> u64 {
        let at = timestamp_ms * self.samples_per_ms;
        self.caller_now = self.caller_now.max(at + samples);
        at
    }

    /// The first frame appended upstream had this timestamp.
    pub fn appended(&mut self, timestamp_ms: u64) {
        self.first_appended_ms.get_or_insert(timestamp_ms);
    }

    /// Map an upstream input-audio time (ms since the first append) to the media clock (ms).
    pub fn upstream_to_caller_ms(&self, upstream_ms: u64) -> u64 {
        self.first_appended_ms.unwrap_or(0) + upstream_ms
    }

    /// Latest caller position, in samples.
    pub fn caller_now(&self) -> u64 {
        self.caller_now
    }

    pub fn samples_per_ms(&self) -> u64 {
        self.samples_per_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn item(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    #[test]
    fn agent_audio_starts_at_caller_now_then_queues_back_to_back() {
        let t0 = Instant::now();
        let mut p = Playout::new(8);
        let (m0, s0) = p.enqueue(item("i1"), 0, 800, 1600, t0);
        let (m1, s1) = p.enqueue(item("i1"), 800, 800, 4000, t0);
        assert_eq!((m0.as_str(), s0, m1.as_str(), s1), ("a0", 1600, "a1", 2400));
        assert_eq!(p.queued_end(), 3200);
    }

    #[test]
    fn position_interpolates_between_marks_and_is_capped() {
        let t0 = Instant::now();
        let mut p = Playout::new(8);
        p.enqueue(item("i1"), 0, 800, 0, t0);
        p.enqueue(item("i1"), 800, 800, 0, t0);
        assert_eq!(p.position(t0 + Duration::from_millis(40)).unwrap().item_samples, 320);
        // The first chunk (100 ms) cannot be exceeded before its mark comes back.
        assert_eq!(p.position(t0 + Duration::from_millis(150)).unwrap().item_samples, 800);
        // Its mark comes back late: the second chunk started then.
        let t1 = t0 + Duration::from_millis(150);
        assert_eq!(
            p.mark_echoed("a0", t1),
            MarkOutcome::Played {
                item: item("i1"),
                item_samples: 800
            }
        );
        assert_eq!(p.position(t1 + Duration::from_millis(10)).unwrap().item_samples, 880);
    }

    #[test]
    fn clear_cuts_and_later_echoes_are_stale() {
        let t0 = Instant::now();
        let mut p = Playout::new(8);
        p.enqueue(item("i1"), 0, 8000, 0, t0);
        let cut = p.clear(t0 + Duration::from_millis(250), 0).unwrap();
        assert_eq!((cut.item_samples, cut.at_sample), (2000, 2000));
        assert!(!p.is_playing());
        assert_eq!(p.mark_echoed("a0", t0 + Duration::from_millis(251)), MarkOutcome::Stale);
        assert_eq!(p.mark_echoed("zzz", t0), MarkOutcome::Unknown);
        // New audio after the clear starts from the cut point at the earliest.
        let (_, start) = p.enqueue(item("i2"), 0, 160, 0, t0 + Duration::from_millis(300));
        assert_eq!(start, 2000);
    }

    #[test]
    fn caller_clock_follows_timestamps_and_maps_upstream_time() {
        let mut c = MediaClock::new(8);
        assert_eq!(c.caller_frame(0, 160), 0);
        c.appended(0);
        assert_eq!(c.caller_frame(100, 160), 800);
        assert_eq!(c.caller_now(), 960);
        // A gap: the clock jumps with the timestamps.
        c.caller_frame(1000, 160);
        assert_eq!(c.caller_now(), 8160);
        assert_eq!(c.upstream_to_caller_ms(500), 500);
    }
}
