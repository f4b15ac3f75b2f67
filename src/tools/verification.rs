//! Caller verification: first and last name (exact after case and accent folding), date of birth
//! and a phone on file must all match exactly one patient record.
//!
//! Failures count against the record the caller was trying to be (same last name and birth date)
//! across calls: [`LOCKOUT_FAILURES`] within [`LOCKOUT_WINDOW_MS`] lock it until staff verify the
//! caller. The answer never says which identifier was wrong.

use crate::clock::Clock;
use crate::config::KeyedSecret;
use crate::domain::{DateOfBirth, PersonName, PhoneNumber};
use crate::storage::{Db, StorageError};
use crate::telemetry::PhiRef;
use crate::tools::ehr::{EhrAdapter, EhrError};

/// Failed attempts against one record that lock it.
pub const LOCKOUT_FAILURES: i64 = 5;
/// The window those failures are counted in (24 h).
pub const LOCKOUT_WINDOW_MS: u64 = 24 * 3600 * 1000;

pub use crate::call::state::PatientMatch;

/// What a verification attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    Verified(PatientMatch),
    /// No single record matched. `record` is the record the attempt counted against, if any.
    Failed {
        record: Option<PhiRef>,
        locked_now: bool,
    },
    /// The matching record is locked until staff verify the caller.
    Locked {
        record: PhiRef,
    },
}

/// The identifiers as the caller gave them (validated types; redacted in Debug).
#[derive(Debug, Clone)]
pub struct Identifiers {
    pub first: PersonName,
    pub last: PersonName,
    pub birth_date: DateOfBirth,
    pub phone: PhoneNumber,
}

impl Identifiers {
    /// A keyed hash of the inputs, for the audit record (never the values).
    pub fn input_ref(&self, key: &KeyedSecret) -> PhiRef {
        let joined = format!(
            "{}|{}|{}|{}",
            self.first.folded(),
            self.last.folded(),
            self.birth_date.iso(),
            self.phone.e164()
        );
        PhiRef::new(key, "verify-inputs", &joined)
    }
}

/// Check `ids` against the EHR: its search may be broad, so every identifier is re-compared here,
/// exactly, after folding. Failure counts and lockouts live in the project database whichever EHR
/// holds the records.
///
/// # Errors
/// EHR or storage failures (the caller hears a graceful apology; nothing is disclosed).
pub async fn verify(
    db: &Db,
    ehr: &impl EhrAdapter,
    phi_key: &KeyedSecret,
    clock: &dyn Clock,
    call_id: &str,
    ids: &Identifiers,
) -> Result<VerifyOutcome, EhrError> {
    let candidates = ehr.find_patients(&ids.last, &ids.birth_date).await?;
    let (first, last, birth_date) = (ids.first.folded(), ids.last.folded(), ids.birth_date.iso());
    // The EHR's search is only a pre-filter: re-compare every identifier exactly.
    let candidates: Vec<_> = candidates
        .into_iter()
        .filter(|c| c.last_name_folded == last && c.birth_date == birth_date)
        .collect();
    let matching: Vec<_> = candidates
        .iter()
        .filter(|c| c.first_name_folded == first && c.phones_e164.iter().any(|p| p == ids.phone.e164()))
        .collect();
    let now = clock.now_unix_ms();
    if let [only] = matching.as_slice() {
        let record = PhiRef::new(phi_key, "patient", &only.patient_id);
        if is_locked(db, &record).await? {
            return Ok(VerifyOutcome::Locked { record });
        }
        return Ok(VerifyOutcome::Verified(PatientMatch {
            patient_id: only.patient_id.clone(),
            phi_ref: record,
        }));
    }
    // Count the failure against the record the caller was trying to be, when there is exactly one.
    let record = match candidates.as_slice() {
        [one] => Some(PhiRef::new(phi_key, "patient", &one.patient_id)),
        _ => None,
    };
    let mut locked_now = false;
    if let Some(record) = &record {
        record_failure(db, record, call_id, now).await?;
        if recent_failures(db, record, now).await? >= LOCKOUT_FAILURES && !is_locked(db, record).await? {
            lock(db, record, now).await?;
            locked_now = true;
        }
    }
    Ok(VerifyOutcome::Failed { record, locked_now })
}

async fn record_failure(db: &Db, record: &PhiRef, call_id: &str, now: u64) -> Result<(), StorageError> {
    match db {
        Db::Sqlite(pool) => {
            sqlx::query("INSERT INTO verification_failures (patient_ref, call_id, at_ms) VALUES (?, ?, ?)")
                .bind(record.as_str())
                .bind(call_id)
                .bind(now as i64)
                .execute(pool)
                .await?;
        }
        Db::Postgres(pool) => {
            sqlx::query("INSERT INTO verification_failures (patient_ref, call_id, at_ms) VALUES ($1, $2, $3)")
                .bind(record.as_str())
                .bind(call_id)
                .bind(now as i64)
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// Failures within the window that count: those before staff last lifted a lockout of this
/// record do not (otherwise the next slip would lock the caller out again at once).
async fn recent_failures(db: &Db, record: &PhiRef, now: u64) -> Result<i64, StorageError> {
    let since = now.saturating_sub(LOCKOUT_WINDOW_MS) as i64;
    let (n,): (i64,) = match db {
        Db::Sqlite(pool) => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM verification_failures WHERE patient_ref = ? AND at_ms >= ? \
                 AND at_ms > COALESCE((SELECT lifted_at_ms FROM lockouts WHERE patient_ref = ?), -1)",
            )
            .bind(record.as_str())
            .bind(since)
            .bind(record.as_str())
            .fetch_one(pool)
            .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM verification_failures WHERE patient_ref = $1 AND at_ms >= $2 \
                 AND at_ms > COALESCE((SELECT lifted_at_ms FROM lockouts WHERE patient_ref = $1), -1)",
            )
            .bind(record.as_str())
            .bind(since)
            .fetch_one(pool)
            .await?
        }
    };
    Ok(n)
}

/// Whether `record` is locked (and not lifted by staff).
///
/// # Errors
/// Storage failures.
pub async fn is_locked(db: &Db, record: &PhiRef) -> Result<bool, StorageError> {
    let row: Option<(i64,)> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_as("SELECT locked_at_ms FROM lockouts WHERE patient_ref = ? AND lifted_at_ms IS NULL")
                .bind(record.as_str())
                .fetch_optional(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as("SELECT locked_at_ms FROM lockouts WHERE patient_ref = $1 AND lifted_at_ms IS NULL")
                .bind(record.as_str())
                .fetch_optional(pool)
                .await?
        }
    };
    Ok(row.is_some())
}

async fn lock(db: &Db, record: &PhiRef, now: u64) -> Result<(), StorageError> {
    match db {
        Db::Sqlite(pool) => {
            sqlx::query(
                "INSERT INTO lockouts (patient_ref, locked_at_ms) VALUES (?, ?) \
                 ON CONFLICT (patient_ref) DO UPDATE SET locked_at_ms = excluded.locked_at_ms, lifted_at_ms = NULL, \
                 lifted_by = NULL",
            )
            .bind(record.as_str())
            .bind(now as i64)
            .execute(pool)
            .await?;
        }
        Db::Postgres(pool) => {
            sqlx::query(
                "INSERT INTO lockouts (patient_ref, locked_at_ms) VALUES ($1, $2) \
                 ON CONFLICT (patient_ref) DO UPDATE SET locked_at_ms = excluded.locked_at_ms, lifted_at_ms = NULL, \
                 lifted_by = NULL",
            )
            .bind(record.as_str())
            .bind(now as i64)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}
