//! The upstream WebSocket client: connect, then one pump task that owns the socket.
//!
//! The pump writes what the session sends (bounded queue, in order), parses what the server sends
//! into [`ServerEvent`]s, and keeps the connection alive with a WebSocket ping every
//! `ping_interval` and a pong deadline. Liveness is never judged by event silence: a healthy idle
//! Realtime session sends nothing. The session sees an [`UpstreamHandle`] and a stream of
//! [`UpstreamEvent`]s; dropping or closing the handle closes the socket at once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use secrecy::ExposeSecret;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::config::{AuthHeader, RealtimeSettings};
use crate::metrics::Metrics;
use crate::realtime::events::{self, ServerEvent};

/// Client events queued toward the upstream. Generous: a short network stall must not block the
/// session's caller loop, and a full queue is backpressure, not loss.
pub const UPSTREAM_OUT_QUEUE: usize = 512;

/// Server events queued toward the session. Audio deltas arrive faster than real time.
pub const UPSTREAM_IN_QUEUE: usize = 512;

/// Largest upstream frame accepted: one `response.output_audio.delta` is a few KiB; 4 MiB leaves
/// room for large `session.*` and `response.done` frames while bounding memory per call.
const MAX_UPSTREAM_MESSAGE: usize = 4 << 20;

/// Upstream failures. `Connect`/`Refused`/`Timeout` happen before the session is usable.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The URL or key could not form a request (not retryable).
    #[error("upstream request could not be built: {0}")]
    Request(String),
    /// TCP/TLS/handshake failure (retryable).
    #[error("upstream connection failed")]
    Connect(#[source] tungstenite::Error),
    /// The server answered the upgrade with an HTTP error (retryable for 5xx, not for 401/403).
    #[error("upstream refused the connection with HTTP {0}")]
    Refused(u16),
    /// No connection within `connect_timeout` (retryable).
    #[error("upstream connection timed out")]
    Timeout,
}

impl UpstreamError {
    /// A short PHI-free label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Request(_) => "request",
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Refused(_) => "refused",
            UpstreamError::Timeout => "timeout",
        }
    }
}

/// Why an established upstream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamClosed {
    /// The server sent a close frame (code kept for the log; 1001 = session time limit).
    ByServer(u16),
    /// The socket failed or ended without a close frame.
    Dropped,
    /// No pong within the deadline.
    PongTimeout,
}

/// What the pump tells the session.
#[derive(Debug)]
pub enum UpstreamEvent {
    /// A parsed server event and when its frame was read (for forwarding latency).
    Event(ServerEvent, Instant),
    Closed(UpstreamClosed),
}

/// One client event on its way out, with the instant its source frame was read (for latency).
#[derive(Debug)]
struct Outbound {
    text: String,
    origin: Option<Instant>,
}

/// The session's handle on one upstream connection. The session may replace it mid-call
/// (reconnect or recycle); `generation` tells the connections apart.
#[derive(Debug)]
pub struct UpstreamHandle {
    /// 1 for the first connection of a call, +1 for each replacement.
    pub generation: u32,
    out_tx: mpsc::Sender<Outbound>,
    pump: tokio::task::JoinHandle<()>,
}

impl UpstreamHandle {
    /// Queue a client event. Waits when the queue is full (backpressure).
    ///
    /// # Errors
    /// The pump has ended; the session will also receive [`UpstreamEvent::Closed`].
    ///
    /// # Cancel safety
    /// Cancel-safe: an event not yet queued is simply not sent.
    pub async fn send(&self, text: String) -> Result<(), ()> {
        self.out_tx.send(Outbound { text, origin: None }).await.map_err(|_| ())
    }

    /// Queue a forwarded caller frame; its latency is measured when the write completes.
    ///
    /// # Errors
    /// The pump has ended: the frame comes back unsent, for the session to keep for a
    /// replacement connection.
    pub async fn forward(&self, text: String, origin: Instant) -> Result<(), String> {
        self.out_tx
            .send(Outbound {
                text,
                origin: Some(origin),
            })
            .await
            .map_err(|e| e.0.text)
    }

    /// Close at once: the pump sends a close frame and stops.
    pub async fn close(self) {
        drop(self.out_tx);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.pump).await;
    }
}

/// The test side of an in-memory upstream (see [`UpstreamHandle::in_memory`]).
#[cfg(any(test, feature = "testkit"))]
#[derive(Debug)]
pub struct InMemoryUpstream {
    /// Every client event the session sent, in order.
    pub sent: mpsc::Receiver<String>,
    /// Server events to deliver to the session.
    pub events: mpsc::Sender<UpstreamEvent>,
}

#[cfg(any(test, feature = "testkit"))]
impl UpstreamHandle {
    /// An upstream with no socket: session-level tests drive it through channels, so timers can be
    /// tested on paused time without real I/O.
    pub fn in_memory(generation: u32) -> (UpstreamHandle, mpsc::Receiver<UpstreamEvent>, InMemoryUpstream) {
        let (out_tx, mut out_rx) = mpsc::channel::<Outbound>(UPSTREAM_OUT_QUEUE);
        let (sent_tx, sent) = mpsc::channel(UPSTREAM_OUT_QUEUE);
        let (events, events_rx) = mpsc::channel(UPSTREAM_IN_QUEUE);
        let pump = tokio::spawn(async move {
            while let Some(out) = out_rx.recv().await {
                if sent_tx.send(out.text).await.is_err() {
                    return;
                }
            }
        });
        (
            UpstreamHandle {
                generation,
                out_tx,
                pump,
            },
            events_rx,
            InMemoryUpstream { sent, events },
        )
    }
}

/// WebSocket limits for the upstream leg (bounded frames, modest buffers per call).
///
/// The read buffer is sized to one large audio delta (100 ms of 24 kHz PCM is ~6.5 KiB of JSON),
/// not more: tungstenite zero-fills the buffer's free space on every poll of the stream, and the
/// pump polls it after every caller frame it forwards (50 a second), so a 32 KiB buffer cost a
/// 32 KiB `memset` per frame (~5 % of the server's CPU under load). Larger frames still arrive
/// whole, in more than one read.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_UPSTREAM_MESSAGE))
        .max_frame_size(Some(MAX_UPSTREAM_MESSAGE))
        .write_buffer_size(16 * 1024)
        .read_buffer_size(8 * 1024)
}

/// Connect to the configured realtime URL and start the pump.
///
/// # Errors
/// See [`UpstreamError`].
pub async fn connect(
    settings: &RealtimeSettings,
    generation: u32,
    metrics: Arc<Metrics>,
) -> Result<(UpstreamHandle, mpsc::Receiver<UpstreamEvent>), UpstreamError> {
    let mut url = url::Url::parse(&settings.url).map_err(|e| UpstreamError::Request(e.to_string()))?;
    if !url.query_pairs().any(|(k, _)| k == "model") {
        url.query_pairs_mut().append_pair("model", &settings.model);
    }
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| UpstreamError::Request(e.to_string()))?;
    if let Some(key) = &settings.api_key {
        let (name, value) = match settings.auth_header {
            AuthHeader::Bearer => ("authorization", format!("Bearer {}", key.secret.expose_secret())),
            AuthHeader::ApiKey => ("api-key", key.secret.expose_secret().to_owned()),
        };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| UpstreamError::Request("API key is not a valid header value".into()))?;
        value.set_sensitive(true);
        request.headers_mut().insert(name, value);
    }
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(ws_config()), true);
    let (socket, _response) = match tokio::time::timeout(settings.connect_timeout(), connecting).await {
        Err(_) => return Err(UpstreamError::Timeout),
        Ok(Err(tungstenite::Error::Http(response))) => return Err(UpstreamError::Refused(response.status().as_u16())),
        Ok(Err(e)) => return Err(UpstreamError::Connect(e)),
        Ok(Ok(ok)) => ok,
    };
    let (out_tx, out_rx) = mpsc::channel(UPSTREAM_OUT_QUEUE);
    let (in_tx, in_rx) = mpsc::channel(UPSTREAM_IN_QUEUE);
    let pump = tokio::spawn(pump(
        socket,
        out_rx,
        in_tx,
        settings.ping_interval(),
        settings.pong_timeout(),
        metrics,
    ));
    Ok((
        UpstreamHandle {
            generation,
            out_tx,
            pump,
        },
        in_rx,
    ))
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Owns the socket until the session closes the handle or the connection ends.
async fn pump(
    mut socket: Socket,
    mut out_rx: mpsc::Receiver<Outbound>,
    in_tx: mpsc::Sender<UpstreamEvent>,
    ping_interval: Duration,
    pong_timeout: Duration,
    metrics: Arc<Metrics>,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When a ping is outstanding, the instant by which its pong must arrive.
    let mut pong_due: Option<Instant> = None;
    let closed = loop {
        let pong_deadline = async {
            match pong_due {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(Outbound { text, origin }) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break Some(UpstreamClosed::Dropped);
                    }
                    if let Some(origin) = origin {
                        metrics.latency_caller_to_upstream.observe(origin.elapsed().as_secs_f64());
                    }
                }
                None => {
                    // The session is done with this upstream: close politely, don't wait long, and
                    // read until the peer's close or EOF — dropping a socket with unread data makes
                    // the kernel reset it, which can discard the last caller frames still unsent.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        let _ = socket.close(None).await;
                        while let Some(Ok(_)) = socket.next().await {}
                    })
                    .await;
                    break None;
                }
            },
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let received = Instant::now();
                    let event = match events::parse(text.as_str()) {
                        Ok(ServerEvent::Unknown) => {
                            metrics.upstream_unknown_events.inc();
                            tracing::debug!(event_type = events::loggable_unknown_type(text.as_str()), "skipping unknown upstream event");
                            continue;
                        }
                        Ok(event) => event,
                        Err(e) => {
                            metrics.upstream_error("unparsable_event");
                            tracing::warn!(event_type = %e.kind, "skipping upstream event that did not parse");
                            continue;
                        }
                    };
                    if in_tx.send(UpstreamEvent::Event(event, received)).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Message::Pong(_))) => pong_due = None,
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005);
                    break Some(UpstreamClosed::ByServer(code));
                }
                Some(Ok(Message::Binary(_))) => {
                    metrics.upstream_error("binary_frame");
                    tracing::warn!("skipping binary upstream frame (the protocol is text-only)");
                }
                Some(Ok(_)) => {} // pings are answered by tungstenite; raw frames never surface
                Some(Err(_)) | None => break Some(UpstreamClosed::Dropped),
            },
            _ = ping.tick() => {
                if pong_due.is_none() {
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        break Some(UpstreamClosed::Dropped);
                    }
                    pong_due = Some(Instant::now() + pong_timeout);
                }
            },
            () = pong_deadline => break Some(UpstreamClosed::PongTimeout),
        }
    };
    if let Some(reason) = closed {
        let _ = in_tx.send(UpstreamEvent::Closed(reason)).await;
    }
}
