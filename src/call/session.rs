//! The call session: one task bridging a caller and the realtime upstream.
//!
//! It owns everything about the call (STYLE §2): the media clock and playout model, the response
//! and conversation state, the recorder channel, the upstream handle (replaceable: nothing the call
//! needs lives only inside it), and the timers. Its `select!` loop reacts to caller events,
//! upstream events, timers and cancellation; whatever ends the loop, [`Session::finalize`] runs.
//!
//! Channel policies: caller-bound audio is perishable (on barge-in the session sends `clear`);
//! upstream-bound events and recorder chunks are awaited (backpressure, never loss); caller audio
//! that arrives before the upstream is configured is buffered in order, never dropped.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::audio::mulaw;
use crate::audit::{Actor, AuditEvent, AuditOutcome};
use crate::call::clock::{MarkOutcome, MediaClock, Playout};
use crate::call::registry::{Farewell, NextStep};
use crate::call::state::{
    CallState, ConversationItem, LogEntry, ReconnectPolicy, ResponseRequest, Speaker, truncation_ms,
};
use crate::call::{CallDeps, CallId};
use crate::realtime::client::{UpstreamClosed, UpstreamError, UpstreamEvent, UpstreamHandle};
use crate::realtime::events::{self, AudioFormat, ServerEvent};
use crate::recording::recorder::{AuditPosition, ToolCallEntry, TranscriptSegment, TruncationEntry};
use crate::recording::{AudioChunk, Leg, ManifestInput, RecorderHandle};
use crate::safety::red_flag::{Category, Language, Script};
use crate::transport::{AgentState, CallerCommand, CallerEvent, TranscriptSpeaker, TranscriptText, TransportError};

/// Name of the mark sent after the disclosure; its echo proves the caller heard all of it.
pub const DISCLOSURE_MARK: &str = "disclosure";

/// Prefix of the mark sent after a red-flag script (`safety-1`, `safety-2`): its echo means the
/// caller heard the whole script, and only then may the model speak again.
pub const SAFETY_MARK_PREFIX: &str = "safety-";

/// Server prompts (disclosure, safety scripts) are sent in chunks of one second: few messages,
/// and both Twilio and the page accept any payload length.
const PROMPT_CHUNK_MS: usize = 1000;

/// Most agent audio held while the disclosure plays (60 s); beyond it the oldest is dropped with a
/// warning rather than growing without bound.
const MAX_HELD_AGENT_MS: u64 = 60_000;

/// Caller audio is handed to the recorder in batches of this many milliseconds: one channel send
/// and one recorder wake-up per batch instead of per 20 ms frame (the recorder's spool is written
/// in 64 KiB blocks anyway, so a crash loses no more than before).
const RECORD_BATCH_MS: u64 = 100;

/// Extra room in the pre-upstream buffer beyond the connect timeout.
const PRE_UPSTREAM_SLACK: Duration = Duration::from_secs(5);

/// What the transport reader tells the session.
#[derive(Debug)]
pub enum CallerInput {
    Event(CallerEvent),
    Error(TransportError),
    /// The socket closed without a `stop`.
    Closed,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Twilio `stop`: the caller hung up.
    HungUp,
    /// The caller socket closed without `stop`.
    CallerGone,
    /// The caller side broke the protocol.
    CallerProtocol(String),
    /// The upstream could not be reached at the start of the call.
    UpstreamUnavailable(&'static str),
    /// The upstream ended mid-call.
    UpstreamLost(&'static str),
    /// The caller stayed silent after the idle prompt.
    Idle,
    /// The maximum call length was reached.
    MaxDuration,
    /// The server is shutting down.
    Shutdown,
    /// The caller asked for staff; Twilio dials the staff line next.
    Transferred,
    /// The keypad fallback finished (a callback was queued, or nobody answered the menu).
    KeypadDone,
}

impl Outcome {
    /// Metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::HungUp => "hung_up",
            Outcome::CallerGone => "caller_gone",
            Outcome::CallerProtocol(_) => "caller_protocol",
            Outcome::UpstreamUnavailable(_) => "upstream_unavailable",
            Outcome::UpstreamLost(_) => "upstream_lost",
            Outcome::Idle => "idle",
            Outcome::MaxDuration => "max_duration",
            Outcome::Shutdown => "shutdown",
            Outcome::Transferred => "transferred",
            Outcome::KeypadDone => "keypad",
        }
    }

    /// What Twilio should do after the stream (None when the caller is gone).
    fn next_step(&self) -> Option<NextStep> {
        match self {
            Outcome::HungUp | Outcome::CallerGone => None,
            Outcome::CallerProtocol(_) | Outcome::UpstreamUnavailable(_) | Outcome::UpstreamLost(_) => {
                Some(NextStep::Unavailable)
            }
            Outcome::Idle => Some(NextStep::Goodbye(Farewell::Idle)),
            Outcome::MaxDuration => Some(NextStep::Goodbye(Farewell::MaxDuration)),
            Outcome::Shutdown => Some(NextStep::Goodbye(Farewell::Shutdown)),
            Outcome::Transferred => Some(NextStep::TransferToStaff),
            // The keypad said its own goodbye.
            Outcome::KeypadDone => Some(NextStep::Hangup),
        }
    }
}

/// The call's record when it ends (later persisted by the storage issue).
#[derive(Debug, Clone)]
pub struct CallSummary {
    pub call_id: CallId,
    /// Twilio's CallSid (None for browser calls).
    pub call_sid: Option<String>,
    pub outcome: Outcome,
    pub disclosure_played: bool,
    pub caller_frames: u64,
    /// Caller frames held until the upstream was configured, then sent in order.
    pub frames_buffered_before_upstream: u64,
    pub barge_ins: u64,
    pub truncations: Vec<u32>,
    pub recorder: crate::recording::RecorderStats,
    /// Where the recording went (None when it could not be stored; the spool is retried at start).
    pub recording: Option<crate::recording::StoredRecording>,
    pub log: Vec<LogEntry>,
}

/// The transport label of a leg format.
pub fn transport_of(format: AudioFormat) -> &'static str {
    match format {
        AudioFormat::Pcmu => "twilio",
        AudioFormat::Pcm24k => "browser",
    }
}

/// Samples per second of a leg format (the recording's native rate).
pub fn format_rate(format: AudioFormat) -> u32 {
    (format.samples_per_ms() * 1000) as u32
}

/// Decode leg audio (μ-law, or PCM16 little-endian) into `out` (appended), for the recorder.
pub fn decode_leg(format: AudioFormat, bytes: &[u8], out: &mut Vec<i16>) {
    match format {
        AudioFormat::Pcmu => mulaw::decode_into(bytes, out),
        AudioFormat::Pcm24k => out.extend(bytes.chunks_exact(2).map(|pair| i16::from_le_bytes([pair[0], pair[1]]))),
    }
}

/// A server prompt (disclosure, safety script) in a leg's format, as bytes on the wire.
fn prompt_bytes(format: AudioFormat, prompt: &crate::audio::asset::Prompt) -> std::borrow::Cow<'_, [u8]> {
    match format {
        AudioFormat::Pcmu => std::borrow::Cow::Borrowed(&prompt.mulaw_8k),
        AudioFormat::Pcm24k => std::borrow::Cow::Owned(prompt.pcm_24k.iter().flat_map(|s| s.to_le_bytes()).collect()),
    }
}

/// How a browser call's close reads on the page (code, short PHI-free reason); Twilio calls
/// continue with TwiML instead, so their reason only says whether the call goes on.
fn close_for(format: AudioFormat, outcome: &Outcome) -> (u16, &'static str) {
    match (format, outcome) {
        (_, Outcome::HungUp | Outcome::CallerGone) => (1000, "call ended"),
        (AudioFormat::Pcmu, _) => (1000, "continuing call"),
        (AudioFormat::Pcm24k, Outcome::Idle) => (1000, "ended after a long silence"),
        (AudioFormat::Pcm24k, Outcome::MaxDuration) => (1000, "maximum call length reached"),
        (AudioFormat::Pcm24k, Outcome::Transferred | Outcome::KeypadDone) => (1000, "call ended"),
        (AudioFormat::Pcm24k, Outcome::Shutdown) => (1001, "server restarting"),
        (AudioFormat::Pcm24k, Outcome::CallerProtocol(_)) => (1008, "protocol error"),
        (AudioFormat::Pcm24k, Outcome::UpstreamUnavailable(_) | Outcome::UpstreamLost(_)) => {
            (1011, "assistant unavailable")
        }
    }
}

/// The `call.ended` audit record; never lost (spooled when the database is down at hang-up).
/// Returns its chain position when it was appended.
#[allow(clippy::too_many_arguments)]
async fn audit_call_ended(
    deps: &CallDeps,
    id: &CallId,
    started_at_ms: u64,
    ended_at_ms: u64,
    transport: &'static str,
    outcome: &Outcome,
    disclosure_played: bool,
    caller_frames: u64,
    barge_ins: u64,
) -> Option<crate::audit::AuditReceipt> {
    let event = AuditEvent {
        actor: Actor::Agent {
            call_id: id.to_string(),
        },
        action: "call.ended".into(),
        call_id: Some(id.to_string()),
        patient: None,
        reason: None,
        outcome: AuditOutcome::Success,
        details: serde_json::json!({
            "outcome": outcome.label(),
            "transport": transport,
            "disclosure_played": disclosure_played,
            "duration_ms": ended_at_ms.saturating_sub(started_at_ms),
            "caller_frames": caller_frames,
            "barge_ins": barge_ins,
        }),
        at_ms: ended_at_ms,
    };
    match deps.audit.append_or_spool(&event).await {
        Ok(crate::audit::AuditDisposition::Appended(receipt)) => Some(receipt),
        Ok(crate::audit::AuditDisposition::Spooled) => None,
        Err(e) => {
            tracing::error!(call_id = %id, error.message = %e, "call.ended audit record could not be stored or spooled");
            None
        }
    }
}

/// `recording.stored`: where the recording went and how to check it (no PHI).
async fn audit_recording_stored(deps: &CallDeps, id: &CallId, stored: &crate::recording::StoredRecording) {
    let event = AuditEvent {
        actor: Actor::Agent {
            call_id: id.to_string(),
        },
        action: "recording.stored".into(),
        call_id: Some(id.to_string()),
        patient: None,
        reason: None,
        outcome: AuditOutcome::Success,
        details: serde_json::json!({
            "object_key": stored.wav_key,
            "manifest_key": stored.manifest_key,
            "sha256": stored.wav_sha256,
            "key_id": stored.key_id,
            "sample_rate": stored.sample_rate,
            "duration_ms": stored.duration_ms,
            "incomplete": stored.incomplete,
        }),
        at_ms: deps.clock.now_unix_ms(),
    };
    if let Err(e) = deps.audit.append_or_spool(&event).await {
        tracing::error!(call_id = %id, error.message = %e, "recording.stored audit record could not be stored or spooled");
    }
}

/// The task connecting a call's upstream (started before the caller's handshake completes).
pub type UpstreamConnecting = JoinHandle<Result<(UpstreamHandle, mpsc::Receiver<UpstreamEvent>), UpstreamError>>;

/// Where the upstream connection stands.
enum Upstream {
    /// The call's first connection.
    Connecting(UpstreamConnecting),
    Ready(UpstreamHandle, mpsc::Receiver<UpstreamEvent>),
    /// Replacing a lost (or recycled) connection: the task waits its back-off, then connects.
    Reconnecting(UpstreamConnecting),
    Gone,
}

/// Why the session is replacing its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replacement {
    /// The connection was lost mid-call.
    Lost,
    /// A planned move to a fresh session before the time limit, at a pause.
    Recycle,
}

/// What the upstream branch of the loop produced.
enum UpstreamStep {
    Connected(Result<Result<(UpstreamHandle, mpsc::Receiver<UpstreamEvent>), UpstreamError>, tokio::task::JoinError>),
    Event(Option<UpstreamEvent>),
}

/// A caller frame waiting for an upstream, already in its `input_audio_buffer.append` form.
struct PendingAudio {
    timestamp_ms: u64,
    frame: String,
    origin: Instant,
}

/// Agent audio waiting for the disclosure to finish.
struct HeldAudio {
    item: Arc<str>,
    b64: String,
    samples: Vec<i16>,
    origin: Instant,
}

/// Idle handling: prompt once, then end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdleStage {
    Waiting,
    Prompted,
}

/// One call's state and channels.
pub struct Session {
    id: CallId,
    /// Twilio's CallSid; None for browser calls (no TwiML continues them).
    call_sid: Option<String>,
    /// Wall-clock start (ms since the epoch), for the call row and audit records.
    started_at_ms: u64,
    deps: CallDeps,
    format: AudioFormat,
    caller_rx: mpsc::Receiver<CallerInput>,
    caller_tx: mpsc::Sender<CallerCommand>,
    writer: JoinHandle<()>,
    upstream: Upstream,
    recorder: RecorderHandle,
    clock: MediaClock,
    playout: Playout,
    state: CallState,
    cancel: CancellationToken,
    /// Caller frames waiting for the upstream to be configured.
    pending_caller: VecDeque<PendingAudio>,
    max_pending_caller: usize,
    /// Agent audio waiting for the disclosure to finish.
    held_agent: VecDeque<HeldAudio>,
    held_agent_samples: u64,
    disclosure_done: bool,
    disclosure_played: bool,
    idle_deadline: Instant,
    idle_stage: IdleStage,
    max_deadline: Instant,
    caller_frames: u64,
    frames_buffered: u64,
    barge_ins: u64,
    truncations: Vec<u32>,
    /// Which upstream connection this is (item ids are tagged with it).
    generation: u32,
    /// The first upstream was configured (after that a loss is reconnected, not fatal).
    ever_connected: bool,
    /// Why the upstream is being replaced, and attempts made in this outage.
    replacing: Option<Replacement>,
    reconnect_attempt: u32,
    /// When the current upstream was configured (for the recycle before the session limit).
    upstream_since: Instant,
    /// The recycle is due; it happens at the next pause.
    recycle_wanted: bool,
    /// Upstreams replaced in this call (reconnects and recycles).
    replacements: u32,
    /// Caller frames dropped because a reconnect outlasted the buffer (the recording has them).
    frames_dropped: u64,
    /// Instructions sent after the session's own (the safety mode after a red flag): a
    /// replacement upstream gets them too.
    instructions_override: Option<String>,
    /// The keypad fallback, once the assistant is out of reach (phone calls only).
    keypad: Option<crate::call::keypad::Keypad>,
    /// The mark after the menu, and when the caller's time to press a key runs out.
    keypad_mark: Option<String>,
    keypad_deadline: Option<Instant>,
    keypad_menus: u32,
    /// Tool calls in flight; dropped (aborted) with the session.
    tools: tokio::task::JoinSet<crate::tools::ToolResult>,
    /// Tool calls for the manifest (names and outcomes, no arguments).
    tool_log: Vec<ToolCallEntry>,
    /// The caller asked for staff and a staff line exists: end the stream once the agent has said so.
    transfer_pending: bool,
    /// Red-flag scripts already played in this call (each plays once).
    escalations: Vec<Script>,
    /// Raised with the first red flag; shared with this call's tool tasks.
    red_flag: crate::safety::RedFlagLatch,
    /// A safety script is playing at the caller: the mark that ends it. Until it echoes, the script
    /// is never cleared by a barge-in and the model does not speak over it.
    safety_playing: Option<String>,
    /// Scripts played so far (numbers the safety marks).
    safety_marks_sent: u32,
    /// The language of the caller's latest transcript (the script is played in it).
    caller_language: Language,
    /// Second-opinion classifier requests in flight (only ever add a flag).
    second_opinions: tokio::task::JoinSet<(
        Language,
        Result<Option<Category>, crate::safety::classifier::ClassifierError>,
    )>,
    /// The webhook's caller ID (stands in for an unspoken phone during verification, never alone).
    caller_id: Option<crate::domain::PhoneNumber>,
    /// Media-clock start (ms) of conversation items whose transcript has not arrived yet.
    item_starts: std::collections::HashMap<String, u64>,
    /// When set, the call ends then (after the agent's last words have played).
    end_at: Option<(Instant, Outcome)>,
    /// Last agent state shown to a browser caller (Twilio callers have no screen).
    shown_state: Option<AgentState>,
    /// Caller samples not yet handed to the recorder: (media-clock position, contiguous samples).
    caller_batch: (u64, Vec<i16>),
    /// Agent samples sent to the caller so far (disclosure included), and the estimate of how
    /// many had played at the last clear: a browser's `cleared` report is compared with it.
    agent_samples_sent: u64,
    estimated_played_at_clear: Option<u64>,
}

impl Session {
    /// Assemble a session for a stream whose handshake succeeded.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: CallId,
        call_sid: Option<String>,
        started_at_ms: u64,
        deps: CallDeps,
        format: AudioFormat,
        caller_rx: mpsc::Receiver<CallerInput>,
        caller_tx: mpsc::Sender<CallerCommand>,
        writer: JoinHandle<()>,
        upstream_connecting: UpstreamConnecting,
        cancel: CancellationToken,
    ) -> Session {
        let now = Instant::now();
        let call = &deps.settings.call;
        let frame_ms = 20;
        let pre_upstream = deps.settings.realtime.connect_timeout() + PRE_UPSTREAM_SLACK;
        let stores = crate::recording::recorder::Stores {
            local: deps.local_blobs.clone(),
            store: deps.blobs.clone(),
        };
        let recorder = RecorderHandle::spawn(stores, id.as_str(), format_rate(format));
        Session {
            id,
            call_sid,
            started_at_ms,
            format,
            caller_rx,
            caller_tx,
            writer,
            upstream: Upstream::Connecting(upstream_connecting),
            recorder,
            clock: MediaClock::new(format.samples_per_ms()),
            playout: Playout::new(format.samples_per_ms()),
            state: CallState::default(),
            cancel,
            pending_caller: VecDeque::new(),
            max_pending_caller: (pre_upstream.as_millis() as usize).div_ceil(frame_ms),
            held_agent: VecDeque::new(),
            held_agent_samples: 0,
            disclosure_done: false,
            disclosure_played: false,
            idle_deadline: now + Duration::from_secs(call.idle_prompt_after_secs),
            idle_stage: IdleStage::Waiting,
            max_deadline: now + Duration::from_secs(call.max_duration_secs),
            caller_frames: 0,
            frames_buffered: 0,
            barge_ins: 0,
            truncations: Vec::new(),
            generation: 1,
            ever_connected: false,
            replacing: None,
            reconnect_attempt: 0,
            upstream_since: now,
            recycle_wanted: false,
            replacements: 0,
            frames_dropped: 0,
            instructions_override: None,
            keypad: None,
            keypad_mark: None,
            keypad_deadline: None,
            keypad_menus: 0,
            tools: tokio::task::JoinSet::new(),
            tool_log: Vec::new(),
            transfer_pending: false,
            escalations: Vec::new(),
            red_flag: crate::safety::RedFlagLatch::default(),
            safety_playing: None,
            safety_marks_sent: 0,
            caller_language: Language::English,
            second_opinions: tokio::task::JoinSet::new(),
            item_starts: std::collections::HashMap::new(),
            caller_id: None,
            end_at: None,
            shown_state: None,
            caller_batch: (0, Vec::new()),
            agent_samples_sent: 0,
            estimated_played_at_clear: None,
            deps,
        }
    }

    /// The caller ID the webhook saw for this call.
    pub fn with_caller_id(mut self, caller_id: Option<crate::domain::PhoneNumber>) -> Session {
        self.caller_id = caller_id;
        self
    }

    /// Run the call to its end, then finalize. Always returns a summary.
    pub async fn run(mut self) -> CallSummary {
        let outcome = match self.play_disclosure().await {
            Ok(()) => self.event_loop().await,
            Err(outcome) => outcome,
        };
        self.finalize(outcome).await
    }

    async fn play_disclosure(&mut self) -> Result<(), Outcome> {
        let prompt = self.deps.disclosure.clone();
        let audio = prompt_bytes(self.format, &prompt);
        self.send_prompt(&audio).await?;
        self.send_caller(CallerCommand::Mark(DISCLOSURE_MARK.into())).await?;
        let mut samples = Vec::with_capacity(audio.len());
        decode_leg(self.format, &audio, &mut samples);
        self.agent_samples_sent += samples.len() as u64;
        // Agent audio is placed after the disclosure on the media clock.
        self.playout.reserve(samples.len() as u64);
        self.record(AudioChunk::Audio {
            leg: Leg::Agent,
            sample_index: 0,
            samples,
        })
        .await;
        self.state.log.push(LogEntry {
            generation: 0,
            item_id: None,
            speaker: Speaker::System,
            text: prompt.text.clone(),
            at_ms: Some(0),
        });
        Ok(())
    }

    /// Send a server prompt's audio to the caller in [`PROMPT_CHUNK_MS`] messages.
    async fn send_prompt(&mut self, audio: &[u8]) -> Result<(), Outcome> {
        let bytes_per_sample = if self.format == AudioFormat::Pcmu { 1 } else { 2 };
        let chunk = PROMPT_CHUNK_MS * self.clock.samples_per_ms() as usize * bytes_per_sample;
        for part in audio.chunks(chunk) {
            self.send_caller(CallerCommand::Audio {
                b64: B64.encode(part),
                origin: None,
            })
            .await?;
        }
        Ok(())
    }

    /// The `select!` loop. Returns why the call ended; never returns early past finalize.
    async fn event_loop(&mut self) -> Outcome {
        // One timer and one cancellation waiter for the whole loop, not new ones per event: a
        // `sleep_until` made inside `select!` registers in the timer wheel and deregisters again on
        // every caller frame (50 a second per call), under the wheel's lock. The timer is moved
        // only when the earliest deadline changes.
        let cancelled = self.cancel.clone().cancelled_owned();
        tokio::pin!(cancelled);
        let mut armed_for = self.next_deadline();
        let timer = sleep_until(armed_for);
        tokio::pin!(timer);
        loop {
            let next = self.next_deadline();
            if next != armed_for {
                timer.as_mut().reset(next);
                armed_for = next;
            }
            let step = tokio::select! {
                input = self.caller_rx.recv() => match input {
                    Some(CallerInput::Event(event)) => self.on_caller(event).await,
                    Some(CallerInput::Error(e)) => {
                        tracing::warn!(call_id = %self.id, error.message = %e, "caller protocol error; ending this call");
                        let _ = self.caller_tx.send(CallerCommand::Close { code: e.close_code(), reason: e.close_reason() }).await;
                        Err(Outcome::CallerProtocol(e.close_reason()))
                    }
                    Some(CallerInput::Closed) | None => Err(Outcome::CallerGone),
                },
                step = Self::upstream_next(&mut self.upstream) => match step {
                    UpstreamStep::Connected(connected) => self.on_upstream_connected(connected).await,
                    UpstreamStep::Event(Some(UpstreamEvent::Event(event, received))) => self.on_upstream(event, received).await,
                    UpstreamStep::Event(Some(UpstreamEvent::Closed(reason))) => self.on_upstream_lost(reason).await,
                    UpstreamStep::Event(None) => self.on_upstream_lost(UpstreamClosed::Dropped).await,
                },
                Some(joined) = self.tools.join_next(), if !self.tools.is_empty() => self.on_tool_done(joined).await,
                Some(joined) = self.second_opinions.join_next(), if !self.second_opinions.is_empty() => self.on_second_opinion(joined).await,
                () = &mut timer => self.on_deadline().await,
                () = &mut cancelled => Err(Outcome::Shutdown),
            };
            if let Err(outcome) = step {
                return outcome;
            }
        }
    }

    /// The earliest of the call's deadlines: idle prompt or hang-up, maximum length, and a
    /// scheduled end (after a farewell or a transfer).
    fn next_deadline(&self) -> Instant {
        let mut next = self.idle_deadline.min(self.max_deadline);
        if let Some((at, _)) = &self.end_at {
            next = next.min(*at);
        }
        if let Some(at) = self.recycle_at() {
            next = next.min(at);
        }
        if let Some(at) = self.keypad_deadline {
            next = next.min(at);
        }
        next
    }

    /// When the current upstream should be recycled (None: not configured, already wanted, or
    /// there is no ready upstream).
    fn recycle_at(&self) -> Option<Instant> {
        let after = self.deps.settings.realtime.recycle_after_secs;
        (after > 0 && !self.recycle_wanted && matches!(self.upstream, Upstream::Ready(..)))
            .then(|| self.upstream_since + Duration::from_secs(after))
    }

    /// The loop's timer fired: act on every deadline that has passed, the call-ending ones first.
    async fn on_deadline(&mut self) -> Result<(), Outcome> {
        let now = Instant::now();
        if self.end_at.as_ref().is_some_and(|(at, _)| *at <= now) {
            return Err(self.end_at.take().map_or(Outcome::HungUp, |(_, o)| o));
        }
        if self.max_deadline <= now {
            return Err(Outcome::MaxDuration);
        }
        if self.keypad_deadline.is_some_and(|at| at <= now) {
            self.keypad_deadline = None;
            if let Some(action) = self.keypad.as_mut().map(crate::call::keypad::Keypad::on_timeout) {
                self.run_keypad(action).await?;
            }
        }
        if self.recycle_at().is_some_and(|at| at <= now) {
            self.recycle_wanted = true;
            self.maybe_recycle().await?;
        }
        if self.idle_deadline <= now {
            return self.on_idle().await;
        }
        Ok(())
    }

    /// Recycle now if the recycle is due and the conversation is at a pause: nothing is being
    /// said or played, no tool is running, no safety script is playing.
    async fn maybe_recycle(&mut self) -> Result<(), Outcome> {
        if !self.recycle_wanted
            || !matches!(self.upstream, Upstream::Ready(..))
            || self.state.active_response().is_some()
            || !self.tools.is_empty()
            || self.playout.is_playing()
            || self.safety_playing.is_some()
        {
            return Ok(());
        }
        self.recycle_wanted = false;
        tracing::info!(call_id = %self.id, generation = self.generation, "recycling the upstream session before its time limit");
        self.replace_upstream(Replacement::Recycle).await
    }

    /// The connect result of a connecting upstream, or the next event of a ready one.
    ///
    /// # Cancel safety
    /// Cancel-safe: `JoinHandle` and `mpsc::Receiver::recv` both are.
    async fn upstream_next(upstream: &mut Upstream) -> UpstreamStep {
        match upstream {
            Upstream::Connecting(task) | Upstream::Reconnecting(task) => UpstreamStep::Connected(task.await),
            Upstream::Ready(_, rx) => UpstreamStep::Event(rx.recv().await),
            Upstream::Gone => std::future::pending().await,
        }
    }

    fn upstream_handle(&self) -> Option<&UpstreamHandle> {
        match &self.upstream {
            Upstream::Ready(handle, _) => Some(handle),
            _ => None,
        }
    }

    /// The upstream ended mid-call: replace it (bounded attempts), or end the call's AI part.
    async fn on_upstream_lost(&mut self, reason: UpstreamClosed) -> Result<(), Outcome> {
        let kind = match reason {
            UpstreamClosed::ByServer(_) => "closed_by_server",
            UpstreamClosed::Dropped => "dropped",
            UpstreamClosed::PongTimeout => "pong_timeout",
        };
        self.deps.metrics.upstream_error(kind);
        if let UpstreamClosed::ByServer(code) = reason {
            tracing::warn!(call_id = %self.id, close_code = code, "upstream closed the session mid-call");
        } else {
            tracing::warn!(call_id = %self.id, reason = kind, "upstream lost mid-call");
        }
        if !self.ever_connected || self.end_at.is_some() {
            // Not configured yet (nothing to continue), or the call is already ending.
            self.upstream = Upstream::Gone;
            return Err(Outcome::UpstreamLost(kind));
        }
        self.replace_upstream(Replacement::Lost).await
    }

    /// Start replacing the upstream: drop the old connection, keep buffering the caller, and
    /// connect a new one after the policy's back-off. A lost connection plays "one moment" once
    /// per outage; a recycle is silent. Attempts used up end the AI part of the call.
    async fn replace_upstream(&mut self, why: Replacement) -> Result<(), Outcome> {
        let first_of_outage = self.replacing.is_none();
        if first_of_outage {
            self.replacing = Some(why);
            self.reconnect_attempt = 0;
        }
        self.reconnect_attempt += 1;
        let policy = ReconnectPolicy {
            max_attempts: self
                .deps
                .settings
                .realtime
                .reconnect_attempts
                .max(u32::from(why == Replacement::Recycle)),
        };
        let Some(delay) = policy.delay_before(self.reconnect_attempt) else {
            self.deps.metrics.upstream_replaced("reconnect_failed");
            tracing::error!(call_id = %self.id, attempts = self.reconnect_attempt - 1, "upstream could not be restored");
            if let Upstream::Ready(handle, _) = std::mem::replace(&mut self.upstream, Upstream::Gone) {
                handle.close().await;
            }
            return self
                .fall_back_to_keypad(Outcome::UpstreamLost("reconnect_failed"))
                .await;
        };
        if let Upstream::Ready(handle, _) = std::mem::replace(&mut self.upstream, Upstream::Gone) {
            handle.close().await;
        }
        let generation = self.generation + 1;
        let rt = self.deps.settings.realtime.clone();
        let metrics = self.deps.metrics.clone();
        self.upstream = Upstream::Reconnecting(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            crate::realtime::client::connect(&rt, generation, metrics).await
        }));
        tracing::info!(call_id = %self.id, attempt = self.reconnect_attempt, generation, ?why, "replacing the upstream");
        if first_of_outage && why == Replacement::Lost && self.disclosure_done && self.safety_playing.is_none() {
            self.play_one_moment().await?;
        }
        Ok(())
    }

    /// "One moment, please" after whatever is queued for the caller (recorded, logged).
    async fn play_one_moment(&mut self) -> Result<(), Outcome> {
        let prompts = self.deps.prompts.clone();
        self.play_prompt(prompts.one_moment(self.caller_language)).await
    }

    /// A service prompt after whatever is queued for the caller: sent, recorded on the agent leg
    /// where it plays, and put in the call log.
    async fn play_prompt(&mut self, prompt: &crate::audio::asset::Prompt) -> Result<(), Outcome> {
        let audio = prompt_bytes(self.format, prompt);
        let mut samples = Vec::with_capacity(audio.len());
        decode_leg(self.format, &audio, &mut samples);
        let start = self.playout.queued_end().max(self.clock.caller_now());
        self.send_prompt(&audio).await?;
        let len = samples.len() as u64;
        self.agent_samples_sent += len;
        self.playout.reserve(start + len);
        self.record(AudioChunk::Audio {
            leg: Leg::Agent,
            sample_index: start,
            samples,
        })
        .await;
        self.state.log.push(LogEntry {
            generation: 0,
            item_id: None,
            speaker: Speaker::System,
            text: prompt.text.clone(),
            at_ms: Some(start / self.clock.samples_per_ms()),
        });
        Ok(())
    }

    /// The assistant is out of reach for good: a phone caller gets the keypad menu (a browser
    /// caller has no keypad and the call ends as before). Audited, with why.
    async fn fall_back_to_keypad(&mut self, why: Outcome) -> Result<(), Outcome> {
        if self.format != AudioFormat::Pcmu || !self.deps.settings.call.keypad_fallback || self.keypad.is_some() {
            return Err(why);
        }
        self.upstream = Upstream::Gone;
        self.held_agent.clear();
        self.held_agent_samples = 0;
        // The menu has its own timeout; the assistant's idle prompt does not apply.
        self.idle_deadline = self.max_deadline;
        let (keypad, first) = crate::call::keypad::Keypad::start(self.can_transfer());
        self.keypad = Some(keypad);
        tracing::warn!(call_id = %self.id, reason = why.label(), "assistant unreachable; keypad menu");
        self.audit_keypad(
            "call.keypad_fallback",
            AuditOutcome::Success,
            serde_json::json!({"reason": why.label()}),
        )
        .await;
        self.run_keypad(first).await
    }

    /// Carry out what the keypad menu decided.
    async fn run_keypad(&mut self, action: crate::call::keypad::KeypadAction) -> Result<(), Outcome> {
        use crate::call::keypad::KeypadAction as A;
        let prompts = self.deps.prompts.clone();
        match action {
            A::Nothing => Ok(()),
            A::PlayMenu => {
                let staff = self
                    .keypad
                    .as_ref()
                    .is_some_and(crate::call::keypad::Keypad::staff_line);
                self.play_prompt(if staff { &prompts.menu } else { &prompts.menu_no_staff })
                    .await?;
                self.keypad_menus += 1;
                let mark = format!("keypad-{}", self.keypad_menus);
                self.send_caller(CallerCommand::Mark(mark.clone())).await?;
                self.keypad_mark = Some(mark);
                self.keypad_deadline = None;
                Ok(())
            }
            A::RequestCallback => {
                self.keypad_deadline = None;
                let now = i64::try_from(self.deps.clock.now_unix_ms()).unwrap_or(i64::MAX);
                let queued = crate::storage::callbacks::queue(
                    &self.deps.db,
                    self.id.as_str(),
                    None,
                    "callback requested on the keypad (assistant unavailable)",
                    now,
                )
                .await;
                match queued {
                    Ok(reference) => {
                        tracing::info!(call_id = %self.id, "keypad callback queued");
                        self.audit_keypad(
                            "callback.requested",
                            AuditOutcome::Success,
                            serde_json::json!({"reference": reference, "via": "keypad"}),
                        )
                        .await;
                        self.play_prompt(&prompts.callback).await?;
                        for digit in prompts.digits(&reference) {
                            self.play_prompt(digit).await?;
                        }
                        self.play_prompt(&prompts.repeat).await?;
                        for digit in prompts.digits(&reference) {
                            self.play_prompt(digit).await?;
                        }
                        self.play_prompt(&prompts.goodbye).await?;
                    }
                    Err(e) => {
                        tracing::error!(call_id = %self.id, error.message = %e, "keypad callback could not be queued");
                        self.audit_keypad(
                            "callback.requested",
                            AuditOutcome::Failure,
                            serde_json::json!({"via": "keypad", "error": "storage"}),
                        )
                        .await;
                        self.play_prompt(&prompts.failed).await?;
                    }
                }
                self.end_after_playout(Outcome::KeypadDone);
                Ok(())
            }
            A::Transfer => {
                self.keypad_deadline = None;
                self.audit_keypad("keypad.transfer", AuditOutcome::Success, serde_json::json!({}))
                    .await;
                self.play_prompt(&prompts.transfer).await?;
                self.end_after_playout(Outcome::Transferred);
                Ok(())
            }
            A::Goodbye => {
                self.keypad_deadline = None;
                self.audit_keypad(
                    "keypad.no_input",
                    AuditOutcome::Success,
                    serde_json::json!({"menus": self.keypad_menus}),
                )
                .await;
                self.play_prompt(&prompts.goodbye).await?;
                self.end_after_playout(Outcome::KeypadDone);
                Ok(())
            }
        }
    }

    /// End the call once what is queued for the caller has played.
    fn end_after_playout(&mut self, outcome: Outcome) {
        let queued_ms = self.playout.queued_end().saturating_sub(self.clock.caller_now()) / self.clock.samples_per_ms();
        self.end_at = Some((Instant::now() + Duration::from_millis(queued_ms + 300), outcome));
    }

    async fn audit_keypad(&self, action: &str, outcome: AuditOutcome, details: serde_json::Value) {
        let event = AuditEvent {
            actor: Actor::Agent {
                call_id: self.id.to_string(),
            },
            action: action.into(),
            call_id: Some(self.id.to_string()),
            patient: None,
            reason: Some("keypad fallback".into()),
            outcome,
            details,
            at_ms: self.deps.clock.now_unix_ms(),
        };
        if let Err(e) = self.deps.audit.append_or_spool(&event).await {
            tracing::error!(call_id = %self.id, action, error.message = %e, "keypad audit record could not be stored");
        }
    }

    /// A replacement upstream is connected: configure it exactly like the first, give it the
    /// conversation so far in order, let it answer what was left unanswered, then hand it the
    /// caller audio buffered meanwhile. Verification, holds, the red-flag latch and the tool
    /// ledger live in the server and carry over untouched.
    async fn on_replacement_connected(
        &mut self,
        handle: UpstreamHandle,
        rx: mpsc::Receiver<UpstreamEvent>,
    ) -> Result<(), Outcome> {
        let why = self.replacing.unwrap_or(Replacement::Lost);
        let attempts = self.reconnect_attempt;
        self.generation = handle.generation;
        let mut frames = vec![events::session_update(
            &self.deps.settings.realtime,
            self.format,
            &crate::tools::definitions(),
        )];
        if let Some(instructions) = &self.instructions_override {
            frames.push(events::instructions_update(instructions));
        }
        frames.extend(self.state.conversation().iter().map(|item| match item {
            ConversationItem::CallerSaid(text) => events::user_said(text),
            ConversationItem::AgentSaid(text) => events::assistant_said(text),
            ConversationItem::ToolCall {
                call_id,
                name,
                arguments,
            } => events::function_call_item(call_id, name, arguments),
            ConversationItem::ToolOutput { call_id, output } => events::function_output(call_id, output),
        }));
        let items = frames.len();
        for frame in frames {
            if handle.send(frame).await.is_err() {
                self.upstream = Upstream::Ready(handle, rx);
                return self.on_upstream_lost(UpstreamClosed::Dropped).await;
            }
        }
        self.upstream = Upstream::Ready(handle, rx);
        // Only a replay that went through ends the outage: a session that accepts and then drops
        // again keeps counting against the same attempts.
        self.replacing = None;
        self.reconnect_attempt = 0;
        self.upstream_since = Instant::now();
        self.replacements += 1;
        self.deps.metrics.upstream_replaced(match why {
            Replacement::Lost => "reconnected",
            Replacement::Recycle => "recycled",
        });
        tracing::info!(call_id = %self.id, generation = self.generation, attempts, items, ?why, "upstream replaced; conversation replayed");
        if self.state.upstream_replaced() && self.safety_playing.is_none() {
            self.request_response(events::response_create(None, false)).await?;
        }
        self.flush_pending_caller().await
    }

    /// Hand the buffered caller audio to the ready upstream, oldest first. If it fails again the
    /// unsent frames stay buffered for the next replacement.
    async fn flush_pending_caller(&mut self) -> Result<(), Outcome> {
        if !self.pending_caller.is_empty() {
            tracing::debug!(call_id = %self.id, frames = self.pending_caller.len(), "sending caller audio buffered while the upstream connected");
        }
        while matches!(self.upstream, Upstream::Ready(..)) {
            let Some(pending) = self.pending_caller.pop_front() else {
                break;
            };
            self.append_upstream(pending).await?;
        }
        Ok(())
    }

    async fn on_upstream_connected(
        &mut self,
        connected: Result<
            Result<(UpstreamHandle, mpsc::Receiver<UpstreamEvent>), UpstreamError>,
            tokio::task::JoinError,
        >,
    ) -> Result<(), Outcome> {
        if self.ever_connected {
            return match connected {
                Ok(Ok((handle, rx))) => self.on_replacement_connected(handle, rx).await,
                Ok(Err(e)) => {
                    self.deps.metrics.upstream_error(e.kind());
                    tracing::warn!(call_id = %self.id, attempt = self.reconnect_attempt, error.kind = e.kind(), "upstream reconnect attempt failed");
                    let why = self.replacing.unwrap_or(Replacement::Lost);
                    self.replace_upstream(why).await
                }
                Err(_) => {
                    let why = self.replacing.unwrap_or(Replacement::Lost);
                    self.replace_upstream(why).await
                }
            };
        }
        let (handle, rx) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                self.upstream = Upstream::Gone;
                self.deps.metrics.upstream_error(e.kind());
                tracing::error!(call_id = %self.id, error.message = %e, "upstream unavailable at call start");
                return self.fall_back_to_keypad(Outcome::UpstreamUnavailable(e.kind())).await;
            }
            Err(_) => {
                self.upstream = Upstream::Gone;
                self.deps.metrics.upstream_error("connect_task");
                return self
                    .fall_back_to_keypad(Outcome::UpstreamUnavailable("connect_task"))
                    .await;
            }
        };
        tracing::info!(call_id = %self.id, generation = handle.generation, "upstream connected");
        // session.update strictly before the first append.
        let update = events::session_update(&self.deps.settings.realtime, self.format, &crate::tools::definitions());
        let sent = handle.send(update).await;
        self.upstream = Upstream::Ready(handle, rx);
        if sent.is_err() {
            return self.on_upstream_lost(UpstreamClosed::Dropped).await;
        }
        self.ever_connected = true;
        self.upstream_since = Instant::now();
        let greeting = self.deps.settings.realtime.greeting.clone();
        if !greeting.is_empty() {
            self.request_response(events::response_create(Some(&greeting), false))
                .await?;
        }
        self.flush_pending_caller().await?;
        Ok(())
    }

    async fn on_caller(&mut self, event: CallerEvent) -> Result<(), Outcome> {
        match event {
            CallerEvent::Audio(audio) => {
                let origin = Instant::now();
                self.caller_frames += 1;
                let at = self.clock.caller_frame(audio.timestamp_ms, audio.samples.len() as u64);
                // The decoded samples go to the recorder's batch; the upstream only needs the
                // base64 payload.
                self.record_caller(at, &audio.samples).await;
                let pending = PendingAudio {
                    timestamp_ms: audio.timestamp_ms,
                    frame: events::append(audio.upstream_b64),
                    origin,
                };
                if self.keypad.is_some() {
                    // No assistant to hear it; the recording has it.
                } else if matches!(self.upstream, Upstream::Ready(..)) {
                    self.append_upstream(pending).await?;
                } else {
                    if self.pending_caller.len() >= self.max_pending_caller {
                        if self.ever_connected {
                            // A reconnect outlasted the buffer: the oldest audio goes (the model
                            // needs the latest words; the recording keeps everything).
                            self.pending_caller.pop_front();
                            self.frames_dropped += 1;
                            if self.frames_dropped == 1 {
                                tracing::warn!(call_id = %self.id, "reconnect outlasted the caller buffer; dropping its oldest audio");
                            }
                        } else {
                            tracing::warn!(call_id = %self.id, "caller sent more audio than the pre-upstream buffer holds");
                            return Err(Outcome::CallerProtocol("caller audio flood before upstream".into()));
                        }
                    }
                    self.frames_buffered += 1;
                    self.deps.metrics.caller_frames_buffered.inc();
                    self.pending_caller.push_back(pending);
                }
            }
            CallerEvent::MarkPlayed(name) => self.on_mark(&name).await?,
            CallerEvent::Dtmf(digit) => {
                // The digit itself is not logged (a caller may key in anything).
                tracing::debug!(call_id = %self.id, "dtmf received");
                let action = self.keypad.as_mut().map(|k| k.on_digit(&digit.to_string()));
                if let Some(action) = action.filter(|a| *a != crate::call::keypad::KeypadAction::Nothing) {
                    // A key cuts the menu short, as on any phone menu.
                    if self.playout.is_playing() {
                        self.send_caller(CallerCommand::Clear).await?;
                        if let Some(cut) = self.playout.clear(Instant::now(), self.clock.caller_now()) {
                            self.record(AudioChunk::CutAgent {
                                at_sample: cut.at_sample,
                            })
                            .await;
                        }
                    }
                    self.run_keypad(action).await?;
                }
            }
            CallerEvent::Hangup => return Err(Outcome::HungUp),
            // Browser only. Truncation was already sent at the clear from the marks the page had
            // echoed (as on Twilio: the upstream must not wait a round trip to the caller); the
            // page's exact count shows how far that estimate was off, for tuning and the metric.
            CallerEvent::Cleared { played_samples } => {
                if let Some(estimate) = self.estimated_played_at_clear.take() {
                    let error_ms = (played_samples as i64 - estimate as i64) / self.clock.samples_per_ms() as i64;
                    self.deps
                        .metrics
                        .truncation_error
                        .observe(error_ms.unsigned_abs() as f64 / 1000.0);
                    tracing::debug!(call_id = %self.id, error_ms, "caller playback cleared");
                }
            }
        }
        Ok(())
    }

    /// Forward one caller frame. A frame the dead connection would not take goes back to the
    /// front of the buffer, so a replacement upstream still gets it.
    async fn append_upstream(&mut self, pending: PendingAudio) -> Result<(), Outcome> {
        let Some(h) = self.upstream_handle() else {
            self.pending_caller.push_front(pending);
            return Ok(());
        };
        match h.forward(pending.frame, pending.origin).await {
            Ok(()) => {
                self.clock.appended(pending.timestamp_ms);
                Ok(())
            }
            Err(frame) => {
                self.pending_caller.push_front(PendingAudio { frame, ..pending });
                self.on_upstream_lost(UpstreamClosed::Dropped).await
            }
        }
    }

    async fn on_mark(&mut self, name: &str) -> Result<(), Outcome> {
        if name == DISCLOSURE_MARK {
            self.disclosure_done = true;
            self.disclosure_played = true;
            self.idle_deadline = Instant::now() + Duration::from_secs(self.deps.settings.call.idle_prompt_after_secs);
            tracing::info!(call_id = %self.id, "recording disclosure played in full");
            let held = std::mem::take(&mut self.held_agent);
            self.held_agent_samples = 0;
            for h in held {
                self.play_agent(h.item, h.b64, h.samples, h.origin).await?;
            }
            return Ok(());
        }
        if self.safety_playing.as_deref() == Some(name) {
            return self.on_script_played().await;
        }
        if self.keypad_mark.as_deref() == Some(name) {
            self.keypad_mark = None;
            self.keypad_deadline =
                Some(Instant::now() + Duration::from_secs(self.deps.settings.call.keypad_timeout_secs));
            return Ok(());
        }
        match self.playout.mark_echoed(name, Instant::now()) {
            MarkOutcome::Played { .. } => {
                if !self.playout.is_playing() && self.tools.is_empty() {
                    self.show_state(AgentState::Listening).await?;
                }
                self.maybe_recycle().await?;
            }
            MarkOutcome::Stale => tracing::trace!(call_id = %self.id, "stale mark after clear ignored"),
            MarkOutcome::Unknown => tracing::debug!(call_id = %self.id, "unknown mark ignored"),
        }
        Ok(())
    }

    async fn on_upstream(&mut self, event: ServerEvent, received: Instant) -> Result<(), Outcome> {
        match event {
            ServerEvent::AudioDelta {
                response_id,
                item_id,
                delta,
            } => {
                if self.state.is_cancelled(&response_id) {
                    return Ok(());
                }
                if self.safety_playing.is_some() {
                    // Nothing is said over a safety script.
                    if self.state.cancel(&response_id) {
                        self.send_upstream(events::cancel(&response_id)).await?;
                    }
                    return Ok(());
                }
                let Ok(bytes) = B64.decode(delta.as_bytes()) else {
                    self.deps.metrics.upstream_error("bad_audio_base64");
                    tracing::warn!(call_id = %self.id, "upstream audio delta with invalid base64 skipped");
                    return Ok(());
                };
                let mut samples = Vec::with_capacity(bytes.len());
                decode_leg(self.format, &bytes, &mut samples);
                let item: Arc<str> = Arc::from(format!("g{}:{}", self.generation, item_id));
                if self.disclosure_done {
                    self.play_agent(item, delta, samples, received).await?;
                } else {
                    self.hold_agent(HeldAudio {
                        item,
                        b64: delta,
                        samples,
                        origin: received,
                    });
                }
            }
            ServerEvent::SpeechStarted {
                audio_start_ms,
                item_id,
            } => {
                if let Some(item) = item_id {
                    // Where the caller's turn starts on the media clock, for its transcript.
                    self.item_starts
                        .insert(item, self.clock.upstream_to_caller_ms(audio_start_ms));
                }
                self.idle_stage = IdleStage::Waiting;
                self.idle_deadline =
                    Instant::now() + Duration::from_secs(self.deps.settings.call.idle_prompt_after_secs);
                self.barge_in(audio_start_ms).await?;
            }
            ServerEvent::SpeechStopped { .. } => {
                self.idle_deadline =
                    Instant::now() + Duration::from_secs(self.deps.settings.call.idle_prompt_after_secs);
            }
            ServerEvent::ResponseCreated { response } => self.state.response_created(&response.id),
            ServerEvent::ResponseDone { response } => {
                if let Some(next) = self.state.response_done(&response.id) {
                    self.send_upstream(next).await?;
                }
                self.maybe_recycle().await?;
                // The caller has time to answer once the agent's audio has played out.
                let queued_ms =
                    self.playout.queued_end().saturating_sub(self.clock.caller_now()) / self.clock.samples_per_ms();
                if self.transfer_pending && self.end_at.is_none() {
                    // Let the caller hear "transferring you" before the stream closes.
                    self.end_at = Some((
                        Instant::now() + Duration::from_millis(queued_ms + 300),
                        Outcome::Transferred,
                    ));
                }
                self.idle_deadline = Instant::now()
                    + Duration::from_millis(queued_ms)
                    + Duration::from_secs(self.deps.settings.call.idle_prompt_after_secs);
            }
            ServerEvent::InputTranscript { item_id, transcript } => {
                // The deterministic detector runs on every caller transcript, beside the model's own
                // flag_emergency: a caller cannot talk the server out of it.
                let assessment = self.deps.safety.detector.assess(&transcript);
                self.caller_language = assessment.language;
                for category in assessment.flags() {
                    self.escalate(category, "transcript").await?;
                }
                self.ask_second_opinion(&transcript);
                self.state.remember(ConversationItem::CallerSaid(transcript.clone()));
                let at_ms = self.item_starts.remove(&item_id);
                self.show_transcript(TranscriptSpeaker::Caller, &transcript).await?;
                self.state.log.push(LogEntry {
                    generation: self.generation,
                    item_id: Some(item_id),
                    speaker: Speaker::Caller,
                    text: transcript,
                    at_ms,
                });
            }
            ServerEvent::OutputTranscript { item_id, transcript } => {
                // Audio held during the disclosure is placed later; finalize fills the time then.
                let at_ms = self.item_starts.get(&item_id).copied();
                self.state.remember(ConversationItem::AgentSaid(transcript.clone()));
                self.show_transcript(TranscriptSpeaker::Agent, &transcript).await?;
                self.state.log.push(LogEntry {
                    generation: self.generation,
                    item_id: Some(item_id),
                    speaker: Speaker::Agent,
                    text: transcript,
                    at_ms,
                });
            }
            ServerEvent::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                self.on_function_call(call_id, name, arguments);
                self.show_state(AgentState::Tool).await?;
            }
            ServerEvent::Error { error } => {
                self.deps.metrics.upstream_error("error_event");
                // The message may quote conversation content; log type and code only.
                tracing::warn!(call_id = %self.id, error_type = %error.kind, error_code = ?error.code, "upstream error event");
                if error.code.as_deref() == Some("conversation_already_has_active_response") {
                    self.state.response_rejected();
                }
            }
            ServerEvent::SessionCreated {}
            | ServerEvent::SessionUpdated {}
            | ServerEvent::InputTimeout {}
            | ServerEvent::ItemAdded { .. }
            | ServerEvent::ItemDone { .. }
            | ServerEvent::InputTranscriptFailed { .. }
            | ServerEvent::AudioDone { .. }
            | ServerEvent::Truncated { .. }
            | ServerEvent::Unknown => {}
        }
        Ok(())
    }

    /// Start a tool call in the session's `JoinSet` (a slow EHR never stalls audio). A replayed
    /// `call_id` is never run twice.
    fn on_function_call(&mut self, call_id: String, name: String, arguments: String) {
        if !self.state.start_tool(&call_id) {
            tracing::debug!(call_id = %self.id, "tool call replayed; not run again");
            return;
        }
        tracing::info!(call_id = %self.id, tool = crate::tools::loggable_name(&name), "tool call started");
        self.state.remember(ConversationItem::ToolCall {
            call_id: call_id.clone(),
            name: name.clone(),
            arguments: arguments.clone(),
        });
        let ctx = crate::tools::ToolContext {
            deps: self.deps.clone(),
            call_id: self.id.to_string(),
            verified: self.state.verified_patient().cloned(),
            attempts: self.state.verification_failures(),
            red_flag: self.red_flag.clone(),
            caller_id: self.caller_id.clone(),
            can_transfer: self.can_transfer(),
        };
        self.tools.spawn(crate::tools::run(
            ctx,
            crate::tools::ToolRequest {
                call_id,
                name,
                arguments,
            },
        ));
    }

    /// A tool finished: apply its effect, hand its result to the model, and let it speak.
    async fn on_tool_done(
        &mut self,
        joined: Result<crate::tools::ToolResult, tokio::task::JoinError>,
    ) -> Result<(), Outcome> {
        let result = match joined {
            Ok(r) => r,
            Err(_) => {
                tracing::error!(call_id = %self.id, "a tool task failed");
                return Ok(());
            }
        };
        let tool = crate::tools::loggable_name(&result.name);
        tracing::info!(call_id = %self.id, tool, outcome = result.outcome, "tool call finished");
        self.tool_log.push(ToolCallEntry {
            name: tool.into(),
            outcome: result.outcome.into(),
            at_ms: Some(self.clock.caller_now() / self.clock.samples_per_ms()),
        });
        match result.effect {
            crate::tools::Effect::Verified(m) => {
                let patient = self.state.verified(m);
                tracing::info!(call_id = %self.id, patient = %patient.phi_ref(), "caller verified");
            }
            crate::tools::Effect::VerificationFailed => self.state.verification_failed(),
            crate::tools::Effect::TransferToStaff => self.transfer_pending = true,
            crate::tools::Effect::Emergency(category) => {
                self.send_upstream(events::function_output(&result.call_id, &result.output))
                    .await?;
                return self.escalate(category, "model").await;
            }
            crate::tools::Effect::None => {}
        }
        if self.tools.is_empty() && !self.playout.is_playing() {
            self.show_state(AgentState::Listening).await?;
        }
        self.state.remember(ConversationItem::ToolOutput {
            call_id: result.call_id.clone(),
            output: result.output.clone(),
        });
        self.send_upstream(events::function_output(&result.call_id, &result.output))
            .await?;
        if self.safety_playing.is_some() {
            // The model answers once the script has played (or when the caller speaks again).
            return Ok(());
        }
        self.request_response(events::response_create(None, false)).await
    }

    /// A red flag (from the server's detector, the model's `flag_emergency` or the second-opinion
    /// classifier): the server itself says the fixed script, at once and in the caller's language.
    ///
    /// What is playing is cleared and the response in flight cancelled; the pre-rendered script is
    /// sent to the caller and recorded on the agent leg; the model is told what was said and put in
    /// safety mode; every tool but a transfer or another flag refuses from now on, a write already
    /// under way included. Audited with the category only, never the words. Each script plays once
    /// per call; a crisis heard after an emergency still gets its own script, queued after it.
    async fn escalate(&mut self, category: Category, source: &'static str) -> Result<(), Outcome> {
        let script = category.script();
        if self.escalations.contains(&script) {
            return Ok(());
        }
        self.escalations.push(script);
        self.state.emergency = true;
        self.red_flag.raise();
        let script_label = match script {
            Script::Emergency911 => "emergency_911",
            Script::Crisis988 => "crisis_988",
        };
        tracing::warn!(call_id = %self.id, script = script_label, category = category.id(), source, "red flag: playing the safety script");
        self.deps.metrics.red_flag(script_label, source);
        if self.safety_playing.is_none() && self.playout.is_playing() {
            self.send_caller(CallerCommand::Clear).await?;
            if let Some(cut) = self.playout.clear(Instant::now(), self.clock.caller_now()) {
                self.record(AudioChunk::CutAgent {
                    at_sample: cut.at_sample,
                })
                .await;
            }
        }
        // No queued reply may follow, and the one in flight stops.
        if let Some(id) = self.state.active_response().map(str::to_owned)
            && self.state.cancel(&id)
        {
            self.send_upstream(events::cancel(&id)).await?;
        }
        self.state.force_next_response();
        self.held_agent.clear();
        self.held_agent_samples = 0;
        self.play_script(script).await?;
        let event = AuditEvent {
            actor: Actor::Agent {
                call_id: self.id.to_string(),
            },
            action: "safety.red_flag".into(),
            call_id: Some(self.id.to_string()),
            patient: self.state.verified_patient().map(|p| p.phi_ref().clone()),
            reason: Some(format!("red flag from {source}")),
            outcome: AuditOutcome::Success,
            details: serde_json::json!({
                "script": script_label,
                "category": category.id(),
                "source": source,
                "language": self.caller_language.tag(),
            }),
            at_ms: self.deps.clock.now_unix_ms(),
        };
        if let Err(e) = self.deps.audit.append_or_spool(&event).await {
            tracing::error!(call_id = %self.id, error.message = %e, "red-flag audit record could not be stored");
        }
        let text = crate::safety::script::text(script, self.caller_language);
        self.state.remember(ConversationItem::AgentSaid(text.to_owned()));
        self.send_upstream(events::assistant_said(text)).await?;
        let instructions = format!(
            "{}\n\n{}",
            crate::safety::script::model_instructions(script, self.can_transfer()),
            self.deps.settings.realtime.instructions
        );
        self.instructions_override = Some(instructions.clone());
        self.send_upstream(events::instructions_update(&instructions)).await
    }

    /// Send the pre-rendered script to the caller after whatever is queued, with a mark after it,
    /// record it on the agent leg where it plays, and put it in the call log.
    async fn play_script(&mut self, script: Script) -> Result<(), Outcome> {
        let prompt = self.deps.safety.scripts.get(script, self.caller_language).clone();
        let audio = prompt_bytes(self.format, &prompt);
        let mut samples = Vec::with_capacity(audio.len());
        decode_leg(self.format, &audio, &mut samples);
        let start = self.playout.queued_end().max(self.clock.caller_now());
        self.send_prompt(&audio).await?;
        self.safety_marks_sent += 1;
        let mark = format!("{SAFETY_MARK_PREFIX}{}", self.safety_marks_sent);
        self.send_caller(CallerCommand::Mark(mark.clone())).await?;
        self.safety_playing = Some(mark);
        let len = samples.len() as u64;
        self.agent_samples_sent += len;
        self.playout.reserve(start + len);
        self.show_state(AgentState::Speaking).await?;
        self.record(AudioChunk::Audio {
            leg: Leg::Agent,
            sample_index: start,
            samples,
        })
        .await;
        let at_ms = start / self.clock.samples_per_ms();
        self.show_transcript(TranscriptSpeaker::Agent, &prompt.text).await?;
        self.state.log.push(LogEntry {
            generation: 0,
            item_id: None,
            speaker: Speaker::System,
            text: prompt.text.clone(),
            at_ms: Some(at_ms),
        });
        // The caller gets their idle time after the script, not during it.
        self.idle_stage = IdleStage::Waiting;
        self.idle_deadline = Instant::now()
            + Duration::from_millis(len / self.clock.samples_per_ms())
            + Duration::from_secs(self.deps.settings.call.idle_prompt_after_secs);
        Ok(())
    }

    /// The caller heard the whole script: the model may speak again, and where a transfer is
    /// possible and configured, it offers one at once.
    async fn on_script_played(&mut self) -> Result<(), Outcome> {
        self.safety_playing = None;
        tracing::info!(call_id = %self.id, "safety script played in full");
        if self.deps.settings.safety.offer_transfer && self.can_transfer() {
            return self
                .request_response(events::response_create(
                    Some(crate::safety::script::OFFER_TRANSFER),
                    false,
                ))
                .await;
        }
        self.show_state(AgentState::Listening).await
    }

    /// Only a phone call can be bridged to the staff line.
    fn can_transfer(&self) -> bool {
        self.call_sid.is_some() && self.deps.settings.twilio.staff_number.is_some()
    }

    /// Ask the configured classifier about a final transcript, in the background. Skipped (and
    /// counted) when this call already has its limit in flight: the deterministic path never
    /// waits for it.
    fn ask_second_opinion(&mut self, transcript: &str) {
        let Some(classifier) = self.deps.safety.classifier.clone() else {
            return;
        };
        if self.second_opinions.len() >= classifier.max_in_flight {
            self.deps.metrics.classifier_check("skipped_busy");
            return;
        }
        let transcript = transcript.to_owned();
        let language = self.caller_language;
        self.second_opinions
            .spawn(async move { (language, classifier.classify(&transcript).await) });
    }

    /// A second opinion came back: it can add a flag, never take one away.
    async fn on_second_opinion(
        &mut self,
        joined: Result<
            (
                Language,
                Result<Option<Category>, crate::safety::classifier::ClassifierError>,
            ),
            tokio::task::JoinError,
        >,
    ) -> Result<(), Outcome> {
        let Ok((language, answer)) = joined else {
            self.deps.metrics.classifier_check("task_failed");
            return Ok(());
        };
        match answer {
            Ok(Some(category)) => {
                self.deps.metrics.classifier_check("flagged");
                self.caller_language = language;
                self.escalate(category, "classifier").await
            }
            Ok(None) => {
                self.deps.metrics.classifier_check("clear");
                Ok(())
            }
            Err(e) => {
                self.deps.metrics.classifier_check(e.kind());
                tracing::warn!(call_id = %self.id, error.kind = e.kind(), "red-flag classifier gave no answer; the detector's verdict stands");
                Ok(())
            }
        }
    }

    fn hold_agent(&mut self, held: HeldAudio) {
        self.held_agent_samples += held.samples.len() as u64;
        self.held_agent.push_back(held);
        while self.held_agent_samples > MAX_HELD_AGENT_MS * self.clock.samples_per_ms() {
            match self.held_agent.pop_front() {
                Some(old) => {
                    self.held_agent_samples -= old.samples.len() as u64;
                    tracing::warn!(call_id = %self.id, "agent audio held during the disclosure exceeded its bound; oldest dropped");
                }
                None => break,
            }
        }
    }

    /// Send agent audio to the caller, followed by a mark, and place it on the media clock.
    async fn play_agent(
        &mut self,
        item: Arc<str>,
        b64: String,
        samples: Vec<i16>,
        origin: Instant,
    ) -> Result<(), Outcome> {
        let len = samples.len() as u64;
        let offset = self.state.audio_received(&item, len);
        if offset == 0
            && let Some((_, upstream_id)) = item.split_once(':')
        {
            // Where the agent's turn starts on the media clock (the first chunk's playout position).
            let start_ms = self.playout.queued_end().max(self.clock.caller_now()) / self.clock.samples_per_ms();
            self.item_starts.entry(upstream_id.to_owned()).or_insert(start_ms);
        }
        self.show_state(AgentState::Speaking).await?;
        self.agent_samples_sent += len;
        let (mark, start) = self
            .playout
            .enqueue(item, offset, len, self.clock.caller_now(), Instant::now());
        self.send_caller(CallerCommand::Audio {
            b64,
            origin: Some(origin),
        })
        .await?;
        self.send_caller(CallerCommand::Mark(mark)).await?;
        self.record(AudioChunk::Audio {
            leg: Leg::Agent,
            sample_index: start,
            samples,
        })
        .await;
        Ok(())
    }

    /// The caller started speaking: stop agent audio where the caller actually is, truncate the
    /// item there, and cancel a response still in flight.
    async fn barge_in(&mut self, audio_start_ms: u64) -> Result<(), Outcome> {
        let now = Instant::now();
        if !self.disclosure_done {
            // The disclosure is never cut: drop held agent audio instead.
            self.held_agent.clear();
            self.held_agent_samples = 0;
        } else if self.playout.is_playing() && self.safety_playing.is_none() {
            self.barge_ins += 1;
            self.send_caller(CallerCommand::Clear).await?;
            let queued_end = self.playout.queued_end();
            if let Some(cut) = self.playout.clear(now, self.clock.caller_now()) {
                // Everything queued after the cut point was sent but not played.
                let unplayed = queued_end.saturating_sub(cut.at_sample);
                self.estimated_played_at_clear = Some(self.agent_samples_sent.saturating_sub(unplayed));
                self.record(AudioChunk::CutAgent {
                    at_sample: cut.at_sample,
                })
                .await;
                let received = self.state.samples_received(&cut.item);
                let ms = truncation_ms(cut.item_samples, received, self.clock.samples_per_ms());
                if let Some(upstream_item) = self.upstream_item_id(&cut.item) {
                    self.truncations.push(ms);
                    let at_caller_ms = self.clock.upstream_to_caller_ms(audio_start_ms);
                    tracing::info!(call_id = %self.id, audio_end_ms = ms, speech_at_ms = at_caller_ms, "barge-in: truncating agent item");
                    self.send_upstream(events::truncate(upstream_item, ms)).await?;
                }
            }
        }
        self.show_state(AgentState::Listening).await?;
        // Our session.update sets `interrupt_response: true`, so the server cancels the response in
        // flight itself on speech_started; a `response.cancel` from us would race it and fail.
        // Late deltas of that response are dropped here.
        if let Some(id) = self.state.active_response().map(str::to_owned) {
            self.state.cancel(&id);
        }
        Ok(())
    }

    /// The upstream's own item id for a generation-tagged item of the current upstream (older
    /// generations' items no longer exist upstream).
    fn upstream_item_id<'a>(&self, tagged: &'a str) -> Option<&'a str> {
        let (generation, id) = tagged.split_once(':')?;
        (generation.strip_prefix('g')?.parse::<u32>().ok()? == self.generation).then_some(id)
    }

    async fn on_idle(&mut self) -> Result<(), Outcome> {
        match self.idle_stage {
            IdleStage::Waiting => {
                self.idle_stage = IdleStage::Prompted;
                self.idle_deadline =
                    Instant::now() + Duration::from_secs(self.deps.settings.call.idle_hangup_after_secs);
                tracing::info!(call_id = %self.id, "caller silent; prompting");
                if matches!(self.upstream, Upstream::Ready(..)) {
                    let prompt = self.deps.settings.call.idle_prompt.clone();
                    self.request_response(events::response_create(Some(&prompt), false))
                        .await?;
                }
                Ok(())
            }
            IdleStage::Prompted => Err(Outcome::Idle),
        }
    }

    async fn request_response(&mut self, frame: String) -> Result<(), Outcome> {
        match self.state.request_response(frame) {
            ResponseRequest::SendNow(frame) => self.send_upstream(frame).await,
            ResponseRequest::Queued => Ok(()),
        }
    }

    async fn send_upstream(&mut self, frame: String) -> Result<(), Outcome> {
        match self.upstream_handle() {
            Some(h) if h.send(frame).await.is_ok() => Ok(()),
            Some(_) => self.on_upstream_lost(UpstreamClosed::Dropped).await,
            // Being replaced: the replay carries what matters (the conversation, an answer owed).
            None => Ok(()),
        }
    }

    /// Show the agent's state on a browser caller's screen, when it changed.
    async fn show_state(&mut self, state: AgentState) -> Result<(), Outcome> {
        if self.format == AudioFormat::Pcmu || self.shown_state == Some(state) {
            return Ok(());
        }
        self.shown_state = Some(state);
        self.send_caller(CallerCommand::AgentState(state)).await
    }

    /// A final transcript line for a browser caller's screen (a phone has none).
    async fn show_transcript(&mut self, speaker: TranscriptSpeaker, text: &str) -> Result<(), Outcome> {
        if self.format == AudioFormat::Pcmu || text.is_empty() {
            return Ok(());
        }
        self.send_caller(CallerCommand::Transcript {
            speaker,
            text: TranscriptText(text.to_owned()),
            is_final: true,
        })
        .await
    }

    async fn send_caller(&mut self, command: CallerCommand) -> Result<(), Outcome> {
        self.caller_tx.send(command).await.map_err(|_| Outcome::CallerGone)
    }

    /// Awaited: the recorder applies backpressure rather than losing audio.
    /// Batch caller audio for the recorder (see [`RECORD_BATCH_MS`]); a frame that does not follow
    /// the batch (a gap in the caller's timestamps) starts a new one.
    async fn record_caller(&mut self, at: u64, samples: &[i16]) {
        let (start, batch) = &mut self.caller_batch;
        if !batch.is_empty() && *start + batch.len() as u64 != at {
            self.flush_caller_batch().await;
        }
        let (start, batch) = &mut self.caller_batch;
        if batch.is_empty() {
            *start = at;
        }
        batch.extend_from_slice(samples);
        if batch.len() as u64 >= RECORD_BATCH_MS * self.clock.samples_per_ms() {
            self.flush_caller_batch().await;
        }
    }

    async fn flush_caller_batch(&mut self) {
        if self.caller_batch.1.is_empty() {
            return;
        }
        let capacity = (RECORD_BATCH_MS * self.clock.samples_per_ms()) as usize;
        let (start, samples) = std::mem::replace(&mut self.caller_batch, (0, Vec::with_capacity(capacity)));
        self.record(AudioChunk::Audio {
            leg: Leg::Caller,
            sample_index: start,
            samples,
        })
        .await;
    }

    async fn record(&mut self, chunk: AudioChunk) {
        if self.recorder.tx.send(chunk).await.is_err() {
            tracing::error!(call_id = %self.id, "recorder stopped early");
        }
    }

    /// Always runs: close the upstream at once, tell Twilio what comes next, close the caller
    /// socket, let the recorder finish, and account for the call.
    async fn finalize(mut self, outcome: Outcome) -> CallSummary {
        self.flush_caller_batch().await;
        let Session {
            id,
            call_sid,
            deps,
            caller_tx,
            writer,
            upstream,
            recorder,
            state,
            disclosure_played,
            caller_frames,
            frames_buffered,
            barge_ins,
            truncations,
            started_at_ms,
            format,
            tool_log,
            item_starts,
            ..
        } = self;
        match upstream {
            Upstream::Ready(handle, _) => handle.close().await,
            Upstream::Connecting(task) | Upstream::Reconnecting(task) => task.abort(),
            Upstream::Gone => {}
        }
        // Twilio continues a call with TwiML; a browser call simply ends.
        if let (Some(sid), Some(step)) = (&call_sid, outcome.next_step()) {
            deps.registry.set_next_step(sid, step).await;
        }
        let (code, reason) = close_for(format, &outcome);
        let _ = caller_tx
            .send(CallerCommand::Close {
                code,
                reason: reason.into(),
            })
            .await;
        drop(caller_tx);
        if tokio::time::timeout(Duration::from_secs(5), writer).await.is_err() {
            tracing::warn!(call_id = %id, "caller writer did not finish in time");
        }
        deps.metrics.call_ended(outcome.label());
        let ended_at_ms = deps.clock.now_unix_ms();
        let transport = transport_of(format);
        let ended = audit_call_ended(
            &deps,
            &id,
            started_at_ms,
            ended_at_ms,
            transport,
            &outcome,
            disclosure_played,
            caller_frames,
            barge_ins,
        )
        .await;
        let tool_calls = tool_log.len() as u64;
        // Before the row: once the row shows the outcome, the report can count what happened.
        let outcomes: Vec<crate::storage::calls::ToolOutcome<'_>> = tool_log
            .iter()
            .map(|t| crate::storage::calls::ToolOutcome {
                tool: &t.name,
                outcome: &t.outcome,
                at_ms: started_at_ms + t.at_ms.unwrap_or(0),
            })
            .collect();
        let unstored_tools: Vec<(String, String, u64)> = match crate::storage::calls::record_tool_outcomes(
            &deps.db,
            id.as_str(),
            &outcomes,
        )
        .await
        {
            Ok(()) => Vec::new(),
            Err(e) => {
                tracing::warn!(call_id = %id, error.message = %e, "tool outcomes could not be stored; parked with the row");
                outcomes
                    .iter()
                    .map(|o| (o.tool.to_owned(), o.outcome.to_owned(), o.at_ms))
                    .collect()
            }
        };
        drop(outcomes);
        let manifest = ManifestInput {
            call_id: id.to_string(),
            call_sid: call_sid.clone(),
            transport: transport.into(),
            started_at_ms,
            ended_at_ms,
            outcome: outcome.label().into(),
            disclosure_played,
            transcript: state
                .log
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    if e.at_ms.is_none() {
                        e.at_ms = e.item_id.as_ref().and_then(|id| item_starts.get(id).copied());
                    }
                    e
                })
                .map(|e| TranscriptSegment {
                    speaker: match e.speaker {
                        Speaker::Caller => "caller",
                        Speaker::Agent => "agent",
                        Speaker::System => "system",
                    }
                    .into(),
                    text: e.text.clone(),
                    start_ms: e.at_ms,
                })
                .collect(),
            tool_calls: tool_log,
            truncations: truncations
                .iter()
                .map(|&audio_end_ms| TruncationEntry { audio_end_ms })
                .collect(),
            audit_position: ended.map(|r| AuditPosition {
                index: r.index,
                hash: crate::config::hex(&r.hash),
            }),
        };
        let (recording, recorder) = match recorder.finish(manifest).await {
            Ok((stored, stats)) => {
                audit_recording_stored(&deps, &id, &stored).await;
                (Some(stored), stats)
            }
            Err(e) => {
                tracing::error!(call_id = %id, error.message = %e, "recording not stored; its spool is finalised at the next start");
                (None, Default::default())
            }
        };
        let verified_ref = state.verified_patient().map(|p| p.phi_ref().to_string());
        let row_start = crate::storage::calls::CallStart {
            call_id: id.as_str(),
            call_sid: call_sid.as_deref(),
            transport,
            started_at_ms,
        };
        let row_end = crate::storage::calls::CallEnd {
            call_id: id.as_str(),
            ended_at_ms,
            outcome: outcome.label(),
            disclosure_played,
            verified_patient_ref: verified_ref.as_deref(),
            recording_location: recording.as_ref().map(|r| r.wav_key.as_str()),
            caller_frames,
            barge_ins,
            tool_calls,
            emergency: state.emergency,
        };
        // The row last: once it shows the outcome, the audit records exist.
        let finished = crate::storage::calls::finish(&deps.db, &row_start, &row_end).await;
        if finished.is_err() || !unstored_tools.is_empty() {
            if let Err(e) = &finished {
                tracing::warn!(call_id = %id, error.message = %e, "call row could not be completed; parked until the database is back");
            }
            let parked = crate::storage::calls::ParkedRow {
                call_id: id.to_string(),
                call_sid: call_sid.clone(),
                transport: transport.to_owned(),
                started_at_ms,
                ended_at_ms,
                outcome: outcome.label().to_owned(),
                disclosure_played,
                verified_patient_ref: verified_ref.clone(),
                recording_location: recording.as_ref().map(|r| r.wav_key.clone()),
                caller_frames,
                barge_ins,
                tool_calls,
                emergency: state.emergency,
                tools: unstored_tools,
            };
            match serde_json::to_vec(&parked) {
                Ok(bytes) => {
                    if let Err(e) = deps.local_blobs.put(&parked.key(), &bytes).await {
                        tracing::error!(call_id = %id, error.message = %e, "call row could not be parked");
                    }
                }
                Err(e) => tracing::error!(call_id = %id, error.message = %e, "call row could not be encoded"),
            }
        }
        // The end is recorded (call.ended above, stored or spooled): the call is no longer open.
        if let Err(e) = deps.local_blobs.delete(&crate::call::open_call_key(id.as_str())).await {
            tracing::warn!(call_id = %id, error.message = %e, "open-call marker could not be removed");
        }
        tracing::info!(
            call_id = %id,
            call_sid = call_sid.as_deref().unwrap_or("-"),
            outcome = outcome.label(),
            disclosure_played = disclosure_played,
            caller_frames,
            frames_buffered_before_upstream = frames_buffered,
            barge_ins,
            "call ended"
        );
        CallSummary {
            call_id: id,
            call_sid,
            outcome,
            disclosure_played,
            caller_frames,
            frames_buffered_before_upstream: frames_buffered,
            barge_ins,
            truncations,
            recorder,
            recording,
            log: state.log,
        }
    }
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    //! Session-level tests on paused time: the caller and the upstream are in-memory channels, so
    //! tokio's clock jumps straight to each deadline and timers are checked exactly, without sleeps.

    use super::*;
    use crate::config::Settings;
    use crate::testkit::session_harness::SessionHarness;
    use crate::transport::CallerAudio;

    async fn start(tweak: impl FnOnce(&mut Settings)) -> SessionHarness {
        SessionHarness::start(tweak, tokio::time::pause).await.unwrap()
    }

    #[tokio::test]
    async fn a_silent_caller_is_prompted_at_the_idle_time_then_the_call_ends() {
        let mut h = start(|s| {
            s.call.idle_prompt_after_secs = 20;
            s.call.idle_hangup_after_secs = 60;
        })
        .await;
        assert_eq!(h.next_upstream().await.unwrap()["type"], "session.update");
        h.hear_disclosure().await.unwrap();
        let heard_at = Instant::now();
        let prompt = h.next_upstream().await.unwrap();
        assert_eq!(prompt["type"], "response.create");
        assert!(
            prompt["response"]["instructions"]
                .as_str()
                .unwrap()
                .contains("still there")
        );
        assert_eq!(heard_at.elapsed().as_secs(), 20, "prompted exactly at the idle time");
        // Finalize closes the upstream first; the time of that close is when the call ended.
        assert!(h.upstream.sent.recv().await.is_none(), "upstream closed");
        assert_eq!(heard_at.elapsed().as_secs(), 80, "ended 60 s after the prompt");
        let summary = h.session.await.unwrap();
        assert_eq!(summary.outcome, Outcome::Idle);
        assert!(summary.disclosure_played);
    }

    #[tokio::test]
    async fn caller_speech_resets_the_idle_timer() {
        let mut h = start(|s| {
            s.call.idle_prompt_after_secs = 20;
            s.call.idle_hangup_after_secs = 60;
        })
        .await;
        h.next_upstream().await.unwrap();
        h.hear_disclosure().await.unwrap();
        tokio::time::advance(Duration::from_secs(15)).await;
        let spoke_at = Instant::now();
        h.upstream
            .events
            .send(UpstreamEvent::Event(
                ServerEvent::SpeechStopped { audio_end_ms: 100 },
                Instant::now(),
            ))
            .await
            .unwrap();
        let prompt = h.next_upstream().await.unwrap();
        assert_eq!(prompt["type"], "response.create");
        assert_eq!(
            spoke_at.elapsed().as_secs(),
            20,
            "the idle time counts from the caller's last speech"
        );
    }

    #[tokio::test]
    async fn the_maximum_call_length_ends_the_call_exactly() {
        let mut h = start(|s| {
            s.call.max_duration_secs = 3300;
            s.call.idle_prompt_after_secs = 100_000;
            // The length limit alone (a recycle would replace this in-memory upstream first).
            s.realtime.recycle_after_secs = 0;
        })
        .await;
        let started = Instant::now();
        h.next_upstream().await.unwrap();
        h.hear_disclosure().await.unwrap();
        assert!(h.upstream.sent.recv().await.is_none(), "upstream closed");
        assert_eq!(started.elapsed().as_secs(), 3300);
        assert_eq!(h.session.await.unwrap().outcome, Outcome::MaxDuration);
    }

    #[tokio::test]
    async fn caller_audio_before_the_upstream_is_held_in_order_and_none_is_dropped() {
        // The upstream here is ready at once, so exercise the hold with a caller that is faster
        // than the session's first poll: every frame still arrives, in order, after session.update.
        let mut h = start(|_| {}).await;
        for ts in 0..150u64 {
            let audio = CallerAudio {
                timestamp_ms: ts * 20,
                upstream_b64: format!("{ts:04}"),
                samples: vec![0; 160],
            };
            h.caller
                .send(CallerInput::Event(CallerEvent::Audio(audio)))
                .await
                .unwrap();
        }
        assert_eq!(h.next_upstream().await.unwrap()["type"], "session.update");
        for ts in 0..150u64 {
            let append = h.next_upstream().await.unwrap();
            assert_eq!(append["type"], "input_audio_buffer.append");
            assert_eq!(append["audio"], format!("{ts:04}"));
        }
        h.caller.send(CallerInput::Event(CallerEvent::Hangup)).await.unwrap();
        assert_eq!(h.session.await.unwrap().outcome, Outcome::HungUp);
    }
}
