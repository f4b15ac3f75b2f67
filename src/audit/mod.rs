//! The HIPAA audit log: append-only, hash-chained, checkpointed outside the database.
//!
//! One API for the whole server: [`AuditLog::append`] takes an [`AuditEvent`] (who, what, which
//! call, which patient as a keyed reference, why, outcome, PHI-free details) and returns an
//! [`AuditReceipt`] once the record is durably in the chain. Callers that disclose patient data
//! await it first: no record, no disclosure.
//!
//! - [`canonical`]: RFC 8785 JSON canonicalisation (the hashed bytes, stored verbatim).
//! - [`chain`]: hashing, checkpoints and the streaming verifier (pure).
//! - [`log`]: appends serialised in the database, checkpoints, the durable spool for records
//!   that could not be written (database down at hang-up), appended later and flagged late.
//! - [`verify`]: `voicegate audit verify` and `audit export`.

pub mod canonical;
pub mod chain;
pub mod log;
pub mod spool;
pub mod verify;

use serde::{Deserialize, Serialize};

use crate::telemetry::PhiRef;

pub use log::{AuditDisposition, AuditError, AuditLog};

/// Who acted. HIPAA wants a unique identity behind every access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// The voice agent, acting within one call.
    Agent { call_id: String },
    /// A staff member in a review session.
    Staff { user_id: String, session_id: String },
    /// Someone at the command line.
    Cli { os_user: String, staff_id: Option<String> },
    /// A background job.
    System { job: String },
}

/// How the action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Success,
    Failure,
    /// Written before a change is attempted; a `Success`/`Failure` record follows.
    Attempted,
    Denied,
}

/// One auditable event. `details` must be PHI-free (ids, counts, flags, hashes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub actor: Actor,
    /// Dotted verb, e.g. `call.started`, `patient.verify`, `recording.stored`.
    pub action: String,
    pub call_id: Option<String>,
    pub patient: Option<PhiRef>,
    pub reason: Option<String>,
    pub outcome: AuditOutcome,
    #[serde(default)]
    pub details: serde_json::Value,
    /// When it happened (ms since the epoch); set by the caller, kept if the record is spooled.
    pub at_ms: u64,
}

/// Where a record landed in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditReceipt {
    pub index: u64,
    pub hash: [u8; 32],
}
