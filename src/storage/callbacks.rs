//! The callback queue staff work through (`callback_requests`): one row per request, with the
//! reference number the caller heard. Written by the agent's `request_callback` tool, a patient's
//! "R" text reply, and the keypad fallback when the assistant is unreachable — one queue, so a
//! callback is never lost to whichever path took it.

use crate::storage::sql::Arg;
use crate::storage::{Db, StorageError};

/// Queue a callback and return its six-digit reference. A reference already in use (one in a
/// million per open request) is drawn again, up to three times.
///
/// # Errors
/// The database is unavailable (the caller must be told it was not taken).
pub async fn queue(
    db: &Db,
    call_id: &str,
    patient_ref: Option<&str>,
    topic: &str,
    now_ms: i64,
) -> Result<String, StorageError> {
    let mut last = None;
    for _ in 0..3 {
        let reference = draw_reference()?;
        match db
            .exec(
                "INSERT INTO callback_requests (reference, call_id, patient_ref, topic, created_at_ms) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (reference) DO NOTHING",
                &[
                    Arg::Text(&reference),
                    Arg::Text(call_id),
                    Arg::OptText(patient_ref),
                    Arg::Text(topic),
                    Arg::I64(now_ms),
                ],
            )
            .await
        {
            Ok(1) => return Ok(reference),
            Ok(_) => last = None,
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(StorageError::ReferenceTaken))
}

/// Take back a request that could not be audited (before anyone was told its reference).
///
/// # Errors
/// The database is unavailable.
pub async fn withdraw(db: &Db, reference: &str) -> Result<(), StorageError> {
    db.exec(
        "DELETE FROM callback_requests WHERE reference = ? AND completed_at_ms IS NULL",
        &[Arg::Text(reference)],
    )
    .await?;
    Ok(())
}

/// Six random digits (the caller reads them back to staff).
///
/// # Errors
/// The OS gave no randomness.
pub fn draw_reference() -> Result<String, StorageError> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|_| StorageError::Entropy)?;
    Ok(format!("{:06}", u32::from_le_bytes(bytes) % 1_000_000))
}
