//! The EHR feed (FHIR only): appointments changed in the EHR by anyone — staff at the EHR's own
//! screens, another scheduling system, or our own tools — get their confirmations too.
//!
//! Every `notifications.ehr_feed_secs` a replica asks the FHIR server for appointments updated
//! since the feed's watermark (minus an overlap, so a change committed while the last sweep ran
//! is not missed) and plans their messages. Planning is idempotent (the ids are the keys), so a
//! change the tools already planned, two replicas sweeping the same window, or the overlap, send
//! nothing twice. This is also what closes the FHIR path's crash window: a booking committed in
//! the EHR whose planning the crash prevented is found by the next sweep. The watermark lives in
//! `job_runs` and only moves forward after a sweep succeeded; the first sweep only sets it (a new
//! deployment does not confirm the EHR's history).
//!
//! Only patients with a contact record are considered: the others could not be messaged anyway.

use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::{AppointmentChange, ChangeKind, Notifications, contacts, outbox};
use crate::storage::StorageError;
use crate::storage::sql::Arg;
use crate::tools::ehr::fhir::FhirEhr;
use crate::tools::ehr::{AppointmentStatus, EhrError};

/// The `job_runs` row holding the watermark.
pub const JOB: &str = "notify_ehr_feed";

/// How far back of the watermark each sweep looks.
const OVERLAP_MS: i64 = 5 * 60_000;

/// Why a sweep did not complete (retried at the next tick).
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Ehr(#[from] EhrError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    pub seen: usize,
    pub planned: usize,
}

/// Sweep every `interval` until cancelled.
pub async fn run(notifications: Notifications, fhir: FhirEhr, interval: Duration, cancel: CancellationToken) {
    loop {
        match sweep_once(&notifications, &fhir).await {
            Ok(s) if s.planned > 0 => {
                tracing::info!(seen = s.seen, planned = s.planned, "EHR feed planned notifications")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error.message = %e, "EHR feed sweep failed; will retry"),
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

async fn watermark(n: &Notifications) -> Result<i64, StorageError> {
    #[derive(sqlx::FromRow)]
    struct Mark {
        last_run_ms: i64,
    }
    let rows: Vec<Mark> = n
        .db()
        .all("SELECT last_run_ms FROM job_runs WHERE job = ?", &[Arg::Text(JOB)])
        .await?;
    Ok(rows.first().map_or(0, |m| m.last_run_ms))
}

async fn advance(n: &Notifications, from: i64, to: i64) -> Result<(), StorageError> {
    n.db()
        .exec(
            "UPDATE job_runs SET last_run_ms = ? WHERE job = ? AND last_run_ms = ?",
            &[Arg::I64(to), Arg::Text(JOB), Arg::I64(from)],
        )
        .await?;
    Ok(())
}

/// One sweep.
///
/// # Errors
/// The EHR or the database is unavailable (the watermark stays, so nothing is skipped).
pub async fn sweep_once(n: &Notifications, fhir: &FhirEhr) -> Result<Sweep, FeedError> {
    if n.channels().is_empty() {
        return Ok(Sweep::default());
    }
    let now = n.now_ms();
    let mark = watermark(n).await?;
    if mark == 0 {
        advance(n, 0, now).await?;
        return Ok(Sweep::default());
    }
    let since = Timestamp::from_millisecond(mark - OVERLAP_MS).unwrap_or(Timestamp::UNIX_EPOCH);
    let changed = fhir.changed_since(since).await?;
    let mut sweep = Sweep {
        seen: changed.len(),
        planned: 0,
    };
    for c in &changed {
        if c.start.as_millisecond() <= now || contacts::get(n.db(), &c.patient_id).await?.is_none() {
            continue;
        }
        let kind = match c.status {
            AppointmentStatus::Booked | AppointmentStatus::Pending => {
                if outbox::planned_at_other_start(n.db(), &c.id, c.start.as_millisecond()).await? {
                    ChangeKind::Rescheduled { previous: c.id.clone() }
                } else {
                    ChangeKind::Booked
                }
            }
            // A move: its new appointment is confirmed on its own; the old one's messages just go.
            AppointmentStatus::Cancelled if c.cancelled_by_move => {
                outbox::cancel_all_pending(n.db(), &c.id, "rescheduled", now).await?;
                continue;
            }
            AppointmentStatus::Cancelled => ChangeKind::Cancelled,
            // Entered in error and the like: nothing to tell, nothing left to remind of.
            _ => {
                outbox::cancel_all_pending(n.db(), &c.id, "appointment_withdrawn", now).await?;
                continue;
            }
        };
        sweep.planned += n
            .appointment_changed(&AppointmentChange {
                kind,
                appointment_id: &c.id,
                patient_id: &c.patient_id,
                call_id: None,
                start: c.start,
                time_zone: &c.time_zone,
            })
            .await?;
    }
    advance(n, mark, now).await?;
    Ok(sweep)
}
