//! `POST /twilio/voice` and `POST /twilio/voice/next`: signed Twilio webhooks answered with TwiML.

use axum::Form;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::twiml;
use crate::startup::AppState;
use crate::transport::token;
use crate::transport::twilio::signature::{self, Scheme};

pub const VOICE_PATH: &str = "/twilio/voice";
pub const NEXT_PATH: &str = "/twilio/voice/next";
pub const MEDIA_PATH: &str = "/twilio/media";

/// Check `X-Twilio-Signature` for a request to `path` (on the public URL) with `params`.
/// Returns false when checks are on and the signature is missing or wrong.
pub fn signature_ok(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
    params: &[(String, String)],
    scheme: Scheme,
) -> bool {
    let settings = &state.deps.settings;
    if !settings.twilio.validate_signatures {
        return true;
    }
    let Some(token) = &settings.twilio.auth_token else {
        return false;
    };
    let Some(sig) = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let path_and_query = match query {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    };
    signature::validate(
        token.bytes(),
        settings.public_base(),
        &path_and_query,
        scheme,
        params,
        sig,
    )
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A CallSid is `CA` + 32 hex digits; anything else is not from Twilio.
fn valid_call_sid(sid: &str) -> bool {
    sid.len() <= 64 && sid.starts_with("CA") && sid[2..].chars().all(|c| c.is_ascii_alphanumeric())
}

/// Why a webhook was refused; the body is short and opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRefusal {
    #[error("invalid signature")]
    BadSignature,
    #[error("missing or invalid CallSid")]
    BadCallSid,
}

impl IntoResponse for WebhookRefusal {
    fn into_response(self) -> Response {
        let status = match self {
            WebhookRefusal::BadSignature => StatusCode::FORBIDDEN,
            WebhookRefusal::BadCallSid => StatusCode::BAD_REQUEST,
        };
        (status, self.to_string()).into_response()
    }
}

/// The CallSid of a webhook whose signature checks out.
fn verified_call_sid<'a>(
    state: &AppState,
    headers: &HeaderMap,
    uri: &OriginalUri,
    path: &'static str,
    params: &'a [(String, String)],
) -> Result<&'a str, WebhookRefusal> {
    if !signature_ok(state, headers, path, uri.query(), params, Scheme::Http) {
        state.deps.metrics.call_refused("bad_signature");
        tracing::warn!(path, "webhook refused: invalid or missing X-Twilio-Signature");
        return Err(WebhookRefusal::BadSignature);
    }
    param(params, "CallSid")
        .filter(|s| valid_call_sid(s))
        .ok_or(WebhookRefusal::BadCallSid)
}

/// The call arrives: connect it to a media stream, or refuse politely at capacity.
pub async fn voice(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: OriginalUri,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    let call_sid = match verified_call_sid(&state, &headers, &uri, VOICE_PATH, &params) {
        Ok(sid) => sid,
        Err(refusal) => return refusal.into_response(),
    };
    let settings = &state.deps.settings;
    if state.shutdown.is_draining() || state.calls.available_permits() == 0 {
        state.deps.metrics.call_refused(if state.shutdown.is_draining() {
            "draining"
        } else {
            "capacity"
        });
        tracing::warn!(call_sid, "call refused at the webhook: no capacity");
        return xml(twiml::busy(&settings.twilio));
    }
    let Some(key) = &settings.secrets.call_token_key else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "not configured").into_response();
    };
    // The caller ID may stand in for an unspoken phone number during verification (never alone).
    if let Some(from) = param(&params, "From").and_then(|f| crate::domain::PhoneNumber::parse(f).ok())
        && let Err(e) = crate::storage::next_steps::set_caller_id(
            &state.deps.db,
            call_sid,
            from.e164(),
            state.deps.clock.now_unix_ms(),
        )
        .await
    {
        tracing::warn!(call_sid, error.message = %e, "caller ID not kept: database unavailable");
    }
    let token = token::mint(
        key,
        state.deps.clock.as_ref(),
        call_sid,
        settings.twilio.stream_token_ttl_secs,
    );
    let stream_url = signature::candidate_urls(settings.public_base(), MEDIA_PATH, Scheme::WebSocket)
        .into_iter()
        .next()
        .unwrap_or_default();
    let next_url = format!("{}{}", settings.public_base(), NEXT_PATH);
    tracing::info!(call_sid, "incoming call connected to a media stream");
    xml(twiml::connect_stream(&stream_url, &token, &next_url))
}

/// The stream ended: say what the session decided (goodbye, unavailable, transfer).
pub async fn next(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: OriginalUri,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    let call_sid = match verified_call_sid(&state, &headers, &uri, NEXT_PATH, &params) {
        Ok(sid) => sid,
        Err(refusal) => return refusal.into_response(),
    };
    let step = state.deps.registry.take_next_step(call_sid).await;
    tracing::info!(call_sid, step = ?step, "answering the step after the stream");
    xml(twiml::next_step(&state.deps.settings.twilio, step))
}
