//! `appointment_history`: every change to an appointment, append-only, written in the same
//! transaction as the change (so the history never disagrees with the schedule). PHI-free: ids,
//! states, who acted, the typed reason a staff member or caller gave.

use serde_json::Value;

use super::lifecycle::State;
use crate::storage::sql::{Arg, Tx};
use crate::storage::{Db, StorageError};

/// Who changed an appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The voice agent during a call.
    Call(String),
    /// A staff member (override or routine action).
    Staff(String),
    /// The patient, replying to a message.
    PatientSms,
    /// The EHR itself (seen by the feed).
    Ehr,
}

impl Actor {
    pub fn encode(&self) -> String {
        match self {
            Actor::Call(id) => format!("call:{id}"),
            Actor::Staff(id) => format!("staff:{id}"),
            Actor::PatientSms => "patient:sms".into(),
            Actor::Ehr => "ehr".into(),
        }
    }
}

/// One change to record.
pub struct Entry<'a> {
    pub appointment_id: &'a str,
    pub actor: Actor,
    /// The lifecycle event's name (`confirm`, `cancel`, `reschedule`, ...).
    pub event: &'a str,
    pub from: Option<State>,
    pub to: State,
    pub reason: Option<&'a str>,
    pub details: Value,
    pub at_ms: i64,
}

/// Append `entry` in `tx`.
///
/// # Errors
/// Storage failures (the caller's change rolls back with it).
pub async fn record(tx: &mut Tx, entry: &Entry<'_>) -> Result<(), StorageError> {
    let actor = entry.actor.encode();
    let details = entry.details.to_string();
    // Categorised once, here, whoever cancelled: the report counts codes, never the text.
    let reason_code = (entry.to == State::Cancelled)
        .then(|| super::cancel_reason::CancelReason::of(entry.reason.unwrap_or("")).code());
    tx.exec(
        "INSERT INTO appointment_history (appointment_id, at_ms, actor, event, from_state, to_state, reason, \
         details, reason_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            Arg::Text(entry.appointment_id),
            Arg::I64(entry.at_ms),
            Arg::Text(&actor),
            Arg::Text(entry.event),
            Arg::OptText(entry.from.map(State::name)),
            Arg::Text(entry.to.name()),
            Arg::OptText(entry.reason),
            Arg::Text(&details),
            Arg::OptText(reason_code),
        ],
    )
    .await?;
    Ok(())
}

/// One history row as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct HistoryRow {
    pub at_ms: i64,
    pub actor: String,
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: Option<String>,
    pub details: String,
}

/// An appointment's history in the order it was written (a sequence, not the clock: two changes
/// in one millisecond keep their order).
///
/// # Errors
/// Storage failures.
pub async fn of(db: &Db, appointment_id: &str) -> Result<Vec<HistoryRow>, StorageError> {
    db.all(
        "SELECT at_ms, actor, event, from_state, to_state, reason, details FROM appointment_history \
         WHERE appointment_id = ? ORDER BY seq",
        &[Arg::Text(appointment_id)],
    )
    .await
}
