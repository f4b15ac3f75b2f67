//! Compliance review: staff accounts and sessions, the call index and detail staff read, playback
//! grants, the staff work queue, legal holds and retention.
//!
//! HIPAA's access controls, applied: a unique id per staff member, roles for minimum necessary
//! ([`roles`]: compliance and clinic staff see different things), automatic log-off (idle and
//! absolute session timeouts), and an audit record for every sign-in, sign-out, view, playback and
//! change — written *before* anything is disclosed. Everything here lives in the database so any
//! replica can serve any request; the HTTP layer is `crate::http::review`.

pub mod bootstrap;
pub mod calls;
pub mod grants;
pub mod queue;
pub mod retention;
pub mod roles;
pub mod sessions;
pub mod staff;

use serde::Serialize;

pub use roles::{Permission, Role};

use crate::storage::StorageError;

/// A staff account (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffMember {
    pub staff_id: String,
    pub username: String,
    pub role: Role,
    #[serde(skip)]
    pub disabled: bool,
}

/// Why a review operation failed. Messages are short, PHI-free and safe to return to staff.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("not found")]
    NotFound,
    #[error("invalid credentials")]
    BadCredentials,
    #[error("too many failed sign-ins; try again later")]
    Throttled,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("storage unavailable")]
    Storage(#[from] StorageError),
    #[error("the audit log could not record this access")]
    Audit(#[from] crate::audit::AuditError),
    #[error("recording store unavailable")]
    Blob(#[from] crate::storage::blob::BlobError),
    #[error("password hashing failed")]
    Hash,
    #[error("no randomness available")]
    Entropy,
}

/// A stated reason for an access (stored in the audit record; may contain anything staff type,
/// so it is never logged).
pub fn check_reason(reason: &str) -> Result<&str, ReviewError> {
    let reason = reason.trim();
    if reason.chars().count() < 3 {
        return Err(ReviewError::BadRequest("a reason is required"));
    }
    if reason.chars().count() > 500 {
        return Err(ReviewError::BadRequest(
            "the reason is too long (500 characters at most)",
        ));
    }
    Ok(reason)
}

/// A random id with a prefix (`stf_…`, `ses_…`), 96 bits.
pub(crate) fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    // Only fails without any OS entropy source, where nothing else here would work either.
    let _ = getrandom::fill(&mut b);
    format!("{prefix}_{}", crate::config::hex(&b))
}

/// Milliseconds as the signed integers the schema stores.
pub(crate) fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
