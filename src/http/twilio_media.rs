//! `GET /twilio/media`: the signed WebSocket upgrade Twilio's `<Stream>` opens.
//!
//! Refused before upgrading when the signature is wrong (403), the server is draining or at its
//! call cap (503): Twilio then continues with the `<Redirect>`, so the caller hears the
//! `/twilio/voice/next` answer instead of silence.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::call;
use crate::http::twilio_webhook::{MEDIA_PATH, signature_ok};
use crate::startup::AppState;
use crate::transport::twilio::signature::Scheme;

/// Largest frame accepted from Twilio: a 20 ms media event is ~300 bytes; 64 KiB bounds memory
/// and parse work per message while leaving room for a large `start`.
pub const MAX_CALLER_MESSAGE: usize = 64 * 1024;

pub async fn media(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: OriginalUri,
    ws: WebSocketUpgrade,
) -> Response {
    if !signature_ok(&state, &headers, MEDIA_PATH, uri.query(), &[], Scheme::WebSocket) {
        state.deps.metrics.call_refused("bad_signature");
        tracing::warn!(
            path = MEDIA_PATH,
            "media upgrade refused: invalid or missing X-Twilio-Signature"
        );
        return (StatusCode::FORBIDDEN, "invalid signature").into_response();
    }
    if state.shutdown.is_draining() {
        state.deps.metrics.call_refused("draining");
        return (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response();
    }
    let Ok(permit) = state.calls.clone().try_acquire_owned() else {
        state.deps.metrics.call_refused("capacity");
        tracing::warn!("media upgrade refused: concurrent call cap reached");
        return (StatusCode::SERVICE_UNAVAILABLE, "at capacity").into_response();
    };
    let deps = state.deps.clone();
    let cancel = state.shutdown.root.child_token();
    // Counted by the tracker from now on, so shutdown waits for this call even before the
    // upgrade completes (axum detaches upgraded connections).
    let tracked = state.shutdown.tracker.token();
    ws.max_message_size(MAX_CALLER_MESSAGE)
        .max_frame_size(MAX_CALLER_MESSAGE)
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024)
        .on_upgrade(move |socket| async move {
            call::twilio::run(socket, deps, permit, cancel).await;
            drop(tracked);
        })
}
