//! A browser call: `hello` handshake, reader and writer tasks around a [`Session`].
//!
//! The Origin, the client's rate limit and the call cap were checked on the upgrade
//! ([`crate::http::browser`]). Here the page's `hello` must arrive within
//! `call.start_timeout_secs`, declare a supported microphone rate, and carry a valid browser call
//! token; otherwise the page gets an `error` and the socket closes with the transport's code.
//! As for Twilio, the upstream starts connecting the moment the socket is upgraded.
//!
//! The upstream runs PCM16 at 24 kHz both ways: the page's microphone is resampled to it by the
//! decoder, and the upstream's audio goes to the page as is (no resampling on the way out).

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::call::session::{CallSummary, CallerInput, Session};
use crate::call::twilio::{CALLER_IN_QUEUE, CALLER_OUT_QUEUE};
use crate::call::{ActiveGuard, CallDeps, CallId, connect_upstream, record_call_start};
use crate::realtime::events::AudioFormat;
use crate::transport::browser::{BrowserDecoder, BrowserEncoder, BrowserLimits, Hello, Inbound, WsFrame};
use crate::transport::token;
use crate::transport::{CallerCommand, CallerEvent, TransportError};

/// Run one browser call on an upgraded socket. Holds `permit` (the concurrent-call cap) until the
/// call has fully finalised.
pub async fn run(
    mut socket: WebSocket,
    deps: CallDeps,
    permit: OwnedSemaphorePermit,
    cancel: CancellationToken,
) -> Option<CallSummary> {
    let id = CallId::new();
    let _active = ActiveGuard::new(deps.metrics.clone(), permit);
    let connecting = connect_upstream(&deps);
    let limits = BrowserLimits {
        max_sequence_gap: deps.settings.browser.max_sequence_gap,
        max_ahead_frames: deps.settings.browser.max_ahead_frames,
    };
    let mut decoder = BrowserDecoder::new(limits);
    let mut encoder = BrowserEncoder::new();
    let opened = Instant::now();

    let hello = match handshake(&mut socket, &deps, &mut decoder, opened).await {
        Ok(Some(hello)) => hello,
        Ok(None) => {
            // The page hung up before its hello: nothing started, nothing to record.
            connecting.abort();
            return None;
        }
        Err(e) => {
            connecting.abort();
            deps.metrics.call_refused(refusal_label(&e));
            tracing::warn!(call_id = %id, error.message = %e, "browser call refused at handshake");
            let close = CallerCommand::Close {
                code: e.close_code(),
                reason: e.close_reason(),
            };
            if let Ok(frames) = encoder.encode(close) {
                for frame in frames {
                    let _ = socket.send(to_message(frame)).await;
                }
            }
            return None;
        }
    };
    if socket.send(to_message(encoder.ready())).await.is_err() {
        connecting.abort();
        return None;
    }
    tracing::info!(call_id = %id, sample_rate = hello.sample_rate, "browser call started");
    let started_at_ms = deps.clock.now_unix_ms();
    let audio = hello.audio.unwrap_or_default();
    let details = serde_json::json!({
        "sample_rate": hello.sample_rate,
        "echo_cancellation": audio.echo_cancellation,
        "noise_suppression": audio.noise_suppression,
        "auto_gain_control": audio.auto_gain_control,
    });
    record_call_start(&deps, &id, None, "browser", details, started_at_ms).await;

    let (sink, stream) = socket.split();
    let (in_tx, in_rx) = mpsc::channel(CALLER_IN_QUEUE);
    let (out_tx, out_rx) = mpsc::channel(CALLER_OUT_QUEUE);
    let reader = tokio::spawn(read_caller(stream, decoder, opened, in_tx, deps.metrics.clone()));
    let writer = tokio::spawn(write_caller(sink, out_rx, encoder, deps.metrics.clone()));
    let session = Session::new(
        id,
        None,
        started_at_ms,
        deps,
        AudioFormat::Pcm24k,
        in_rx,
        out_tx,
        writer,
        connecting,
        cancel,
    );
    let summary = session.run().await;
    reader.abort();
    Some(summary)
}

fn refusal_label(e: &TransportError) -> &'static str {
    match e {
        TransportError::Token(_) => "bad_token",
        TransportError::HelloTimeout => "hello_timeout",
        TransportError::UnsupportedRate(_) | TransportError::MediaFormat => "media_format",
        _ => "handshake_protocol",
    }
}

/// Milliseconds since the socket opened, on the monotonic clock the decoder paces against.
fn elapsed_ms(opened: Instant) -> u64 {
    opened.elapsed().as_millis() as u64
}

/// Wait for the page's `hello`, validate it and its token. `Ok(None)`: the page hung up first.
async fn handshake(
    socket: &mut WebSocket,
    deps: &CallDeps,
    decoder: &mut BrowserDecoder,
    opened: Instant,
) -> Result<Option<Hello>, TransportError> {
    let deadline = std::time::Duration::from_secs(deps.settings.call.start_timeout_secs);
    let hello = tokio::time::timeout(deadline, async {
        loop {
            let inbound = match socket.recv().await {
                Some(Ok(Message::Text(text))) => decoder.text(text.as_str())?,
                Some(Ok(Message::Binary(bytes))) => {
                    // Audio before the hello: the decoder names the error.
                    decoder.binary(&bytes, elapsed_ms(opened))?;
                    return Err(TransportError::BeforeHello("audio"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) | None => return Ok(None),
                Some(Err(e)) => return Err(socket_error(&e)),
            };
            match inbound {
                Inbound::Hello(hello) => return Ok(Some(hello)),
                Inbound::Event(CallerEvent::Hangup) => return Ok(None),
                Inbound::Event(_) => return Err(TransportError::BeforeHello("event")),
            }
        }
    })
    .await
    .map_err(|_| TransportError::HelloTimeout)??;
    let Some(hello) = hello else {
        return Ok(None);
    };
    let key = deps
        .settings
        .secrets
        .call_token_key
        .as_ref()
        .ok_or(TransportError::Token("no key configured"))?;
    token::verify_browser(key, deps.clock.as_ref(), hello.token.as_ref().map(|t| t.0.as_str()))
        .map_err(|e| TransportError::Token(e.as_str()))?;
    Ok(Some(hello))
}

/// axum wraps tungstenite's capacity error; its text is the only stable signal.
fn socket_error(e: &axum::Error) -> TransportError {
    let text = e.to_string();
    if text.contains("too long") || text.contains("Space limit") {
        TransportError::OversizedFrame
    } else {
        TransportError::Socket
    }
}

/// Reader task: page frames → [`CallerInput`]. Ends at the first protocol error (reported) or
/// when the socket closes. Sequence gaps are counted into the metrics as they happen.
async fn read_caller(
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    mut decoder: BrowserDecoder,
    opened: Instant,
    tx: mpsc::Sender<CallerInput>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) {
    let mut missing_reported = 0;
    while let Some(msg) = stream.next().await {
        let input = match msg {
            Ok(Message::Binary(bytes)) => match decoder.binary(&bytes, elapsed_ms(opened)) {
                Ok(event) => {
                    let missing = decoder.stats().missing_frames;
                    if missing > missing_reported {
                        metrics.browser_frames_missing.inc_by(missing - missing_reported);
                        missing_reported = missing;
                    }
                    CallerInput::Event(event)
                }
                Err(e) => CallerInput::Error(e),
            },
            Ok(Message::Text(text)) => match decoder.text(text.as_str()) {
                Ok(Inbound::Event(event)) => CallerInput::Event(event),
                Ok(Inbound::Hello(_)) => CallerInput::Error(TransportError::DuplicateHello),
                Err(e) => CallerInput::Error(e),
            },
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) => CallerInput::Closed,
            Err(e) => CallerInput::Error(socket_error(&e)),
        };
        let terminal = !matches!(
            input,
            CallerInput::Event(
                CallerEvent::Audio(_) | CallerEvent::MarkPlayed(_) | CallerEvent::Dtmf(_) | CallerEvent::Cleared { .. }
            )
        );
        if tx.send(input).await.is_err() || terminal {
            return;
        }
    }
    let _ = tx.send(CallerInput::Closed).await;
}

/// A rendered frame as an axum WebSocket message.
pub(crate) fn to_message(frame: WsFrame) -> Message {
    match frame {
        WsFrame::Text(text) => Message::text(text),
        WsFrame::Binary(bytes) => Message::binary(bytes),
        WsFrame::Close { code, reason } => Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })),
    }
}

/// Writer task: [`CallerCommand`] → page frames, until `Close` or the channel ends.
async fn write_caller(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<CallerCommand>,
    mut encoder: BrowserEncoder,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) {
    while let Some(command) = rx.recv().await {
        let origin = match &command {
            CallerCommand::Audio { origin, .. } => *origin,
            _ => None,
        };
        let frames = match encoder.encode(command) {
            Ok(frames) => frames,
            Err(e) => {
                // Bad base64 from the upstream: skip that chunk, keep the call.
                tracing::warn!(error.message = %e, "agent audio chunk could not be rendered for the page");
                continue;
            }
        };
        for frame in frames {
            let closing = matches!(frame, WsFrame::Close { .. });
            if sink.send(to_message(frame)).await.is_err() || closing {
                return;
            }
        }
        if let Some(origin) = origin {
            metrics
                .latency_upstream_to_caller
                .observe(origin.elapsed().as_secs_f64());
        }
    }
}
