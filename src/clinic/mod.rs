//! Clinic operations: the appointment lifecycle and its history (staff actions and reporting
//! build on these).

pub mod cancel_reason;
pub mod history;
pub mod lifecycle;
pub mod report;

use crate::storage::StorageError;
use crate::tools::ehr::EhrError;

/// Why a staff action on an appointment was refused.
#[derive(Debug, thiserror::Error)]
pub enum StaffActionError {
    /// No appointment with that id (not retryable).
    #[error("no such appointment")]
    NotFound,
    /// The lifecycle refuses it (not retryable; the message says why).
    #[error(transparent)]
    Refused(#[from] lifecycle::TransitionError),
    /// Not a lifecycle action (bookings and moves go through the schedule API, `builtin::desk`).
    #[error("this action is not available")]
    Unsupported,
    /// The database failed (retryable).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The EHR failed or refused (retryable when unavailable).
    #[error(transparent)]
    Ehr(#[from] EhrError),
}
