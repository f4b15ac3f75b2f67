//! The `notifications` table: the durable outbox every replica's worker drains.
//!
//! A row is claimed by setting `claimed_by`/`claimed_until_ms` in one statement that only picks
//! unclaimed (or expired) due rows: on PostgreSQL under `FOR UPDATE SKIP LOCKED`, so two replicas
//! claiming at once get disjoint rows; on SQLite inside `BEGIN IMMEDIATE`, the single writer. Every
//! later update names the claimer, so a worker whose lease expired cannot overwrite the row
//! another worker took over. `last_error` holds fixed reason codes, never a peer's text.

use crate::storage::sql::{Arg, Tx};
use crate::storage::{Db, StorageError};

use super::{AppointmentChange, PlannedRow};

/// Insert one planned row unless its id exists; returns 1 if inserted.
pub(crate) async fn insert_planned(
    tx: &mut Tx,
    row: &PlannedRow,
    change: &AppointmentChange<'_>,
    patient_ref: &str,
    now_ms: i64,
) -> Result<usize, StorageError> {
    let n = tx
        .exec(
            "INSERT INTO notifications (notification_id, appointment_id, patient_id, patient_ref, call_id, kind, channel, \
             offset_min, appointment_start_ms, time_zone, due_at_ms, status, attempts, created_at_ms, updated_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'planned', 0, ?, ?) ON CONFLICT (notification_id) DO NOTHING",
            &[
                Arg::Text(&row.notification_id),
                Arg::Text(change.appointment_id),
                Arg::Text(change.patient_id),
                Arg::Text(patient_ref),
                Arg::OptText(change.call_id),
                Arg::Text(row.kind.as_str()),
                Arg::Text(row.channel.as_str()),
                Arg::OptI64(row.offset_min.map(i64::from)),
                Arg::I64(change.start.as_millisecond()),
                Arg::Text(change.time_zone),
                Arg::I64(row.due_at_ms),
                Arg::I64(now_ms),
                Arg::I64(now_ms),
            ],
        )
        .await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Cancel every message of `appointment_id` not yet sent (a reschedule or cancellation) except
/// a cancellation notice, which is the one message still true. A row a
/// worker is sending right now keeps its claim: if the carrier takes it, the worker's "sent"
/// still lands (it went out), and anything else leaves it cancelled.
pub async fn cancel_pending(
    tx: &mut Tx,
    appointment_id: &str,
    reason: &'static str,
    now_ms: i64,
) -> Result<u64, StorageError> {
    tx.exec(
        "UPDATE notifications SET status = 'cancelled', last_error = ?, updated_at_ms = ? \
         WHERE appointment_id = ? AND status = 'planned' AND kind <> 'cancelled'",
        &[Arg::Text(reason), Arg::I64(now_ms), Arg::Text(appointment_id)],
    )
    .await
}

/// Cancel the pending messages of `appointment_id` for any start but `keep_start_ms` (a move in
/// place: same id, new time).
pub async fn cancel_pending_except(
    tx: &mut Tx,
    appointment_id: &str,
    keep_start_ms: i64,
    now_ms: i64,
) -> Result<u64, StorageError> {
    tx.exec(
        "UPDATE notifications SET status = 'cancelled', last_error = 'rescheduled', updated_at_ms = ? \
         WHERE appointment_id = ? AND status = 'planned' AND appointment_start_ms <> ?",
        &[Arg::I64(now_ms), Arg::Text(appointment_id), Arg::I64(keep_start_ms)],
    )
    .await
}

/// Whether messages about `appointment_id` at another time than `start_ms` were planned (and not
/// cancelled): the appointment moved in place.
pub(crate) async fn planned_at_other_start(db: &Db, appointment_id: &str, start_ms: i64) -> Result<bool, StorageError> {
    #[derive(sqlx::FromRow)]
    struct One {
        n: i64,
    }
    let rows: Vec<One> = db
        .all(
            "SELECT COUNT(*) AS n FROM notifications WHERE appointment_id = ? AND appointment_start_ms <> ? \
             AND kind <> 'cancelled' AND status <> 'cancelled'",
            &[Arg::Text(appointment_id), Arg::I64(start_ms)],
        )
        .await?;
    Ok(rows.first().is_some_and(|r| r.n > 0))
}

/// Cancel what is still pending for `appointment_id` (the EHR says it is over), in its own transaction.
pub(crate) async fn cancel_all_pending(
    db: &Db,
    appointment_id: &str,
    reason: &'static str,
    now_ms: i64,
) -> Result<u64, StorageError> {
    let mut tx = db.begin_write().await?;
    let n = cancel_pending(&mut tx, appointment_id, reason, now_ms).await?;
    tx.commit().await?;
    Ok(n)
}

/// A claimed row, as the worker needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub notification_id: String,
    pub appointment_id: String,
    pub patient_id: String,
    pub call_id: Option<String>,
    pub kind: String,
    pub channel: String,
    pub appointment_start_ms: i64,
    pub time_zone: String,
    pub attempts: i64,
    pub provider_message_id: Option<String>,
}

const CLAIMED_COLUMNS: &str = "notification_id, appointment_id, patient_id, call_id, kind, channel, \
                               appointment_start_ms, time_zone, attempts, provider_message_id";

/// Claim up to `limit` due rows for `worker` until `until_ms`, earliest first.
pub async fn claim(
    db: &Db,
    worker: &str,
    now_ms: i64,
    until_ms: i64,
    limit: u32,
) -> Result<Vec<Claimed>, StorageError> {
    let lock = match db {
        Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        Db::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE notifications SET claimed_by = ?, claimed_until_ms = ?, attempts = attempts + 1, updated_at_ms = ? \
         WHERE notification_id IN (SELECT notification_id FROM notifications WHERE status = 'planned' \
         AND due_at_ms <= ? AND (claimed_until_ms IS NULL OR claimed_until_ms < ?) \
         ORDER BY due_at_ms LIMIT ?{lock}) RETURNING {CLAIMED_COLUMNS}"
    );
    let mut tx = db.begin_write().await?;
    let mut rows: Vec<Claimed> = tx
        .all(
            &sql,
            &[
                Arg::Text(worker),
                Arg::I64(until_ms),
                Arg::I64(now_ms),
                Arg::I64(now_ms),
                Arg::I64(now_ms),
                Arg::I64(i64::from(limit)),
            ],
        )
        .await?;
    tx.commit().await?;
    rows.sort_by(|a, b| a.notification_id.cmp(&b.notification_id));
    Ok(rows)
}

/// How a claimed row ends this attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        provider_message_id: Option<String>,
        template_id: String,
    },
    /// Back to planned, due again at `due_at_ms`.
    Retry {
        reason: String,
        due_at_ms: i64,
    },
    Failed {
        reason: String,
    },
    Suppressed {
        reason: &'static str,
    },
}

/// Record the outcome of `worker`'s attempt. Returns false when the claim was lost (another worker
/// took the row over after the lease expired), in which case nothing is changed.
pub async fn finish(db: &Db, id: &str, worker: &str, outcome: &Outcome, now_ms: i64) -> Result<bool, StorageError> {
    let n = match outcome {
        // A cancellation that raced the send does not hide that the message went out.
        Outcome::Sent {
            provider_message_id,
            template_id,
        } => {
            db.exec(
                "UPDATE notifications SET status = 'sent', provider_message_id = ?, template_id = ?, sent_at_ms = ?, \
                 last_error = NULL, claimed_by = NULL, claimed_until_ms = NULL, updated_at_ms = ? \
                 WHERE notification_id = ? AND claimed_by = ?",
                &[
                    Arg::OptText(provider_message_id.as_deref()),
                    Arg::Text(template_id),
                    Arg::I64(now_ms),
                    Arg::I64(now_ms),
                    Arg::Text(id),
                    Arg::Text(worker),
                ],
            )
            .await?
        }
        Outcome::Retry { reason, due_at_ms } => {
            db.exec(
                "UPDATE notifications SET due_at_ms = ?, last_error = ?, claimed_by = NULL, claimed_until_ms = NULL, \
                 updated_at_ms = ? WHERE notification_id = ? AND claimed_by = ? AND status = 'planned'",
                &[
                    Arg::I64(*due_at_ms),
                    Arg::Text(reason),
                    Arg::I64(now_ms),
                    Arg::Text(id),
                    Arg::Text(worker),
                ],
            )
            .await?
        }
        Outcome::Failed { reason } => end_as(db, id, worker, "failed", reason, now_ms).await?,
        Outcome::Suppressed { reason } => end_as(db, id, worker, "suppressed", reason, now_ms).await?,
    };
    Ok(n == 1)
}

async fn end_as(db: &Db, id: &str, worker: &str, status: &str, reason: &str, now_ms: i64) -> Result<u64, StorageError> {
    db.exec(
        "UPDATE notifications SET status = ?, last_error = ?, claimed_by = NULL, claimed_until_ms = NULL, \
         updated_at_ms = ? WHERE notification_id = ? AND claimed_by = ? AND status = 'planned'",
        &[
            Arg::Text(status),
            Arg::Text(reason),
            Arg::I64(now_ms),
            Arg::Text(id),
            Arg::Text(worker),
        ],
    )
    .await
}

/// A carrier's status callback: `sent` → `delivered` or `failed`. Returns whether a row changed.
pub(crate) async fn delivery_report(
    db: &Db,
    provider_id: &str,
    delivered: bool,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<bool, StorageError> {
    let status = if delivered { "delivered" } else { "failed" };
    let n = db
        .exec(
            "UPDATE notifications SET status = ?, last_error = ?, updated_at_ms = ? \
             WHERE provider_message_id = ? AND status = 'sent'",
            &[
                Arg::Text(status),
                Arg::OptText(reason),
                Arg::I64(now_ms),
                Arg::Text(provider_id),
            ],
        )
        .await?;
    Ok(n > 0)
}

/// One row as the review UI and the API show it (no address, no text: ids, kinds, times, status).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct NotificationRow {
    pub notification_id: String,
    pub appointment_id: String,
    pub call_id: Option<String>,
    pub kind: String,
    pub channel: String,
    pub offset_min: Option<i64>,
    pub appointment_start_ms: i64,
    pub time_zone: String,
    pub due_at_ms: i64,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub template_id: Option<String>,
    pub reply: Option<String>,
    pub sent_at_ms: Option<i64>,
    /// When it was planned (the change's commit).
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

const ROW_COLUMNS: &str = "notification_id, appointment_id, call_id, kind, channel, offset_min, appointment_start_ms, \
                           time_zone, due_at_ms, status, attempts, last_error, template_id, reply, sent_at_ms, \
                           created_at_ms, updated_at_ms";

/// Every message planned from a call, and every message about an appointment that call touched
/// (a reschedule from a later call shows under both).
///
/// # Errors
/// Storage failures.
pub async fn for_call(db: &Db, call_id: &str) -> Result<Vec<NotificationRow>, StorageError> {
    db.all(
        &format!(
            "SELECT {ROW_COLUMNS} FROM notifications WHERE call_id = ? OR appointment_id IN \
             (SELECT appointment_id FROM notifications WHERE call_id = ?) ORDER BY due_at_ms, notification_id"
        ),
        &[Arg::Text(call_id), Arg::Text(call_id)],
    )
    .await
}

/// Every message about one appointment.
///
/// # Errors
/// Storage failures.
pub async fn for_appointment(db: &Db, appointment_id: &str) -> Result<Vec<NotificationRow>, StorageError> {
    db.all(
        &format!(
            "SELECT {ROW_COLUMNS} FROM notifications WHERE appointment_id = ? ORDER BY due_at_ms, notification_id"
        ),
        &[Arg::Text(appointment_id)],
    )
    .await
}

/// The latest SMS sent to any patient at `phone` about an upcoming appointment: what a `C` or `R`
/// reply answers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReplyTarget {
    pub notification_id: String,
    pub appointment_id: String,
    pub patient_id: String,
    pub call_id: Option<String>,
    pub appointment_start_ms: i64,
    pub time_zone: String,
}

pub(crate) async fn reply_target(db: &Db, phone: &str, now_ms: i64) -> Result<Option<ReplyTarget>, StorageError> {
    let rows: Vec<ReplyTarget> = db
        .all(
            "SELECT n.notification_id, n.appointment_id, n.patient_id, n.call_id, n.appointment_start_ms, n.time_zone \
             FROM notifications n JOIN notification_contacts c ON c.patient_id = n.patient_id \
             WHERE c.phone_e164 = ? AND n.channel = 'sms' AND n.status IN ('sent', 'delivered') \
             AND n.kind <> 'cancelled' AND n.appointment_start_ms > ? \
             AND NOT EXISTS (SELECT 1 FROM notifications x WHERE x.appointment_id = n.appointment_id \
                             AND x.kind = 'cancelled' AND x.appointment_start_ms = n.appointment_start_ms) \
             AND NOT EXISTS (SELECT 1 FROM notifications y WHERE y.appointment_id = n.appointment_id \
                             AND y.appointment_start_ms = n.appointment_start_ms AND y.status = 'cancelled') \
             ORDER BY n.sent_at_ms DESC LIMIT 1",
            &[Arg::Text(phone), Arg::I64(now_ms)],
        )
        .await?;
    Ok(rows.into_iter().next())
}

/// Record a patient's reply (`C` or `R`) on the message it answered.
pub(crate) async fn record_reply(db: &Db, notification_id: &str, reply: &str, now_ms: i64) -> Result<(), StorageError> {
    db.exec(
        "UPDATE notifications SET reply = ?, updated_at_ms = ? WHERE notification_id = ?",
        &[Arg::Text(reply), Arg::I64(now_ms), Arg::Text(notification_id)],
    )
    .await?;
    Ok(())
}
