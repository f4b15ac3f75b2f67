//! A Twilio media stream: handshake, reader and writer tasks around a [`Session`].
//!
//! The upstream starts connecting the moment the socket is upgraded, concurrently with waiting for
//! Twilio's `start` (the first turn's latency is what callers notice). The `start` must arrive
//! within `call.start_timeout_secs`, carry μ-law 8 kHz mono, and carry a valid stream token for its
//! CallSid (and our account, when configured); otherwise the socket closes with 1008 and a short
//! reason, and the upstream attempt is abandoned.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;

use crate::audio::mulaw;
use crate::call::session::{CallSummary, CallerInput, Session};
use crate::call::{ActiveGuard, CallDeps, CallId, connect_upstream, record_call_start};
use crate::realtime::events::AudioFormat;
use crate::transport::token;
use crate::transport::twilio::codec::{self, Inbound, Outbound, StartMeta};
use crate::transport::{CallerAudio, CallerCommand, CallerEvent, TransportError};

/// Caller events queued toward the session (~1 s of audio frames): a full queue slows the reader,
/// which slows TCP, which Twilio sees as backpressure.
pub const CALLER_IN_QUEUE: usize = 64;

/// Commands queued toward the caller. Agent audio arrives in bursts faster than real time; this
/// holds minutes of it as few large messages. Perishable: `clear` flushes it at Twilio.
pub const CALLER_OUT_QUEUE: usize = 1024;

/// Name of the `<Parameter>` carrying the stream token.
pub const TOKEN_PARAMETER: &str = "token";

/// Run one Twilio call on an upgraded socket. Holds `permit` (the concurrent-call cap) until the
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

    let start = match handshake(&mut socket, &deps).await {
        Ok(start) => start,
        Err(e) => {
            connecting.abort();
            deps.metrics.call_refused(refusal_label(&e));
            tracing::warn!(call_id = %id, error.message = %e, "media stream refused at handshake");
            let frame = CloseFrame {
                code: e.close_code(),
                reason: e.close_reason().into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
            return None;
        }
    };
    tracing::info!(call_id = %id, call_sid = %start.call_sid, "media stream started");
    let started_at_ms = deps.clock.now_unix_ms();
    let details = serde_json::json!({"call_sid": start.call_sid});
    record_call_start(&deps, &id, Some(&start.call_sid), "twilio", details, started_at_ms).await;
    let caller_id = match crate::storage::next_steps::take_caller_id(&deps.db, &start.call_sid).await {
        Ok(found) => found.and_then(|e| crate::domain::PhoneNumber::parse(&e).ok()),
        Err(e) => {
            tracing::warn!(call_id = %id, error.message = %e, "caller ID unavailable");
            None
        }
    };
    let (sink, stream) = socket.split();
    let (in_tx, in_rx) = mpsc::channel(CALLER_IN_QUEUE);
    let (out_tx, out_rx) = mpsc::channel(CALLER_OUT_QUEUE);
    let reader = tokio::spawn(read_caller(stream, in_tx));
    let writer = tokio::spawn(write_caller(
        sink,
        out_rx,
        Outbound::new(&start.stream_sid),
        deps.metrics.clone(),
    ));
    let session = Session::new(
        id,
        Some(start.call_sid.clone()),
        started_at_ms,
        deps,
        AudioFormat::Pcmu,
        in_rx,
        out_tx,
        writer,
        connecting,
        cancel,
    );
    let summary = session.with_caller_id(caller_id).run().await;
    reader.abort();
    Some(summary)
}

fn refusal_label(e: &TransportError) -> &'static str {
    match e {
        TransportError::Token(_) => "bad_token",
        TransportError::StartTimeout => "start_timeout",
        TransportError::MediaFormat => "media_format",
        _ => "handshake_protocol",
    }
}

/// Wait for `start` (after an optional `connected`) and validate it.
async fn handshake(socket: &mut WebSocket, deps: &CallDeps) -> Result<StartMeta, TransportError> {
    let deadline = Duration::from_secs(deps.settings.call.start_timeout_secs);
    let start = tokio::time::timeout(deadline, async {
        loop {
            let text = match socket.recv().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Binary(_))) => return Err(TransportError::BinaryFrame),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(TransportError::Socket),
            };
            match codec::decode(text.as_str())? {
                Inbound::Connected => continue,
                Inbound::Start(start) => return Ok(*start),
                Inbound::Media(_) => return Err(TransportError::BeforeStart("media")),
                Inbound::Dtmf(_) => return Err(TransportError::BeforeStart("dtmf")),
                Inbound::Mark(_) => return Err(TransportError::BeforeStart("mark")),
                Inbound::Stop => return Err(TransportError::BeforeStart("stop")),
            }
        }
    })
    .await
    .map_err(|_| TransportError::StartTimeout)??;

    if !start.media_format.is_supported() {
        return Err(TransportError::MediaFormat);
    }
    if let Some(account) = &deps.settings.twilio.account_sid
        && &start.account_sid != account
    {
        return Err(TransportError::Token("wrong account"));
    }
    let key = deps
        .settings
        .secrets
        .call_token_key
        .as_ref()
        .ok_or(TransportError::Token("no key configured"))?;
    token::verify(
        key,
        deps.clock.as_ref(),
        start.custom_parameters.get(TOKEN_PARAMETER).map(String::as_str),
        &start.call_sid,
    )
    .map_err(|e| TransportError::Token(e.as_str()))?;
    Ok(start)
}

/// One Twilio text frame after `start`, as the session sees it (public so the per-frame
/// benchmark measures exactly the reader's work).
pub fn caller_input(text: &str) -> CallerInput {
    match codec::decode(text) {
        Ok(Inbound::Media(frame)) => {
            let mut samples = Vec::with_capacity(frame.mulaw.len());
            mulaw::decode_into(&frame.mulaw, &mut samples);
            CallerInput::Event(CallerEvent::Audio(CallerAudio {
                timestamp_ms: frame.timestamp_ms,
                upstream_b64: frame.payload_b64,
                samples,
            }))
        }
        Ok(Inbound::Mark(name)) => CallerInput::Event(CallerEvent::MarkPlayed(name)),
        Ok(Inbound::Dtmf(d)) => CallerInput::Event(CallerEvent::Dtmf(d)),
        Ok(Inbound::Stop) => CallerInput::Event(CallerEvent::Hangup),
        Ok(Inbound::Start(_)) => CallerInput::Error(TransportError::DuplicateStart),
        Ok(Inbound::Connected) => CallerInput::Error(TransportError::BadField("event: connected after start")),
        Err(e) => CallerInput::Error(e),
    }
}

/// Reader task: Twilio frames → [`CallerInput`]. Ends at the first protocol error (reported) or
/// when the socket closes.
async fn read_caller(mut stream: futures_util::stream::SplitStream<WebSocket>, tx: mpsc::Sender<CallerInput>) {
    while let Some(msg) = stream.next().await {
        let input = match msg {
            Ok(Message::Text(text)) => caller_input(text.as_str()),
            Ok(Message::Binary(_)) => CallerInput::Error(TransportError::BinaryFrame),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) => CallerInput::Closed,
            Err(e) => {
                // axum wraps tungstenite's capacity error; its text is the only stable signal.
                let text = e.to_string();
                let err = if text.contains("too long") || text.contains("Space limit") {
                    TransportError::OversizedFrame
                } else {
                    TransportError::Socket
                };
                CallerInput::Error(err)
            }
        };
        let terminal = !matches!(
            input,
            CallerInput::Event(CallerEvent::Audio(_) | CallerEvent::MarkPlayed(_) | CallerEvent::Dtmf(_))
        );
        if tx.send(input).await.is_err() || terminal {
            return;
        }
    }
    let _ = tx.send(CallerInput::Closed).await;
}

/// Writer task: [`CallerCommand`] → Twilio frames, until `Close` or the channel ends.
async fn write_caller(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<CallerCommand>,
    out: Outbound,
    metrics: Arc<crate::metrics::Metrics>,
) {
    // Commands already queued go out in one write: an agent delta is a `media` and a `mark`, and
    // two messages per syscall halve the writes on that path. Nothing waits for more to arrive.
    let mut origins = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            let fed = match command {
                CallerCommand::Audio { b64, origin } => {
                    origins.extend(origin);
                    sink.feed(Message::text(out.media(&b64))).await
                }
                CallerCommand::Mark(name) => sink.feed(Message::text(out.mark(&name))).await,
                CallerCommand::Clear => sink.feed(Message::text(out.clear())).await,
                // A phone has no screen: transcript lines and agent state are for browser callers.
                CallerCommand::Transcript { .. } | CallerCommand::AgentState(_) => Ok(()),
                CallerCommand::Close { code, reason } => {
                    let frame = CloseFrame {
                        code,
                        reason: reason.into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    return;
                }
            };
            if fed.is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            return;
        }
        for origin in origins.drain(..) {
            metrics
                .latency_upstream_to_caller
                .observe(origin.elapsed().as_secs_f64());
        }
    }
}
