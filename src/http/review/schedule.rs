//! `/review/api/appointments` and `/review/api/schedule`: what clinic staff do with the schedule —
//! an appointment's record, lifecycle actions, and (built-in store) the week view, bookings,
//! moves, blocks and the providers' calendars.

#![allow(clippy::result_large_err)]

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ReasonBody, actor, audit, authenticate_for, error, now, reasoned_as};
use crate::audit::AuditOutcome;
use crate::review::sessions::Session;
use crate::review::{Permission, ReviewError};
use crate::startup::AppState;
use crate::tools::ehr::Ehr;
use crate::tools::ehr::builtin::BuiltinEhr;
use crate::tools::ehr::builtin::config::CalendarConfig;
use crate::tools::ehr::builtin::desk::{self, DeskError, Overrides, StaffBooking};

const SCHEDULE_JS: &str = include_str!("page/schedule.js");

/// The schedule page's script (beside review.js, under the same CSP).
pub async fn script() -> Response {
    super::asset("text/javascript; charset=utf-8", SCHEDULE_JS)
}

/// This module's routes (merged into the review router).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/review/schedule.js", get(script))
        .route("/review/api/schedule", get(week))
        .route("/review/api/schedule/blocks", post(block))
        .route("/review/api/schedule/blocks/{block_id}/remove", post(unblock))
        .route("/review/api/patients/search", post(find_patient))
        .route(
            "/review/api/schedule/providers/{provider_id}/calendar",
            get(calendar).post(set_calendar),
        )
        .route("/review/api/appointments", post(book))
        .route("/review/api/appointments/{appointment_id}/move", post(move_appointment))
        .route(
            "/review/api/appointments/{appointment_id}/notifications",
            post(appointment_notifications),
        )
        .route(
            "/review/api/appointments/{appointment_id}/status",
            post(appointment_status),
        )
}

/// The notification history of one appointment (for the appointment's page, and an EHR or
/// front-desk system): a view like a call's, so it needs a reason and is audited first.
pub async fn appointment_notifications(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(appointment_id): Path<String>,
    Json(body): Json<ReasonBody>,
) -> Response {
    let (session, reason) = match reasoned_as(&state, &headers, &body.reason, Permission::ViewSchedule).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if appointment_id.len() > 128 || appointment_id.chars().any(char::is_control) {
        return error(StatusCode::BAD_REQUEST, "invalid appointment id");
    }
    let rows = match crate::notify::outbox::for_appointment(&state.deps.db, &appointment_id).await {
        Ok(rows) => rows,
        Err(e) => return ReviewError::from(e).into_response(),
    };
    let history = match crate::clinic::history::of(&state.deps.db, &appointment_id).await {
        Ok(h) => h,
        Err(e) => return ReviewError::from(e).into_response(),
    };
    if rows.is_empty() && history.is_empty() {
        return error(StatusCode::NOT_FOUND, "nothing on record for this appointment");
    }
    let call_id = rows.iter().find_map(|r| r.call_id.clone());
    if let Err(r) = audit(
        &state,
        actor(&session),
        "review.appointment.notifications.viewed",
        call_id.as_deref(),
        Some(reason),
        AuditOutcome::Success,
        json!({"appointment_id": appointment_id, "count": rows.len(), "history": history.len()}),
    )
    .await
    {
        return r;
    }
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"notifications": rows, "history": history})),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct StatusBody {
    /// `cancelled`, `no-show` or `completed`.
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

/// Staff move an appointment through its lifecycle (roles with `change_schedule`). The typed
/// reason is required and audited; the lifecycle refuses what does not fit (409, nothing changed).
pub async fn appointment_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(appointment_id): Path<String>,
    Json(body): Json<StatusBody>,
) -> Response {
    use crate::clinic::lifecycle::Event;
    use crate::tools::ehr::builtin::StaffActionError;
    let (session, reason) = match reasoned_as(&state, &headers, &body.reason, Permission::ChangeSchedule).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let event = match body.to.as_str() {
        "cancelled" => Event::Cancel {
            reason: reason.to_owned(),
        },
        "no-show" => Event::MarkNoShow,
        "completed" => Event::MarkCompleted,
        _ => return error(StatusCode::BAD_REQUEST, "`to` must be cancelled, no-show or completed"),
    };
    let staff_id = session.staff.staff_id.clone();
    let done = match &state.deps.ehr {
        crate::tools::ehr::Ehr::Builtin(store) => store.staff_transition(&appointment_id, &staff_id, &event).await,
        crate::tools::ehr::Ehr::Fhir(fhir) => {
            fhir_staff_transition(&state, fhir, &appointment_id, &staff_id, &event).await
        }
    };
    let (from, to) = match done {
        Ok(v) => v,
        Err(StaffActionError::NotFound | StaffActionError::Ehr(crate::tools::ehr::EhrError::NotFound)) => {
            return error(StatusCode::NOT_FOUND, "no such appointment");
        }
        Err(StaffActionError::Refused(e)) => return error(StatusCode::CONFLICT, &e.to_string()),
        Err(StaffActionError::Unsupported) => return error(StatusCode::CONFLICT, "this action is not available"),
        Err(StaffActionError::Storage(e)) => return ReviewError::from(e).into_response(),
        Err(StaffActionError::Ehr(e)) => {
            tracing::warn!(error.message = %e, "staff action: the EHR did not take it");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the EHR is unavailable; nothing changed",
            );
        }
    };
    if let Err(r) = audit(
        &state,
        actor(&session),
        "schedule.status_changed",
        None,
        Some(reason),
        AuditOutcome::Success,
        json!({"appointment_id": appointment_id, "from": from.name(), "to": to.name()}),
    )
    .await
    {
        return r;
    }
    Json(json!({"appointment_id": appointment_id, "from": from.name(), "to": to.name()})).into_response()
}

/// The FHIR side of a staff action: the EHR changes first; then our history entry and, for a
/// cancellation, the patient's notice (the EHR feed would find it too; planning is idempotent).
async fn fhir_staff_transition(
    state: &AppState,
    fhir: &crate::tools::ehr::fhir::FhirEhr,
    appointment_id: &str,
    staff_id: &str,
    event: &crate::clinic::lifecycle::Event,
) -> Result<(crate::clinic::lifecycle::State, crate::clinic::lifecycle::State), crate::clinic::StaffActionError> {
    use crate::clinic::{history, lifecycle};
    let change = fhir.staff_transition(appointment_id, event).await?;
    let reason = match event {
        lifecycle::Event::Cancel { reason } => Some(reason.as_str()),
        _ => None,
    };
    let mut tx = state.deps.db.begin_write().await?;
    let entry = history::Entry {
        appointment_id,
        actor: history::Actor::Staff(staff_id.to_owned()),
        event: event.name(),
        from: Some(change.from),
        to: change.to,
        reason,
        details: json!({}),
        at_ms: i64::try_from(now(state)).unwrap_or(i64::MAX),
    };
    history::record(&mut tx, &entry).await?;
    if change.to == lifecycle::State::Cancelled
        && let Some(patient_id) = &change.patient_id
    {
        let notice = crate::notify::AppointmentChange {
            kind: crate::notify::ChangeKind::Cancelled,
            appointment_id,
            patient_id,
            call_id: None,
            start: change.start,
            time_zone: &change.time_zone,
        };
        state.deps.notify.plan_in(&mut tx, &notice).await?;
    }
    tx.commit().await?;
    state.deps.notify.wake();
    Ok((change.from, change.to))
}

/// The built-in store, or the answer for a clinic whose schedule lives in its EHR.
fn builtin(state: &AppState) -> Result<&BuiltinEhr, Response> {
    match &state.deps.ehr {
        Ehr::Builtin(store) => Ok(store),
        Ehr::Fhir(_) => Err(error(
            StatusCode::CONFLICT,
            "this clinic's schedule lives in its EHR; book, move and block time there",
        )),
    }
}

/// A schedule change's preliminaries: session, CSRF, permission, reason, and the built-in store.
async fn desk_change<'a, 'r>(
    state: &'a AppState,
    headers: &HeaderMap,
    reason: &'r str,
) -> Result<(Session, &'r str, &'a BuiltinEhr), Response> {
    let (session, reason) = reasoned_as(state, headers, reason, Permission::ChangeSchedule).await?;
    Ok((session, reason, builtin(state)?))
}

/// A desk refusal as an answer: 404, 400, or 409 with what would let it through.
fn desk_refusal(e: DeskError) -> Response {
    let e = match e {
        DeskError::Storage(s) => return ReviewError::Storage(s).into_response(),
        other => other,
    };
    let status = match &e {
        DeskError::NotFound(_) => StatusCode::NOT_FOUND,
        DeskError::Invalid(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::CONFLICT,
    };
    let mut body = json!({"error": e.to_string()});
    if let Some(o) = e.needs_override() {
        body["needs_override"] = json!(o);
    }
    if let DeskError::Overlaps(ids) = &e {
        body["appointments"] = json!(ids);
    }
    if let DeskError::Orphans(orphans) = &e {
        body["orphans"] = json!(orphans);
    }
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Audit a change before it is made (`Attempted`), make it, then audit how it ended. If the
/// first record cannot be written nothing is changed (503); the second is best effort, since the
/// change has happened, and a failure to write it is logged.
async fn audited<T, F>(
    state: &AppState,
    session: &Session,
    action: &str,
    reason: &str,
    details: serde_json::Value,
    change: F,
) -> Result<T, Response>
where
    F: std::future::Future<Output = Result<T, DeskError>>,
    T: serde::Serialize,
{
    audit(
        state,
        actor(session),
        action,
        None,
        Some(reason),
        AuditOutcome::Attempted,
        details.clone(),
    )
    .await?;
    let done = change.await;
    let (outcome, result) = match &done {
        Ok(v) => (AuditOutcome::Success, json!({"result": v})),
        Err(e) => (AuditOutcome::Failure, json!({"refused": e.to_string()})),
    };
    let mut details = details;
    if let (Some(d), Some(r)) = (details.as_object_mut(), result.as_object()) {
        d.extend(r.clone());
    }
    if audit(state, actor(session), action, None, Some(reason), outcome, details)
        .await
        .is_err()
    {
        tracing::error!(
            action,
            "the outcome of a schedule change could not be audited (the attempt was)"
        );
    }
    done.map_err(desk_refusal)
}

#[derive(Deserialize)]
pub struct WeekQuery {
    #[serde(default)]
    from: String,
    days: Option<i64>,
    provider: Option<String>,
    location: Option<String>,
}

/// The schedule for some days: providers' open hours, appointments (with the patient's name),
/// holds with their expiry, and blocks. Audited with the appointment ids shown.
pub async fn week(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<WeekQuery>) -> Response {
    let session = match authenticate_for(&state, &headers, Permission::ViewSchedule).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let store = match builtin(&state) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let from = match desk::parse_day(&q.from, timestamp_now(&state)) {
        Ok(d) => d,
        Err(e) => return desk_refusal(e),
    };
    let view = match store
        .week_view(from, q.days.unwrap_or(7), q.provider.as_deref(), q.location.as_deref())
        .await
    {
        Ok(v) => v,
        Err(e) => return desk_refusal(e),
    };
    let shown: Vec<&str> = view.appointments.iter().map(|a| a.appointment_id.as_str()).collect();
    if let Err(r) = audit(
        &state,
        actor(&session),
        "schedule.viewed",
        None,
        None,
        AuditOutcome::Success,
        json!({"from": view.from, "days": view.days, "provider": q.provider, "location": q.location, "appointments": shown}),
    )
    .await
    {
        return r;
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(view)).into_response()
}

#[derive(Deserialize)]
pub struct BookBody {
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    provider_id: String,
    type_code: Option<String>,
    #[serde(default)]
    start: String,
    #[serde(default)]
    visit_reason: String,
    #[serde(default)]
    overrides: Overrides,
    #[serde(default)]
    reason: String,
}

/// Staff book a visit (source `staff`). Overrides of minimum notice or buffers are allowed when
/// asked for, audited as `schedule.override`; a double booking never is.
pub async fn book(State(state): State<AppState>, headers: HeaderMap, Json(body): Json<BookBody>) -> Response {
    let (session, reason, store) = match desk_change(&state, &headers, &body.reason).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let start = match desk::parse_instant(&body.start) {
        Ok(t) => t,
        Err(e) => return desk_refusal(e),
    };
    let staff_id = session.staff.staff_id.clone();
    let booking = StaffBooking {
        patient_id: &body.patient_id,
        provider_id: &body.provider_id,
        type_code: body.type_code.as_deref().filter(|t| !t.is_empty()),
        start,
        visit_reason: &body.visit_reason,
        overrides: body.overrides,
        staff_id: &staff_id,
        reason,
    };
    let action = if body.overrides.names().is_empty() {
        "schedule.booked"
    } else {
        "schedule.override"
    };
    let details = json!({
        "op": "book",
        "provider_id": body.provider_id,
        "patient_id": body.patient_id,
        "after": {"start_ms": start.as_millisecond()},
        "overrides": body.overrides.names(),
    });
    match audited(&state, &session, action, reason, details, store.staff_book(&booking)).await {
        Ok(booked) => (StatusCode::CREATED, Json(booked)).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct MoveBody {
    #[serde(default)]
    start: String,
    #[serde(default)]
    overrides: Overrides,
    #[serde(default)]
    reason: String,
}

/// Staff move a visit (same provider and type). The old appointment ends as rescheduled; the
/// answer names the new one. Audited with before and after.
pub async fn move_appointment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(appointment_id): Path<String>,
    Json(body): Json<MoveBody>,
) -> Response {
    let (session, reason, store) = match desk_change(&state, &headers, &body.reason).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let start = match desk::parse_instant(&body.start) {
        Ok(t) => t,
        Err(e) => return desk_refusal(e),
    };
    let action = if body.overrides.names().is_empty() {
        "schedule.moved"
    } else {
        "schedule.override"
    };
    let details = json!({
        "op": "move",
        "appointment_id": appointment_id,
        "after": {"start_ms": start.as_millisecond()},
        "overrides": body.overrides.names(),
    });
    let staff_id = session.staff.staff_id.clone();
    let change = store.staff_move(&appointment_id, start, body.overrides, &staff_id, reason);
    match audited(&state, &session, action, reason, details, change).await {
        Ok(moved) => Json(moved).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct BlockBody {
    #[serde(default)]
    provider_id: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    /// What the block is for (leave, a meeting): shown on the schedule.
    #[serde(default)]
    label: String,
    #[serde(default)]
    reason: String,
}

/// Block a provider's time. Booked visits in the way are listed (409), never dropped.
pub async fn block(State(state): State<AppState>, headers: HeaderMap, Json(body): Json<BlockBody>) -> Response {
    let (session, reason, store) = match desk_change(&state, &headers, &body.reason).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (start, end) = match (desk::parse_instant(&body.start), desk::parse_instant(&body.end)) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return desk_refusal(e),
    };
    let details = json!({
        "op": "block",
        "provider_id": body.provider_id,
        "after": {"start_ms": start.as_millisecond(), "end_ms": end.as_millisecond()},
    });
    let staff_id = session.staff.staff_id.clone();
    let change = store.block_time(&body.provider_id, start, end, &body.label, &staff_id);
    match audited(&state, &session, "schedule.blocked", reason, details, change).await {
        Ok(b) => (StatusCode::CREATED, Json(b)).into_response(),
        Err(r) => r,
    }
}

/// Remove a block.
pub async fn unblock(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(busy_id): Path<String>,
    Json(body): Json<ReasonBody>,
) -> Response {
    let (session, reason, store) = match desk_change(&state, &headers, &body.reason).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let details = json!({"op": "unblock", "block_id": busy_id});
    match audited(
        &state,
        &session,
        "schedule.unblocked",
        reason,
        details,
        store.unblock(&busy_id),
    )
    .await
    {
        Ok(b) => Json(b).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct PatientSearchBody {
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    reason: String,
}

/// Find a patient to book for, by last name and date of birth (both needed: no browsing the
/// patient list). Audited with how many matched.
pub async fn find_patient(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<PatientSearchBody>,
) -> Response {
    use crate::tools::ehr::EhrAdapter;
    let (session, reason) = match reasoned_as(&state, &headers, &body.reason, Permission::ViewSchedule).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Ok(last), Ok(dob)) = (
        crate::domain::PersonName::parse(&body.last_name),
        crate::domain::DateOfBirth::parse(&body.birth_date),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "a last name and a date of birth (YYYY-MM-DD) are needed",
        );
    };
    let found = match state.deps.ehr.find_patients(&last, &dob).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error.message = %e, "patient search failed");
            return error(StatusCode::SERVICE_UNAVAILABLE, "the EHR is unavailable");
        }
    };
    let ids: Vec<&str> = found.iter().map(|c| c.patient_id.as_str()).collect();
    if let Err(r) = audit(
        &state,
        actor(&session),
        "schedule.patient_searched",
        None,
        Some(reason),
        AuditOutcome::Success,
        json!({"matches": ids}),
    )
    .await
    {
        return r;
    }
    let rows: Vec<_> = found
        .iter()
        .map(|c| json!({"patient_id": c.patient_id, "phone_last4": c.phones_e164.first().map(|p| last4(p))}))
        .collect();
    ([(header::CACHE_CONTROL, "no-store")], Json(json!({"patients": rows}))).into_response()
}

fn timestamp_now(state: &AppState) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(i64::try_from(now(state)).unwrap_or(i64::MAX))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The last four digits of a phone number (enough to tell two matches apart at the desk).
fn last4(phone: &str) -> String {
    let n = phone.chars().count();
    phone.chars().skip(n.saturating_sub(4)).collect()
}

/// A provider's calendar as staff edit it.
pub async fn calendar(State(state): State<AppState>, headers: HeaderMap, Path(provider_id): Path<String>) -> Response {
    if let Err(r) = authenticate_for(&state, &headers, Permission::ViewSchedule).await {
        return r;
    }
    let store = match builtin(&state) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match store.calendar_config(&provider_id).await {
        Ok(c) => ([(header::CACHE_CONTROL, "no-store")], Json(c)).into_response(),
        Err(e) => desk_refusal(e),
    }
}

#[derive(Deserialize)]
pub struct CalendarBody {
    calendar: CalendarConfig,
    /// Apply even though booked visits would fall outside (they are kept and listed).
    #[serde(default)]
    accept_orphans: bool,
    #[serde(default)]
    reason: String,
}

/// Replace a provider's calendar (`clinic_admin`). Refused with the list of booked visits that
/// would no longer fit unless `accept_orphans`; audited with before and after.
pub async fn set_calendar(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(provider_id): Path<String>,
    Json(body): Json<CalendarBody>,
) -> Response {
    let (session, reason) = match reasoned_as(&state, &headers, &body.reason, Permission::ConfigureSchedule).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let store = match builtin(&state) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let details = json!({"op": "configure", "provider_id": provider_id, "accept_orphans": body.accept_orphans});
    let change = store.set_calendar(&provider_id, &body.calendar, body.accept_orphans);
    match audited(&state, &session, "schedule.configured", reason, details, change).await {
        Ok(applied) => Json(applied).into_response(),
        Err(r) => r,
    }
}
