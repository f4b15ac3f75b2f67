//! The staff work queue: callback requests the agent took (with the reference number the caller
//! heard) and verification lockouts. Closing either needs a stated reason (audited by the caller
//! of these functions).

use serde::Serialize;

use super::{ReviewError, ms};
use crate::storage::Db;
use crate::storage::sql::Arg;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Callback {
    pub reference: String,
    pub call_id: String,
    #[serde(skip)]
    pub patient_ref: Option<String>,
    pub topic: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Lockout {
    pub patient_ref: String,
    pub locked_at_ms: i64,
}

/// Open callbacks and active lockouts, oldest first.
///
/// # Errors
/// Storage.
pub async fn open_items(db: &Db) -> Result<(Vec<Callback>, Vec<Lockout>), ReviewError> {
    let callbacks = db
        .all(
            "SELECT reference, call_id, patient_ref, topic, created_at_ms FROM callback_requests \
             WHERE completed_at_ms IS NULL ORDER BY created_at_ms",
            &[],
        )
        .await?;
    let lockouts = db
        .all(
            "SELECT patient_ref, locked_at_ms FROM lockouts WHERE lifted_at_ms IS NULL ORDER BY locked_at_ms",
            &[],
        )
        .await?;
    Ok((callbacks, lockouts))
}

/// Close an open callback; returns it.
///
/// # Errors
/// `NotFound` when there is no open callback with this reference; storage.
pub async fn complete_callback(db: &Db, reference: &str, by: &str, now_ms: u64) -> Result<Callback, ReviewError> {
    let mut rows: Vec<Callback> = db
        .all(
            "SELECT reference, call_id, patient_ref, topic, created_at_ms FROM callback_requests \
             WHERE reference = ? AND completed_at_ms IS NULL",
            &[Arg::Text(reference)],
        )
        .await?;
    let callback = rows.pop().ok_or(ReviewError::NotFound)?;
    let changed = db
        .exec(
            "UPDATE callback_requests SET completed_at_ms = ?, completed_by = ? \
             WHERE reference = ? AND completed_at_ms IS NULL",
            &[Arg::I64(ms(now_ms)), Arg::Text(by), Arg::Text(reference)],
        )
        .await?;
    if changed == 0 {
        return Err(ReviewError::NotFound);
    }
    Ok(callback)
}

/// Lift an active lockout.
///
/// # Errors
/// `NotFound` when the reference has no active lockout; storage.
pub async fn lift_lockout(db: &Db, patient_ref: &str, by: &str, now_ms: u64) -> Result<(), ReviewError> {
    let changed = db
        .exec(
            "UPDATE lockouts SET lifted_at_ms = ?, lifted_by = ? WHERE patient_ref = ? AND lifted_at_ms IS NULL",
            &[Arg::I64(ms(now_ms)), Arg::Text(by), Arg::Text(patient_ref)],
        )
        .await?;
    if changed == 0 {
        return Err(ReviewError::NotFound);
    }
    Ok(())
}
