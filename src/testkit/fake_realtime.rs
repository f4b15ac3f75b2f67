//! A fake OpenAI Realtime server (GA protocol) on loopback, for tests, the simulator and the load tester.
//!
//! [`FakeRealtime`] is a real tokio-tungstenite WebSocket server bound to `127.0.0.1:0`. Each accepted
//! upgrade becomes a [`FakeSession`]: the test reads what the gateway sent (`next_event`, `wait_for`,
//! `received`, `appended_audio`) and scripts what the "model" says (`speech_started`, `respond_audio`,
//! `function_call`, `close`, ...). It follows `shared/protocols/openai-realtime.md` (the GA wire names,
//! the `error` shape, the session shape of §3, the barge-in rules of §8) and answers by itself wherever the
//! real server would, so a gateway gets the same replies it gets in production:
//!
//! * `session.created` first; `session.update` -> `session.updated` with the merged session;
//! * `input_audio_buffer.commit` / `clear` -> `committed` (+ the user item) / `cleared`;
//! * `conversation.item.create` -> `conversation.item.added` + `.done`;
//! * `conversation.item.truncate` -> `conversation.item.truncated`, or the real server's error when
//!   `audio_end_ms` is beyond the audio actually sent for that item;
//! * `response.create` while a response is active -> `conversation_already_has_active_response`;
//! * `response.cancel` -> `response.done` (`cancelled`) or `response_cancel_not_active`;
//! * `speech_started` while a response is active and `interrupt_response` is on -> the server cancels the
//!   response itself (`response.done`, reason `turn_detected`), as §8 says;
//! * an `OpenAI-Beta` header -> `beta_api_shape_disabled` and close code 4000;
//! * WebSocket pings -> pongs (switchable off, to test the gateway's liveness check).
//!
//! Every deviation from the protocol by the client is also written to [`FakeSession::violations`], so a
//! test can end with `assert!(session.violations().is_empty())` and catch a gateway that "works" only
//! because the fake was lenient.
//!
//! Deliberately not simulated: no model (nothing is generated unless the test scripts it; a
//! `response.create` is only recorded), no VAD (the test decides when speech starts and stops), no
//! real-time pacing of output audio, no rate limits (`rate_limits.updated` is never sent), no 60-minute
//! session limit, no transcription-only sessions, no validation of tool schemas or of the content of
//! conversation items beyond `function_call_output.output` being a string, and no TLS.
//!
//! Threading: one task per connection owns the `WebSocketStream`; the `FakeSession` talks to it through
//! a command channel (scripted server events in, acked) and an event channel (client events out). State
//! both sides need (the log, audio counters, the active response) sits behind a `std::sync::Mutex`
//! that is never held across an `.await`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How long `next_session`, `wait_for` and `closed` wait: long enough for a loaded 2-core CI box,
/// short enough that a hang becomes a readable failure instead of a stuck test binary.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The only path the fake upgrades, like the real endpoint; anything else gets 404 so a gateway that
/// builds the URL wrongly fails in tests, not in production.
const REALTIME_PATH: &str = "/v1/realtime";

/// Model reported in the session when the upgrade URL carries no `model` query parameter.
const DEFAULT_MODEL: &str = "gpt-realtime";

/// Scripted sends queued per session. Each send waits for its ack, so a test never has more than a
/// few in flight; the bound only stops a runaway script from growing memory.
const COMMAND_QUEUE: usize = 64;

/// Documented maximum payload of one `input_audio_buffer.append` (notes §1: 15 MiB).
const MAX_APPEND_BYTES: usize = 15 * 1024 * 1024;

/// Bytes the pong filter buffers before it makes the WebSocket writer wait for the socket, so a client
/// that stops reading causes backpressure instead of unbounded growth.
const GATE_HIGH_WATER: usize = 64 * 1024;

/// Session fields a GA `session.update` may carry (notes §3). Anything else (e.g. the retired flat
/// `voice`, `modalities`, `input_audio_format`) is rejected with `unknown_parameter`, as the GA server does.
const GA_SESSION_FIELDS: &[&str] = &[
    "type",
    "model",
    "output_modalities",
    "instructions",
    "audio",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "tracing",
    "truncation",
    "include",
    "prompt",
    "parallel_tool_calls",
    "reasoning",
];

/// How the fake answers HTTP upgrades. `Default` accepts everything.
#[derive(Debug, Clone, Default)]
pub struct FakeRealtimeConfig {
    /// When set, the HTTP upgrade is answered with this status (e.g. 503) and no WebSocket opens.
    pub refuse_status: Option<u16>,
    /// When set, the upgrade must carry `Authorization: <value>` (e.g. "Bearer sk-test") or `api-key: <value>`
    /// (the value itself or the value without its `Bearer ` prefix); otherwise answer 401.
    pub expected_auth: Option<String>,
}

/// Ids of one scripted assistant audio response, as returned by [`FakeSession::begin_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseIds {
    /// `response.id`, echoed in every event of the response.
    pub response_id: String,
    /// The assistant message item that carries the audio (the id a gateway truncates).
    pub item_id: String,
}

/// The listening fake server. Dropping it stops accepting new connections; sessions already handed
/// out keep running until their [`FakeSession`] is dropped.
pub struct FakeRealtime {
    /// Where the listener is bound; tests point the gateway's `realtime.url` here.
    addr: SocketAddr,
    /// Settings and counters shared with the accept loop and every connection.
    server: Arc<ServerShared>,
    /// Accepted sessions in handshake-completion order. Unbounded because the accept loop must never
    /// block on a test that has not asked for the session yet; its length is bounded by the
    /// connections the test itself causes.
    /// Behind an async mutex so concurrent tests/tasks can share one fake through `&self`.
    sessions_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<FakeSession>>,
    /// The accept loop; aborted on drop, which is what "stop accepting" means.
    accept_task: JoinHandle<()>,
}

/// State shared by the listener, its accept loop and all connections.
struct ServerShared {
    /// Current refusal status; changeable at run time so a test can fail the first upgrade and let the
    /// retry through.
    refuse_status: Mutex<Option<u16>>,
    /// Credential the upgrade must carry, if any.
    expected_auth: Option<String>,
    /// Upgrades that became sessions.
    accepted: AtomicUsize,
    /// Upgrades answered with an HTTP error (refusal, 401, 404).
    refused: AtomicUsize,
    /// Source of every id the fake invents, shared so ids are unique across sessions.
    ids: IdGen,
}

/// Monotonic id source: ids look like `event_7`, `item_8`, `resp_9`.
struct IdGen(AtomicU64);

impl IdGen {
    fn next(&self, prefix: &str) -> String {
        format!("{prefix}_{}", self.0.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Debug for FakeRealtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeRealtime")
            .field("addr", &self.addr)
            .field("sessions_accepted", &self.sessions_accepted())
            .finish_non_exhaustive()
    }
}

impl FakeRealtime {
    /// Binds `127.0.0.1:0` and starts accepting upgrades.
    ///
    /// # Errors
    /// When the loopback listener cannot be bound.
    pub async fn start(config: FakeRealtimeConfig) -> anyhow::Result<FakeRealtime> {
        Self::start_on(config, 0).await
    }

    /// Binds `127.0.0.1:<port>` (0 = any free port) and starts accepting upgrades; a fixed port lets a
    /// separately started server be pointed at the fake (`voicegate simulate --server`).
    ///
    /// # Errors
    /// When the loopback listener cannot be bound.
    pub async fn start_on(config: FakeRealtimeConfig, port: u16) -> anyhow::Result<FakeRealtime> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .context("binding the fake realtime listener")?;
        let addr = listener.local_addr().context("reading the fake listener address")?;
        let server = Arc::new(ServerShared {
            refuse_status: Mutex::new(config.refuse_status),
            expected_auth: config.expected_auth,
            accepted: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            ids: IdGen(AtomicU64::new(1)),
        });
        let (sessions_tx, sessions_rx) = mpsc::unbounded_channel();
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&server), sessions_tx));
        Ok(FakeRealtime {
            addr,
            server,
            sessions_rx: tokio::sync::Mutex::new(sessions_rx),
            accept_task,
        })
    }

    /// The URL a gateway should dial: `ws://127.0.0.1:<port>/v1/realtime` (add `?model=` as in production).
    pub fn url(&self) -> String {
        format!("ws://{}{REALTIME_PATH}", self.addr)
    }

    /// The bound loopback address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the next accepted connection.
    ///
    /// # Errors
    /// After [`WAIT_TIMEOUT`] without a new session, or if the accept loop has stopped.
    ///
    /// # Cancel safety
    /// Cancel safe: a session not yet received stays queued for the next call.
    pub async fn next_session(&self) -> anyhow::Result<FakeSession> {
        let mut sessions = self.sessions_rx.lock().await;
        match tokio::time::timeout(WAIT_TIMEOUT, sessions.recv()).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => bail!("the fake realtime accept loop has stopped"),
            Err(_) => {
                bail!("no connection reached the fake realtime server within {WAIT_TIMEOUT:?}")
            }
        }
    }

    /// Upgrades that became sessions so far (refused upgrades are not counted).
    pub fn sessions_accepted(&self) -> usize {
        self.server.accepted.load(Ordering::SeqCst)
    }

    /// Upgrades answered with an HTTP error so far (refusal status, 401, 404); lets a test count retries.
    pub fn upgrades_refused(&self) -> usize {
        self.server.refused.load(Ordering::SeqCst)
    }

    /// Changes the refusal status for upgrades that arrive from now on.
    pub fn set_refuse_status(&self, status: Option<u16>) {
        *lock(&self.server.refuse_status) = status;
    }
}

impl Drop for FakeRealtime {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// Accepts TCP connections until aborted; each handshake runs in its own task so a slow or broken
/// client cannot stall the others.
async fn accept_loop(
    listener: TcpListener,
    server: Arc<ServerShared>,
    sessions_tx: mpsc::UnboundedSender<FakeSession>,
) {
    loop {
        match listener.accept().await {
            Ok((tcp, _peer)) => {
                // Like a real server's socket: small frames go out at once, not after Nagle's delay.
                let _ = tcp.set_nodelay(true);
                tokio::spawn(serve_connection(tcp, Arc::clone(&server), sessions_tx.clone()));
            }
            Err(error) => {
                // Accept errors (e.g. out of file descriptors) are transient; back off briefly
                // instead of spinning on them.
                tracing::warn!(%error, "fake realtime: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// What the upgrade request said, captured in the handshake callback.
#[derive(Debug, Clone, Default)]
struct Handshake {
    /// Percent-decoded `model` query parameter.
    model: Option<String>,
    /// All request headers, names lowercased; values decoded lossily because the peer may send anything.
    headers: Vec<(String, String)>,
}

impl Handshake {
    fn from_request(request: &Request) -> Handshake {
        let model = request.uri().query().and_then(|query| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| *key == "model")
                .map(|(_, value)| percent_decode(value))
        });
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        Handshake { model, headers }
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    }
}

/// Decodes `%XX` escapes (and `+` as space); malformed escapes are kept literally rather than rejected,
/// because the value is only reported back to the test.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%'
            && let Some(hex) = raw.get(i + 1..i + 3)
            && let Ok(value) = u8::from_str_radix(hex, 16)
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(if byte == b'+' { b' ' } else { byte });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decides an upgrade: `Err((status, body))` refuses it. Order: forced refusal, path, credentials.
fn check_upgrade(
    refuse_status: Option<u16>,
    expected_auth: Option<&str>,
    path: &str,
    handshake: &Handshake,
) -> Result<(), (u16, String)> {
    if let Some(status) = refuse_status {
        return Err((
            status,
            http_error_body("server_error", "The fake realtime server refuses this upgrade."),
        ));
    }
    if path != REALTIME_PATH {
        return Err((404, http_error_body("not_found", &format!("Invalid URL (GET {path})"))));
    }
    if let Some(expected) = expected_auth {
        let bare = expected.strip_prefix("Bearer ").unwrap_or(expected);
        let authorized = handshake.header("authorization").as_deref() == Some(expected)
            || handshake
                .header("api-key")
                .is_some_and(|key| key == expected || key == bare);
        if !authorized {
            return Err((401, http_error_body("invalid_api_key", "Incorrect API key provided.")));
        }
    }
    Ok(())
}

/// JSON body in the shape OpenAI uses for HTTP errors.
fn http_error_body(code: &str, message: &str) -> String {
    json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}}).to_string()
}

/// Builds the refusal response; an impossible status falls back to 500 instead of panicking.
fn error_response(status: u16, body: String) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// Runs one upgrade; on success spawns the connection task and hands the session to the listener.
async fn serve_connection(tcp: TcpStream, server: Arc<ServerShared>, sessions_tx: mpsc::UnboundedSender<FakeSession>) {
    let answer_pings = Arc::new(AtomicBool::new(true));
    let gate = PongGate::new(tcp, Arc::clone(&answer_pings));
    let refuse_status = *lock(&server.refuse_status);
    let mut captured: Option<Handshake> = None;
    let mut refused = false;
    // The Err type is tungstenite's `ErrorResponse`, imposed by its `Callback` trait.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        let handshake = Handshake::from_request(request);
        let verdict = check_upgrade(
            refuse_status,
            server.expected_auth.as_deref(),
            request.uri().path(),
            &handshake,
        );
        captured = Some(handshake);
        match verdict {
            Ok(()) => Ok(response),
            Err((status, body)) => {
                refused = true;
                Err(error_response(status, body))
            }
        }
    };
    let accepted = tokio_tungstenite::accept_hdr_async(gate, callback).await;
    if refused {
        server.refused.fetch_add(1, Ordering::SeqCst);
    }
    let mut ws = match accepted {
        Ok(ws) => ws,
        Err(error) => {
            tracing::debug!(%error, "fake realtime: upgrade not completed");
            return;
        }
    };
    // The HTTP response is out; from here on the byte stream is WebSocket frames.
    ws.get_mut().start_framing();

    let handshake = captured.unwrap_or_default();
    let beta = handshake.header("openai-beta");
    let mut state = SessionState::new(&server.ids, handshake.model.clone());
    let greeting = match &beta {
        None => {
            let created = server_event(&server.ids, "session.created", json!({"session": state.session}));
            vec![Message::text(created.to_string())]
        }
        Some(value) => {
            // The GA endpoint refuses the retired beta shape: error event, then close 4000 (notes §1).
            state
                .violations
                .push(format!("OpenAI-Beta header present on the upgrade ({value})"));
            let error = error_event(
                &server.ids,
                "beta_api_shape_disabled",
                "The Realtime Beta API is no longer supported. Please use the GA API (remove the OpenAI-Beta header).",
                Value::Null,
            );
            vec![
                Message::text(error.to_string()),
                close_message(4000, "beta_api_shape_disabled"),
            ]
        }
    };

    let state = Arc::new(Mutex::new(state));
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (closed_tx, closed_rx) = watch::channel(false);
    let session = FakeSession {
        handshake,
        state: Arc::clone(&state),
        server: Arc::clone(&server),
        cmd_tx,
        events_rx,
        closed_rx,
        answer_pings,
    };
    server.accepted.fetch_add(1, Ordering::SeqCst);
    let connection = Connection {
        ws,
        state,
        server,
        events_tx,
        closed_tx,
    };
    tokio::spawn(connection.run(cmd_rx, greeting));
    // If the listener is gone the session is dropped here, which closes the connection.
    let _ = sessions_tx.send(session);
}

fn close_message(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

/// Requests from a [`FakeSession`] to its connection task.
enum Command {
    /// Write these frames in order, then flush; the ack carries the write result.
    Send {
        messages: Vec<Message>,
        ack: oneshot::Sender<Result<(), String>>,
    },
    /// Drop the socket without a close frame.
    Drop { ack: oneshot::Sender<()> },
}

/// The connection task: owns the socket, answers client events, executes session commands.
struct Connection {
    ws: WebSocketStream<PongGate>,
    state: Arc<Mutex<SessionState>>,
    server: Arc<ServerShared>,
    /// Client events for `FakeSession::next_event`. Unbounded so the fake keeps answering even if
    /// the test never reads them (they are also kept in the log).
    events_tx: mpsc::UnboundedSender<Value>,
    /// Flipped to `true` once the client has closed (close frame or EOF) or the socket is gone.
    closed_tx: watch::Sender<bool>,
}

impl Connection {
    async fn run(mut self, mut cmd_rx: mpsc::Receiver<Command>, greeting: Vec<Message>) {
        if self.send_all(greeting).await.is_err() {
            self.closed_tx.send_replace(true);
            return;
        }
        loop {
            tokio::select! {
                command = cmd_rx.recv() => match command {
                    Some(Command::Send { messages, ack }) => {
                        let result = self.send_all(messages).await.map_err(|e| e.to_string());
                        let _ = ack.send(result);
                    }
                    Some(Command::Drop { ack }) => {
                        // Dropping the stream closes the TCP socket (FIN) with no close frame; data
                        // already written still reaches the client, which keeps tests deterministic.
                        drop(self.ws);
                        self.closed_tx.send_replace(true);
                        let _ = ack.send(());
                        return;
                    }
                    None => {
                        // Every FakeSession handle is gone: behave like a server going away.
                        let _ = self.ws.send(close_message(1001, "fake session dropped")).await;
                        break;
                    }
                },
                message = self.ws.next() => match message {
                    Some(Ok(message)) => {
                        if self.on_message(message).await.is_err() {
                            break;
                        }
                    }
                    Some(Err(error)) => {
                        tracing::debug!(%error, "fake realtime: connection ended with an error");
                        break;
                    }
                    None => break,
                },
            }
        }
        self.closed_tx.send_replace(true);
    }

    /// Writes frames then flushes once.
    async fn send_all(&mut self, messages: Vec<Message>) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        for message in messages {
            self.ws.feed(message).await?;
        }
        self.ws.flush().await
    }

    /// Handles one frame from the client. Violations and state changes are recorded before the event
    /// is handed to the test, so a test that has seen an event also sees its consequences.
    async fn on_message(&mut self, message: Message) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let ids = &self.server.ids;
        let replies = match message {
            Message::Text(text) => {
                let parsed = serde_json::from_str::<Value>(text.as_str());
                let mut state = lock(&self.state);
                match parsed {
                    Ok(event) => {
                        let replies = state.on_client_event(ids, &event);
                        state.received.push(event.clone());
                        drop(state);
                        let _ = self.events_tx.send(event);
                        replies
                    }
                    Err(error) => {
                        let message = format!("Invalid JSON in client event: {error}");
                        state.violations.push(format!("text frame that is not JSON: {error}"));
                        vec![error_event(ids, "invalid_json", &message, Value::Null)]
                    }
                }
            }
            Message::Binary(bytes) => {
                lock(&self.state).violations.push(format!(
                    "binary frame of {} bytes (every event must be a JSON text frame)",
                    bytes.len()
                ));
                vec![error_event(
                    ids,
                    "invalid_json",
                    "Binary frames are not supported; send JSON text frames.",
                    Value::Null,
                )]
            }
            Message::Ping(_) => {
                lock(&self.state).pings += 1;
                // tungstenite queued the pong while reading; flush now so it leaves even if no other
                // frame is written soon (the pong gate drops it when pings are switched off).
                return self.ws.flush().await;
            }
            Message::Close(frame) => {
                lock(&self.state).client_close = Some(
                    frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new())),
                );
                self.closed_tx.send_replace(true);
                // Keep reading: tungstenite sends the close reply and then ends the stream.
                return Ok(());
            }
            Message::Pong(_) | Message::Frame(_) => return Ok(()),
        };
        let messages = replies
            .into_iter()
            .map(|event| Message::text(event.to_string()))
            .collect();
        self.send_all(messages).await
    }
}

/// An in-progress response, as the real server tracks it for `response.cancel` and the
/// one-active-response rule.
#[derive(Debug, Clone)]
struct ActiveResponse {
    id: String,
    /// The assistant message item, for audio responses.
    item_id: Option<String>,
    /// Item before the assistant item in the conversation (reported again in `conversation.item.done`).
    previous_item_id: Option<String>,
}

/// Everything the fake knows about one connection. Pure data plus the client-event state machine:
/// no I/O, so it is shared between the connection task and the test's `FakeSession` under a mutex.
struct SessionState {
    /// Effective session config, as `session.created` / `session.updated` report it.
    session: Value,
    /// Conversation id reported in responses.
    conversation_id: String,
    /// Whether a valid `session.update` has been received (appends before it are a violation).
    session_updated: bool,
    /// Every parsed client event, in order.
    received: Vec<Value>,
    /// Concatenated decoded audio of every append.
    appended_audio: Vec<u8>,
    /// Bytes appended since the last commit/clear (commit of an empty buffer is an error).
    uncommitted_bytes: usize,
    /// Protocol violations by the client.
    violations: Vec<String>,
    /// Output audio bytes sent per assistant item (for truncate checks).
    audio_sent: HashMap<String, usize>,
    /// Latest known body of every conversation item.
    items: HashMap<String, Value>,
    /// Last item appended to the conversation (the next item's `previous_item_id`).
    last_item_id: Option<String>,
    /// The response currently in progress, if any.
    active: Option<ActiveResponse>,
    /// Responses that were cancelled, so a script that ends one later stays protocol-correct.
    cancelled: HashSet<String>,
    /// User item announced by `speech_started`, committed by `speech_stopped`.
    pending_user_item: Option<String>,
    /// Committed user item that has not had its transcript yet.
    untranscribed_user_item: Option<String>,
    /// Pings received from the client.
    pings: usize,
    /// Close frame the client sent (code, reason); 1005 when it had no payload.
    client_close: Option<(u16, String)>,
}

impl SessionState {
    fn new(ids: &IdGen, model: Option<String>) -> SessionState {
        let session = json!({
            "type": "realtime",
            "object": "realtime.session",
            "id": ids.next("sess"),
            "model": model.unwrap_or_else(|| DEFAULT_MODEL.to_owned()),
            "output_modalities": ["audio"],
            "instructions": "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI.",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": null,
            "truncation": "auto",
            "prompt": null,
            "include": null,
            "expires_at": 0,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": null,
                    "noise_reduction": null,
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 200,
                        "idle_timeout_ms": null,
                        "create_response": true,
                        "interrupt_response": true
                    }
                },
                "output": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "voice": "alloy",
                    "speed": 1.0
                }
            }
        });
        SessionState {
            session,
            conversation_id: ids.next("conv"),
            session_updated: false,
            received: Vec::new(),
            appended_audio: Vec::new(),
            uncommitted_bytes: 0,
            violations: Vec::new(),
            audio_sent: HashMap::new(),
            items: HashMap::new(),
            last_item_id: None,
            active: None,
            cancelled: HashSet::new(),
            pending_user_item: None,
            untranscribed_user_item: None,
            pings: 0,
            client_close: None,
        }
    }

    /// Records a violation and returns the `error` event the real server would send.
    fn reject(
        &mut self,
        ids: &IdGen,
        code: &str,
        message: &str,
        violation: String,
        client_event_id: &Value,
    ) -> Vec<Value> {
        self.violations.push(violation);
        vec![error_event(ids, code, message, client_event_id.clone())]
    }

    /// Applies one client event; returns the server events to send in reply.
    fn on_client_event(&mut self, ids: &IdGen, event: &Value) -> Vec<Value> {
        let event_id = event
            .get("event_id")
            .filter(|id| id.is_string())
            .cloned()
            .unwrap_or(Value::Null);
        let Some(ty) = event.get("type").and_then(Value::as_str) else {
            return self.reject(
                ids,
                "missing_required_parameter",
                "Missing required parameter: 'type'.",
                "client event without a string `type`".to_owned(),
                &event_id,
            );
        };
        match ty {
            "session.update" => self.on_session_update(ids, event, &event_id),
            "input_audio_buffer.append" => self.on_append(ids, event, &event_id),
            "input_audio_buffer.commit" => {
                if self.uncommitted_bytes == 0 {
                    return self.reject(
                        ids,
                        "input_audio_buffer_commit_empty",
                        "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has 0.00ms of audio.",
                        "input_audio_buffer.commit with an empty buffer".to_owned(),
                        &event_id,
                    );
                }
                let item_id = self.pending_user_item.take().unwrap_or_else(|| ids.next("item"));
                self.commit_user_item(ids, item_id)
            }
            "input_audio_buffer.clear" => {
                self.uncommitted_bytes = 0;
                vec![server_event(ids, "input_audio_buffer.cleared", json!({}))]
            }
            "response.create" => match &self.active {
                Some(active) => {
                    let id = active.id.clone();
                    self.reject(
                        ids,
                        "conversation_already_has_active_response",
                        &format!("Conversation already has an active response in progress: {id}. Wait until the response is finished before creating a new one."),
                        format!("response.create while response {id} is active"),
                        &event_id,
                    )
                }
                // Recorded in the log; the test drives the response itself.
                None => Vec::new(),
            },
            "response.cancel" => self.on_cancel(ids, event, &event_id),
            "conversation.item.create" => self.on_item_create(ids, event, &event_id),
            "conversation.item.truncate" => self.on_truncate(ids, event, &event_id),
            "conversation.item.delete" | "conversation.item.retrieve" => {
                let item_id = event
                    .get("item_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let Some(item) = self.items.get(&item_id).cloned() else {
                    return self.reject(
                        ids,
                        "item_not_found",
                        &format!("Item with item_id not found: {item_id}"),
                        format!("{ty} of unknown item {item_id:?}"),
                        &event_id,
                    );
                };
                if ty == "conversation.item.delete" {
                    self.items.remove(&item_id);
                    vec![server_event(
                        ids,
                        "conversation.item.deleted",
                        json!({"item_id": item_id}),
                    )]
                } else {
                    vec![server_event(ids, "conversation.item.retrieved", json!({"item": item}))]
                }
            }
            "output_audio_buffer.clear" => self.reject(
                ids,
                "invalid_value",
                "output_audio_buffer.clear is only supported for WebRTC and SIP sessions.",
                "output_audio_buffer.clear on a WebSocket session".to_owned(),
                &event_id,
            ),
            other => self.reject(
                ids,
                "invalid_value",
                &format!("Invalid value: '{other}'. Unknown client event type."),
                format!("unknown client event type {other:?}"),
                &event_id,
            ),
        }
    }

    fn on_session_update(&mut self, ids: &IdGen, event: &Value, event_id: &Value) -> Vec<Value> {
        let Some(update) = event.get("session").and_then(Value::as_object) else {
            return self.reject(
                ids,
                "missing_required_parameter",
                "Missing required parameter: 'session'.",
                "session.update without a `session` object".to_owned(),
                event_id,
            );
        };
        match update.get("type").and_then(Value::as_str) {
            Some("realtime") => {}
            None => {
                return self.reject(
                    ids,
                    "missing_required_parameter",
                    "Missing required parameter: 'session.type'.",
                    "session.update without session.type".to_owned(),
                    event_id,
                );
            }
            Some(other) => {
                return self.reject(
                    ids,
                    "invalid_value",
                    &format!("Invalid value: '{other}'. Supported values are: 'realtime'."),
                    format!("session.update with session.type {other:?} (expected \"realtime\")"),
                    event_id,
                );
            }
        }
        if let Some(unknown) = update.keys().find(|key| !GA_SESSION_FIELDS.contains(&key.as_str())) {
            return self.reject(
                ids,
                "unknown_parameter",
                &format!("Unknown parameter: 'session.{unknown}'."),
                format!("session.update with non-GA field session.{unknown}"),
                event_id,
            );
        }
        if let Some(model) = update.get("model")
            && Some(model) != self.session.get("model")
        {
            return self.reject(
                ids,
                "invalid_value",
                "Cannot update a session's model.",
                format!("session.update tried to change the model to {model}"),
                event_id,
            );
        }
        if let Some(modalities) = update.get("output_modalities").and_then(Value::as_array)
            && modalities.len() != 1
        {
            return self.reject(
                ids,
                "invalid_value",
                "output_modalities must be either ['audio'] or ['text'].",
                format!("session.update with output_modalities {modalities:?}"),
                event_id,
            );
        }
        for direction in ["input", "output"] {
            let Some(format) = update
                .get("audio")
                .and_then(|a| a.get(direction))
                .and_then(|d| d.get("format"))
            else {
                continue;
            };
            let valid = match format.get("type").and_then(Value::as_str) {
                Some("audio/pcm") => format.get("rate").is_none_or(|rate| rate.as_u64() == Some(24_000)),
                Some("audio/pcmu" | "audio/pcma") => true,
                _ => false,
            };
            if !valid {
                return self.reject(
                    ids,
                    "invalid_value",
                    &format!("Invalid value for 'session.audio.{direction}.format': {format}."),
                    format!("session.update with invalid audio.{direction}.format {format}"),
                    event_id,
                );
            }
        }
        merge_session(&mut self.session, update);
        self.session_updated = true;
        // The real server does not echo the client's event_id here (notes §3).
        vec![server_event(ids, "session.updated", json!({"session": self.session}))]
    }

    fn on_append(&mut self, ids: &IdGen, event: &Value, event_id: &Value) -> Vec<Value> {
        if !self.session_updated {
            self.violations
                .push("input_audio_buffer.append before the first session.update".to_owned());
        }
        let Some(encoded) = event.get("audio").and_then(Value::as_str) else {
            return self.reject(
                ids,
                "missing_required_parameter",
                "Missing required parameter: 'audio'.",
                "input_audio_buffer.append without a string `audio`".to_owned(),
                event_id,
            );
        };
        match BASE64.decode(encoded) {
            Err(error) => self.reject(
                ids,
                "invalid_value",
                "Invalid 'audio'. Expected base64-encoded audio bytes.",
                format!("input_audio_buffer.append with invalid base64: {error}"),
                event_id,
            ),
            Ok(bytes) if bytes.len() > MAX_APPEND_BYTES => self.reject(
                ids,
                "invalid_value",
                "Audio content exceeds the 15 MiB limit for one append.",
                format!("input_audio_buffer.append of {} bytes (limit 15 MiB)", bytes.len()),
                event_id,
            ),
            Ok(bytes) => {
                self.uncommitted_bytes += bytes.len();
                self.appended_audio.extend_from_slice(&bytes);
                Vec::new()
            }
        }
    }

    fn on_cancel(&mut self, ids: &IdGen, event: &Value, event_id: &Value) -> Vec<Value> {
        let Some(active) = self.active.clone() else {
            return self.reject(
                ids,
                "response_cancel_not_active",
                "Cancellation failed: no active response found",
                "response.cancel without an active response".to_owned(),
                event_id,
            );
        };
        if let Some(requested) = event.get("response_id").and_then(Value::as_str)
            && requested != active.id
        {
            return self.reject(
                ids,
                "response_cancel_not_active",
                &format!("Cancellation failed: response {requested} is not active"),
                format!("response.cancel for {requested} while {} is active", active.id),
                event_id,
            );
        }
        vec![self.cancel_active(ids, "client_cancelled")]
    }

    /// Ends the active response as cancelled and builds its `response.done`.
    /// Only called when a response is active.
    fn cancel_active(&mut self, ids: &IdGen, reason: &str) -> Value {
        let Some(active) = self.active.take() else {
            return error_event(ids, "response_cancel_not_active", "no active response", Value::Null);
        };
        self.cancelled.insert(active.id.clone());
        let mut output = Vec::new();
        if let Some(item_id) = &active.item_id {
            let item = json!({
                "id": item_id, "object": "realtime.item", "type": "message", "status": "incomplete",
                "role": "assistant", "content": [{"type": "output_audio", "transcript": ""}]
            });
            self.items.insert(item_id.clone(), item.clone());
            output.push(item);
        }
        let response = self.response_object(
            &active.id,
            "cancelled",
            json!({"type": "cancelled", "reason": reason}),
            output,
            usage(),
        );
        server_event(ids, "response.done", json!({"response": response}))
    }

    fn on_item_create(&mut self, ids: &IdGen, event: &Value, event_id: &Value) -> Vec<Value> {
        let Some(item) = event.get("item").and_then(Value::as_object) else {
            return self.reject(
                ids,
                "missing_required_parameter",
                "Missing required parameter: 'item'.",
                "conversation.item.create without an `item` object".to_owned(),
                event_id,
            );
        };
        if item.get("type").and_then(Value::as_str) == Some("function_call_output")
            && !item.get("output").is_some_and(Value::is_string)
        {
            return self.reject(
                ids,
                "invalid_type",
                "Invalid type for 'item.output': expected a string.",
                "function_call_output whose `output` is not a string".to_owned(),
                event_id,
            );
        }
        if let Some(violation) = message_violation(item) {
            return self.reject(
                ids,
                "invalid_value",
                "Invalid value for 'item.content': content type does not match the message role.",
                violation,
                event_id,
            );
        }
        let mut item = item.clone();
        let id = match item.get("id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => ids.next("item"),
        };
        item.insert("id".to_owned(), json!(id));
        item.entry("object").or_insert_with(|| json!("realtime.item"));
        item.entry("status").or_insert_with(|| json!("completed"));
        let item = Value::Object(item);
        let previous = match event.get("previous_item_id").and_then(Value::as_str) {
            Some(previous) => Some(previous.to_owned()),
            None => self.last_item_id.clone(),
        };
        self.items.insert(id.clone(), item.clone());
        self.last_item_id = Some(id);
        vec![
            server_event(
                ids,
                "conversation.item.added",
                json!({"previous_item_id": previous, "item": item}),
            ),
            server_event(
                ids,
                "conversation.item.done",
                json!({"previous_item_id": previous, "item": item}),
            ),
        ]
    }

    fn on_truncate(&mut self, ids: &IdGen, event: &Value, event_id: &Value) -> Vec<Value> {
        let Some(item_id) = event.get("item_id").and_then(Value::as_str) else {
            return self.reject(
                ids,
                "missing_required_parameter",
                "Missing required parameter: 'item_id'.",
                "conversation.item.truncate without item_id".to_owned(),
                event_id,
            );
        };
        let raw_end = event.get("audio_end_ms").cloned().unwrap_or(Value::Null);
        let Some(audio_end_ms) = raw_end.as_u64() else {
            return self.reject(
                ids,
                "invalid_type",
                &format!("Invalid type for 'audio_end_ms': expected an integer, but got {raw_end}."),
                format!("conversation.item.truncate with non-integer audio_end_ms {raw_end}"),
                event_id,
            );
        };
        if !self.items.contains_key(item_id) {
            return self.reject(
                ids,
                "item_not_found",
                &format!("Item with item_id not found: {item_id}"),
                format!("conversation.item.truncate of unknown item {item_id:?}"),
                event_id,
            );
        }
        let sent_bytes = self.audio_sent.get(item_id).copied().unwrap_or(0);
        if sent_bytes == 0 {
            // The real server refuses to truncate an item without model audio (also at 0 ms).
            return self.reject(
                ids,
                "unsupported_content_type",
                "Only model output audio messages can be truncated",
                format!("conversation.item.truncate of item {item_id} that has no output audio"),
                event_id,
            );
        }
        let sent_ms = sent_bytes as u64 / self.output_bytes_per_ms();
        if audio_end_ms > sent_ms {
            return self.reject(
                ids,
                "invalid_value",
                &format!("Audio content of {sent_ms}ms is already shorter than {audio_end_ms}ms"),
                format!(
                    "conversation.item.truncate of {item_id} at {audio_end_ms}ms beyond the {sent_ms}ms of audio sent"
                ),
                event_id,
            );
        }
        let content_index = event.get("content_index").and_then(Value::as_u64).unwrap_or(0);
        vec![server_event(
            ids,
            "conversation.item.truncated",
            json!({"item_id": item_id, "content_index": content_index, "audio_end_ms": audio_end_ms}),
        )]
    }

    /// Bytes per millisecond of the session's current output format (notes §6).
    fn output_bytes_per_ms(&self) -> u64 {
        match self
            .session
            .pointer("/audio/output/format/type")
            .and_then(Value::as_str)
        {
            Some("audio/pcmu" | "audio/pcma") => 8,
            _ => 48,
        }
    }

    /// Whether the server itself cancels a response when speech starts (server/semantic VAD with
    /// `interrupt_response` not false).
    fn interrupts_on_speech(&self) -> bool {
        match self.session.pointer("/audio/input/turn_detection") {
            Some(Value::Object(turn)) => turn.get("interrupt_response").and_then(Value::as_bool).unwrap_or(true),
            _ => false,
        }
    }

    /// `committed` plus the user audio item's `added`/`done`, in the observed order (notes §5).
    fn commit_user_item(&mut self, ids: &IdGen, item_id: String) -> Vec<Value> {
        self.uncommitted_bytes = 0;
        let previous = self.last_item_id.replace(item_id.clone());
        let item = json!({
            "id": item_id, "object": "realtime.item", "type": "message", "status": "completed",
            "role": "user", "content": [{"type": "input_audio", "transcript": null}]
        });
        self.items.insert(item_id.clone(), item.clone());
        self.untranscribed_user_item = Some(item_id.clone());
        vec![
            server_event(
                ids,
                "input_audio_buffer.committed",
                json!({"previous_item_id": previous, "item_id": item_id}),
            ),
            server_event(
                ids,
                "conversation.item.added",
                json!({"previous_item_id": previous, "item": item}),
            ),
            server_event(
                ids,
                "conversation.item.done",
                json!({"previous_item_id": previous, "item": item}),
            ),
        ]
    }

    /// A `realtime.response` object as in `response.created` / `response.done`.
    fn response_object(
        &self,
        id: &str,
        status: &str,
        status_details: Value,
        output: Vec<Value>,
        usage: Value,
    ) -> Value {
        json!({
            "object": "realtime.response",
            "id": id,
            "status": status,
            "status_details": status_details,
            "output": output,
            "conversation_id": self.conversation_id,
            "output_modalities": self.session.get("output_modalities").cloned().unwrap_or(json!(["audio"])),
            "max_output_tokens": "inf",
            "audio": {"output": {
                "format": self.session.pointer("/audio/output/format").cloned().unwrap_or(Value::Null),
                "voice": self.session.pointer("/audio/output/voice").cloned().unwrap_or(Value::Null)
            }},
            "usage": usage,
            "metadata": null
        })
    }
}

/// A `message` item a GA server would refuse: each role takes its own content part types (user:
/// `input_text`/`input_audio`/`input_image`; assistant: `output_text`/`output_audio`; system:
/// `input_text`). Other item types are not checked here.
fn message_violation(item: &serde_json::Map<String, Value>) -> Option<String> {
    if item.get("type").and_then(Value::as_str) != Some("message") {
        return None;
    }
    let role = item.get("role").and_then(Value::as_str).unwrap_or_default();
    let allowed: &[&str] = match role {
        "user" => &["input_text", "input_audio", "input_image"],
        "assistant" => &["output_text", "output_audio"],
        "system" => &["input_text"],
        other => return Some(format!("message item with role {other:?}")),
    };
    let Some(parts) = item.get("content").and_then(Value::as_array) else {
        return Some(format!("{role} message without a content array"));
    };
    parts.iter().find_map(|part| {
        let ty = part.get("type").and_then(Value::as_str).unwrap_or_default();
        (!allowed.contains(&ty)).then(|| format!("{role} message with a {ty:?} content part"))
    })
}

/// Applies a `session.update`: top-level fields replace; `audio.input` / `audio.output` are merged
/// field by field (so updating the input format keeps the output voice), and each leaf such as
/// `format` or `turn_detection` is replaced whole, like the real server.
fn merge_session(session: &mut Value, update: &Map<String, Value>) {
    let Some(target) = session.as_object_mut() else {
        *session = Value::Object(update.clone());
        return;
    };
    for (key, value) in update {
        match (key.as_str(), value, target.get_mut(key)) {
            ("audio", Value::Object(audio_update), Some(Value::Object(audio))) => {
                for (direction, fields) in audio_update {
                    match (fields, audio.get_mut(direction)) {
                        (Value::Object(fields), Some(Value::Object(current))) => {
                            for (field, field_value) in fields {
                                current.insert(field.clone(), field_value.clone());
                            }
                        }
                        _ => {
                            audio.insert(direction.clone(), fields.clone());
                        }
                    }
                }
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Builds a server event with its `type` and a fresh unique `event_id`.
fn server_event(ids: &IdGen, ty: &str, body: Value) -> Value {
    let mut event = match body {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    event.insert("type".to_owned(), json!(ty));
    event.insert("event_id".to_owned(), json!(ids.next("event")));
    Value::Object(event)
}

/// The `error` event in the shape of notes §5; `client_event_id` is the failing event's `event_id` or null.
fn error_event(ids: &IdGen, code: &str, message: &str, client_event_id: Value) -> Value {
    server_event(
        ids,
        "error",
        json!({"error": {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": null,
            "event_id": client_event_id
        }}),
    )
}

/// A plausible `usage` object (notes §5); the fake has no tokens to count.
fn usage() -> Value {
    json!({
        "total_tokens": 0, "input_tokens": 0, "output_tokens": 0,
        "input_token_details": {
            "text_tokens": 0, "audio_tokens": 0, "image_tokens": 0, "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0}
        },
        "output_token_details": {"text_tokens": 0, "audio_tokens": 0}
    })
}

/// Locks shared state; a test that panicked while holding the lock must not turn every later
/// assertion into a poison panic, so poisoning is ignored (the data is plain records).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One accepted connection, as seen by the test: what the client sent, and a script for the server side.
/// Dropping it closes the connection with code 1001 ("going away").
pub struct FakeSession {
    /// The upgrade request (model, headers).
    handshake: Handshake,
    /// State shared with the connection task.
    state: Arc<Mutex<SessionState>>,
    /// Id source (shared with the server so ids are unique across sessions).
    server: Arc<ServerShared>,
    /// Scripted frames to the connection task.
    cmd_tx: mpsc::Sender<Command>,
    /// Client events, in order.
    events_rx: mpsc::UnboundedReceiver<Value>,
    /// `true` once the client closed the connection.
    closed_rx: watch::Receiver<bool>,
    /// Read by the pong filter on the socket.
    answer_pings: Arc<AtomicBool>,
}

impl fmt::Debug for FakeSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeSession")
            .field("model", &self.handshake.model)
            .field("violations", &self.violations())
            .finish_non_exhaustive()
    }
}

impl FakeSession {
    /// The `model` query parameter of the upgrade URL.
    pub fn model(&self) -> Option<String> {
        self.handshake.model.clone()
    }

    /// An upgrade request header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.handshake.header(name)
    }

    /// Next client event received on this connection, in order; `None` once the client closed and all
    /// were read. No timeout: wrap it in one when the event may never come.
    ///
    /// # Cancel safety
    /// Cancel safe (an event not yet returned stays queued).
    pub async fn next_event(&mut self) -> Option<Value> {
        self.events_rx.recv().await
    }

    /// Reads events until one of type `ty` arrives; skipped events are still kept in [`Self::received`].
    ///
    /// # Errors
    /// After [`WAIT_TIMEOUT`], or when the connection ends first.
    pub async fn wait_for(&mut self, ty: &str) -> anyhow::Result<Value> {
        let mut skipped = Vec::new();
        let found = tokio::time::timeout(WAIT_TIMEOUT, async {
            while let Some(event) = self.events_rx.recv().await {
                let event_type = event.get("type").and_then(Value::as_str).unwrap_or("<no type>");
                if event_type == ty {
                    return Some(event);
                }
                skipped.push(event_type.to_owned());
            }
            None
        })
        .await;
        match found {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(anyhow!(
                "connection closed before a {ty} arrived (skipped: {skipped:?})"
            )),
            Err(_) => Err(anyhow!("no {ty} within {WAIT_TIMEOUT:?} (skipped: {skipped:?})")),
        }
    }

    /// Every client event received so far (parsed JSON), in order.
    pub fn received(&self) -> Vec<Value> {
        lock(&self.state).received.clone()
    }

    /// Concatenation of the decoded `audio` of every `input_audio_buffer.append` so far.
    pub fn appended_audio(&self) -> Vec<u8> {
        lock(&self.state).appended_audio.clone()
    }

    /// Protocol violations by the client so far; empty means clean.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.state).violations.clone()
    }

    /// The effective session config (what the last `session.created`/`session.updated` reported).
    pub fn session_config(&self) -> Value {
        lock(&self.state).session.clone()
    }

    /// The close frame the client sent, as (code, reason); `None` if it has not sent one.
    pub fn client_close(&self) -> Option<(u16, String)> {
        lock(&self.state).client_close.clone()
    }

    /// Sends any server event verbatim (no `event_id` is added).
    ///
    /// # Errors
    /// When the connection is gone.
    pub async fn send(&self, event: Value) -> anyhow::Result<()> {
        self.transmit(vec![Message::text(event.to_string())]).await
    }

    /// `input_audio_buffer.speech_started` for a new user item; returns that item id. If a response is
    /// active and the session's turn detection has `interrupt_response` on (the default), the server
    /// cancels it itself, as the real one does: `response.done` with status `cancelled`, reason `turn_detected`.
    ///
    /// # Errors
    /// When the connection is gone.
    pub async fn speech_started(&self, audio_start_ms: u64) -> anyhow::Result<String> {
        let ids = &self.server.ids;
        let (events, item_id) = {
            let mut state = lock(&self.state);
            let item_id = ids.next("item");
            state.pending_user_item = Some(item_id.clone());
            let mut events = vec![server_event(
                ids,
                "input_audio_buffer.speech_started",
                json!({"audio_start_ms": audio_start_ms, "item_id": item_id}),
            )];
            if state.active.is_some() && state.interrupts_on_speech() {
                events.push(state.cancel_active(ids, "turn_detected"));
            }
            (events, item_id)
        };
        self.transmit_events(events).await?;
        Ok(item_id)
    }

    /// `input_audio_buffer.speech_stopped`, followed (as with server VAD) by `committed` and the user
    /// item's `conversation.item.added` / `.done`.
    ///
    /// # Errors
    /// When the connection is gone.
    pub async fn speech_stopped(&self, audio_end_ms: u64) -> anyhow::Result<()> {
        let ids = &self.server.ids;
        let events = {
            let mut state = lock(&self.state);
            let item_id = state.pending_user_item.take().unwrap_or_else(|| ids.next("item"));
            let mut events = vec![server_event(
                ids,
                "input_audio_buffer.speech_stopped",
                json!({"audio_end_ms": audio_end_ms, "item_id": item_id}),
            )];
            events.extend(state.commit_user_item(ids, item_id));
            events
        };
        self.transmit_events(events).await
    }

    /// `conversation.item.input_audio_transcription.completed` for the last committed user item that has
    /// no transcript yet; if there is none, a new user item is announced first.
    ///
    /// # Errors
    /// When the connection is gone.
    pub async fn user_transcript(&self, text: &str) -> anyhow::Result<()> {
        let ids = &self.server.ids;
        let events = {
            let mut state = lock(&self.state);
            let mut events = Vec::new();
            let item_id = match state.untranscribed_user_item.take() {
                Some(item_id) => item_id,
                None => {
                    let item_id = ids.next("item");
                    let previous = state.last_item_id.replace(item_id.clone());
                    let item = json!({
                        "id": item_id, "object": "realtime.item", "type": "message", "status": "completed",
                        "role": "user", "content": [{"type": "input_audio", "transcript": null}]
                    });
                    events.push(server_event(
                        ids,
                        "conversation.item.added",
                        json!({"previous_item_id": previous, "item": item}),
                    ));
                    events.push(server_event(
                        ids,
                        "conversation.item.done",
                        json!({"previous_item_id": previous, "item": item}),
                    ));
                    item_id
                }
            };
            if let Some(Value::Object(item)) = state.items.get_mut(&item_id) {
                item.insert(
                    "content".to_owned(),
                    json!([{"type": "input_audio", "transcript": text}]),
                );
            }
            events.push(server_event(
                ids,
                "conversation.item.input_audio_transcription.completed",
                json!({
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": text,
                    "usage": {"type": "tokens", "total_tokens": 0, "input_tokens": 0, "output_tokens": 0}
                }),
            ));
            events
        };
        self.transmit_events(events).await
    }

    /// Begins an assistant audio response: `response.created`, `response.output_item.added` (assistant
    /// message), `conversation.item.added`, `response.content_part.added` (`part.type` "audio").
    /// Marks the response active.
    ///
    /// # Errors
    /// When another response is still active (a script error: the real server never overlaps them) or
    /// the connection is gone.
    pub async fn begin_response(&self) -> anyhow::Result<ResponseIds> {
        let ids = &self.server.ids;
        let (events, response_ids) = {
            let mut state = lock(&self.state);
            if let Some(active) = &state.active {
                bail!("begin_response: response {} is still active", active.id);
            }
            let response_id = ids.next("resp");
            let item_id = ids.next("item");
            let previous = state.last_item_id.replace(item_id.clone());
            state.active = Some(ActiveResponse {
                id: response_id.clone(),
                item_id: Some(item_id.clone()),
                previous_item_id: previous.clone(),
            });
            state.audio_sent.insert(item_id.clone(), 0);
            let item = json!({
                "id": item_id, "object": "realtime.item", "type": "message", "status": "in_progress",
                "role": "assistant", "content": []
            });
            state.items.insert(item_id.clone(), item.clone());
            let response = state.response_object(&response_id, "in_progress", Value::Null, Vec::new(), Value::Null);
            let events = vec![
                server_event(ids, "response.created", json!({"response": response})),
                server_event(
                    ids,
                    "response.output_item.added",
                    json!({"response_id": response_id, "output_index": 0, "item": item}),
                ),
                server_event(
                    ids,
                    "conversation.item.added",
                    json!({"previous_item_id": previous, "item": item}),
                ),
                server_event(
                    ids,
                    "response.content_part.added",
                    json!({
                        "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0,
                        "part": {"type": "audio", "transcript": ""}
                    }),
                ),
            ];
            (events, ResponseIds { response_id, item_id })
        };
        self.transmit_events(events).await?;
        Ok(response_ids)
    }

    /// One `response.output_audio.delta` carrying `audio` (base64) for that item; the bytes are counted
    /// per item for truncate checks. Allowed after a cancel: late deltas happen in production too.
    ///
    /// # Errors
    /// When the connection is gone.
    pub async fn audio_delta(&self, ids: &ResponseIds, audio: &[u8]) -> anyhow::Result<()> {
        let event = {
            let mut state = lock(&self.state);
            *state.audio_sent.entry(ids.item_id.clone()).or_insert(0) += audio.len();
            server_event(
                &self.server.ids,
                "response.output_audio.delta",
                json!({
                    "response_id": ids.response_id, "item_id": ids.item_id, "output_index": 0,
                    "content_index": 0, "delta": BASE64.encode(audio)
                }),
            )
        };
        self.transmit_events(vec![event]).await
    }

    /// Ends the response normally: `response.output_audio.done`, `response.output_audio_transcript.done`,
    /// `response.content_part.done`, `response.output_item.done`, `conversation.item.done` (content
    /// `output_audio` with `transcript`) and `response.done` (`completed`).
    ///
    /// If the response was already cancelled (by `response.cancel` or by `speech_started`), nothing is sent
    /// and `Ok` is returned, so a script racing the client's cancel stays protocol-correct.
    ///
    /// # Errors
    /// When the response is neither active nor cancelled (ended twice, or never begun), or the connection is gone.
    pub async fn end_response(&self, ids: &ResponseIds, transcript: &str) -> anyhow::Result<()> {
        let server_ids = &self.server.ids;
        let events = {
            let mut state = lock(&self.state);
            if state.cancelled.contains(&ids.response_id) {
                return Ok(());
            }
            let previous = match &state.active {
                Some(active) if active.id == ids.response_id => active.previous_item_id.clone(),
                _ => bail!("end_response: response {} is not active", ids.response_id),
            };
            state.active = None;
            let item = json!({
                "id": ids.item_id, "object": "realtime.item", "type": "message", "status": "completed",
                "role": "assistant", "content": [{"type": "output_audio", "transcript": transcript}]
            });
            state.items.insert(ids.item_id.clone(), item.clone());
            let part_ids = json!({
                "response_id": ids.response_id, "item_id": ids.item_id, "output_index": 0, "content_index": 0
            });
            let with = |extra: Value| {
                let mut body = part_ids.clone();
                if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
                    body.extend(extra);
                }
                body
            };
            let response =
                state.response_object(&ids.response_id, "completed", Value::Null, vec![item.clone()], usage());
            vec![
                server_event(server_ids, "response.output_audio.done", with(json!({}))),
                server_event(
                    server_ids,
                    "response.output_audio_transcript.done",
                    with(json!({"transcript": transcript})),
                ),
                server_event(
                    server_ids,
                    "response.content_part.done",
                    with(json!({"part": {"type": "audio", "transcript": transcript}})),
                ),
                server_event(
                    server_ids,
                    "response.output_item.done",
                    json!({"response_id": ids.response_id, "output_index": 0, "item": item}),
                ),
                server_event(
                    server_ids,
                    "conversation.item.done",
                    json!({"previous_item_id": previous, "item": item}),
                ),
                server_event(server_ids, "response.done", json!({"response": response})),
            ]
        };
        self.transmit_events(events).await
    }

    /// Convenience: [`Self::begin_response`], deltas of `chunk` bytes (a `chunk` of 0 is treated as 1),
    /// [`Self::end_response`].
    ///
    /// # Errors
    /// As the three calls it makes.
    pub async fn respond_audio(&self, audio: &[u8], chunk: usize, transcript: &str) -> anyhow::Result<ResponseIds> {
        let ids = self.begin_response().await?;
        for piece in audio.chunks(chunk.max(1)) {
            self.audio_delta(&ids, piece).await?;
        }
        self.end_response(&ids, transcript).await?;
        Ok(ids)
    }

    /// A complete function-call response (notes §7): `response.created`, `response.output_item.added`
    /// (`function_call`, `arguments` ""), `response.function_call_arguments.delta`, `.done`
    /// {call_id, name, arguments}, `response.output_item.done`, `response.done`. Returns the `call_id`.
    /// If the client cancels in between, the cancel's `response.done` replaces the last two events.
    ///
    /// # Errors
    /// When another response is active or the connection is gone.
    pub async fn function_call(&self, name: &str, arguments: &Value) -> anyhow::Result<String> {
        let ids = &self.server.ids;
        let arguments = arguments.to_string();
        let (first, response_id, item_id, call_id) = {
            let mut state = lock(&self.state);
            if let Some(active) = &state.active {
                bail!("function_call: response {} is still active", active.id);
            }
            let response_id = ids.next("resp");
            let item_id = ids.next("item");
            let call_id = ids.next("call");
            let previous = state.last_item_id.replace(item_id.clone());
            state.active = Some(ActiveResponse {
                id: response_id.clone(),
                item_id: None,
                previous_item_id: previous,
            });
            let item = json!({
                "id": item_id, "object": "realtime.item", "type": "function_call", "status": "in_progress",
                "call_id": call_id, "name": name, "arguments": ""
            });
            state.items.insert(item_id.clone(), item.clone());
            let response = state.response_object(&response_id, "in_progress", Value::Null, Vec::new(), Value::Null);
            let call = json!({"response_id": response_id, "item_id": item_id, "output_index": 0, "call_id": call_id});
            let mut delta = call.clone();
            let mut done = call;
            if let (Some(delta), Some(done)) = (delta.as_object_mut(), done.as_object_mut()) {
                delta.insert("delta".to_owned(), json!(arguments));
                done.insert("name".to_owned(), json!(name));
                done.insert("arguments".to_owned(), json!(arguments));
            }
            let events = vec![
                server_event(ids, "response.created", json!({"response": response})),
                server_event(
                    ids,
                    "response.output_item.added",
                    json!({"response_id": response_id, "output_index": 0, "item": item}),
                ),
                server_event(ids, "response.function_call_arguments.delta", delta),
                server_event(ids, "response.function_call_arguments.done", done),
            ];
            (events, response_id, item_id, call_id)
        };
        self.transmit_events(first).await?;
        let rest = {
            let mut state = lock(&self.state);
            if state.cancelled.contains(&response_id) {
                return Ok(call_id);
            }
            state.active = None;
            let item = json!({
                "id": item_id, "object": "realtime.item", "type": "function_call", "status": "completed",
                "call_id": call_id, "name": name, "arguments": arguments
            });
            state.items.insert(item_id.clone(), item.clone());
            let response = state.response_object(&response_id, "completed", Value::Null, vec![item.clone()], usage());
            vec![
                server_event(
                    ids,
                    "response.output_item.done",
                    json!({"response_id": response_id, "output_index": 0, "item": item}),
                ),
                server_event(ids, "response.done", json!({"response": response})),
            ]
        };
        self.transmit_events(rest).await?;
        Ok(call_id)
    }

    /// Bytes of output audio sent so far for an assistant item.
    pub fn audio_sent_for(&self, item_id: &str) -> usize {
        lock(&self.state).audio_sent.get(item_id).copied().unwrap_or(0)
    }

    /// Sends a close frame with this code and reason (e.g. 1011 for an upstream failure, 1001 for the
    /// 60-minute limit). The connection ends when the client answers.
    ///
    /// # Errors
    /// When the connection is already gone.
    pub async fn close(&self, code: u16, reason: &str) -> anyhow::Result<()> {
        self.transmit(vec![close_message(code, reason)]).await
    }

    /// Drops the TCP connection without a close frame. Returns once the socket is closed; a no-op if
    /// the connection is already gone.
    pub async fn drop_connection(&self) {
        let (ack, done) = oneshot::channel();
        if self.cmd_tx.send(Command::Drop { ack }).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Resolves when the client has closed the connection (close frame or EOF) or the socket is gone.
    ///
    /// # Errors
    /// After [`WAIT_TIMEOUT`] with the connection still open.
    pub async fn closed(&mut self) -> anyhow::Result<()> {
        match tokio::time::timeout(WAIT_TIMEOUT, self.closed_rx.wait_for(|closed| *closed)).await {
            Ok(_) => Ok(()),
            Err(_) => bail!("the client did not close the connection within {WAIT_TIMEOUT:?}"),
        }
    }

    /// Pings received from the client so far.
    pub fn pings_received(&self) -> usize {
        lock(&self.state).pings
    }

    /// Switches automatic pong replies on or off (off simulates a stalled upstream for liveness tests).
    pub fn set_answer_pings(&self, answer: bool) {
        self.answer_pings.store(answer, Ordering::SeqCst);
    }

    async fn transmit_events(&self, events: Vec<Value>) -> anyhow::Result<()> {
        self.transmit(
            events
                .into_iter()
                .map(|event| Message::text(event.to_string()))
                .collect(),
        )
        .await
    }

    async fn transmit(&self, messages: Vec<Message>) -> anyhow::Result<()> {
        let (ack, done) = oneshot::channel();
        self.cmd_tx
            .send(Command::Send { messages, ack })
            .await
            .map_err(|_| anyhow!("the fake realtime connection is closed"))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(anyhow!("writing to the client failed: {error}")),
            Err(_) => Err(anyhow!("the fake realtime connection is closed")),
        }
    }
}

/// A `TcpStream` wrapper that can drop outgoing pong frames.
///
/// tungstenite answers pings by itself while reading and offers no switch to stop it, so to simulate an
/// upstream that stops answering pings we filter the server's outgoing frame stream instead. Server
/// frames are unmasked and produced by us, so parsing their headers is safe. Before `start_framing`
/// (during the HTTP handshake) bytes pass through untouched.
struct PongGate {
    inner: TcpStream,
    /// Shared with the `FakeSession`; pongs go out while `true`.
    answer_pings: Arc<AtomicBool>,
    /// Whether the handshake is over and the byte stream is WebSocket frames.
    framing: bool,
    /// Where the frame parser is.
    scan: FrameScan,
    /// Filtered bytes not yet written to the socket.
    out: Vec<u8>,
    /// How much of `out` has been written.
    out_pos: usize,
}

/// Position of the outgoing-frame parser.
enum FrameScan {
    /// Collecting a frame header (at most 14 bytes).
    Header(Vec<u8>),
    /// Inside a payload; `keep` is false for a dropped pong.
    Payload { remaining: u64, keep: bool },
}

impl PongGate {
    fn new(inner: TcpStream, answer_pings: Arc<AtomicBool>) -> PongGate {
        PongGate {
            inner,
            answer_pings,
            framing: false,
            scan: FrameScan::Header(Vec::new()),
            out: Vec::new(),
            out_pos: 0,
        }
    }

    fn start_framing(&mut self) {
        self.framing = true;
    }

    /// Feeds outgoing bytes through the frame parser into `out`, leaving out dropped pongs.
    fn scan(&mut self, mut buf: &[u8]) {
        while let Some((&byte, rest)) = buf.split_first() {
            match &mut self.scan {
                FrameScan::Header(head) => {
                    head.push(byte);
                    buf = rest;
                    if let Some(payload_len) = complete_header_payload_len(head) {
                        let is_pong = head.first().is_some_and(|b0| b0 & 0x0f == 0x0a);
                        let keep = !is_pong || self.answer_pings.load(Ordering::SeqCst);
                        if keep {
                            self.out.extend_from_slice(head);
                        }
                        self.scan = if payload_len == 0 {
                            FrameScan::Header(Vec::new())
                        } else {
                            FrameScan::Payload {
                                remaining: payload_len,
                                keep,
                            }
                        };
                    }
                }
                FrameScan::Payload { remaining, keep } => {
                    let take = usize::try_from(*remaining).unwrap_or(usize::MAX).min(buf.len());
                    let (payload, rest) = buf.split_at(take);
                    if *keep {
                        self.out.extend_from_slice(payload);
                    }
                    *remaining -= take as u64;
                    buf = rest;
                    if *remaining == 0 {
                        self.scan = FrameScan::Header(Vec::new());
                    }
                }
            }
        }
    }

    /// Writes buffered bytes to the socket.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let written = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_pos..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += written;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }
}

/// Payload length once `head` holds a complete WebSocket frame header, `None` while bytes are missing.
fn complete_header_payload_len(head: &[u8]) -> Option<u64> {
    let second = *head.get(1)?;
    let short_len = second & 0x7f;
    let extended = match short_len {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    if head.len() < 2 + extended + mask {
        return None;
    }
    match short_len {
        126 => Some(u64::from(u16::from_be_bytes(head.get(2..4)?.try_into().ok()?))),
        127 => Some(u64::from_be_bytes(head.get(2..10)?.try_into().ok()?)),
        len => Some(u64::from(len)),
    }
}

impl AsyncRead for PongGate {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for PongGate {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.framing {
            ready!(this.poll_drain(cx))?;
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        if this.out.len() - this.out_pos >= GATE_HIGH_WATER {
            ready!(this.poll_drain(cx))?;
        }
        this.scan(buf);
        // Push bytes out now if the socket takes them; if it would block they stay buffered for the
        // next write or flush (the waker registered here only causes a harmless extra poll).
        if let Poll::Ready(Err(error)) = this.poll_drain(cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    //! Loopback tests with a plain tokio-tungstenite client standing in for the gateway.

    use super::*;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    use tokio_tungstenite::{MaybeTlsStream, connect_async};

    type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

    /// Turns a hang into a failure (never used to synchronise).
    const STEP: Duration = Duration::from_secs(5);

    async fn connect(fake: &FakeRealtime, headers: &[(&'static str, &str)]) -> Client {
        let mut request = format!("{}?model=gpt-realtime", fake.url())
            .into_client_request()
            .expect("valid url");
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value).expect("valid header"));
        }
        let (client, _response) = connect_async(request).await.expect("upgrade accepted");
        client
    }

    /// Next text frame as JSON, skipping control frames.
    async fn recv(client: &mut Client) -> Value {
        loop {
            let frame = tokio::time::timeout(STEP, client.next()).await.expect("frame in time");
            match frame.expect("stream open").expect("frame ok") {
                Message::Text(text) => return serde_json::from_str(text.as_str()).expect("json"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    async fn send(client: &mut Client, event: Value) {
        client
            .send(Message::text(event.to_string()))
            .await
            .expect("client send");
    }

    fn ty(event: &Value) -> &str {
        event["type"].as_str().unwrap_or_default()
    }

    /// Connects, accepts, and consumes `session.created`.
    async fn open(fake: &FakeRealtime) -> (Client, FakeSession) {
        let mut client = connect(fake, &[]).await;
        let session = fake.next_session().await.expect("session");
        assert_eq!(ty(&recv(&mut client).await), "session.created");
        (client, session)
    }

    async fn configure(client: &mut Client, session: &mut FakeSession, format: &str) {
        send(
            client,
            json!({"type": "session.update", "session": {"type": "realtime",
            "audio": {"input": {"format": {"type": format}}, "output": {"format": {"type": format}}}}}),
        )
        .await;
        assert_eq!(ty(&recv(client).await), "session.updated");
        session.wait_for("session.update").await.expect("update logged");
    }

    #[tokio::test]
    async fn session_created_first_then_update_merges() {
        let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await.expect("start");
        let mut client = connect(&fake, &[("authorization", "Bearer sk-x")]).await;
        let mut session = fake.next_session().await.expect("session");
        assert_eq!(fake.sessions_accepted(), 1);
        assert_eq!(session.model().as_deref(), Some("gpt-realtime"));
        assert_eq!(session.header("Authorization").as_deref(), Some("Bearer sk-x"));

        let created = recv(&mut client).await;
        assert_eq!(ty(&created), "session.created");
        assert!(created["event_id"].as_str().is_some_and(|id| id.starts_with("event_")));
        assert_eq!(created["session"]["type"], "realtime");
        assert_eq!(
            created["session"]["audio"]["output"]["format"],
            json!({"type": "audio/pcm", "rate": 24000})
        );

        send(
            &mut client,
            json!({"type": "session.update", "event_id": "cfg-1", "session": {
            "type": "realtime", "instructions": "Be brief.",
            "audio": {"output": {"format": {"type": "audio/pcmu"}, "voice": "marin"}}}}),
        )
        .await;
        let updated = recv(&mut client).await;
        assert_eq!(ty(&updated), "session.updated");
        assert_ne!(updated["event_id"], created["event_id"]);
        assert_eq!(updated["session"]["instructions"], "Be brief.");
        assert_eq!(
            updated["session"]["audio"]["output"]["format"],
            json!({"type": "audio/pcmu"})
        );
        assert_eq!(updated["session"]["audio"]["output"]["voice"], "marin");
        // Untouched fields survive the merge.
        assert_eq!(
            updated["session"]["audio"]["input"]["turn_detection"]["type"],
            "server_vad"
        );
        assert_eq!(session.next_event().await.expect("event")["event_id"], "cfg-1");

        // A session.update without session.type is refused.
        send(
            &mut client,
            json!({"type": "session.update", "event_id": "cfg-2", "session": {"instructions": "x"}}),
        )
        .await;
        let error = recv(&mut client).await;
        assert_eq!(ty(&error), "error");
        assert_eq!(error["error"]["type"], "invalid_request_error");
        assert_eq!(error["error"]["event_id"], "cfg-2");
        assert_eq!(session.violations().len(), 1, "{:?}", session.violations());
        assert_eq!(session.received().len(), 2);
    }

    #[tokio::test]
    async fn append_before_session_update_is_a_violation() {
        let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await.expect("start");
        let (mut client, mut session) = open(&fake).await;
        send(
            &mut client,
            json!({"type": "input_audio_buffer.append", "audio": BASE64.encode([1u8, 2, 3])}),
        )
        .await;
        configure(&mut client, &mut session, "audio/pcmu").await;
        send(
            &mut client,
            json!({"type": "input_audio_buffer.append", "audio": BASE64.encode([4u8, 5])}),
        )
        .await;
        send(
            &mut client,
            json!({"type": "input_audio_buffer.append", "event_id": "bad", "audio": "***"}),
        )
        .await;
        let error = recv(&mut client).await;
        assert_eq!(error["error"]["event_id"], "bad");
        assert_eq!(session.appended_audio(), vec![1, 2, 3, 4, 5]);
        let violations = session.violations();
        assert_eq!(violations.len(), 2, "{violations:?}");
        assert!(violations[0].contains("before the first session.update"));
        assert!(violations[1].contains("base64"));
    }

    #[tokio::test]
    async fn cancel_with_and_without_an_active_response() {
        let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await.expect("start");
        let (mut client, session) = open(&fake).await;

        send(&mut client, json!({"type": "response.cancel"})).await;
        let error = recv(&mut client).await;
        assert_eq!(error["error"]["code"], "response_cancel_not_active");

        let ids = session.begin_response().await.expect("begin");
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(ty(&recv(&mut client).await).to_owned());
        }
        assert_eq!(
            seen,
            [
                "response.created",
                "response.output_item.added",
                "conversation.item.added",
                "response.content_part.added"
            ]
        );
        session.audio_delta(&ids, &[0u8; 96]).await.expect("delta");
        let delta = recv(&mut client).await;
        assert_eq!(delta["item_id"], json!(ids.item_id));
        assert_eq!(session.audio_sent_for(&ids.item_id), 96);

        send(&mut client, json!({"type": "response.create"})).await;
        let error = recv(&mut client).await;
        assert_eq!(error["error"]["code"], "conversation_already_has_active_response");

        send(&mut client, json!({"type": "response.cancel"})).await;
        let done = recv(&mut client).await;
        assert_eq!(ty(&done), "response.done");
        assert_eq!(done["response"]["status"], "cancelled");
        assert_eq!(
            done["response"]["status_details"],
            json!({"type": "cancelled", "reason": "client_cancelled"})
        );

        // Ending a cancelled response sends nothing; the next frame is the marker.
        session
            .end_response(&ids, "never heard")
            .await
            .expect("end after cancel");
        session.send(json!({"type": "marker"})).await.expect("send");
        assert_eq!(ty(&recv(&mut client).await), "marker");

        let violations = session.violations();
        assert_eq!(violations.len(), 2, "{violations:?}");
        assert!(violations[0].contains("without an active response"));
        assert!(violations[1].contains("response.create while"));
    }

    #[tokio::test]
    async fn truncate_beyond_sent_audio_is_an_error_and_a_violation() {
        let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await.expect("start");
        let (mut client, mut session) = open(&fake).await;
        configure(&mut client, &mut session, "audio/pcmu").await;
        // 800 μ-law bytes = 100 ms.
        let ids = session
            .respond_audio(&[0xffu8; 800], 160, "Hello there")
            .await
            .expect("respond");
        let mut last = Value::Null;
        for _ in 0..(4 + 5 + 6) {
            last = recv(&mut client).await;
        }
        assert_eq!(ty(&last), "response.done");
        assert_eq!(last["response"]["status"], "completed");
        assert_eq!(
            last["response"]["output"][0]["content"][0],
            json!({"type": "output_audio", "transcript": "Hello there"})
        );

        let truncate = |ms: Value| json!({"type": "conversation.item.truncate", "item_id": ids.item_id, "content_index": 0, "audio_end_ms": ms});
        send(&mut client, truncate(json!(100))).await;
        let truncated = recv(&mut client).await;
        assert_eq!(ty(&truncated), "conversation.item.truncated");
        assert_eq!(truncated["audio_end_ms"], 100);
        assert!(session.violations().is_empty());

        send(&mut client, truncate(json!(101))).await;
        let error = recv(&mut client).await;
        assert_eq!(ty(&error), "error");
        assert_eq!(
            error["error"]["message"],
            "Audio content of 100ms is already shorter than 101ms"
        );

        send(&mut client, truncate(json!(50.5))).await;
        assert_eq!(ty(&recv(&mut client).await), "error");
        send(
            &mut client,
            json!({"type": "conversation.item.truncate", "item_id": "nope", "content_index": 0, "audio_end_ms": 0}),
        )
        .await;
        assert_eq!(ty(&recv(&mut client).await), "error");

        let violations = session.violations();
        assert_eq!(violations.len(), 3, "{violations:?}");
        assert!(violations[0].contains("beyond the 100ms"));
        assert!(violations[1].contains("non-integer"));
        assert!(violations[2].contains("unknown item"));
    }

    #[tokio::test]
    async fn refuse_status_fails_the_upgrade_until_cleared() {
        let fake = FakeRealtime::start(FakeRealtimeConfig {
            refuse_status: Some(503),
            ..Default::default()
        })
        .await
        .expect("start");
        match connect_async(fake.url()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503)
            }
            other => panic!("expected HTTP 503, got {:?}", other.map(|_| ())),
        }
        assert_eq!(fake.sessions_accepted(), 0);
        assert_eq!(fake.upgrades_refused(), 1);
        fake.set_refuse_status(None);
        let _client = connect(&fake, &[]).await;
        fake.next_session().await.expect("session after clearing the refusal");
        assert_eq!(fake.sessions_accepted(), 1);
    }

    #[tokio::test]
    async fn wrong_or_missing_credentials_get_401() {
        let fake = FakeRealtime::start(FakeRealtimeConfig {
            expected_auth: Some("Bearer sk-test".to_owned()),
            ..Default::default()
        })
        .await
        .expect("start");
        for headers in [&[][..], &[("authorization", "Bearer sk-wrong")][..]] {
            let mut request = fake.url().into_client_request().expect("url");
            for (name, value) in headers {
                request.headers_mut().insert(*name, HeaderValue::from_static(value));
            }
            match connect_async(request).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    assert_eq!(response.status(), 401)
                }
                other => panic!("expected HTTP 401, got {:?}", other.map(|_| ())),
            }
        }
        let _bearer = connect(&fake, &[("authorization", "Bearer sk-test")]).await;
        let _azure = connect(&fake, &[("api-key", "sk-test")]).await;
        fake.next_session().await.expect("first");
        fake.next_session().await.expect("second");
        assert_eq!(fake.sessions_accepted(), 2);
    }

    #[tokio::test]
    async fn pings_are_answered_unless_switched_off() {
        let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await.expect("start");
        let (mut client, session) = open(&fake).await;
        client.send(Message::Ping(b"one".to_vec().into())).await.expect("ping");
        let pong = tokio::time::timeout(STEP, client.next()).await.expect("pong in time");
        assert_eq!(pong.expect("open").expect("ok"), Message::Pong(b"one".to_vec().into()));
        assert_eq!(session.pings_received(), 1);

        session.set_answer_pings(false);
        client.send(Message::Ping(b"two".to_vec().into())).await.expect("ping");
        send(&mut client, json!({"type": "input_audio_buffer.clear"})).await;
        // A pong would be flushed before the reply to the later event; none may arrive.
        let next = tokio::time::timeout(STEP, client.next())
            .await
            .expect("frame")
            .expect("open")
            .expect("ok");
        match next {
            Message::Text(text) => assert!(text.as_str().contains("input_audio_buffer.cleared")),
            other => panic!("expected no pong, got {other:?}"),
        }
        assert_eq!(session.pings_received(), 2);

        session.set_answer_pings(true);
        client
            .send(Message::Ping(b"three".to_vec().into()))
            .await
            .expect("ping");
        let pong = tokio::time::timeout(STEP, client.next()).await.expect("pong in time");
        assert_eq!(
            pong.expect("open").expect("ok"),
            Message::Pong(b"three".to_vec().into())
        );
    }

    #[tokio::test]
    async fn beta_header_gets_error_and_close_4000() {
        let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await.expect("start");
        let mut client = connect(&fake, &[("openai-beta", "realtime=v1")]).await;
        let session = fake.next_session().await.expect("session");
        let error = recv(&mut client).await;
        assert_eq!(error["error"]["code"], "beta_api_shape_disabled");
        match tokio::time::timeout(STEP, client.next()).await.expect("close in time") {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4000),
            other => panic!("expected close 4000, got {other:?}"),
        }
        assert_eq!(session.violations().len(), 1);
    }

    #[tokio::test]
    async fn vad_turn_function_call_and_close_flow() {
        let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await.expect("start");
        let (mut client, mut session) = open(&fake).await;
        configure(&mut client, &mut session, "audio/pcm").await;

        // Barge-in with interrupt_response on: the server cancels the response itself.
        let ids = session.begin_response().await.expect("begin");
        session.audio_delta(&ids, &[0u8; 4800]).await.expect("delta");
        for _ in 0..5 {
            recv(&mut client).await;
        }
        let user_item = session.speech_started(1200).await.expect("speech");
        let started = recv(&mut client).await;
        assert_eq!(started["item_id"], json!(user_item));
        let done = recv(&mut client).await;
        assert_eq!(done["response"]["status_details"]["reason"], "turn_detected");
        session.speech_stopped(1800).await.expect("stopped");
        let mut kinds = Vec::new();
        for _ in 0..4 {
            kinds.push(ty(&recv(&mut client).await).to_owned());
        }
        assert_eq!(
            kinds,
            [
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done"
            ]
        );
        session
            .user_transcript("what's my order status")
            .await
            .expect("transcript");
        let transcript = recv(&mut client).await;
        assert_eq!(transcript["item_id"], json!(user_item));
        // 4800 pcm bytes = 100 ms: truncating at 100 is fine.
        send(&mut client, json!({"type": "conversation.item.truncate", "item_id": ids.item_id, "content_index": 0, "audio_end_ms": 100})).await;
        assert_eq!(ty(&recv(&mut client).await), "conversation.item.truncated");

        let call_id = session
            .function_call("lookup_order", &json!({"order_id": "42"}))
            .await
            .expect("call");
        let mut events = Vec::new();
        for _ in 0..6 {
            events.push(recv(&mut client).await);
        }
        assert_eq!(events[3]["arguments"], r#"{"order_id":"42"}"#);
        assert_eq!(events[3]["call_id"], json!(call_id));
        assert_eq!(ty(&events[5]), "response.done");

        send(&mut client, json!({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call_id, "output": "{\"status\":\"shipped\"}"}})).await;
        let added = recv(&mut client).await;
        assert_eq!(ty(&added), "conversation.item.added");
        assert!(added["item"]["id"].is_string());
        assert_eq!(ty(&recv(&mut client).await), "conversation.item.done");
        send(&mut client, json!({"type": "response.create"})).await;
        session.wait_for("response.create").await.expect("create logged");
        assert!(session.violations().is_empty(), "{:?}", session.violations());

        // An unknown event type is an error and a violation.
        send(&mut client, json!({"type": "response.audio.delta"})).await;
        assert_eq!(ty(&recv(&mut client).await), "error");
        assert_eq!(session.violations().len(), 1);

        // Server-side close with 1011 reaches the client.
        session.close(1011, "upstream failure").await.expect("close");
        match tokio::time::timeout(STEP, client.next()).await.expect("close in time") {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1011),
            other => panic!("expected close 1011, got {other:?}"),
        }
        drop(client);
        session.closed().await.expect("closed");
        // All events remain readable, then None.
        while session.next_event().await.is_some() {}
        assert!(session.send(json!({"type": "late"})).await.is_err());
    }

    #[tokio::test]
    async fn client_close_and_abrupt_drop() {
        let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await.expect("start");
        let (mut client, mut session) = open(&fake).await;
        client.close(None).await.expect("client close");
        session.closed().await.expect("closed");
        assert_eq!(session.client_close(), Some((1005, String::new())));

        let (mut client, session) = open(&fake).await;
        session.drop_connection().await;
        match tokio::time::timeout(STEP, client.next()).await.expect("end in time") {
            Some(Ok(Message::Close(_))) => {
                panic!("a dropped connection must not send a close frame")
            }
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
            None | Some(Err(_)) => {}
        }
        assert_eq!(fake.sessions_accepted(), 2);
    }

    #[test]
    fn percent_decoding_and_header_parsing() {
        assert_eq!(percent_decode("gpt-realtime%2D2025"), "gpt-realtime-2025");
        assert_eq!(percent_decode("a%zz+b"), "a%zz b");
        assert_eq!(complete_header_payload_len(&[0x8a]), None);
        assert_eq!(complete_header_payload_len(&[0x8a, 3]), Some(3));
        assert_eq!(complete_header_payload_len(&[0x81, 126, 1]), None);
        assert_eq!(complete_header_payload_len(&[0x81, 126, 1, 0]), Some(256));
    }
}
