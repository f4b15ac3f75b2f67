//! Retention: recordings (and their manifests) of calls that ended more than the configured
//! number of days ago are deleted — on S3 every object version — unless the call is under legal
//! hold. Each deletion and each skip is audited (as the `retention` job); the call row keeps its
//! place in the index with `recording_deleted_at_ms` set, and audit records are never deleted.

use serde::Serialize;

use super::{ReviewError, calls::manifest_key, ms};
use crate::audit::{Actor, AuditEvent, AuditLog, AuditOutcome};
use crate::storage::Db;
use crate::storage::blob::Blobs;
use crate::storage::sql::Arg;

const DAY_MS: u64 = 86_400_000;

/// What one run did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct RetentionReport {
    pub deleted: Vec<String>,
    pub held: Vec<String>,
    pub failed: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct Due {
    call_id: String,
    recording_location: String,
    hold_flag: i64,
}

fn event(
    action: &str,
    call_id: &str,
    outcome: AuditOutcome,
    reason: &str,
    details: serde_json::Value,
    now_ms: u64,
) -> AuditEvent {
    AuditEvent {
        actor: Actor::System {
            job: "retention".into(),
        },
        action: action.into(),
        call_id: Some(call_id.into()),
        patient: None,
        reason: Some(reason.into()),
        outcome,
        details,
        at_ms: now_ms,
    }
}

/// Claim this period's run for this replica: true for exactly one replica per `interval_ms`.
///
/// # Errors
/// Storage.
pub async fn claim(db: &Db, interval_ms: u64, now_ms: u64) -> Result<bool, ReviewError> {
    let claimed = db
        .exec(
            "UPDATE job_runs SET last_run_ms = ? WHERE job = 'retention' AND last_run_ms <= ?",
            &[Arg::I64(ms(now_ms)), Arg::I64(ms(now_ms.saturating_sub(interval_ms)))],
        )
        .await?;
    Ok(claimed == 1)
}

/// Delete what is due at `now_ms` under `days` of retention.
///
/// # Errors
/// The list of due recordings cannot be read, or an audit record cannot be written (a deletion
/// is never done unaudited: the `Attempted` record goes first).
pub async fn run(
    db: &Db,
    blobs: &Blobs,
    audit: &AuditLog,
    days: u32,
    now_ms: u64,
) -> Result<RetentionReport, ReviewError> {
    let cutoff = now_ms.saturating_sub(u64::from(days) * DAY_MS);
    let due: Vec<Due> = db
        .all(
            "SELECT c.call_id, c.recording_location, CAST(CASE WHEN h.call_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS hold_flag \
             FROM calls c LEFT JOIN legal_holds h ON h.call_id = c.call_id \
             WHERE c.recording_location IS NOT NULL AND c.recording_deleted_at_ms IS NULL \
             AND c.ended_at_ms IS NOT NULL AND c.ended_at_ms < ? ORDER BY c.ended_at_ms",
            &[Arg::I64(ms(cutoff))],
        )
        .await?;
    let mut report = RetentionReport::default();
    let why = format!("retention period of {days} days ended");
    for d in due {
        let keys: Vec<String> = std::iter::once(d.recording_location.clone())
            .chain(manifest_key(&d.recording_location))
            .collect();
        if d.hold_flag != 0 {
            let details = serde_json::json!({"object_key": d.recording_location, "retention_days": days});
            audit
                .append(&event(
                    "recording.retention_skipped",
                    &d.call_id,
                    AuditOutcome::Denied,
                    "legal hold",
                    details,
                    now_ms,
                ))
                .await?;
            report.held.push(d.call_id);
            continue;
        }
        let details = serde_json::json!({"object_keys": keys, "retention_days": days, "store": blobs.store_kind()});
        audit
            .append(&event(
                "recording.deleted",
                &d.call_id,
                AuditOutcome::Attempted,
                &why,
                details.clone(),
                now_ms,
            ))
            .await?;
        let mut failure = None;
        for key in &keys {
            match blobs.delete(key).await {
                Ok(()) | Err(crate::storage::blob::BlobError::NotFound(_)) => {}
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        match failure {
            None => {
                db.exec(
                    "UPDATE calls SET recording_deleted_at_ms = ? WHERE call_id = ?",
                    &[Arg::I64(ms(now_ms)), Arg::Text(&d.call_id)],
                )
                .await?;
                audit
                    .append(&event(
                        "recording.deleted",
                        &d.call_id,
                        AuditOutcome::Success,
                        &why,
                        details,
                        now_ms,
                    ))
                    .await?;
                report.deleted.push(d.call_id);
            }
            Some(message) => {
                tracing::warn!(call_id = %d.call_id, error.message = %message, "retention could not delete a recording");
                let details = serde_json::json!({"object_keys": keys, "error": message});
                audit
                    .append(&event(
                        "recording.deleted",
                        &d.call_id,
                        AuditOutcome::Failure,
                        &why,
                        details,
                        now_ms,
                    ))
                    .await?;
                report.failed.push(d.call_id);
            }
        }
    }
    Ok(report)
}
