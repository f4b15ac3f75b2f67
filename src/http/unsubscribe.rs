//! `GET/POST /notify/unsubscribe?t=TOKEN`: the link in every email.
//!
//! GET only shows a button: mail scanners and link previews fetch every URL in a message, and a
//! fetch must not withdraw anyone's consent. POST withdraws it — the button, or a mail client's
//! RFC 8058 one-click (`List-Unsubscribe-Post`), which posts to the same URL.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::audit::{Actor, AuditEvent, AuditOutcome};
use crate::http::twiml::escape;
use crate::notify::contacts;
use crate::startup::AppState;

pub const PATH: &str = crate::notify::UNSUBSCRIBE_PATH;

#[derive(Deserialize)]
pub struct TokenQuery {
    t: Option<String>,
}

/// Tokens are 32 lowercase hex digits (see [`contacts::unsubscribe_token`]).
fn valid(token: &str) -> bool {
    token.len() == 32 && token.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{t}</title></head><body><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// The confirmation page with its button.
pub async fn show(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    let Some(token) = q.t.filter(|t| valid(t)) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Invalid link",
            "<p>This unsubscribe link is not valid.</p>",
        );
    };
    let clinic = escape(&state.deps.notify.settings().clinic_name);
    page(
        StatusCode::OK,
        "Unsubscribe",
        &format!(
            "<p>Stop appointment emails from {clinic}?</p><form method=\"post\" action=\"{PATH}?t={token}\">\
             <button type=\"submit\">Unsubscribe</button></form>"
        ),
    )
}

/// Withdraw email consent.
pub async fn confirm(State(state): State<AppState>, Query(q): Query<TokenQuery>, body: Bytes) -> Response {
    let from_body = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v.into_owned());
    let Some(token) = q.t.or(from_body).filter(|t| valid(t)) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Invalid link",
            "<p>This unsubscribe link is not valid.</p>",
        );
    };
    let now = i64::try_from(state.deps.clock.now_unix_ms()).unwrap_or(i64::MAX);
    match contacts::unsubscribe(&state.deps.db, &token, now).await {
        Ok(Some(patient_id)) => {
            let event = AuditEvent {
                actor: Actor::System {
                    job: "email_unsubscribe".into(),
                },
                action: "notification.consent".into(),
                call_id: None,
                patient: state.deps.notify.patient_ref(&patient_id),
                reason: Some("patient unsubscribed".into()),
                outcome: AuditOutcome::Success,
                details: json!({"channel": "email", "consent": false, "via": "email:unsubscribe"}),
                at_ms: state.deps.clock.now_unix_ms(),
            };
            if let Err(e) = state.deps.audit.append_or_spool(&event).await {
                tracing::error!(error.message = %e, "consent audit record could not be written or spooled");
            }
            let clinic = escape(&state.deps.notify.settings().clinic_name);
            page(
                StatusCode::OK,
                "Unsubscribed",
                &format!(
                    "<p>You will no longer receive appointment emails from {clinic}. Calls and texts are not affected.</p>"
                ),
            )
        }
        Ok(None) => page(
            StatusCode::NOT_FOUND,
            "Invalid link",
            "<p>This unsubscribe link is not valid.</p>",
        ),
        Err(_) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again later",
            "<p>Please try again in a few minutes.</p>",
        ),
    }
}
