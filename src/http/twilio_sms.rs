//! `POST /twilio/sms` (a patient texts the clinic's number) and `POST /twilio/sms/status` (Twilio's
//! delivery reports for the messages we sent). Both are signed like the voice webhooks.
//!
//! Order of checks: the signature first (unsigned or wrong: 403, nothing read), then the fields
//! (missing or malformed: 400, nothing changed). The message text is never logged: a patient may
//! text anything.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::audit::{Actor, AuditEvent, AuditOutcome};
use crate::domain::PhoneNumber;
use crate::http::twiml;
use crate::notify::inbound::{Reply, classify};
use crate::notify::{Language, contacts, outbox, template};
use crate::startup::AppState;
use crate::storage::sql::Arg;
use crate::transport::twilio::signature::Scheme;

pub const INBOUND_PATH: &str = "/twilio/sms";
pub const STATUS_PATH: &str = crate::notify::SMS_STATUS_PATH;

/// Longest inbound body we look at (an SMS is at most 1600 characters after concatenation).
const MAX_BODY_CHARS: usize = 1600;

fn params_of(body: &Bytes) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `SM`/`MM` + 32 alphanumerics.
fn valid_message_sid(sid: &str) -> bool {
    sid.len() == 34
        && (sid.starts_with("SM") || sid.starts_with("MM"))
        && sid[2..].chars().all(|c| c.is_ascii_alphanumeric())
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

fn message(text: &str) -> Response {
    xml(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
        twiml::escape(text)
    ))
}

fn empty() -> Response {
    xml("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>".into())
}

fn bad_request(why: &'static str) -> Response {
    (StatusCode::BAD_REQUEST, why).into_response()
}

/// The signature, and the account when one is configured; a refusal otherwise.
fn authentic(
    state: &AppState,
    headers: &HeaderMap,
    uri: &OriginalUri,
    path: &'static str,
    params: &[(String, String)],
) -> Result<(), (StatusCode, &'static str)> {
    if !crate::http::twilio_webhook::signature_ok(state, headers, path, uri.query(), params, Scheme::Http) {
        tracing::warn!(path, "SMS webhook refused: invalid or missing X-Twilio-Signature");
        return Err((StatusCode::FORBIDDEN, "invalid signature"));
    }
    if let Some(expected) = &state.deps.settings.twilio.account_sid
        && param(params, "AccountSid").is_some_and(|got| got != expected)
    {
        tracing::warn!(path, "SMS webhook refused: another Twilio account");
        return Err((StatusCode::FORBIDDEN, "wrong account"));
    }
    Ok(())
}

fn system_event(
    state: &AppState,
    action: &str,
    call_id: Option<String>,
    patient_id: &str,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        actor: Actor::System {
            job: "sms_inbound".into(),
        },
        action: action.into(),
        call_id,
        patient: state.deps.notify.patient_ref(patient_id),
        reason: Some("patient text message".into()),
        outcome: AuditOutcome::Success,
        details,
        at_ms: state.deps.clock.now_unix_ms(),
    }
}

/// A patient's text message.
pub async fn inbound(State(state): State<AppState>, headers: HeaderMap, uri: OriginalUri, body: Bytes) -> Response {
    let params = params_of(&body);
    if let Err(refused) = authentic(&state, &headers, &uri, INBOUND_PATH, &params) {
        return refused.into_response();
    }
    if !param(&params, "MessageSid").is_some_and(valid_message_sid) {
        return bad_request("missing or invalid MessageSid");
    }
    let Some(from) = param(&params, "From").and_then(|f| PhoneNumber::parse(f).ok()) else {
        return bad_request("missing or invalid From");
    };
    let Some(text) = param(&params, "Body") else {
        return bad_request("missing Body");
    };
    let text: String = text.chars().take(MAX_BODY_CHARS).collect();
    let reply = classify(&text);
    let s = state.deps.notify.settings();
    let db = &state.deps.db;
    let now = i64::try_from(state.deps.clock.now_unix_ms()).unwrap_or(i64::MAX);
    let phone = from.e164();
    let unavailable = || (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response();
    tracing::info!(reply = ?reply, "SMS received");
    match reply {
        Reply::Stop | Reply::Start => {
            let consent = reply == Reply::Start;
            let by = if consent { "sms:start" } else { "sms:stop" };
            let changed = match contacts::set_sms_consent(db, phone, consent, by, now).await {
                Ok(changed) => changed,
                Err(_) => return unavailable(),
            };
            for patient_id in &changed {
                let event = system_event(
                    &state,
                    "notification.consent",
                    None,
                    patient_id,
                    json!({"channel": "sms", "consent": consent, "via": by}),
                );
                if let Err(e) = state.deps.audit.append_or_spool(&event).await {
                    tracing::error!(error.message = %e, "consent audit record could not be written or spooled");
                }
            }
            // The carrier (Twilio Advanced Opt-Out) answers STOP and START itself.
            empty()
        }
        Reply::Help => message(&format!(
            "{}: appointment messages. For help call {}. Reply STOP to opt out.",
            s.clinic_name, s.clinic_phone
        )),
        Reply::Confirm | Reply::Reschedule => {
            let target = match outbox::reply_target(db, phone, now).await {
                Ok(Some(t)) => t,
                Ok(None) => {
                    return message(&format!(
                        "{}: we could not find an upcoming appointment for this number. Please call {}.",
                        s.clinic_name, s.clinic_phone
                    ));
                }
                Err(_) => return unavailable(),
            };
            let language = contacts::get(db, &target.patient_id)
                .await
                .ok()
                .flatten()
                .map_or(Language::En, |c| Language::or_english(&c.language));
            let tz = jiff::tz::TimeZone::get(&target.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
            let start =
                jiff::Timestamp::from_millisecond(target.appointment_start_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let (day, time) = template::day_and_time(start, &tz, language);
            if reply == Reply::Confirm {
                if outbox::record_reply(db, &target.notification_id, "C", now)
                    .await
                    .is_err()
                {
                    return unavailable();
                }
                // The built-in store keeps the patient's confirmation; a FHIR EHR sees it in the audit trail.
                let _ = db
                    .exec(
                        "UPDATE appointments SET patient_confirmed_at_ms = ? WHERE appointment_id = ?",
                        &[Arg::I64(now), Arg::Text(&target.appointment_id)],
                    )
                    .await;
                let event = system_event(
                    &state,
                    "appointment.confirm",
                    target.call_id.clone(),
                    &target.patient_id,
                    json!({"appointment_id": target.appointment_id, "via": "sms"}),
                );
                let _ = state.deps.audit.append_or_spool(&event).await;
                return message(&match language {
                    Language::Es => format!(
                        "{}: gracias, su cita del {day} a las {time} está confirmada.",
                        s.clinic_name
                    ),
                    Language::En => format!(
                        "{}: thank you, your appointment on {day} at {time} is confirmed.",
                        s.clinic_name
                    ),
                });
            }
            let reference = match queue_callback(&state, &target, now).await {
                Ok(r) => r,
                Err(_) => return unavailable(),
            };
            if outbox::record_reply(db, &target.notification_id, "R", now)
                .await
                .is_err()
            {
                tracing::warn!("reschedule reply not recorded on its notification");
            }
            message(&match language {
                Language::Es => format!(
                    "{}: le llamaremos para buscar otra hora para su cita del {day}. Referencia {reference}.",
                    s.clinic_name
                ),
                Language::En => format!(
                    "{}: we will call you to find a new time for your appointment on {day}. Reference {reference}.",
                    s.clinic_name
                ),
            })
        }
        Reply::Other => match contacts::phone_known(db, phone).await {
            Ok(true) => message(&format!(
                "{}: reply C to confirm your appointment, R to reschedule, HELP for help. For anything else call {}.",
                s.clinic_name, s.clinic_phone
            )),
            // A stranger's text gets no answer: no confirmation that this number is a clinic's.
            Ok(false) => empty(),
            Err(_) => unavailable(),
        },
    }
}

/// Queue a callback for staff (the same queue the calls use) and audit it.
async fn queue_callback(
    state: &AppState,
    target: &outbox::ReplyTarget,
    now: i64,
) -> Result<String, crate::storage::StorageError> {
    let patient_ref = state.deps.notify.patient_ref(&target.patient_id);
    let call_id = target.call_id.clone().unwrap_or_else(|| "sms".into());
    let reference = crate::storage::callbacks::queue(
        &state.deps.db,
        &call_id,
        patient_ref.as_ref().map(crate::telemetry::PhiRef::as_str),
        "reschedule (SMS reply)",
        now,
    )
    .await?;
    let event = system_event(
        state,
        "callback.requested",
        target.call_id.clone(),
        &target.patient_id,
        json!({"reference": reference, "appointment_id": target.appointment_id, "via": "sms"}),
    );
    let _ = state.deps.audit.append_or_spool(&event).await;
    Ok(reference)
}

/// Twilio's status callback for a message we sent.
pub async fn status(State(state): State<AppState>, headers: HeaderMap, uri: OriginalUri, body: Bytes) -> Response {
    let params = params_of(&body);
    if let Err(refused) = authentic(&state, &headers, &uri, STATUS_PATH, &params) {
        return refused.into_response();
    }
    let Some(sid) = param(&params, "MessageSid").filter(|s| valid_message_sid(s)) else {
        return bad_request("missing or invalid MessageSid");
    };
    let Some(status) = param(&params, "MessageStatus") else {
        return bad_request("missing MessageStatus");
    };
    let delivered = match status {
        "delivered" | "read" => Some(true),
        "undelivered" | "failed" => Some(false),
        "queued" | "accepted" | "scheduled" | "sending" | "sent" | "canceled" | "partially_delivered" => None,
        _ => return bad_request("unknown MessageStatus"),
    };
    let Some(delivered) = delivered else {
        return StatusCode::NO_CONTENT.into_response();
    };
    // Twilio's error codes are numbers; anything else is dropped rather than stored.
    let reason = (!delivered).then(|| {
        let code = param(&params, "ErrorCode")
            .filter(|c| !c.is_empty() && c.len() <= 8 && c.chars().all(|ch| ch.is_ascii_digit()))
            .unwrap_or("unknown");
        format!("carrier_{code}")
    });
    let now = i64::try_from(state.deps.clock.now_unix_ms()).unwrap_or(i64::MAX);
    match outbox::delivery_report(&state.deps.db, sid, delivered, reason.as_deref(), now).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        // Twilio retries a failed callback.
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response(),
    }
}
