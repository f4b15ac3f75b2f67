//! `voicegate loadtest`: many concurrent simulated Twilio calls against a running server, measured
//! from the outside (pgbench for this server).
//!
//! Every call is set up as Twilio sets one up (the steps of [`super::simulate`]): a signed
//! `POST /twilio/voice`, the stream URL and token taken from the TwiML, a signed WebSocket upgrade by
//! a [`TwilioCaller`], then `start`. The caller then streams `duration` of μ-law in real time: one
//! 160-byte frame per 20 ms on a tokio interval with [`MissedTickBehavior::Burst`], so any lateness of
//! the load tester shows in its own pacing numbers instead of silently stretching the call.
//! `media.timestamp` is the frame number × 20, as Twilio sends it.
//!
//! The server's upstream is the in-process [`FakeRealtime`] passed to [`run`]; whoever calls `run`
//! points the server's `realtime.url` at it. On each fake session a scripted agent answers every
//! `agent_every` with a reply of up to 1 s, sent as 100 ms deltas at real-time pace (real-time-sized
//! chunks, so the server → caller pacing can be judged). When `barge_in_every` is set, the fake
//! session barges in once per period: during the next reply, 50 ms after its second (or a later)
//! delta went out, so while that delta is still playing at the caller, it sends `speech_started`, and
//! `speech_stopped` 400 ms later. The agent only starts to speak after the caller has heard the
//! recording disclosure (its mark came back). Agent audio is never held behind the disclosure, so
//! that hold doesn't show up as forwarding latency.
//!
//! # Matching a fake session to its call
//! The first 8 bytes of every caller frame carry a tag: the call number in bytes 0..4 and the frame's
//! sequence number in bytes 4..8, each 28 bits in four 7-bit bytes. A tag byte is therefore never
//! 0xFF (μ-law silence), and an untagged frame is not mistaken for a tagged one. The task that serves a
//! fake session reads the tag of the first `input_audio_buffer.append` and adopts that call. Each later
//! frame is checked against it (a frame of another call upstream is counted as misrouted).
//!
//! # Measurements (all taken by the load tester; the server is not changed)
//! - **Calls** established (webhook, upgrade and `start` accepted, i.e. the server sent the caller
//!   something), failed (with the reason), or ended by the server before the caller hung up.
//! - **Frames** sent by callers, received upstream (the fake's appended bytes / 160), lost (sent −
//!   received, must be 0), misrouted, and out of order. A call that lost frames gets a note saying how
//!   many and whether they were its last ones.
//! - **Forwarding latency caller → upstream:** for each frame, the instant before `send_media`, and the
//!   instant the fake-session task read the append carrying that frame's sequence number.
//! - **Forwarding latency upstream → caller:** the instant before the fake sent each
//!   `response.output_audio.delta`, and the arrival of the caller's matching `media`. The server
//!   forwards one media message per delta, so they are matched by order within the call, and the sizes
//!   are checked.
//! - **Server → caller pacing jitter:** for consecutive deltas of one reply, |inter-arrival time at
//!   the caller − the ideal 100 ms|. The ideal schedule is the fake's real-time schedule, so the fake's
//!   own lateness (see the next item) is included.
//! - **Load tester pacing lateness:** how late each 20 ms caller tick fired. Above a p99 of 5 ms the
//!   machine is the limit, not the server (`limited_by_load_tester`). How late the fake's deltas left
//!   against their schedule is reported next to it (`agent_send_lateness`): that is the tester's
//!   share of the jitter.
//! - **Barge-in latency:** the instant before the fake sent `speech_started` → the caller's `clear`.
//! - **Truncation error:** |`audio_end_ms` of the `conversation.item.truncate` the fake received − what the
//!   caller had actually played of that item when the `clear` arrived|. The second value is worked out
//!   from the caller's timeline: played bytes at the clear, minus the played position at which the
//!   item's first byte was due.
//! - **Server CPU and RSS** from `/proc/<pid>/stat` (utime + stime in clock ticks; `getconf CLK_TCK` is
//!   read once, 100 if that fails) and `/proc/<pid>/status` (`VmRSS`, sampled every 200 ms for the
//!   peak). The "after" CPU reading waits until the counter stops moving, because the server finalises
//!   a call (recording, audit) after it has closed the caller socket. Reported as CPU µs per
//!   call-second and RSS KiB per call ((peak − before) / established calls). The load tester's own CPU
//!   comes from `/proc/self/stat`. When both run in one process (the tests do this), the server figures
//!   include the tester.
//!
//! Samples are kept as `u32` microseconds, in one vector per metric. Percentiles are nearest-rank.
//!
//! # Deliberately not done
//! - No model: the fake agent talks at real-time pace, while the real API sends audio faster than real
//!   time. Replies end with `response.done`, and no transcripts are sent, so the red-flag matcher never
//!   fires.
//! - Fake-side instants are taken when the session task reads an event. While that task is writing a
//!   scripted event (one loopback write), reads wait, so caller → upstream latency can be overstated by
//!   that much.
//! - The caller's `AccountSid` is [`TEST_ACCOUNT_SID`]. A server configured with another
//!   `twilio.account_sid` refuses the calls, and they show as failed.
//! - The fake has no VAD, so the server only hears the caller "speak" at barge-ins. With
//!   `agent_every` zero and no barge-in, calls longer than the server's idle prompt + idle hang-up
//!   times (80 s by default) are ended by the server as idle, and they show as ended early.
//! - The peers' sockets are taken as they are. [`TwilioCaller`] connects with Nagle's algorithm on.
//!   A caller frame written while the previous one is unacknowledged therefore waits for the
//!   server's ACK, which the kernel delays after the server has sent the caller media or a mark.
//!   Those waits (up to ~40 ms) show in the caller → upstream tail and belong to the test tool, not to
//!   the server. The fake's sockets have Nagle on too. [`FIRST_DELTA_AFTER`] keeps that wait out of the
//!   agent measurements.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::call::session::DISCLOSURE_MARK;
use crate::http::twilio_webhook::{MEDIA_PATH, VOICE_PATH};
use crate::testkit::fake_realtime::{FakeRealtime, FakeSession, ResponseIds};
use crate::testkit::simulate::synthetic_speech;
use crate::testkit::twilio_caller::{
    CallerObservation, ClearRecord, FRAME_BYTES, FRAME_MS, Received, TEST_ACCOUNT_SID, TwilioCaller, TwilioCallerConfig,
};
use crate::testkit::webhook;
use crate::transport::twilio::signature;

/// Setting up one call (webhook answer, WebSocket upgrade) taking longer than this counts as a failed
/// call rather than a hang.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a finished call waits for its fake session(s) to report. Each session reports once the
/// server has closed it, which happens before the server closes the caller socket, so the wait is
/// normally nothing. The limit only turns a server that never closes its upstream into a note.
const UPSTREAM_REPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Agent deltas carry this much audio (800 μ-law bytes) and go out every this often: real-time-sized
/// chunks at real-time pace, so the server → caller pacing is measurable.
const AGENT_DELTA_MS: u64 = 100;

/// Longest agent reply. A reply lasts half of `agent_every`, capped here, so replies never overlap and
/// the caller has silence between them.
const MAX_REPLY_MS: u64 = 1000;

/// Time from `response.created` to the first delta. A real model also takes a moment before its
/// first audio. The gap also keeps the first delta out of the TCP segment queue behind the begin
/// events: the fake's socket has Nagle on, so a delta written right behind them would wait for the
/// server's (delayed) ACK, up to one caller frame (20 ms), and that wait would be measured as server
/// latency.
const FIRST_DELTA_AFTER: Duration = Duration::from_millis(50);

/// Number of a reply's deltas sent before a pending barge-in is scheduled. It fires half a delta
/// (50 ms) after the last of them, while that delta is still playing at the caller, so the server has
/// agent audio queued and must `clear` and truncate. (At the next delta slot the caller would just
/// have finished it, and whether the server still counted it as playing would be a race.)
const BARGE_IN_AFTER_DELTAS: usize = 2;

/// How long the fake caller speaks after a barge-in before `speech_stopped` (which also resets the
/// server's idle timer).
const BARGE_IN_SPEECH: Duration = Duration::from_millis(400);

/// Above this p99 of the load tester's own 20 ms tick lateness, the machine running the test, not the
/// server, is what limits the run.
const TESTER_LATENESS_LIMIT_US: u32 = 5_000;

/// After the last call, the server's CPU counter is read again this often until it stops moving.
/// Several clock ticks (10 ms each at 100 Hz) long, so an idle process reads the same twice.
const CPU_SETTLE_EVERY: Duration = Duration::from_millis(100);

/// Longest wait for the server's CPU counter to settle (a server that stays busy on its own).
const CPU_SETTLE_MAX: Duration = Duration::from_secs(5);

/// How often the server's RSS is sampled to find its peak.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// Clock ticks per second used when `getconf CLK_TCK` cannot be run (USER_HZ is 100 on mainstream
/// Linux, but not guaranteed, hence the lookup first).
const DEFAULT_CLK_TCK: u64 = 100;

/// Bytes at the start of every caller frame that carry the (call, sequence) tag.
const TAG_BYTES: usize = 8;

/// Largest call number or sequence number a tag can carry: 28 bits in four 7-bit bytes.
const TAG_MAX: u32 = (1 << 28) - 1;

/// Distinct problem messages the report keeps, so a run where every call fails stays readable.
const MAX_NOTES: usize = 20;

/// What to run.
#[derive(Clone)]
pub struct LoadtestOptions {
    /// N concurrent simulated Twilio calls.
    pub calls: usize,
    /// How long each call streams caller audio (real time: one 160-byte μ-law frame per 20 ms).
    pub duration: Duration,
    /// `http://127.0.0.1:PORT` of a running voicegate (webhook and media on the same port).
    pub server: String,
    /// The server's `public_base_url`: signatures are computed against it.
    pub public_base: String,
    /// The server's Twilio auth token.
    pub auth_token: Vec<u8>,
    /// The server's process id, to read its CPU time and RSS from `/proc` before and after.
    pub server_pid: Option<u32>,
    /// How often the fake agent answers each call. Each reply lasts `agent_every / 2`, at most 1 s,
    /// and is sent as 100 ms deltas. Zero means the agent never speaks.
    pub agent_every: Duration,
    /// If set, each call's fake session sends `speech_started` while agent audio is queued, at this
    /// period.
    pub barge_in_every: Option<Duration>,
    /// Call starts are spread evenly over this time.
    pub ramp: Duration,
}

impl std::fmt::Debug for LoadtestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadtestOptions")
            .field("calls", &self.calls)
            .field("duration", &self.duration)
            .field("server", &self.server)
            .field("public_base", &self.public_base)
            .field("auth_token", &"[redacted]")
            .field("server_pid", &self.server_pid)
            .field("agent_every", &self.agent_every)
            .field("barge_in_every", &self.barge_in_every)
            .field("ramp", &self.ramp)
            .finish()
    }
}

/// Nearest-rank percentiles of one metric, in milliseconds. `count` 0 means no sample was taken, and
/// then the other fields are 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples taken.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// The tail a caller notices once a minute or so.
    pub p99_ms: f64,
    /// Worst sample.
    pub max_ms: f64,
}

impl Percentiles {
    /// Sorts the samples (µs) and takes p50, p99 and max.
    fn of(mut samples_us: Vec<u32>) -> Percentiles {
        let n = samples_us.len();
        if n == 0 {
            return Percentiles::default();
        }
        samples_us.sort_unstable();
        let rank = |q: f64| samples_us[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        let ms = |us: u32| f64::from(us) / 1000.0;
        Percentiles {
            count: n,
            p50_ms: ms(rank(0.50)),
            p99_ms: ms(rank(0.99)),
            max_ms: ms(samples_us[n - 1]),
        }
    }
}

/// CPU and memory of the server process over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerUsage {
    /// The process measured.
    pub pid: u32,
    /// utime + stime spent during the run.
    pub cpu_s: f64,
    /// The stime part of `cpu_s`: the kernel's work on the server's behalf (socket reads and
    /// writes, and on loopback the delivery to the receiving socket, epoll, futex, fsync).
    pub kernel_cpu_s: f64,
    /// `cpu_s` per second of streamed call audio, in µs.
    pub cpu_us_per_call_second: f64,
    /// `VmRSS` before the first call.
    pub rss_kib_before: u64,
    /// Highest RSS seen while calls ran (sampled every 200 ms).
    pub rss_kib_peak: u64,
    /// `VmRSS` once every call had ended (allocators keep some memory, so this is above `before`).
    pub rss_kib_after: u64,
    /// (peak − before) / established calls.
    pub rss_kib_per_call: f64,
    /// The clock-tick rate used to convert `/proc/<pid>/stat`.
    pub clock_ticks_per_s: u64,
    /// The server runs inside the load tester's process, so its figures include the tester.
    pub same_process_as_load_tester: bool,
}

/// The load tester's own CPU use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TesterUsage {
    /// utime + stime of this process during the run.
    pub cpu_s: f64,
    /// `cpu_s` over the wall time, as a percentage of one core.
    pub cpu_percent_of_one_core: f64,
}

/// The result of a run. JSON through serde, a table through [`LoadtestReport::table`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadtestReport {
    /// Calls requested (the options, repeated so a JSON report stands on its own).
    pub calls: usize,
    /// Caller audio per call.
    pub duration_s: f64,
    /// Spread of the call starts.
    pub ramp_s: f64,
    /// Agent reply period (0: the agent never spoke).
    pub agent_every_s: f64,
    /// Barge-in period, if any.
    pub barge_in_every_s: Option<f64>,
    /// From the start of the run until the last call ended.
    pub wall_s: f64,
    /// Calls whose webhook, upgrade and `start` were accepted (the server sent the caller something).
    pub calls_established: usize,
    /// Calls that were not established (see `failures`).
    pub calls_failed: usize,
    /// Established calls that the server ended before the caller hung up.
    pub calls_ended_early: usize,
    /// Why calls failed or ended early, with counts.
    pub failures: BTreeMap<String, usize>,
    /// Fake upstream sessions the server opened.
    pub upstream_sessions: usize,
    /// Sessions no call could be matched to (no tagged append arrived on them).
    pub upstream_sessions_unmatched: usize,
    /// Caller frames sent, over all established calls.
    pub frames_sent: u64,
    /// The fake's appended bytes / 160, over all sessions.
    pub frames_received_upstream: u64,
    /// sent − received; must be 0.
    pub frames_lost: u64,
    /// Frames that arrived upstream on a session of another call, or without a tag.
    pub frames_misrouted: u64,
    /// Frames upstream whose sequence number was not the next one expected (duplicated or reordered).
    pub frames_out_of_order: u64,
    /// Replies the fake agent began.
    pub agent_responses: u64,
    /// `response.output_audio.delta` events the fake sent.
    pub agent_deltas_sent: u64,
    /// Agent media messages (after the disclosure) the callers received.
    pub agent_media_received: u64,
    /// Agent media that could not be matched to a delta (size or count mismatch).
    pub agent_media_unmatched: u64,
    /// `speech_started` events the fake sessions sent.
    pub barge_ins: u64,
    /// `clear` messages the callers received.
    pub clears_received: u64,
    /// `conversation.item.truncate` events the fake received.
    pub truncates_received: u64,
    /// Protocol violations the fake recorded (see [`FakeSession::violations`]).
    pub upstream_violations: u64,
    /// Server messages that Twilio would have rejected.
    pub caller_malformed: u64,
    /// Scripted fake events that failed before the caller hung up.
    pub script_errors: u64,
    /// Up to 20 distinct problem messages (violations, malformed messages, script errors).
    pub notes: Vec<String>,
    /// Caller frame sent → append seen by the fake.
    pub latency_caller_to_upstream: Percentiles,
    /// Delta sent by the fake → `media` at the caller.
    pub latency_upstream_to_caller: Percentiles,
    /// |inter-arrival of a reply's media at the caller − 100 ms|.
    pub agent_media_jitter: Percentiles,
    /// `speech_started` sent → `clear` at the caller.
    pub barge_in_latency: Percentiles,
    /// |truncate `audio_end_ms` − what the caller had played of the item at the clear|.
    pub truncation_error: Percentiles,
    /// How late the load tester's 20 ms caller ticks fired.
    pub tester_pacing_lateness: Percentiles,
    /// How late the fake agent's deltas left against their real-time schedule: the load tester's own
    /// share of `agent_media_jitter`.
    pub agent_send_lateness: Percentiles,
    /// `tester_pacing_lateness` p99 above 5 ms: the machine, not the server, is the limit.
    pub limited_by_load_tester: bool,
    /// The server's CPU and RSS, when its pid was given.
    pub server: Option<ServerUsage>,
    /// The load tester's own CPU.
    pub load_tester: TesterUsage,
}

/// Runs the load test: `options.calls` calls against `options.server`, whose upstream must be `fake`.
///
/// A call that fails is counted in the report and does not fail the run.
///
/// # Errors
/// Options that cannot work: no calls, more than 2^28 calls or frames, a duration under 20 ms, or a
/// server URL that is not `http(s)://`.
pub async fn run(options: LoadtestOptions, fake: &FakeRealtime) -> anyhow::Result<LoadtestReport> {
    let frames_per_call = validate(&options)?;
    let context = Arc::new(CallContext {
        media_url: media_url(&options.server)?,
        server: options.server.clone(),
        public_base: options.public_base.clone(),
        auth_token: options.auth_token.clone(),
        frames: frames_per_call,
        caller_audio: synthetic_speech(1000, 120.0),
        run_id: run_id(),
    });
    let plan = Arc::new(AgentPlan::new(&options));
    let links: Arc<[Arc<CallLink>]> = (0..options.calls).map(|_| Arc::new(CallLink::new())).collect();

    let clock_ticks = clock_ticks_per_second();
    let server_pid = options.server_pid.map(|pid| pid.to_string());
    let server_cpu_before = server_pid.as_deref().and_then(cpu_ticks);
    let server_rss_before = server_pid.as_deref().and_then(rss_kib);
    let tester_cpu_before = cpu_ticks("self");
    let done = CancellationToken::new();
    let rss_sampler = server_pid
        .clone()
        .map(|pid| tokio::spawn(sample_peak_rss(pid, done.clone())));

    let started = tokio::time::Instant::now();
    let callers: Vec<_> = (0..options.calls)
        .map(|i| {
            let offset = options.ramp.mul_f64(i as f64 / options.calls as f64);
            tokio::spawn(run_call(
                Arc::clone(&context),
                i as u32,
                Arc::clone(&links[i]),
                started + offset,
            ))
        })
        .collect();
    let all_calls = async {
        let mut outcomes = Vec::with_capacity(callers.len());
        for caller in callers {
            outcomes.push(
                caller
                    .await
                    .unwrap_or_else(|e| CallOutcome::failed(format!("call task failed: {e}"))),
            );
        }
        done.cancel();
        outcomes
    };
    let (outcomes, mut sessions) = tokio::join!(all_calls, dispatch(fake, Arc::clone(&links), plan, done.clone()));
    let wall = started.elapsed();

    // Matched sessions have all reported to their calls by now; what is left are sessions no call
    // claimed, which end as soon as the server closes them.
    let mut session_ends = Vec::new();
    let _ = tokio::time::timeout(UPSTREAM_REPORT_TIMEOUT, async {
        while let Some(end) = sessions.join_next().await {
            if let Ok(end) = end {
                session_ends.push(end);
            }
        }
    })
    .await;
    sessions.abort_all();

    let tester_cpu_after = cpu_ticks("self");
    let server_cpu_after = match server_pid.as_deref() {
        Some(pid) => settled_cpu_ticks(pid).await,
        None => None,
    };
    let server_rss_after = server_pid.as_deref().and_then(rss_kib);
    let rss_peak = match rss_sampler {
        Some(task) => task.await.unwrap_or(0),
        None => 0,
    };

    let mut report = aggregate(&options, outcomes, &session_ends, wall);
    let ticks_to_s = |ticks: u64| ticks as f64 / clock_ticks as f64;
    let total = |ticks: Option<(u64, u64)>| ticks.map_or(0, |(user, system)| user + system);
    let tester_cpu = ticks_to_s(total(tester_cpu_after).saturating_sub(total(tester_cpu_before)));
    report.load_tester = TesterUsage {
        cpu_s: tester_cpu,
        cpu_percent_of_one_core: 100.0 * tester_cpu / wall.as_secs_f64().max(f64::EPSILON),
    };
    if let (Some(pid), Some(before), Some(after)) = (options.server_pid, server_cpu_before, server_cpu_after) {
        let cpu_s = ticks_to_s((after.0 + after.1).saturating_sub(before.0 + before.1));
        let kernel_cpu_s = ticks_to_s(after.1.saturating_sub(before.1));
        let call_seconds = report.frames_sent as f64 * FRAME_MS as f64 / 1000.0;
        let rss_before = server_rss_before.unwrap_or(0);
        let rss_after = server_rss_after.unwrap_or(0);
        let rss_peak = rss_peak.max(rss_after).max(rss_before);
        report.server = Some(ServerUsage {
            pid,
            cpu_s,
            kernel_cpu_s,
            cpu_us_per_call_second: if call_seconds > 0.0 {
                cpu_s * 1e6 / call_seconds
            } else {
                0.0
            },
            rss_kib_before: rss_before,
            rss_kib_peak: rss_peak,
            rss_kib_after: rss_after,
            rss_kib_per_call: (rss_peak - rss_before) as f64 / report.calls_established.max(1) as f64,
            clock_ticks_per_s: clock_ticks,
            same_process_as_load_tester: pid == std::process::id(),
        });
    }
    Ok(report)
}

impl LoadtestReport {
    /// A human-readable summary: counts, a percentile table, resource use and a verdict.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let barge = self
            .barge_in_every_s
            .map_or_else(|| "no barge-in".to_owned(), |s| format!("barge-in every {s:.1} s"));
        let _ = writeln!(
            out,
            "voicegate loadtest: {} calls x {:.1} s, ramp {:.1} s, agent every {:.1} s, {barge} (wall {:.1} s)",
            self.calls, self.duration_s, self.ramp_s, self.agent_every_s, self.wall_s
        );
        let _ = writeln!(
            out,
            "calls         established {}/{}, failed {}, ended early by the server {}",
            self.calls_established, self.calls, self.calls_failed, self.calls_ended_early
        );
        let _ = writeln!(
            out,
            "upstream      fake sessions {}, not matched to a call {}",
            self.upstream_sessions, self.upstream_sessions_unmatched
        );
        let _ = writeln!(
            out,
            "caller audio  frames sent {}, received upstream {}, lost {}, misrouted {}, out of order {}",
            self.frames_sent,
            self.frames_received_upstream,
            self.frames_lost,
            self.frames_misrouted,
            self.frames_out_of_order
        );
        let _ = writeln!(
            out,
            "agent audio   replies {}, deltas sent {}, media received {} (unmatched {})",
            self.agent_responses, self.agent_deltas_sent, self.agent_media_received, self.agent_media_unmatched
        );
        let _ = writeln!(
            out,
            "barge-in      speech_started {}, clears {}, truncates {}",
            self.barge_ins, self.clears_received, self.truncates_received
        );
        let _ = writeln!(
            out,
            "protocol      upstream violations {}, malformed server messages {}, script errors {}",
            self.upstream_violations, self.caller_malformed, self.script_errors
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<46}{:>8}{:>11}{:>11}{:>11}",
            "", "n", "p50 ms", "p99 ms", "max ms"
        );
        for (label, p) in [
            ("forwarding caller -> upstream", &self.latency_caller_to_upstream),
            ("forwarding upstream -> caller", &self.latency_upstream_to_caller),
            ("server -> caller pacing jitter", &self.agent_media_jitter),
            ("barge-in: speech_started -> clear", &self.barge_in_latency),
            ("truncation error |audio_end_ms - played|", &self.truncation_error),
            ("load tester: 20 ms caller tick lateness", &self.tester_pacing_lateness),
            ("load tester: agent delta send lateness", &self.agent_send_lateness),
        ] {
            if p.count == 0 {
                let _ = writeln!(out, "{label:<46}{:>8}{:>11}{:>11}{:>11}", 0, "-", "-", "-");
            } else {
                let _ = writeln!(
                    out,
                    "{label:<46}{:>8}{:>11.2}{:>11.2}{:>11.2}",
                    p.count, p.p50_ms, p.p99_ms, p.max_ms
                );
            }
        }
        let _ = writeln!(out);
        match &self.server {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "server        pid {}: CPU {:.2} s = {:.0} us per call-second ({:.0} % in the kernel)",
                    s.pid,
                    s.cpu_s,
                    s.cpu_us_per_call_second,
                    100.0 * s.kernel_cpu_s / s.cpu_s.max(f64::EPSILON)
                );
                let _ = writeln!(
                    out,
                    "              RSS {} KiB before, {} peak, {} after ({:+.0} KiB per call)",
                    s.rss_kib_before, s.rss_kib_peak, s.rss_kib_after, s.rss_kib_per_call
                );
                if s.same_process_as_load_tester {
                    let _ = writeln!(
                        out,
                        "              (same process as the load tester: these figures include it)"
                    );
                }
            }
            None => {
                let _ = writeln!(out, "server        no pid given: CPU and RSS not measured");
            }
        }
        let _ = writeln!(
            out,
            "load tester   CPU {:.2} s ({:.0} % of one core)",
            self.load_tester.cpu_s, self.load_tester.cpu_percent_of_one_core
        );
        for (reason, count) in &self.failures {
            let _ = writeln!(out, "failure x{count}: {reason}");
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let mut verdict = Vec::new();
        if self.calls_failed > 0 || self.calls_ended_early > 0 {
            verdict.push("some calls failed".to_owned());
        }
        if self.frames_lost > 0 || self.frames_misrouted > 0 || self.frames_out_of_order > 0 {
            verdict.push("caller audio was lost, misrouted or reordered".to_owned());
        }
        if self.upstream_violations > 0 || self.caller_malformed > 0 {
            verdict.push("protocol errors".to_owned());
        }
        if self.limited_by_load_tester {
            verdict.push(format!(
                "LIMITED BY THE LOAD TESTER: its own 20 ms ticks were {:.1} ms late at p99 (> {} ms); latencies above \
                 include that, use fewer calls or another machine",
                self.tester_pacing_lateness.p99_ms,
                TESTER_LATENESS_LIMIT_US / 1000
            ));
        }
        if verdict.is_empty() {
            verdict.push("ok: every call established, no frame lost, no protocol error".to_owned());
        }
        let _ = writeln!(out, "verdict: {}", verdict.join("; "));
        out
    }
}

/// Checks the options and returns the number of frames per call.
fn validate(options: &LoadtestOptions) -> anyhow::Result<u32> {
    if options.calls == 0 {
        bail!("at least one call is needed");
    }
    if options.calls > TAG_MAX as usize {
        bail!("at most {TAG_MAX} calls can be told apart");
    }
    let frames = options.duration.as_millis() / u128::from(FRAME_MS);
    if frames == 0 {
        bail!("the duration must be at least {FRAME_MS} ms");
    }
    u32::try_from(frames)
        .ok()
        .filter(|f| *f <= TAG_MAX)
        .context("the duration is too long for the frame tags")
}

/// `ws(s)://host:port/twilio/media` for an `http(s)://host:port` server.
fn media_url(server: &str) -> anyhow::Result<String> {
    let base = server.trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        bail!("the server URL must start with http:// or https://, got {server:?}");
    };
    Ok(format!("{ws}{MEDIA_PATH}"))
}

/// 16 hex digits that differ between runs, so CallSids of two runs against one server never clash.
fn run_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Without randomness the clock is unique enough for test CallSids.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        bytes = nanos.to_be_bytes();
    }
    crate::config::hex(&bytes)
}

// ---------------------------------------------------------------------------------------------
// Frame tags

/// The 8-byte tag: call number and sequence number, each as four 7-bit bytes (big-endian).
fn tag(call: u32, seq: u32) -> [u8; TAG_BYTES] {
    let mut out = [0u8; TAG_BYTES];
    for (i, value) in [call, seq].into_iter().enumerate() {
        for j in 0..4 {
            out[i * 4 + j] = ((value >> (7 * (3 - j))) & 0x7F) as u8;
        }
    }
    out
}

/// Reads a tag; `None` when the frame is too short or a tag byte has its top bit set (not ours).
fn read_tag(frame: &[u8]) -> Option<(u32, u32)> {
    let bytes = frame.get(..TAG_BYTES)?;
    if bytes.iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    let word = |part: &[u8]| part.iter().fold(0u32, |acc, b| (acc << 7) | u32::from(*b));
    Some((word(&bytes[..4]), word(&bytes[4..])))
}

// ---------------------------------------------------------------------------------------------
// The caller side

/// What every call task needs.
struct CallContext {
    /// Where the TwilioCaller connects (the server's own address, not the public one).
    media_url: String,
    /// Where the webhook is posted (`http://host:port`).
    server: String,
    /// What signatures are computed against.
    public_base: String,
    /// Signs the webhook and the upgrade.
    auth_token: Vec<u8>,
    /// Frames each call streams.
    frames: u32,
    /// 1 s of speech-like μ-law that caller frames are cut from (the tag overwrites their first bytes).
    caller_audio: Vec<u8>,
    /// Makes CallSids unique per run.
    run_id: String,
}

/// Shared by a call's caller task and the fake-session task(s) matched to it.
struct CallLink {
    /// `(seq, instant before send)` of caller frames not yet seen upstream, oldest first. The caller
    /// pushes, the fake side pops, so it only holds the frames in flight.
    in_flight: Mutex<VecDeque<(u32, Instant)>>,
    /// Set when the caller heard the disclosure (its mark came back); the fake agent waits for it.
    disclosure_heard: watch::Sender<bool>,
    /// Sessions matched to this call and how many of them have finished and reported.
    claims: watch::Sender<Claims>,
    /// What each finished session observed, in the order the sessions were matched.
    reports: Mutex<Vec<(usize, UpstreamSide)>>,
    /// Set just before the caller sends `stop`: scripted sends failing after it are the call ending,
    /// not errors.
    hung_up: AtomicBool,
}

/// How many fake sessions claimed a call, and how many of those have reported.
#[derive(Debug, Clone, Copy, Default)]
struct Claims {
    /// Sessions that adopted the call.
    matched: usize,
    /// Of those, sessions that ended and left their report.
    finished: usize,
}

impl CallLink {
    fn new() -> CallLink {
        CallLink {
            in_flight: Mutex::new(VecDeque::new()),
            disclosure_heard: watch::Sender::new(false),
            claims: watch::Sender::new(Claims::default()),
            reports: Mutex::new(Vec::new()),
            hung_up: AtomicBool::new(false),
        }
    }
}

/// What one call contributed to the report.
#[derive(Debug, Default)]
struct CallOutcome {
    /// Webhook, upgrade and `start` accepted: the server sent the caller something.
    established: bool,
    /// Why the call was not established.
    failure: Option<String>,
    /// Why an established call ended before the caller hung up.
    ended_early: Option<String>,
    /// Caller frames written to the socket.
    frames_sent: u64,
    /// Lateness of each 20 ms tick, µs.
    pacing_us: Vec<u32>,
    /// Merged reports of the call's fake sessions (None: no session reported).
    upstream: Option<UpstreamSide>,
    /// The caller's timeline and the fake's log, side by side.
    analysis: CallAnalysis,
    /// Server messages the caller rejected as Twilio would.
    caller_malformed: Vec<String>,
    /// Anything else odd about the call.
    notes: Vec<String>,
}

impl CallOutcome {
    fn failed(reason: String) -> CallOutcome {
        CallOutcome {
            failure: Some(reason),
            ..CallOutcome::default()
        }
    }
}

/// One call: wait for its slot in the ramp, place it, stream, hang up, then put both sides together.
async fn run_call(
    context: Arc<CallContext>,
    index: u32,
    link: Arc<CallLink>,
    start_at: tokio::time::Instant,
) -> CallOutcome {
    tokio::time::sleep_until(start_at).await;
    let mut caller = match place_call(&context, index).await {
        Ok(caller) => caller,
        Err(e) => return CallOutcome::failed(format!("{e:#}")),
    };
    let mut out = CallOutcome::default();
    stream_caller_audio(&context, index, &link, &mut caller, &mut out).await;

    link.hung_up.store(true, Ordering::SeqCst);
    let closed_by_server_first = caller.closed();
    if closed_by_server_first.is_none() {
        let _ = caller.send_stop().await;
    }
    let closed = match caller.wait_closed().await {
        Ok(closed) => Some(closed),
        Err(e) => {
            out.notes.push(format!("after stop: {e:#}"));
            None
        }
    };
    let timeline = caller.timeline();
    out.established = !timeline.is_empty();
    let describe = |closed: &Option<(Option<u16>, String)>| match closed {
        Some((Some(code), reason)) => format!("close {code} {reason:?}"),
        Some((None, reason)) => reason.clone(),
        None => "still open".to_owned(),
    };
    if !out.established {
        out.failure = Some(format!("not established (start refused?): {}", describe(&closed)));
        return out;
    }
    if closed_by_server_first.is_some() {
        out.ended_early = Some(format!(
            "server ended the call early: {}",
            describe(&closed_by_server_first)
        ));
    }
    out.caller_malformed = caller.malformed();

    // Each fake session reports once the server has closed it (before it closes the caller).
    let mut claims = link.claims.subscribe();
    let reported = tokio::time::timeout(
        UPSTREAM_REPORT_TIMEOUT,
        claims.wait_for(|c| c.matched > 0 && c.finished == c.matched),
    )
    .await;
    if !matches!(reported, Ok(Ok(_))) {
        out.notes
            .push("no upstream session reported for an established call within 10 s".to_owned());
    }
    let mut reports = std::mem::take(&mut *lock(&link.reports));
    reports.sort_by_key(|(order, _)| *order);
    if !reports.is_empty() {
        let upstream = UpstreamSide::merge(reports.into_iter().map(|(_, side)| side));
        if upstream.frames < out.frames_sent {
            out.notes.push(format!(
                "call {index}: {} of {} frames never reached upstream (last seq seen upstream {}, last sent {})",
                out.frames_sent - upstream.frames,
                out.frames_sent,
                upstream.last_seq.map_or_else(|| "none".to_owned(), |s| s.to_string()),
                out.frames_sent - 1,
            ));
        }
        out.analysis = analyze(&timeline, &caller.clears(), &upstream);
        out.upstream = Some(upstream);
    }
    out
}

/// The signed webhook, then the signed upgrade with the token from the TwiML, as Twilio does it.
async fn place_call(context: &CallContext, index: u32) -> anyhow::Result<TwilioCaller> {
    let call_sid = format!("CA{}{index:016x}", context.run_id);
    let params: BTreeMap<String, String> = [
        ("CallSid", call_sid.clone()),
        ("AccountSid", TEST_ACCOUNT_SID.to_owned()),
        ("From", format!("+1555{:07}", index % 10_000_000)),
        ("To", "+15550199999".to_owned()),
        ("CallStatus", "ringing".to_owned()),
        ("Direction", "inbound".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let answer = tokio::time::timeout(
        SETUP_TIMEOUT,
        webhook::post_signed(
            &context.server,
            &context.public_base,
            VOICE_PATH,
            &params,
            Some(context.auth_token.as_slice()),
        ),
    )
    .await
    .context("webhook: no answer in time")?
    .context("webhook")?;
    if answer.status != 200 {
        bail!("webhook answered HTTP {}", answer.status);
    }
    let stream_url =
        webhook::twiml_attr(&answer.body, "<Stream", "url").context("webhook answered without a <Stream> (busy?)")?;
    let token = webhook::twiml_attr(&answer.body, "<Parameter", "value").context("TwiML without a <Parameter>")?;
    let token_name = webhook::twiml_attr(&answer.body, "<Parameter", "name").unwrap_or_else(|| "token".to_owned());
    let config = TwilioCallerConfig::new(context.media_url.clone(), call_sid)
        .with_signature(signature::compute(&context.auth_token, &stream_url, &[]))
        .with_parameter(token_name, token);
    tokio::time::timeout(SETUP_TIMEOUT, TwilioCaller::connect(config))
        .await
        .context("media upgrade: no answer in time")?
}

/// Streams the call's frames in real time, watching for the disclosure echo and an early close.
async fn stream_caller_audio(
    context: &CallContext,
    index: u32,
    link: &CallLink,
    caller: &mut TwilioCaller,
    out: &mut CallOutcome,
) {
    out.pacing_us.reserve(context.frames as usize);
    let mut ticker = tokio::time::interval(Duration::from_millis(FRAME_MS));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let frames_in_audio = (context.caller_audio.len() / FRAME_BYTES).max(1);
    for seq in 0..context.frames {
        let scheduled = ticker.tick().await;
        out.pacing_us
            .push(micros(tokio::time::Instant::now().saturating_duration_since(scheduled)));
        // Keep the caller's event feed from growing, and let the agent speak once the disclosure
        // has been heard.
        for event in caller.drain_events() {
            if let CallerObservation::MarkEchoed { name, .. } = event
                && name == DISCLOSURE_MARK
            {
                link.disclosure_heard.send_replace(true);
            }
        }
        if caller.closed().is_some() {
            return;
        }
        let start = (seq as usize % frames_in_audio) * FRAME_BYTES;
        let mut frame = context
            .caller_audio
            .get(start..start + FRAME_BYTES)
            .map_or_else(|| vec![0xFF; FRAME_BYTES], <[u8]>::to_vec);
        frame[..TAG_BYTES].copy_from_slice(&tag(index, seq));
        lock(&link.in_flight).push_back((seq, Instant::now()));
        if let Err(e) = caller.send_media(&frame, u64::from(seq) * FRAME_MS).await {
            out.notes.push(format!("caller send failed: {e:#}"));
            return;
        }
        out.frames_sent += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// The upstream side: fake sessions

/// What the fake agent says and when.
struct AgentPlan {
    /// Reply period; `None`: the agent never speaks.
    agent_every: Option<Duration>,
    /// Barge-in period; `None`: no barge-in.
    barge_in_every: Option<Duration>,
    /// One reply's audio.
    reply: Vec<u8>,
}

impl AgentPlan {
    fn new(options: &LoadtestOptions) -> AgentPlan {
        let agent_every = Some(options.agent_every).filter(|d| !d.is_zero());
        let reply_ms = agent_every.map_or(0, |every| {
            let half = (every.as_millis() / 2) as u64;
            (half.min(MAX_REPLY_MS) / AGENT_DELTA_MS).max(1) * AGENT_DELTA_MS
        });
        AgentPlan {
            agent_every,
            barge_in_every: options.barge_in_every.filter(|d| !d.is_zero()),
            reply: synthetic_speech(reply_ms as usize, 190.0),
        }
    }

    /// μ-law bytes per delta (8 per ms).
    fn delta_bytes() -> usize {
        (AGENT_DELTA_MS * 8) as usize
    }
}

/// What one fake session observed and did, for the call it was matched to.
#[derive(Debug, Default)]
struct UpstreamSide {
    /// Decoded bytes of every append (the fake's own count).
    appended_bytes: u64,
    /// Frames tagged with this call.
    frames: u64,
    /// Frames tagged with another call, or not tagged.
    misrouted: u64,
    /// Frames whose sequence number was not found in flight (duplicate or reordered).
    out_of_order: u64,
    /// Highest sequence number seen upstream, to tell a lost tail from a lost middle.
    last_seq: Option<u32>,
    /// Caller → upstream latency per frame, µs.
    forward_us: Vec<u32>,
    /// Every delta sent, in order.
    deltas: Vec<DeltaSent>,
    /// How late each delta left against the fake agent's real-time schedule, µs.
    delta_lateness_us: Vec<u32>,
    /// Assistant item id of each reply, by reply number.
    items: Vec<String>,
    /// Instant before each `speech_started`.
    speech_started: Vec<Instant>,
    /// `(item_id, audio_end_ms)` of each `conversation.item.truncate` received.
    truncates: Vec<(String, u64)>,
    /// The fake's record of the server breaking the Realtime protocol.
    violations: Vec<String>,
    /// Scripted sends that failed before the caller hung up.
    script_errors: Vec<String>,
}

/// One `response.output_audio.delta` the fake sent.
#[derive(Debug, Clone, Copy)]
struct DeltaSent {
    /// Just before it was handed to the fake's connection.
    at: Instant,
    /// Audio bytes it carried (checked against the matching caller media).
    bytes: u32,
    /// Reply number (index into `UpstreamSide::items`).
    reply: u32,
}

impl UpstreamSide {
    /// Joins the reports of successive sessions of one call (a server that reconnects upstream).
    fn merge(sides: impl Iterator<Item = UpstreamSide>) -> UpstreamSide {
        let mut merged = UpstreamSide::default();
        for side in sides {
            let reply_offset = merged.items.len() as u32;
            merged.appended_bytes += side.appended_bytes;
            merged.frames += side.frames;
            merged.misrouted += side.misrouted;
            merged.out_of_order += side.out_of_order;
            merged.last_seq = merged.last_seq.max(side.last_seq);
            merged.forward_us.extend(side.forward_us);
            merged.delta_lateness_us.extend(side.delta_lateness_us);
            merged.deltas.extend(side.deltas.into_iter().map(|d| DeltaSent {
                reply: d.reply + reply_offset,
                ..d
            }));
            merged.items.extend(side.items);
            merged.speech_started.extend(side.speech_started);
            merged.truncates.extend(side.truncates);
            merged.violations.extend(side.violations);
            merged.script_errors.extend(side.script_errors);
        }
        merged
    }
}

/// What a session task tells the run when it ends.
#[derive(Debug)]
struct SessionEnd {
    /// A call claimed the session.
    matched: bool,
    /// Appended bytes of a session no call claimed (a claimed session reports through its call).
    unmatched_bytes: u64,
    /// Violations on a session no call claimed.
    unmatched_violations: Vec<String>,
}

/// Hands every fake session to its own task until all calls are done.
async fn dispatch(
    fake: &FakeRealtime,
    links: Arc<[Arc<CallLink>]>,
    plan: Arc<AgentPlan>,
    done: CancellationToken,
) -> JoinSet<SessionEnd> {
    let mut sessions = JoinSet::new();
    loop {
        let asked = tokio::time::Instant::now();
        tokio::select! {
            () = done.cancelled() => return sessions,
            next = fake.next_session() => match next {
                Ok(session) => {
                    sessions.spawn(serve_session(session, Arc::clone(&links), Arc::clone(&plan)));
                }
                // A timeout only means no call connected upstream for a while (a slow ramp). An error
                // that comes back at once means the fake stopped accepting.
                Err(e) if asked.elapsed() < Duration::from_secs(1) => {
                    tracing::warn!(error.message = %e, "loadtest: the fake realtime server stopped accepting");
                    done.cancelled().await;
                    return sessions;
                }
                Err(_) => {}
            }
        }
    }
}

/// Serves one fake session: finds its call from the first append, then plays the agent until the
/// server closes the session.
async fn serve_session(mut session: FakeSession, links: Arc<[Arc<CallLink>]>, plan: Arc<AgentPlan>) -> SessionEnd {
    let mut side = UpstreamSide::default();
    let (call, link, order) = loop {
        let Some(event) = session.next_event().await else {
            return unmatched(&session);
        };
        let at = Instant::now();
        if event_type(&event) != "input_audio_buffer.append" {
            continue;
        }
        let audio = append_audio(&event);
        let found = read_tag(&audio).and_then(|(call, _)| Some((call, Arc::clone(links.get(call as usize)?))));
        let Some((call, link)) = found else {
            // Not one of ours: keep reading so the server's call is undisturbed.
            while session.next_event().await.is_some() {}
            return unmatched(&session);
        };
        let mut order = 0;
        link.claims.send_modify(|c| {
            order = c.matched;
            c.matched += 1;
        });
        on_append(&link, call, &audio, at, &mut side);
        break (call, link, order);
    };

    let mut heard = link.disclosure_heard.subscribe();
    // The sender lives in `link`, so the watch never closes; the flag only keeps a closed one from
    // being polled again and again.
    let mut heard_closed = false;
    let mut script = Script::default();
    loop {
        let wake = script.next_wake();
        tokio::select! {
            biased;
            event = session.next_event() => {
                let Some(event) = event else { break };
                let at = Instant::now();
                match event_type(&event) {
                    "input_audio_buffer.append" => on_append(&link, call, &append_audio(&event), at, &mut side),
                    "conversation.item.truncate" => side.truncates.push((
                        event.get("item_id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        event.get("audio_end_ms").and_then(Value::as_u64).unwrap_or_default(),
                    )),
                    _ => {}
                }
            }
            heard_ok = async { heard.wait_for(|heard| *heard).await.is_ok() }, if !script.started && !heard_closed => {
                if heard_ok {
                    script.start(&plan, tokio::time::Instant::now());
                } else {
                    heard_closed = true;
                }
            }
            () = sleep_until_some(wake) => {
                let audio_ms = side.frames * FRAME_MS;
                if let Err(e) = script.step(&plan, &session, &mut side, audio_ms).await {
                    // Sends fail once the caller has hung up and the server closed the session;
                    // anything earlier is a real failure.
                    if !link.hung_up.load(Ordering::SeqCst) {
                        side.script_errors.push(format!("{e:#}"));
                    }
                    script.stopped = true;
                }
            }
        }
    }
    side.appended_bytes = session.appended_audio().len() as u64;
    side.violations = session.violations();
    lock(&link.reports).push((order, side));
    link.claims.send_modify(|c| c.finished += 1);
    SessionEnd {
        matched: true,
        unmatched_bytes: 0,
        unmatched_violations: Vec::new(),
    }
}

/// The end of a session no call claimed.
fn unmatched(session: &FakeSession) -> SessionEnd {
    SessionEnd {
        matched: false,
        unmatched_bytes: session.appended_audio().len() as u64,
        unmatched_violations: session.violations(),
    }
}

/// A client event's `type` ("" when it has none).
fn event_type(event: &Value) -> &str {
    event.get("type").and_then(Value::as_str).unwrap_or_default()
}

/// The decoded audio of an append (empty when it has none; the fake records that as a violation).
fn append_audio(event: &Value) -> Vec<u8> {
    event
        .get("audio")
        .and_then(Value::as_str)
        .and_then(|b64| BASE64.decode(b64).ok())
        .unwrap_or_default()
}

/// Accounts for the frames of one append and takes their forwarding latency.
fn on_append(link: &CallLink, call: u32, audio: &[u8], at: Instant, side: &mut UpstreamSide) {
    for frame in audio.chunks(FRAME_BYTES) {
        let seq = match read_tag(frame) {
            Some((c, seq)) if c == call => seq,
            _ => {
                side.misrouted += 1;
                continue;
            }
        };
        side.frames += 1;
        side.last_seq = side.last_seq.max(Some(seq));
        let mut in_flight = lock(&link.in_flight);
        // Older entries still queued belong to frames that never arrived; the count shows as lost.
        while in_flight.front().is_some_and(|(s, _)| *s < seq) {
            in_flight.pop_front();
        }
        match in_flight.front() {
            Some(&(s, sent)) if s == seq => {
                in_flight.pop_front();
                side.forward_us.push(micros(at.saturating_duration_since(sent)));
            }
            _ => side.out_of_order += 1,
        }
    }
}

/// The fake agent of one session: a small timer-driven state machine. It doesn't hold the session,
/// because the session task has to keep reading events between steps.
#[derive(Debug, Default)]
struct Script {
    /// Set once the caller has heard the disclosure.
    started: bool,
    /// Set after a failed send: the session is ending.
    stopped: bool,
    /// When the next reply begins (`None`: the agent never speaks).
    next_reply_at: Option<tokio::time::Instant>,
    /// When the next barge-in period comes (`None`: no barge-in).
    next_barge_in_at: Option<tokio::time::Instant>,
    /// A barge-in period has come; fire during the next reply, once enough of it is queued.
    barge_in_pending: bool,
    /// The fake caller is speaking until then.
    speech_stops_at: Option<tokio::time::Instant>,
    replying: Option<Reply>,
}

/// The reply being sent.
#[derive(Debug)]
struct Reply {
    /// Response and item ids, for the deltas and the end.
    ids: ResponseIds,
    /// Reply number within the session.
    number: u32,
    /// Deltas sent so far.
    sent: usize,
    /// The next delta's slot on the real-time schedule.
    next_delta_at: tokio::time::Instant,
    /// When the scheduled barge-in fires, if one is scheduled.
    barge_in_at: Option<tokio::time::Instant>,
}

impl Script {
    fn start(&mut self, plan: &AgentPlan, now: tokio::time::Instant) {
        self.started = true;
        self.next_reply_at = plan.agent_every.map(|every| now + every);
        self.next_barge_in_at = plan.barge_in_every.map(|every| now + every);
    }

    /// When `step` has something to do next.
    fn next_wake(&self) -> Option<tokio::time::Instant> {
        if !self.started || self.stopped {
            return None;
        }
        let speech = match &self.replying {
            Some(reply) => Some(
                reply
                    .barge_in_at
                    .map_or(reply.next_delta_at, |at| at.min(reply.next_delta_at)),
            ),
            None if self.speech_stops_at.is_none() => self.next_reply_at,
            None => None,
        };
        [self.speech_stops_at, self.next_barge_in_at, speech]
            .into_iter()
            .flatten()
            .min()
    }

    /// Does what is due. `audio_ms` is how much caller audio has reached this session.
    async fn step(
        &mut self,
        plan: &AgentPlan,
        session: &FakeSession,
        side: &mut UpstreamSide,
        audio_ms: u64,
    ) -> anyhow::Result<()> {
        let now = tokio::time::Instant::now();
        if self.speech_stops_at.is_some_and(|at| at <= now) {
            self.speech_stops_at = None;
            session.speech_stopped(audio_ms).await?;
        }
        if let (Some(at), Some(every)) = (self.next_barge_in_at, plan.barge_in_every)
            && at <= now
        {
            self.barge_in_pending = true;
            self.next_barge_in_at = Some(next_period(at, every, now));
        }
        if let Some(reply) = self.replying.as_mut() {
            if reply.barge_in_at.is_some_and(|at| at <= now) {
                side.speech_started.push(Instant::now());
                session.speech_started(audio_ms).await?;
                self.speech_stops_at = Some(now + BARGE_IN_SPEECH);
                if let Some(reply) = self.replying.take() {
                    // A no-op when the fake already cancelled it (`interrupt_response`, the server's
                    // setting); otherwise it ends the reply properly.
                    session.end_response(&reply.ids, "").await?;
                }
                return Ok(());
            }
            if reply.next_delta_at > now {
                return Ok(());
            }
            let delta_bytes = AgentPlan::delta_bytes();
            if let Some(chunk) = plan.reply.chunks(delta_bytes).nth(reply.sent) {
                let at = Instant::now();
                side.delta_lateness_us.push(micros(
                    tokio::time::Instant::now().saturating_duration_since(reply.next_delta_at),
                ));
                session.audio_delta(&reply.ids, chunk).await?;
                side.deltas.push(DeltaSent {
                    at,
                    bytes: chunk.len() as u32,
                    reply: reply.number,
                });
                reply.sent += 1;
                reply.next_delta_at += Duration::from_millis(AGENT_DELTA_MS);
            }
            if reply.sent * delta_bytes >= plan.reply.len() {
                if let Some(reply) = self.replying.take() {
                    session
                        .end_response(&reply.ids, "One moment, let me check that for you.")
                        .await?;
                }
            } else if self.barge_in_pending && reply.sent >= BARGE_IN_AFTER_DELTAS {
                self.barge_in_pending = false;
                reply.barge_in_at = Some(now + Duration::from_millis(AGENT_DELTA_MS / 2));
            }
            return Ok(());
        }
        if self.replying.is_none()
            && self.speech_stops_at.is_none()
            && let (Some(at), Some(every)) = (self.next_reply_at, plan.agent_every)
            && at <= now
        {
            self.next_reply_at = Some(next_period(at, every, now));
            let ids = session.begin_response().await?;
            side.items.push(ids.item_id.clone());
            self.replying = Some(Reply {
                ids,
                number: side.items.len() as u32 - 1,
                sent: 0,
                next_delta_at: now + FIRST_DELTA_AFTER,
                barge_in_at: None,
            });
        }
        Ok(())
    }
}

/// The next period after `at`; if that is already past (a late step), one period from now.
fn next_period(at: tokio::time::Instant, every: Duration, now: tokio::time::Instant) -> tokio::time::Instant {
    let next = at + every;
    if next <= now { now + every } else { next }
}

/// Sleeps until `at`, or forever when there is nothing to wake for.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

// ---------------------------------------------------------------------------------------------
// Putting both sides together

/// Per-call results that need the caller's timeline and the fake's log side by side.
#[derive(Debug, Default, PartialEq)]
struct CallAnalysis {
    /// Media messages after the disclosure.
    agent_media: u64,
    /// Of those, media not matched to a delta.
    agent_media_unmatched: u64,
    /// `clear` messages received.
    clears: u64,
    /// Delta sent → media received, µs.
    up_to_caller_us: Vec<u32>,
    /// |inter-arrival − ideal| within a reply, µs.
    jitter_us: Vec<u32>,
    /// `speech_started` sent → `clear` received, µs.
    barge_in_us: Vec<u32>,
    /// |truncate `audio_end_ms` − heard|, µs.
    truncation_error_us: Vec<u32>,
}

/// Agent media as the caller received it.
#[derive(Debug, Clone, Copy)]
struct AgentMedia {
    /// Arrival at the caller.
    at: Instant,
    /// Decoded audio bytes.
    bytes: u64,
    /// Played position (bytes) at which this media's first byte is due: everything received before
    /// it, minus what clears discarded.
    due_at_played: u64,
    /// Clears received before it: the next clear, if any, is `clears[clears_before]`.
    clears_before: usize,
}

/// Correlates the caller's timeline with what the fake sent.
///
/// Agent media are the media after the `disclosure` mark (the agent speaks only after it has been
/// heard). If the server sent no such mark, they are the media that arrived after the first delta.
/// The n-th agent media is the n-th delta (the server forwards one message per delta); matching
/// stops at the first size mismatch.
fn analyze(timeline: &[Received], clears: &[ClearRecord], up: &UpstreamSide) -> CallAnalysis {
    let has_disclosure_mark = timeline
        .iter()
        .any(|r| matches!(r, Received::Mark { name, .. } if name == DISCLOSURE_MARK));
    let first_delta = up.deltas.first().map(|d| d.at);
    let mut after_disclosure = false;
    let (mut received, mut discarded) = (0u64, 0u64);
    let mut media = Vec::new();
    let mut clear_list: Vec<(Instant, u64)> = Vec::new();
    for entry in timeline {
        match entry {
            Received::Media { bytes, at } => {
                let is_agent = if has_disclosure_mark {
                    after_disclosure
                } else {
                    first_delta.is_some_and(|first| *at >= first)
                };
                if is_agent {
                    media.push(AgentMedia {
                        at: *at,
                        bytes: *bytes as u64,
                        due_at_played: received - discarded,
                        clears_before: clear_list.len(),
                    });
                }
                received += *bytes as u64;
            }
            Received::Mark { name, .. } => after_disclosure |= name == DISCLOSURE_MARK,
            Received::Clear { at } => {
                let record = clears.get(clear_list.len()).cloned().unwrap_or(ClearRecord {
                    played_bytes: received - discarded,
                    discarded: 0,
                });
                discarded += record.discarded;
                clear_list.push((*at, record.played_bytes));
            }
        }
    }

    let mut out = CallAnalysis {
        agent_media: media.len() as u64,
        clears: clear_list.len() as u64,
        ..CallAnalysis::default()
    };
    let matched = media
        .iter()
        .zip(&up.deltas)
        .take_while(|(m, d)| m.bytes == u64::from(d.bytes))
        .count();
    out.agent_media_unmatched = (media.len() - matched) as u64;
    for n in 0..matched {
        let (m, d) = (&media[n], &up.deltas[n]);
        out.up_to_caller_us.push(micros(m.at.saturating_duration_since(d.at)));
        if n > 0 && up.deltas[n - 1].reply == d.reply {
            let ideal_us = i64::from(up.deltas[n - 1].bytes) * 125;
            let actual_us = micros(m.at.saturating_duration_since(media[n - 1].at));
            out.jitter_us
                .push(u32::try_from((i64::from(actual_us) - ideal_us).unsigned_abs()).unwrap_or(u32::MAX));
        }
    }

    // Barge-in: each speech_started against the first clear after it (and before the next one).
    let mut next_clear = 0;
    for (k, started) in up.speech_started.iter().enumerate() {
        let until = up.speech_started.get(k + 1);
        while clear_list.get(next_clear).is_some_and(|(at, _)| at < started) {
            next_clear += 1;
        }
        if let Some((at, _)) = clear_list.get(next_clear)
            && until.is_none_or(|until| at < until)
        {
            out.barge_in_us.push(micros(at.saturating_duration_since(*started)));
            next_clear += 1;
        }
    }

    // Truncation: the item's first media tells where its audio began on the caller's player and which
    // clear cut it; the caller's played bytes at that clear give what was really heard.
    for (item_id, audio_end_ms) in &up.truncates {
        let Some(reply) = up.items.iter().position(|i| i == item_id) else {
            continue;
        };
        let Some(first) = up.deltas[..matched].iter().position(|d| d.reply as usize == reply) else {
            continue;
        };
        let start = media[first];
        let Some(&(_, played_at_clear)) = clear_list.get(start.clears_before) else {
            continue;
        };
        let delivered: u64 = media[first..matched]
            .iter()
            .zip(&up.deltas[first..matched])
            .take_while(|(m, d)| d.reply as usize == reply && m.clears_before == start.clears_before)
            .map(|(m, _)| m.bytes)
            .sum();
        let heard_bytes = played_at_clear.saturating_sub(start.due_at_played).min(delivered);
        // 8 bytes per ms: one byte is 125 µs.
        let error_us = (i128::from(*audio_end_ms) * 1000 - i128::from(heard_bytes) * 125).unsigned_abs();
        out.truncation_error_us
            .push(u32::try_from(error_us).unwrap_or(u32::MAX));
    }
    out
}

/// Sums the calls into the report (resource figures are filled in by `run`).
fn aggregate(
    options: &LoadtestOptions,
    outcomes: Vec<CallOutcome>,
    sessions: &[SessionEnd],
    wall: Duration,
) -> LoadtestReport {
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let mut notes: Vec<String> = Vec::new();
    let mut note = |text: String| {
        if notes.len() < MAX_NOTES && !notes.contains(&text) {
            notes.push(text);
        }
    };
    let mut pacing = Vec::new();
    let mut agent_lateness = Vec::new();
    let (mut forward, mut up_to_caller, mut jitter, mut barge_in, mut truncation) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut report = LoadtestReport {
        calls: options.calls,
        duration_s: options.duration.as_secs_f64(),
        ramp_s: options.ramp.as_secs_f64(),
        agent_every_s: options.agent_every.as_secs_f64(),
        barge_in_every_s: options.barge_in_every.map(|d| d.as_secs_f64()),
        wall_s: wall.as_secs_f64(),
        calls_established: 0,
        calls_failed: 0,
        calls_ended_early: 0,
        failures: BTreeMap::new(),
        upstream_sessions: sessions.len(),
        upstream_sessions_unmatched: 0,
        frames_sent: 0,
        frames_received_upstream: 0,
        frames_lost: 0,
        frames_misrouted: 0,
        frames_out_of_order: 0,
        agent_responses: 0,
        agent_deltas_sent: 0,
        agent_media_received: 0,
        agent_media_unmatched: 0,
        barge_ins: 0,
        clears_received: 0,
        truncates_received: 0,
        upstream_violations: 0,
        caller_malformed: 0,
        script_errors: 0,
        notes: Vec::new(),
        latency_caller_to_upstream: Percentiles::default(),
        latency_upstream_to_caller: Percentiles::default(),
        agent_media_jitter: Percentiles::default(),
        barge_in_latency: Percentiles::default(),
        truncation_error: Percentiles::default(),
        tester_pacing_lateness: Percentiles::default(),
        agent_send_lateness: Percentiles::default(),
        limited_by_load_tester: false,
        server: None,
        load_tester: TesterUsage {
            cpu_s: 0.0,
            cpu_percent_of_one_core: 0.0,
        },
    };
    let mut received_bytes = 0u64;
    for session in sessions.iter().filter(|s| !s.matched) {
        report.upstream_sessions_unmatched += 1;
        received_bytes += session.unmatched_bytes;
        report.upstream_violations += session.unmatched_violations.len() as u64;
        session.unmatched_violations.iter().for_each(|v| note(v.clone()));
    }
    for call in outcomes {
        pacing.extend(call.pacing_us);
        if call.established {
            // Frames a refused call wrote before it saw the close were never going to arrive.
            report.frames_sent += call.frames_sent;
            report.calls_established += 1;
        } else {
            report.calls_failed += 1;
        }
        for reason in call.failure.into_iter().chain(call.ended_early.iter().cloned()) {
            *failures.entry(reason).or_default() += 1;
        }
        report.calls_ended_early += usize::from(call.ended_early.is_some());
        report.caller_malformed += call.caller_malformed.len() as u64;
        call.caller_malformed
            .into_iter()
            .for_each(|m| note(format!("malformed server message: {m}")));
        call.notes.into_iter().for_each(&mut note);
        if let Some(up) = call.upstream {
            received_bytes += up.appended_bytes;
            report.frames_misrouted += up.misrouted;
            report.frames_out_of_order += up.out_of_order;
            report.agent_responses += up.items.len() as u64;
            report.agent_deltas_sent += up.deltas.len() as u64;
            report.barge_ins += up.speech_started.len() as u64;
            report.truncates_received += up.truncates.len() as u64;
            report.upstream_violations += up.violations.len() as u64;
            report.script_errors += up.script_errors.len() as u64;
            up.violations
                .into_iter()
                .for_each(|v| note(format!("upstream violation: {v}")));
            up.script_errors
                .into_iter()
                .for_each(|e| note(format!("script error: {e}")));
            forward.extend(up.forward_us);
            agent_lateness.extend(up.delta_lateness_us);
        }
        let a = call.analysis;
        report.agent_media_received += a.agent_media;
        report.agent_media_unmatched += a.agent_media_unmatched;
        report.clears_received += a.clears;
        up_to_caller.extend(a.up_to_caller_us);
        jitter.extend(a.jitter_us);
        barge_in.extend(a.barge_in_us);
        truncation.extend(a.truncation_error_us);
    }
    report.frames_received_upstream = received_bytes / FRAME_BYTES as u64;
    report.frames_lost = report.frames_sent.saturating_sub(report.frames_received_upstream);
    report.failures = failures;
    report.notes = notes;
    report.latency_caller_to_upstream = Percentiles::of(forward);
    report.latency_upstream_to_caller = Percentiles::of(up_to_caller);
    report.agent_media_jitter = Percentiles::of(jitter);
    report.barge_in_latency = Percentiles::of(barge_in);
    report.truncation_error = Percentiles::of(truncation);
    report.tester_pacing_lateness = Percentiles::of(pacing);
    report.agent_send_lateness = Percentiles::of(agent_lateness);
    report.limited_by_load_tester = report.tester_pacing_lateness.p99_ms > f64::from(TESTER_LATENESS_LIMIT_US) / 1000.0;
    report
}

// ---------------------------------------------------------------------------------------------
// /proc

/// (utime, stime) of `/proc/<pid>/stat` in clock ticks (`pid` may be `self`).
fn cpu_ticks(pid: &str) -> Option<(u64, u64)> {
    parse_cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Fields 14 and 15 of a stat line. The command name (field 2) may contain spaces and parentheses,
/// so counting starts after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// The CPU counter of `pid` once it stops moving (two equal readings [`CPU_SETTLE_EVERY`] apart, for at
/// most [`CPU_SETTLE_MAX`]). The server closes the caller socket before it finalises the call
/// (recording, audit, call row), and that work belongs in the per-call cost.
async fn settled_cpu_ticks(pid: &str) -> Option<(u64, u64)> {
    let deadline = tokio::time::Instant::now() + CPU_SETTLE_MAX;
    let mut last = cpu_ticks(pid)?;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(CPU_SETTLE_EVERY).await;
        let now = cpu_ticks(pid)?;
        if now == last {
            break;
        }
        last = now;
    }
    Some(last)
}

/// `VmRSS` of `/proc/<pid>/status`, in KiB.
fn rss_kib(pid: &str) -> Option<u64> {
    parse_rss_kib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

fn parse_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `getconf CLK_TCK`, read once per run; [`DEFAULT_CLK_TCK`] if that fails.
fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(DEFAULT_CLK_TCK)
}

/// Highest RSS seen until `done`.
async fn sample_peak_rss(pid: String, done: CancellationToken) -> u64 {
    let mut peak = 0;
    let mut ticker = tokio::time::interval(RSS_SAMPLE_EVERY);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = done.cancelled() => return peak,
            _ = ticker.tick() => peak = peak.max(rss_kib(&pid).unwrap_or(0)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// A duration in whole µs, saturating at `u32::MAX` (71 minutes: far beyond any latency measured here).
fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Locks shared records. A panic while one was held leaves plain data that is still worth reporting,
/// so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KeyedSecret, Settings};
    use crate::startup::Application;
    use crate::testkit::fake_realtime::FakeRealtimeConfig;

    const AUTH_TOKEN: &str = "loadtest-auth-token";
    const PUBLIC_BASE: &str = "https://load.test.example";

    #[test]
    fn tags_round_trip_and_never_contain_0xff() {
        for (call, seq) in [(0, 0), (1, 2), (4242, 149_999), (TAG_MAX, TAG_MAX)] {
            let t = tag(call, seq);
            assert!(t.iter().all(|b| *b < 0x80), "{t:?}");
            assert_eq!(read_tag(&t), Some((call, seq)));
        }
        assert_eq!(read_tag(&[0xFF; 160]), None, "silence is not a tag");
        assert_eq!(read_tag(&[0; 7]), None, "too short");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!((p.count, p.p50_ms, p.p99_ms, p.max_ms), (100, 50.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(vec![7000]).p99_ms, 7.0);
        assert_eq!(Percentiles::of(Vec::new()).count, 0);
    }

    #[test]
    fn proc_fields_are_parsed_after_the_command_name() {
        let stat = "4242 (tokio (rt) x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9 0 100 2000 300";
        assert_eq!(parse_cpu_ticks(stat), Some((250, 50)));
        assert_eq!(parse_rss_kib("Name:\tx\nVmRSS:\t   12345 kB\n"), Some(12345));
        assert!(cpu_ticks("self").is_some() && rss_kib("self").is_some());
    }

    #[test]
    fn analysis_correlates_deltas_clears_and_truncation() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let delta = |at: u64, reply: u32| DeltaSent {
            at: ms(at),
            bytes: 800,
            reply,
        };
        let up = UpstreamSide {
            items: vec!["item_a".into(), "item_b".into()],
            deltas: vec![
                delta(1000, 0),
                delta(1100, 0),
                delta(2000, 1),
                delta(2100, 1),
                delta(2200, 1),
            ],
            speech_started: vec![ms(2250)],
            truncates: vec![("item_b".into(), 240)],
            ..UpstreamSide::default()
        };
        let media = |at: u64| Received::Media { bytes: 800, at: ms(at) };
        let timeline = vec![
            Received::Media { bytes: 400, at: ms(10) },
            Received::Mark {
                name: DISCLOSURE_MARK.into(),
                at: ms(11),
            },
            media(1002),
            media(1103),
            media(2001),
            media(2102),
            media(2203),
            Received::Clear { at: ms(2255) },
        ];
        // Before item_b: 400 + 1600 bytes played; 250 ms of item_b (2000 bytes) heard at the clear.
        let clears = [ClearRecord {
            played_bytes: 4000,
            discarded: 400,
        }];
        let a = analyze(&timeline, &clears, &up);
        assert_eq!((a.agent_media, a.agent_media_unmatched, a.clears), (5, 0, 1));
        assert_eq!(a.up_to_caller_us, [2000, 3000, 1000, 2000, 3000]);
        assert_eq!(a.jitter_us, [1000, 1000, 1000]);
        assert_eq!(a.barge_in_us, [5000]);
        assert_eq!(a.truncation_error_us, [10_000]);
    }

    /// Writes a 0.1 s mono 16-bit 8 kHz WAV: a short, quiet disclosure.
    fn tiny_disclosure(path: &std::path::Path) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut wav = hound::WavWriter::create(path, spec).expect("create wav");
        for i in 0..800 {
            let sample = (f32::sin(i as f32 * 0.3) * 2000.0) as i16;
            wav.write_sample(sample).expect("sample");
        }
        wav.finalize().expect("finalize wav");
    }

    /// The real server, in-process, with its upstream pointed at `fake`.
    struct TestServer {
        base: String,
        stop_tx: tokio::sync::oneshot::Sender<()>,
        serving: tokio::task::JoinHandle<anyhow::Result<()>>,
        _data: tempfile::TempDir,
    }

    impl TestServer {
        async fn start(fake: &FakeRealtime) -> TestServer {
            let data = tempfile::tempdir().expect("tempdir");
            let wav = data.path().join("disclosure.wav");
            tiny_disclosure(&wav);
            let mut settings = Settings::embedded().expect("settings");
            settings.server.port = 0;
            settings.server.data_dir = data.path().join("server");
            settings.server.public_base_url = PUBLIC_BASE.into();
            settings.realtime.url = fake.url();
            settings.realtime.api_key = Some(KeyedSecret::parse("sk-loadtest"));
            settings.twilio.auth_token = Some(KeyedSecret::parse(AUTH_TOKEN));
            settings.call.disclosure_wav = Some(wav);
            let app = Application::build(settings).await.expect("build");
            let base = format!("http://127.0.0.1:{}", app.port());
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let serving = tokio::spawn(app.run_until_stopped(async move {
                let _ = stop_rx.await;
            }));
            TestServer {
                base,
                stop_tx,
                serving,
                _data: data,
            }
        }

        fn options(&self, calls: usize, duration: Duration) -> LoadtestOptions {
            LoadtestOptions {
                calls,
                duration,
                server: self.base.clone(),
                public_base: PUBLIC_BASE.into(),
                auth_token: AUTH_TOKEN.as_bytes().to_vec(),
                server_pid: Some(std::process::id()),
                agent_every: Duration::from_secs(1),
                barge_in_every: Some(Duration::from_secs(2)),
                ramp: Duration::from_millis(500),
            }
        }

        async fn stop(self) {
            let _ = self.stop_tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(15), self.serving).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn five_calls_against_the_real_server() {
        let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await.expect("fake");
        let server = TestServer::start(&fake).await;
        let report = run(server.options(5, Duration::from_secs(3)), &fake)
            .await
            .expect("run");
        println!("{}", report.table());
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["calls_established"], 5);

        let table = report.table();
        assert_eq!(report.calls_established, 5, "{table}");
        assert_eq!(report.frames_sent, 5 * 150, "{table}");
        assert_eq!(report.frames_lost, 0, "{table}");
        for (name, p) in [
            ("caller -> upstream", report.latency_caller_to_upstream),
            ("upstream -> caller", report.latency_upstream_to_caller),
            ("jitter", report.agent_media_jitter),
            ("barge-in", report.barge_in_latency),
            ("truncation", report.truncation_error),
            ("pacing", report.tester_pacing_lateness),
        ] {
            assert!(p.count > 0, "no {name} samples\n{table}");
        }
        assert!(report.truncation_error.p99_ms <= 40.0, "{table}");
        assert!(report.server.is_some(), "{table}");
        server.stop().await;
    }

    #[tokio::test]
    async fn failed_calls_are_counted_with_their_reason() {
        let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await.expect("fake");
        let server = TestServer::start(&fake).await;
        let mut options = server.options(2, Duration::from_millis(100));
        options.auth_token = b"not-the-token".to_vec();
        options.server_pid = None;
        let report = run(options, &fake).await.expect("run");
        assert_eq!(
            (report.calls_established, report.calls_failed),
            (0, 2),
            "{}",
            report.table()
        );
        assert_eq!(
            report.failures.get("webhook answered HTTP 403"),
            Some(&2),
            "{}",
            report.table()
        );
        assert!(report.server.is_none());
        assert!(report.table().contains("some calls failed"));
        server.stop().await;
    }
}
