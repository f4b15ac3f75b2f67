//! `TwilioCaller`: a Twilio Media Streams **client** that stands in for Twilio's media player.
//!
//! Tests, the simulator and the load tester use it to dial our `/twilio/media` WebSocket the way Twilio
//! does for a `<Connect><Stream>` (bidirectional) call. It also records what a caller would actually have
//! heard, and that record is the ground truth that tests compare the server against.
//!
//! # What it models (from `shared/protocols/twilio-media-streams.md`)
//! - **Handshake.** The upgrade `GET` may carry an `X-Twilio-Signature` header (§5). The first frame is
//!   `connected` (`protocol:"Call"`, `version:"1.0.0"`), followed by `start` with `sequenceNumber:"1"`,
//!   `tracks:["inbound"]`, `customParameters` and `mediaFormat` (`audio/x-mulaw`, 8000, 1) (§2).
//! - **Numbering.** Every numeric protocol field is a JSON *string*. `sequenceNumber` counts every message
//!   after `connected` (and that includes our `mark` echoes), `chunk` starts at `"1"` and counts media only,
//!   and `timestamp` is in ms since the stream started, as the test chooses (§2, §4).
//! - **Inbound audio.** It arrives as 20 ms / 160-byte μ-law frames, either paced in real time or sent back
//!   to back (§4).
//! - **Playout.** Server `media` is queued and played in real time at 8 bytes/ms (§4). Playback begins
//!   when audio arrives at an idle player. Audio that arrives while the player is busy plays straight
//!   after what is already queued. Played bytes are worked out from elapsed time on the
//!   `tokio::time` clock, so `tokio::time::pause()` drives them as well.
//! - **Marks.** A server `mark` goes into the queue behind the audio that was sent before it. It is echoed
//!   (same `name`) only once that audio has played, in send order (§3, §4). A timer wakes at the due time.
//! - **Clear.** A server `clear` throws away the unplayed audio and echoes every pending mark at once, in
//!   order (§3, §4).
//! - **Strictness, reported rather than fatal.** Each of these is recorded as
//!   [`CallerObservation::Malformed`] and the message is ignored: a binary frame (Twilio: 31950), invalid
//!   JSON, an unknown `event`, a missing field, a wrong or missing `streamSid` (31951), or a payload that is
//!   not valid base64 (§3, §7).
//!
//! # What it does not model
//! - No jitter buffer, network delay, congestion drops (31930) or warnings sent back to the server.
//!   Extra JSON fields are accepted without complaint.
//! - It does not check that the payload really is μ-law, and it does not detect a WAV header inside one.
//! - It sends no `stop` of its own and does not hang up. The test decides, using `send_stop` or `close`.
//! - Playback ends when the socket closes: audio still queued at that point is never counted as played,
//!   and marks still pending are never echoed.
//! - [`TwilioCaller::send_raw_text`] and [`TwilioCaller::send_raw_binary`] do not use a sequence number.
//!
//! # Memory
//! Everything is recorded for the whole call: played audio, arrival instants and the event feed, which
//! is unbounded. That comes to roughly 8 kB per second of server audio. Long load runs should call
//! [`TwilioCaller::drain_events`] now and then, or keep calls short.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Default `accountSid` used by [`TwilioCallerConfig::new`]. It is fixed so that a test server can be
/// configured with the same account (the notes recommend checking `start.accountSid`, §5). Like a real
/// SID it is 34 characters long.
pub const TEST_ACCOUNT_SID: &str = "ACtest0000000000000000000000000000";

/// Size of one inbound frame: 20 ms of μ-law at 8 kHz (notes §4). Twilio sends audio in frames of this size.
pub const FRAME_BYTES: usize = 160;

/// Length of one full frame in ms. Frame timestamps advance by this much.
pub const FRAME_MS: u64 = 20;

/// How long `wait_for_*` helpers wait. This limit only turns a hang into a failure, so it is generous
/// (STYLE §6: no sleeps for synchronisation).
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Playout rate: μ-law at 8 kHz is 8 bytes per ms, which makes one byte last 125 µs.
const NANOS_PER_BYTE: u64 = 125_000;

/// The longest stretch of an offending message that a `Malformed` record keeps, so that a huge bad
/// frame cannot flood the logs.
const MALFORMED_EXCERPT_CHARS: usize = 200;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How to place a call.
#[derive(Clone, Debug)]
pub struct TwilioCallerConfig {
    /// `ws://host:port/twilio/media`. Twilio would use `wss://`, but tests run plain ws on loopback.
    pub media_url: String,
    /// For a `wss://` media URL: the client TLS configuration (the roots that trust the server's
    /// certificate). None = the system's roots.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Value of the `X-Twilio-Signature` header sent on the upgrade `GET`. `None` leaves the header out.
    pub signature: Option<String>,
    /// `start.accountSid` and `stop.accountSid`.
    pub account_sid: String,
    /// `start.callSid` and `stop.callSid`.
    pub call_sid: String,
    /// `streamSid` of every message we send, and the one the server must use in its own messages.
    pub stream_sid: String,
    /// `start.customParameters`, i.e. the TwiML `<Parameter>`s (notes §1).
    pub custom_parameters: BTreeMap<String, String>,
    /// `start.mediaFormat`. Tests of bad input override it; Twilio always sends μ-law/8000/1.
    pub media_format: Value,
    /// `false` sends only `connected`, for tests of a `start` that never arrives.
    pub send_start: bool,
}

impl TwilioCallerConfig {
    /// A config with a fresh random-ish `MZ…` stream SID, the [`TEST_ACCOUNT_SID`], no signature, no custom
    /// parameters and Twilio's μ-law media format.
    pub fn new(media_url: impl Into<String>, call_sid: impl Into<String>) -> Self {
        Self {
            media_url: media_url.into(),
            tls: None,
            signature: None,
            account_sid: TEST_ACCOUNT_SID.to_owned(),
            call_sid: call_sid.into(),
            stream_sid: format!("MZ{}", random_hex32()),
            custom_parameters: BTreeMap::new(),
            media_format: default_media_format(),
            send_start: true,
        }
    }

    /// Builder helper: adds one `customParameters` entry.
    pub fn with_parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom_parameters.insert(name.into(), value.into());
        self
    }

    /// Builder helper: sets the `X-Twilio-Signature` header value.
    pub fn with_signature(mut self, signature: impl Into<String>) -> Self {
        self.signature = Some(signature.into());
        self
    }
}

/// Twilio's only media format (notes §2).
pub fn default_media_format() -> Value {
    json!({"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1})
}

/// One thing the caller saw or did. Feed order is the order in which things happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerObservation {
    /// The server sent a `media` message, which decoded to `bytes` bytes of audio.
    Media { bytes: usize },
    /// The server sent a `mark` with this name. It is now queued behind the audio sent before it.
    Mark { name: String },
    /// We echoed a mark back. `played_bytes` is the total played when it became due (natural echo) or
    /// when the clear arrived (`due_to_clear`).
    MarkEchoed {
        name: String,
        played_bytes: u64,
        due_to_clear: bool,
    },
    /// The server sent `clear`: `played_bytes` had been played and `discarded` unplayed bytes were dropped.
    Clear { played_bytes: u64, discarded: u64 },
    /// The connection ended. `code`/`reason` come from the server's close frame; a connection that ended
    /// without a close frame gives `None` and a description. This is always the last observation.
    Closed { code: Option<u16>, reason: String },
    /// A server message that Twilio would reject (see the module docs). It was ignored.
    Malformed(String),
}

/// A mark we echoed back, with the ground truth at the moment it was echoed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkEcho {
    /// The `mark.name` exactly as the server sent it.
    pub name: String,
    /// Total bytes played when it was echoed.
    pub played_bytes: u64,
    /// `true` if a `clear` released it rather than playback reaching it.
    pub due_to_clear: bool,
}

/// One `clear` from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClearRecord {
    /// Total bytes played when the clear arrived.
    pub played_bytes: u64,
    /// Unplayed bytes that the clear threw away.
    pub discarded: u64,
}

/// One valid server message as it arrived, with its arrival time. Tests use this to see what arrived
/// after a clear, and load tests to measure arrival timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// `media` with this many decoded bytes.
    Media { bytes: usize, at: std::time::Instant },
    /// `mark` with this name.
    Mark { name: String, at: std::time::Instant },
    /// `clear`.
    Clear { at: std::time::Instant },
}

/// A live call to our `/twilio/media` endpoint. Dropping it aborts its tasks, so the TCP connection
/// vanishes without a close frame.
pub struct TwilioCaller {
    /// What the call was placed with.
    config: TwilioCallerConfig,
    /// State shared with the reader/player task. It is locked briefly and never across `.await`.
    shared: Arc<Mutex<Shared>>,
    /// The event feed, written by the reader task and by playback advanced from the handle.
    events_rx: mpsc::UnboundedReceiver<CallerObservation>,
    /// Events that a `wait_for_*` helper read but did not want. `next_event` returns them first.
    backlog: VecDeque<CallerObservation>,
    /// Set once `Closed` has been handed out, after which the feed is over.
    feed_done: bool,
    /// Value of the next `media.chunk` (starts at 1).
    next_chunk: u64,
    /// Timestamp of the last media message we sent.
    last_timestamp_ms: u64,
    /// Timestamp at which the next paced frame starts: the last timestamp plus the last frame's length.
    next_timestamp_ms: u64,
    /// Reads the socket and drives playout.
    reader: JoinHandle<()>,
    /// Owns the write half, so that handle sends and mark echoes leave in sequence-number order.
    writer: JoinHandle<()>,
}

impl TwilioCaller {
    /// Opens the WebSocket, then sends `connected` and, unless `send_start` is false, `start`.
    ///
    /// # Errors
    /// Fails if the connection or upgrade fails. A refused upgrade reports the HTTP status, e.g.
    /// `upgrade refused: HTTP 403 Forbidden`.
    pub async fn connect(config: TwilioCallerConfig) -> anyhow::Result<TwilioCaller> {
        let mut request = config
            .media_url
            .as_str()
            .into_client_request()
            .with_context(|| format!("invalid media URL {}", config.media_url))?;
        if let Some(signature) = &config.signature {
            let value = HeaderValue::from_str(signature).context("X-Twilio-Signature is not a valid header value")?;
            request.headers_mut().insert("X-Twilio-Signature", value);
        }
        let connector = config.tls.clone().map(tokio_tungstenite::Connector::Rustls);
        let ws = match tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector).await {
            Ok((ws, _response)) => ws,
            Err(WsError::Http(response)) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                bail!("upgrade refused: HTTP {} ({})", response.status(), excerpt(&body));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("connecting to {}", config.media_url));
            }
        };
        let (ws_tx, ws_rx) = ws.split();
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Shared::new(config.stream_sid.clone(), out_tx, events_tx)));
        let writer = tokio::spawn(run_writer(ws_tx, out_rx));
        let reader = tokio::spawn(run_reader(ws_rx, Arc::clone(&shared)));
        let mut caller = TwilioCaller {
            config,
            shared,
            events_rx,
            backlog: VecDeque::new(),
            feed_done: false,
            next_chunk: 1,
            last_timestamp_ms: 0,
            next_timestamp_ms: 0,
            reader,
            writer,
        };
        caller
            .send_unsequenced(Message::text(
                json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string(),
            ))
            .await
            .context("sending connected")?;
        if caller.config.send_start {
            let c = &caller.config;
            let start = json!({
                "streamSid": c.stream_sid,
                "accountSid": c.account_sid,
                "callSid": c.call_sid,
                "tracks": ["inbound"],
                "customParameters": c.custom_parameters,
                "mediaFormat": c.media_format,
            });
            caller
                .send_sequenced(
                    move |seq, sid| json!({"event": "start", "sequenceNumber": seq, "start": start, "streamSid": sid}),
                )
                .await
                .context("sending start")?;
        }
        Ok(caller)
    }

    /// The config the call was placed with, including the generated stream SID.
    pub fn config(&self) -> &TwilioCallerConfig {
        &self.config
    }

    /// Sends one inbound `media` message. `payload` is raw μ-law and is base64-encoded here.
    ///
    /// # Errors
    /// Fails if the socket can no longer be written to.
    pub async fn send_media(&mut self, payload: &[u8], timestamp_ms: u64) -> anyhow::Result<()> {
        let chunk = self.next_chunk;
        self.next_chunk += 1;
        self.last_timestamp_ms = timestamp_ms;
        self.next_timestamp_ms = timestamp_ms + (payload.len() as u64).div_ceil(8);
        let media = json!({
            "track": "inbound",
            "chunk": chunk.to_string(),
            "timestamp": timestamp_ms.to_string(),
            "payload": BASE64.encode(payload),
        });
        self.send_sequenced(
            move |seq, sid| json!({"event": "media", "sequenceNumber": seq, "media": media, "streamSid": sid}),
        )
        .await
    }

    /// Sends `audio` in real time: one 160-byte frame every 20 ms, with the last frame possibly shorter.
    /// Timestamps carry on from the previous media message (0 for the first) and advance by each frame's
    /// length, i.e. +20 per full frame.
    ///
    /// # Errors
    /// Fails if the socket can no longer be written to.
    pub async fn send_audio_paced(&mut self, audio: &[u8]) -> anyhow::Result<()> {
        let mut ticker = tokio::time::interval(Duration::from_millis(FRAME_MS));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        for frame in audio.chunks(FRAME_BYTES) {
            ticker.tick().await;
            let ts = self.next_timestamp_ms;
            self.send_media(frame, ts).await?;
        }
        Ok(())
    }

    /// Sends `audio` as 160-byte frames back to back. Timestamps start at `start_timestamp_ms` and advance
    /// by 20 ms per frame.
    ///
    /// # Errors
    /// Fails if the socket can no longer be written to.
    pub async fn send_audio_fast(&mut self, audio: &[u8], start_timestamp_ms: u64) -> anyhow::Result<()> {
        for (i, frame) in audio.chunks(FRAME_BYTES).enumerate() {
            self.send_media(frame, start_timestamp_ms + FRAME_MS * i as u64).await?;
        }
        Ok(())
    }

    /// Sends a `dtmf` event (`track: "inbound_track"`, as Twilio does).
    ///
    /// # Errors
    /// Fails if the socket can no longer be written to.
    pub async fn send_dtmf(&mut self, digit: char) -> anyhow::Result<()> {
        let dtmf = json!({"track": "inbound_track", "digit": digit.to_string()});
        self.send_sequenced(
            move |seq, sid| json!({"event": "dtmf", "streamSid": sid, "sequenceNumber": seq, "dtmf": dtmf}),
        )
        .await
    }

    /// Sends `stop` (the call ended). The socket stays open until the server closes it or
    /// [`close`](Self::close) is called.
    ///
    /// # Errors
    /// Fails if the socket can no longer be written to.
    pub async fn send_stop(&mut self) -> anyhow::Result<()> {
        let stop = json!({"accountSid": self.config.account_sid, "callSid": self.config.call_sid});
        self.send_sequenced(
            move |seq, sid| json!({"event": "stop", "sequenceNumber": seq, "stop": stop, "streamSid": sid}),
        )
        .await
    }

    /// Sends `text` as-is in a text frame, for bad-input tests. No sequence number is used.
    ///
    /// # Errors
    /// Fails if the socket can no longer be written to.
    pub async fn send_raw_text(&mut self, text: String) -> anyhow::Result<()> {
        self.send_unsequenced(Message::text(text)).await
    }

    /// Sends `data` in a binary frame, something Twilio never does.
    ///
    /// # Errors
    /// Fails if the socket can no longer be written to.
    pub async fn send_raw_binary(&mut self, data: Vec<u8>) -> anyhow::Result<()> {
        self.send_unsequenced(Message::binary(data)).await
    }

    /// Sends a normal (1000) close frame without a `stop` first, as a caller that vanished would.
    /// The server's reply close frame shows up as [`CallerObservation::Closed`].
    ///
    /// # Errors
    /// Fails if the socket can no longer be written to.
    pub async fn close(&mut self) -> anyhow::Result<()> {
        self.close_with(1000, "").await
    }

    /// Sends a close frame with a code and reason of the test's choosing.
    ///
    /// # Errors
    /// Fails if the socket can no longer be written to.
    pub async fn close_with(&mut self, code: u16, reason: &str) -> anyhow::Result<()> {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        self.send_unsequenced(Message::Close(Some(frame))).await
    }

    /// The next observation. Returns `None` once the `Closed` observation has been handed out.
    ///
    /// # Cancel safety
    /// Cancel-safe: an observation is never lost when this future is dropped.
    pub async fn next_event(&mut self) -> Option<CallerObservation> {
        let event = match self.backlog.pop_front() {
            Some(event) => event,
            None if self.feed_done => return None,
            None => self.events_rx.recv().await?,
        };
        if matches!(event, CallerObservation::Closed { .. }) {
            self.feed_done = true;
        }
        Some(event)
    }

    /// Every observation that is already available, without waiting. Load tests use it to keep the feed
    /// from growing.
    pub fn drain_events(&mut self) -> Vec<CallerObservation> {
        let mut out: Vec<_> = self.backlog.drain(..).collect();
        while let Ok(event) = self.events_rx.try_recv() {
            out.push(event);
        }
        if out.iter().any(|e| matches!(e, CallerObservation::Closed { .. })) {
            self.feed_done = true;
        }
        out
    }

    /// Waits until the mark `name` has been echoed and returns the played-byte total at that moment.
    /// Other observations stay queued for `next_event`. If the same name was used more than once, each
    /// call consumes one echo.
    ///
    /// # Errors
    /// Fails after [`WAIT_TIMEOUT`], or if the connection closes before the echo.
    pub async fn wait_for_mark_echo(&mut self, name: &str) -> anyhow::Result<u64> {
        self.wait_for(&format!("echo of mark {name:?}"), |e| match e {
            CallerObservation::MarkEchoed {
                name: n, played_bytes, ..
            } if n == name => Some(*played_bytes),
            _ => None,
        })
        .await
    }

    /// Waits for the next server `clear` and returns `(played_bytes, discarded)`.
    ///
    /// # Errors
    /// Fails after [`WAIT_TIMEOUT`], or if the connection closes first.
    pub async fn wait_for_clear(&mut self) -> anyhow::Result<(u64, u64)> {
        self.wait_for("clear", |e| match e {
            CallerObservation::Clear {
                played_bytes,
                discarded,
            } => Some((*played_bytes, *discarded)),
            _ => None,
        })
        .await
    }

    /// Waits for the connection to end and returns the server's close code and reason. A connection that
    /// ended without a close frame gives `(None, description)`. Returns at once if it has already ended.
    ///
    /// # Errors
    /// Fails after [`WAIT_TIMEOUT`].
    pub async fn wait_closed(&mut self) -> anyhow::Result<(Option<u16>, String)> {
        if let Some(closed) = self.lock().closed.clone() {
            return Ok(closed);
        }
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.events_rx.recv()).await {
                Err(_) => {
                    bail!("timed out after {WAIT_TIMEOUT:?} waiting for the connection to close")
                }
                Ok(None) => bail!("event feed ended before the connection closed"),
                Ok(Some(CallerObservation::Closed { code, reason })) => {
                    self.backlog.push_back(CallerObservation::Closed {
                        code,
                        reason: reason.clone(),
                    });
                    return Ok((code, reason));
                }
                Ok(Some(other)) => self.backlog.push_back(other),
            }
        }
    }

    /// Every byte played so far, in order, including the played part of the current chunk.
    pub fn played_audio(&self) -> Vec<u8> {
        let mut shared = self.lock();
        shared.advance(Instant::now());
        shared.player.played.clone()
    }

    /// Total bytes played so far, including the played part of the current chunk.
    pub fn played_bytes(&self) -> u64 {
        let mut shared = self.lock();
        shared.advance(Instant::now());
        shared.player.played_total()
    }

    /// Total decoded audio bytes the server has sent, counting bytes that a clear later discarded.
    pub fn received_bytes(&self) -> u64 {
        self.lock().received_bytes
    }

    /// Number of valid `media` messages the server has sent.
    pub fn received_media_messages(&self) -> u64 {
        self.lock().media_arrivals.len() as u64
    }

    /// Every mark echoed so far, in echo order.
    pub fn mark_echoes(&self) -> Vec<MarkEcho> {
        let mut shared = self.lock();
        shared.advance(Instant::now());
        shared.mark_echoes.clone()
    }

    /// Every `clear` received so far.
    pub fn clears(&self) -> Vec<ClearRecord> {
        self.lock().clears.clone()
    }

    /// Names of the marks the server sent, in arrival order.
    pub fn received_marks(&self) -> Vec<String> {
        self.lock()
            .mark_positions
            .iter()
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The received-audio byte offset (value of `received_bytes` when it arrived) of the first mark named
    /// `name`.
    pub fn mark_position(&self, name: &str) -> Option<u64> {
        self.lock()
            .mark_positions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, pos)| *pos)
    }

    /// Arrival time of each server `media` message, for measuring pacing and jitter.
    pub fn media_arrivals(&self) -> Vec<std::time::Instant> {
        self.lock().media_arrivals.clone()
    }

    /// Every valid server message in arrival order. Use it to check, for example, what still arrived
    /// after a `clear`.
    pub fn timeline(&self) -> Vec<Received> {
        self.lock().timeline.clone()
    }

    /// The malformed or rejected server messages, as described for [`CallerObservation::Malformed`].
    pub fn malformed(&self) -> Vec<String> {
        self.lock().malformed.clone()
    }

    /// The close code and reason, once the connection has ended.
    pub fn closed(&self) -> Option<(Option<u16>, String)> {
        self.lock().closed.clone()
    }

    /// The `timestamp` of the last media message we sent (0 before any).
    pub fn last_timestamp_ms(&self) -> u64 {
        self.last_timestamp_ms
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }

    /// Sends a message that takes the next `sequenceNumber`. Numbering and queueing happen under a single
    /// lock, so numbers leave in order even when mark echoes are mixed in.
    async fn send_sequenced(&mut self, build: impl FnOnce(String, &str) -> Value) -> anyhow::Result<()> {
        let (ack_tx, ack_rx) = oneshot::channel();
        {
            let mut shared = self.lock();
            let seq = shared.take_seq();
            let text = build(seq.to_string(), &shared.stream_sid).to_string();
            shared
                .out_tx
                .send(Outgoing {
                    message: Message::text(text),
                    ack: Some(ack_tx),
                })
                .map_err(|_| anyhow!("WebSocket writer stopped"))?;
        }
        await_ack(ack_rx).await
    }

    async fn send_unsequenced(&mut self, message: Message) -> anyhow::Result<()> {
        let (ack_tx, ack_rx) = oneshot::channel();
        self.lock()
            .out_tx
            .send(Outgoing {
                message,
                ack: Some(ack_tx),
            })
            .map_err(|_| anyhow!("WebSocket writer stopped"))?;
        await_ack(ack_rx).await
    }

    /// Looks in the backlog first, then reads the feed, and parks any observation that does not match.
    async fn wait_for<T>(&mut self, what: &str, pick: impl Fn(&CallerObservation) -> Option<T>) -> anyhow::Result<T> {
        for i in 0..self.backlog.len() {
            if let Some(found) = pick(&self.backlog[i]) {
                self.backlog.remove(i);
                return Ok(found);
            }
        }
        if self.feed_done
            || self
                .backlog
                .iter()
                .any(|e| matches!(e, CallerObservation::Closed { .. }))
        {
            bail!("connection closed before {what}");
        }
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.events_rx.recv()).await {
                Err(_) => bail!("timed out after {WAIT_TIMEOUT:?} waiting for {what}"),
                Ok(None) => bail!("event feed ended before {what}"),
                Ok(Some(event)) => {
                    if let Some(found) = pick(&event) {
                        return Ok(found);
                    }
                    let closed = matches!(event, CallerObservation::Closed { .. });
                    self.backlog.push_back(event);
                    if closed {
                        bail!("connection closed before {what}");
                    }
                }
            }
        }
    }
}

impl Drop for TwilioCaller {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// A frame for the writer task. `ack` reports whether the write succeeded; mark echoes don't need one.
struct Outgoing {
    message: Message,
    ack: Option<oneshot::Sender<Result<(), String>>>,
}

async fn await_ack(ack_rx: oneshot::Receiver<Result<(), String>>) -> anyhow::Result<()> {
    match ack_rx.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => bail!("WebSocket write failed: {e}"),
        Err(_) => bail!("WebSocket writer stopped"),
    }
}

async fn run_writer(mut ws_tx: SplitSink<Ws, Message>, mut out_rx: mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(Outgoing { message, ack }) = out_rx.recv().await {
        let result = ws_tx.send(message).await.map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::debug!(error.message = %e, "twilio caller: write failed");
        }
        if let Some(ack) = ack {
            // The sender may have stopped waiting (its future was dropped); that's fine.
            let _ = ack.send(result);
        }
    }
}

async fn run_reader(mut ws_rx: SplitStream<Ws>, shared: Arc<Mutex<Shared>>) {
    loop {
        let due = lock(&shared).next_due();
        let next = tokio::select! {
            next = ws_rx.next() => next,
            () = sleep_until_some(due) => {
                lock(&shared).advance(Instant::now());
                continue;
            }
        };
        let now = Instant::now();
        match next {
            Some(Ok(message)) => lock(&shared).on_message(message, now),
            Some(Err(e)) => {
                lock(&shared).on_closed(None, format!("connection error: {e}"), now);
                return;
            }
            None => {
                lock(&shared).on_closed(None, "connection ended without a close frame".into(), now);
                return;
            }
        }
    }
}

async fn sleep_until_some(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Locks the shared state. A poisoned lock means a test panicked while holding it, and the data is still
/// valid for reading, so the lock is taken anyway rather than adding a second panic.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One entry in the playout queue.
enum Queued {
    /// Server audio. `pos` counts the bytes of `data` already played.
    Audio { data: Vec<u8>, pos: usize },
    /// A server mark, waiting for the audio ahead of it to play.
    Mark(String),
}

/// Twilio's outbound player: a FIFO of audio and marks drained at 8 bytes/ms.
#[derive(Default)]
struct Player {
    queue: VecDeque<Queued>,
    /// The playback clock: the instant playback (re)started and the played total at that instant. `None`
    /// while idle, i.e. whenever the queue holds no audio.
    anchor: Option<(Instant, u64)>,
    /// Every byte played, in order.
    played: Vec<u8>,
    /// Set when the connection has closed, so nothing more plays.
    stopped: bool,
}

impl Player {
    fn played_total(&self) -> u64 {
        self.played.len() as u64
    }
}

/// State shared by the handle and the reader task.
struct Shared {
    /// The call's `streamSid`. Outbound messages carry it and inbound ones must match it.
    stream_sid: String,
    /// The last `sequenceNumber` used (`connected` has none, so the first one handed out is 1).
    last_seq: u64,
    /// To the writer task.
    out_tx: mpsc::UnboundedSender<Outgoing>,
    /// The event feed.
    events_tx: mpsc::UnboundedSender<CallerObservation>,
    player: Player,
    received_bytes: u64,
    media_arrivals: Vec<std::time::Instant>,
    /// `(name, received_bytes at arrival)` for each server mark, in order.
    mark_positions: Vec<(String, u64)>,
    mark_echoes: Vec<MarkEcho>,
    clears: Vec<ClearRecord>,
    timeline: Vec<Received>,
    malformed: Vec<String>,
    closed: Option<(Option<u16>, String)>,
}

impl Shared {
    fn new(
        stream_sid: String,
        out_tx: mpsc::UnboundedSender<Outgoing>,
        events_tx: mpsc::UnboundedSender<CallerObservation>,
    ) -> Self {
        Self {
            stream_sid,
            last_seq: 0,
            out_tx,
            events_tx,
            player: Player::default(),
            received_bytes: 0,
            media_arrivals: Vec::new(),
            mark_positions: Vec::new(),
            mark_echoes: Vec::new(),
            clears: Vec::new(),
            timeline: Vec::new(),
            malformed: Vec::new(),
            closed: None,
        }
    }

    fn take_seq(&mut self) -> u64 {
        self.last_seq += 1;
        self.last_seq
    }

    fn emit(&self, event: CallerObservation) {
        // If the handle is gone, nobody is listening any more, and that's fine.
        let _ = self.events_tx.send(event);
    }

    /// Plays everything due by `now` and echoes each mark that playback reaches.
    fn advance(&mut self, now: Instant) {
        if self.player.stopped {
            return;
        }
        loop {
            let played_total = self.player.played_total();
            match self.player.queue.front_mut() {
                None => {
                    self.player.anchor = None;
                    return;
                }
                Some(Queued::Mark(_)) => {
                    if let Some(Queued::Mark(name)) = self.player.queue.pop_front() {
                        self.echo_mark(name, false);
                    }
                }
                Some(Queued::Audio { data, pos }) => {
                    let (start, start_played) = *self.player.anchor.get_or_insert((now, played_total));
                    let elapsed = now.saturating_duration_since(start).as_nanos();
                    let allowed = start_played
                        .saturating_add(u64::try_from(elapsed / u128::from(NANOS_PER_BYTE)).unwrap_or(u64::MAX));
                    if allowed <= played_total {
                        return;
                    }
                    let remaining = data.len() - *pos;
                    let take = usize::try_from(allowed - played_total)
                        .unwrap_or(usize::MAX)
                        .min(remaining);
                    self.player.played.extend_from_slice(&data[*pos..*pos + take]);
                    *pos += take;
                    if *pos < data.len() {
                        return;
                    }
                    self.player.queue.pop_front();
                }
            }
        }
    }

    /// When the first queued mark becomes due, if there is one. This is what the reader's timer sleeps
    /// until.
    fn next_due(&self) -> Option<Instant> {
        if self.player.stopped {
            return None;
        }
        let (start, start_played) = self.player.anchor?;
        let mut ahead: u64 = 0;
        for item in &self.player.queue {
            match item {
                Queued::Audio { data, pos } => ahead += (data.len() - pos) as u64,
                Queued::Mark(_) => {
                    let offset = self.player.played_total() + ahead - start_played;
                    return Some(start + Duration::from_nanos(offset.saturating_mul(NANOS_PER_BYTE)));
                }
            }
        }
        None
    }

    fn echo_mark(&mut self, name: String, due_to_clear: bool) {
        let played_bytes = self.player.played_total();
        let seq = self.take_seq();
        let text = json!({
            "event": "mark",
            "sequenceNumber": seq.to_string(),
            "streamSid": self.stream_sid,
            "mark": {"name": name},
        })
        .to_string();
        // A closed writer only means the socket is gone; the record below still holds.
        let _ = self.out_tx.send(Outgoing {
            message: Message::text(text),
            ack: None,
        });
        self.mark_echoes.push(MarkEcho {
            name: name.clone(),
            played_bytes,
            due_to_clear,
        });
        self.emit(CallerObservation::MarkEchoed {
            name,
            played_bytes,
            due_to_clear,
        });
    }

    fn on_message(&mut self, message: Message, now: Instant) {
        match message {
            Message::Text(text) => self.on_text(text.as_str(), now),
            Message::Binary(data) => self.reject(format!(
                "binary frame of {} bytes (Twilio: 31950, text frames only)",
                data.len()
            )),
            Message::Close(frame) => {
                let (code, reason) = match frame {
                    Some(f) => (Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                    None => (None, String::new()),
                };
                self.on_closed(code, reason, now);
            }
            // tungstenite answers pings itself; raw frames are never yielded on read.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }

    fn on_text(&mut self, text: &str, now: Instant) {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return self.reject(format!("invalid JSON ({e}): {}", excerpt(text))),
        };
        let Some(event) = value.get("event").and_then(Value::as_str) else {
            return self.reject(format!("no \"event\" field: {}", excerpt(text)));
        };
        if !matches!(event, "media" | "mark" | "clear") {
            return self.reject(format!("unknown event {event:?} (Twilio: 31951): {}", excerpt(text)));
        }
        match value.get("streamSid").and_then(Value::as_str) {
            Some(sid) if sid == self.stream_sid => {}
            _ => {
                return self.reject(format!("missing or wrong streamSid (Twilio: 31951): {}", excerpt(text)));
            }
        }
        match event {
            "media" => {
                let Some(payload) = value.pointer("/media/payload").and_then(Value::as_str) else {
                    return self.reject(format!("media without media.payload: {}", excerpt(text)));
                };
                match BASE64.decode(payload) {
                    Ok(bytes) => self.on_media(bytes, now),
                    Err(e) => self.reject(format!("media payload is not base64 ({e})")),
                }
            }
            "mark" => {
                let Some(name) = value.pointer("/mark/name").and_then(Value::as_str) else {
                    return self.reject(format!("mark without mark.name: {}", excerpt(text)));
                };
                self.on_mark(name.to_owned(), now);
            }
            _ => self.on_clear(now),
        }
    }

    fn on_media(&mut self, bytes: Vec<u8>, now: Instant) {
        let len = bytes.len();
        self.received_bytes += len as u64;
        self.media_arrivals.push(now.into_std());
        self.timeline.push(Received::Media {
            bytes: len,
            at: now.into_std(),
        });
        self.emit(CallerObservation::Media { bytes: len });
        if self.player.stopped {
            return;
        }
        // Close out playback up to now first, so that an idle player restarts its clock at this arrival.
        self.advance(now);
        if len > 0 {
            if self.player.anchor.is_none() {
                self.player.anchor = Some((now, self.player.played_total()));
            }
            self.player.queue.push_back(Queued::Audio { data: bytes, pos: 0 });
        }
    }

    fn on_mark(&mut self, name: String, now: Instant) {
        self.mark_positions.push((name.clone(), self.received_bytes));
        self.timeline.push(Received::Mark {
            name: name.clone(),
            at: now.into_std(),
        });
        self.emit(CallerObservation::Mark { name: name.clone() });
        self.advance(now);
        self.player.queue.push_back(Queued::Mark(name));
        // A mark with no audio ahead of it is echoed right away.
        self.advance(now);
    }

    fn on_clear(&mut self, now: Instant) {
        self.timeline.push(Received::Clear { at: now.into_std() });
        self.advance(now);
        let played_bytes = self.player.played_total();
        let mut discarded = 0u64;
        let mut pending = Vec::new();
        for item in self.player.queue.drain(..) {
            match item {
                Queued::Audio { data, pos } => discarded += (data.len() - pos) as u64,
                Queued::Mark(name) => pending.push(name),
            }
        }
        self.player.anchor = None;
        self.clears.push(ClearRecord {
            played_bytes,
            discarded,
        });
        self.emit(CallerObservation::Clear {
            played_bytes,
            discarded,
        });
        for name in pending {
            self.echo_mark(name, true);
        }
    }

    fn on_closed(&mut self, code: Option<u16>, reason: String, now: Instant) {
        if self.closed.is_some() {
            return;
        }
        self.advance(now);
        self.player.stopped = true;
        self.closed = Some((code, reason.clone()));
        self.emit(CallerObservation::Closed { code, reason });
    }

    fn reject(&mut self, why: String) {
        tracing::debug!(reason = %why, "twilio caller: malformed server message");
        self.malformed.push(why.clone());
        self.emit(CallerObservation::Malformed(why));
    }
}

/// The first [`MALFORMED_EXCERPT_CHARS`] characters of `text`.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(MALFORMED_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// 32 hex digits, different on every call: `RandomState` is seeded randomly per process, and a counter
/// plus the clock make successive calls differ. That is enough for test SIDs, which do not need to be
/// secure.
fn random_hex32() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let state = std::collections::hash_map::RandomState::new();
    let mut words = [0u64; 2];
    for (i, word) in words.iter_mut().enumerate() {
        let mut hasher = state.build_hasher();
        hasher.write_u64(n);
        hasher.write_u128(nanos);
        hasher.write_usize(i);
        *word = hasher.finish();
    }
    format!("{:016x}{:016x}", words[0], words[1])
}

#[cfg(test)]
// tungstenite's handshake callback must return its large `ErrorResponse` by value.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    use tokio_tungstenite::tungstenite::http::StatusCode;

    /// The far end of a test call, playing "our server".
    struct Peer {
        ws: WebSocketStream<TcpStream>,
        signature: Option<String>,
        stream_sid: String,
    }

    impl Peer {
        /// Next frame from the caller, skipping pings and pongs.
        async fn recv(&mut self) -> Message {
            loop {
                let next = tokio::time::timeout(WAIT_TIMEOUT, self.ws.next())
                    .await
                    .expect("caller sent nothing within the timeout")
                    .expect("caller connection ended")
                    .expect("caller connection failed");
                if !matches!(next, Message::Ping(_) | Message::Pong(_)) {
                    return next;
                }
            }
        }

        async fn recv_json(&mut self) -> Value {
            match self.recv().await {
                Message::Text(t) => serde_json::from_str(t.as_str()).expect("caller sent invalid JSON"),
                other => panic!("expected a text frame, got {other:?}"),
            }
        }

        async fn send_json(&mut self, value: Value) {
            self.ws
                .send(Message::text(value.to_string()))
                .await
                .expect("server send");
        }

        async fn media(&mut self, audio: &[u8]) {
            let sid = self.stream_sid.clone();
            self.send_json(json!({"event": "media", "streamSid": sid, "media": {"payload": BASE64.encode(audio)}}))
                .await;
        }

        async fn mark(&mut self, name: &str) {
            let sid = self.stream_sid.clone();
            self.send_json(json!({"event": "mark", "streamSid": sid, "mark": {"name": name}}))
                .await;
        }

        async fn clear(&mut self) {
            let sid = self.stream_sid.clone();
            self.send_json(json!({"event": "clear", "streamSid": sid})).await;
        }
    }

    async fn listener() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("ws://{}/twilio/media", listener.local_addr().expect("addr"));
        (listener, url)
    }

    async fn accept(listener: &TcpListener, stream_sid: String) -> Peer {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut signature = None;
        let ws = tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
            signature = req
                .headers()
                .get("X-Twilio-Signature")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(resp)
        })
        .await
        .expect("server handshake");
        Peer {
            ws,
            signature,
            stream_sid,
        }
    }

    /// Places a call and accepts it, then reads `connected` and `start` off the wire.
    async fn call(config: TwilioCallerConfig, listener: &TcpListener) -> (TwilioCaller, Peer) {
        let sid = config.stream_sid.clone();
        let (caller, mut peer) = tokio::join!(TwilioCaller::connect(config), accept(listener, sid));
        let caller = caller.expect("connect");
        assert_eq!(peer.recv_json().await["event"], "connected");
        assert_eq!(peer.recv_json().await["event"], "start");
        (caller, peer)
    }

    async fn simple_call() -> (TwilioCaller, Peer) {
        let (listener, url) = listener().await;
        call(TwilioCallerConfig::new(url, "CA1"), &listener).await
    }

    fn audio(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
    }

    #[tokio::test]
    async fn connected_and_start_have_the_exact_twilio_shape() {
        let (listener, url) = listener().await;
        let config = TwilioCallerConfig::new(url, "CA123")
            .with_parameter("session", "v1.tok")
            .with_parameter("tenant", "acme")
            .with_signature("c2lnbmF0dXJl");
        let sid = config.stream_sid.clone();
        assert!(sid.starts_with("MZ") && sid.len() == 34, "{sid}");
        let (caller, mut peer) = tokio::join!(TwilioCaller::connect(config), accept(&listener, sid.clone()));
        let _caller = caller.expect("connect");
        assert_eq!(peer.signature.as_deref(), Some("c2lnbmF0dXJl"));
        assert_eq!(
            peer.recv_json().await,
            json!({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        );
        assert_eq!(
            peer.recv_json().await,
            json!({
                "event": "start",
                "sequenceNumber": "1",
                "start": {
                    "streamSid": sid,
                    "accountSid": TEST_ACCOUNT_SID,
                    "callSid": "CA123",
                    "tracks": ["inbound"],
                    "customParameters": {"session": "v1.tok", "tenant": "acme"},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
                "streamSid": sid,
            })
        );
    }

    #[tokio::test]
    async fn sequence_numbers_chunks_and_timestamps_increment() {
        let (mut caller, mut peer) = simple_call().await;
        let sid = caller.config().stream_sid.clone();
        let sound = audio(400, 7);
        caller.send_audio_fast(&sound, 0).await.expect("fast");
        let mut got = Vec::new();
        for (i, (len, ts)) in [(160, "0"), (160, "20"), (80, "40")].into_iter().enumerate() {
            let m = peer.recv_json().await;
            assert_eq!(m["event"], "media");
            assert_eq!(m["streamSid"], sid.as_str());
            assert_eq!(m["sequenceNumber"], (i + 2).to_string());
            assert_eq!(m["media"]["chunk"], (i + 1).to_string());
            assert_eq!(m["media"]["track"], "inbound");
            assert_eq!(m["media"]["timestamp"], ts);
            let bytes = BASE64
                .decode(m["media"]["payload"].as_str().expect("payload"))
                .expect("b64");
            assert_eq!(bytes.len(), len);
            got.extend(bytes);
        }
        assert_eq!(got, sound);
        assert_eq!(caller.last_timestamp_ms(), 40);

        caller.send_dtmf('5').await.expect("dtmf");
        assert_eq!(
            peer.recv_json().await,
            json!({"event": "dtmf", "streamSid": sid, "sequenceNumber": "5",
                   "dtmf": {"track": "inbound_track", "digit": "5"}})
        );
        caller.send_media(&audio(160, 1), 100).await.expect("media");
        let m = peer.recv_json().await;
        assert_eq!(
            (m["sequenceNumber"].as_str(), m["media"]["chunk"].as_str()),
            (Some("6"), Some("4"))
        );

        // Paced audio: timestamps carry on from the last frame, and frames are about 20 ms apart.
        let started = std::time::Instant::now();
        caller.send_audio_paced(&audio(480, 3)).await.expect("paced");
        assert!(
            started.elapsed() >= Duration::from_millis(40),
            "{:?}",
            started.elapsed()
        );
        for (seq, chunk, ts) in [("7", "5", "120"), ("8", "6", "140"), ("9", "7", "160")] {
            let m = peer.recv_json().await;
            assert_eq!(m["sequenceNumber"], seq);
            assert_eq!(m["media"]["chunk"], chunk);
            assert_eq!(m["media"]["timestamp"], ts);
        }
        assert_eq!(caller.last_timestamp_ms(), 160);

        // A mark echo takes a sequence number too.
        peer.mark("m").await;
        let echo = peer.recv_json().await;
        assert_eq!(echo["sequenceNumber"], "10");
        caller.send_stop().await.expect("stop");
        assert_eq!(
            peer.recv_json().await,
            json!({"event": "stop", "sequenceNumber": "11",
                   "stop": {"accountSid": TEST_ACCOUNT_SID, "callSid": "CA1"}, "streamSid": sid})
        );
        caller.close().await.expect("close");
        match peer.recv().await {
            Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
            other => panic!("expected close, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn mark_is_echoed_only_after_the_audio_before_it_has_played() {
        let (mut caller, mut peer) = simple_call().await;
        let sid = caller.config().stream_sid.clone();
        let first = audio(400, 9);
        let sent_at = std::time::Instant::now();
        peer.media(&first).await;
        peer.mark("m1").await;
        let echo = peer.recv_json().await;
        let waited = sent_at.elapsed();
        // 400 bytes = 50 ms of audio.
        assert!(waited >= Duration::from_millis(50), "echo after only {waited:?}");
        assert!(waited < Duration::from_secs(2), "echo took {waited:?}");
        assert_eq!(
            echo,
            json!({"event": "mark", "sequenceNumber": "2", "streamSid": sid, "mark": {"name": "m1"}})
        );
        assert_eq!(caller.wait_for_mark_echo("m1").await.expect("echo"), 400);
        assert_eq!(caller.mark_position("m1"), Some(400));
        assert_eq!(caller.played_audio(), first);

        // Audio that arrives while earlier audio is still queued plays after it: 2 × 100 ms.
        let sent_at = std::time::Instant::now();
        peer.media(&audio(800, 1)).await;
        peer.media(&audio(800, 2)).await;
        peer.mark("m2").await;
        // With nothing queued ahead of it, a mark is echoed at once, but in queue order behind m2.
        peer.mark("m3").await;
        assert_eq!(peer.recv_json().await["mark"]["name"], "m2");
        assert!(
            sent_at.elapsed() >= Duration::from_millis(200),
            "{:?}",
            sent_at.elapsed()
        );
        assert_eq!(peer.recv_json().await["mark"]["name"], "m3");
        assert_eq!(caller.wait_for_mark_echo("m2").await.expect("m2"), 2000);
        assert_eq!(caller.wait_for_mark_echo("m3").await.expect("m3"), 2000);
        peer.mark("m4").await;
        assert_eq!(peer.recv_json().await["mark"]["name"], "m4");
        assert_eq!(caller.wait_for_mark_echo("m4").await.expect("m4"), 2000);

        assert_eq!(caller.received_bytes(), 2000);
        assert_eq!(caller.played_bytes(), 2000);
        assert_eq!(caller.received_media_messages(), 3);
        assert_eq!(caller.media_arrivals().len(), 3);
        assert_eq!(caller.received_marks(), ["m1", "m2", "m3", "m4"]);
        assert!(caller.mark_echoes().iter().all(|e| !e.due_to_clear));

        // The feed kept every observation in order.
        let mut kinds = Vec::new();
        for e in caller.drain_events() {
            kinds.push(match e {
                CallerObservation::Media { bytes } => format!("media{bytes}"),
                CallerObservation::Mark { name } => format!("mark:{name}"),
                CallerObservation::MarkEchoed { name, .. } => format!("echo:{name}"),
                other => format!("{other:?}"),
            });
        }
        assert_eq!(
            kinds,
            // The echoes were taken by `wait_for_mark_echo`; what it passed over stays queued.
            [
                "media400", "mark:m1", "media800", "media800", "mark:m2", "mark:m3", "mark:m4"
            ]
        );
    }

    #[tokio::test]
    async fn clear_discards_unplayed_audio_and_echoes_pending_marks_at_once() {
        let (mut caller, mut peer) = simple_call().await;
        // 2 s of audio with two marks, then clear right away.
        peer.media(&audio(8000, 1)).await;
        peer.mark("a").await;
        peer.media(&audio(8000, 2)).await;
        peer.mark("b").await;
        loop {
            match caller.next_event().await.expect("event") {
                CallerObservation::Mark { name } if name == "b" => break,
                _ => {}
            }
        }
        let cleared_at = std::time::Instant::now();
        peer.clear().await;
        assert_eq!(peer.recv_json().await["mark"]["name"], "a");
        assert_eq!(peer.recv_json().await["mark"]["name"], "b");
        assert!(
            cleared_at.elapsed() < Duration::from_millis(900),
            "{:?}",
            cleared_at.elapsed()
        );

        let (played, discarded) = caller.wait_for_clear().await.expect("clear");
        assert!(played < 8000, "played {played}");
        assert_eq!(played + discarded, 16000);
        assert_eq!(
            caller.clears(),
            [ClearRecord {
                played_bytes: played,
                discarded
            }]
        );
        assert_eq!(
            caller.mark_echoes(),
            [
                MarkEcho {
                    name: "a".into(),
                    played_bytes: played,
                    due_to_clear: true
                },
                MarkEcho {
                    name: "b".into(),
                    played_bytes: played,
                    due_to_clear: true
                },
            ]
        );
        assert_eq!(caller.wait_for_mark_echo("b").await.expect("b"), played);
        assert_eq!(caller.wait_for_mark_echo("a").await.expect("a"), played);
        assert_eq!(caller.played_audio(), audio(8000, 1)[..played as usize]);

        // After the clear the player is idle: new audio starts playing when it arrives.
        peer.media(&audio(160, 3)).await;
        peer.mark("c").await;
        assert_eq!(peer.recv_json().await["mark"]["name"], "c");
        assert_eq!(caller.wait_for_mark_echo("c").await.expect("c"), played + 160);
        assert!(matches!(caller.timeline()[4], Received::Clear { .. }));
    }

    #[tokio::test]
    async fn malformed_server_messages_and_close_are_recorded() {
        let (mut caller, mut peer) = simple_call().await;
        let sid = caller.config().stream_sid.clone();
        peer.ws.send(Message::text("not json")).await.expect("send");
        peer.send_json(json!({"event": "bogus", "streamSid": sid})).await;
        peer.ws.send(Message::binary(vec![1u8, 2, 3])).await.expect("send");
        peer.send_json(json!({"event": "media", "streamSid": "MZother", "media": {"payload": "AAAA"}}))
            .await;
        peer.send_json(json!({"event": "media", "streamSid": sid, "media": {"payload": "***"}}))
            .await;
        peer.send_json(json!({"event": "mark", "streamSid": sid})).await;
        peer.ws
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Policy,
                reason: "bad signature".into(),
            })))
            .await
            .expect("close");
        for _ in 0..6 {
            let event = caller.next_event().await.expect("event");
            assert!(matches!(event, CallerObservation::Malformed(_)), "{event:?}");
        }
        assert_eq!(
            caller.next_event().await,
            Some(CallerObservation::Closed {
                code: Some(1008),
                reason: "bad signature".into()
            })
        );
        assert_eq!(caller.next_event().await, None);
        assert_eq!(
            caller.wait_closed().await.expect("closed"),
            (Some(1008), "bad signature".into())
        );
        assert!(caller.wait_for_clear().await.is_err());
        assert_eq!(caller.malformed().len(), 6);
        assert_eq!(caller.received_bytes(), 0);
    }

    #[tokio::test]
    async fn without_start_only_connected_is_sent_and_raw_frames_pass_through() {
        let (listener, url) = listener().await;
        let mut config = TwilioCallerConfig::new(url, "CA9");
        config.send_start = false;
        let sid = config.stream_sid.clone();
        let (caller, mut peer) = tokio::join!(TwilioCaller::connect(config), accept(&listener, sid));
        let mut caller = caller.expect("connect");
        assert_eq!(peer.signature, None);
        assert_eq!(peer.recv_json().await["event"], "connected");
        caller.send_raw_text("{oops".into()).await.expect("raw text");
        caller.send_raw_binary(vec![0xff; 4]).await.expect("raw binary");
        caller.send_media(&[0xff; 160], 0).await.expect("media");
        assert_eq!(peer.recv().await, Message::text("{oops"));
        assert_eq!(peer.recv().await, Message::binary(vec![0xffu8; 4]));
        assert_eq!(peer.recv_json().await["sequenceNumber"], "1");
        // A server that hangs up without a close frame is reported too.
        drop(peer);
        let (code, reason) = caller.wait_closed().await.expect("closed");
        assert_eq!(code, None, "{reason}");
    }

    #[tokio::test]
    async fn refused_upgrade_returns_the_http_status() {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let refuse = |_: &Request, _: Response| -> Result<Response, ErrorResponse> {
                let mut resp = ErrorResponse::new(Some("bad signature".into()));
                *resp.status_mut() = StatusCode::FORBIDDEN;
                Err(resp)
            };
            let _ = tokio_tungstenite::accept_hdr_async(tcp, refuse).await;
        });
        let err = TwilioCaller::connect(TwilioCallerConfig::new(url, "CA1"))
            .await
            .err()
            .expect("refused upgrade must fail");
        assert!(format!("{err:#}").contains("403"), "{err:#}");
        server.await.expect("server task");
    }
}
