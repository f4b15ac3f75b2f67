//! `/review/api/appointments` and `/review/api/schedule`: what clinic staff do with the schedule —
//! an appointment's record, lifecycle actions, and (built-in store) the week view, bookings,
//! moves, blocks and the providers' calendars.

#![allow(clippy::result_large_err)]

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ReasonBody, actor, audit, error, now, reasoned_as};
use crate::audit::AuditOutcome;
use crate::review::{Permission, ReviewError};
use crate::startup::AppState;

/// This module's routes (merged into the review router).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::post;
    axum::Router::new()
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

/// Staff move an appointment through its lifecycle (admin for now; the front-desk roles come with
/// the schedule view). The typed reason is required and audited; the lifecycle refuses what does
/// not fit (409, nothing changed).
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
