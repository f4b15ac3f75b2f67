//! The calls table: one row per call, written at start and completed at the end.

use crate::storage::{Db, StorageError};

/// What is known when a call starts.
#[derive(Debug, Clone)]
pub struct CallStart<'a> {
    pub call_id: &'a str,
    pub call_sid: Option<&'a str>,
    /// `twilio` or `browser`.
    pub transport: &'a str,
    pub started_at_ms: u64,
}

/// What is known when it ends. No PHI: the patient is a keyed reference.
#[derive(Debug, Clone)]
pub struct CallEnd<'a> {
    pub call_id: &'a str,
    pub ended_at_ms: u64,
    pub outcome: &'a str,
    pub disclosure_played: bool,
    pub verified_patient_ref: Option<&'a str>,
    pub recording_location: Option<&'a str>,
    pub caller_frames: u64,
    pub barge_ins: u64,
    pub tool_calls: u64,
    /// A red-flag script was played.
    pub emergency: bool,
}

/// A call row as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CallRow {
    pub call_id: String,
    pub call_sid: Option<String>,
    pub transport: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub outcome: Option<String>,
    pub disclosure_played: bool,
    pub verified_patient_ref: Option<String>,
    pub recording_location: Option<String>,
    pub caller_frames: i64,
    pub barge_ins: i64,
    pub tool_calls: i64,
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Insert the row of a starting call.
///
/// # Errors
/// The database is unavailable or the id already exists.
pub async fn insert_started(db: &Db, c: &CallStart<'_>) -> Result<(), StorageError> {
    match db {
        Db::Sqlite(pool) => {
            sqlx::query("INSERT INTO calls (call_id, call_sid, transport, started_at_ms) VALUES (?, ?, ?, ?)")
                .bind(c.call_id)
                .bind(c.call_sid)
                .bind(c.transport)
                .bind(i(c.started_at_ms))
                .execute(pool)
                .await?;
        }
        Db::Postgres(pool) => {
            sqlx::query("INSERT INTO calls (call_id, call_sid, transport, started_at_ms) VALUES ($1, $2, $3, $4)")
                .bind(c.call_id)
                .bind(c.call_sid)
                .bind(c.transport)
                .bind(i(c.started_at_ms))
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// Complete the row of an ended call (inserting it if the start was never written).
///
/// # Errors
/// The database is unavailable.
pub async fn finish(db: &Db, start: &CallStart<'_>, e: &CallEnd<'_>) -> Result<(), StorageError> {
    const SQLITE: &str = "INSERT INTO calls (call_id, call_sid, transport, started_at_ms, ended_at_ms, outcome, \
        disclosure_played, verified_patient_ref, recording_location, caller_frames, barge_ins, tool_calls, emergency) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
        ON CONFLICT (call_id) DO UPDATE SET ended_at_ms = excluded.ended_at_ms, outcome = excluded.outcome, \
        disclosure_played = excluded.disclosure_played, verified_patient_ref = excluded.verified_patient_ref, \
        recording_location = excluded.recording_location, caller_frames = excluded.caller_frames, \
        barge_ins = excluded.barge_ins, tool_calls = excluded.tool_calls, emergency = excluded.emergency";
    const POSTGRES: &str = "INSERT INTO calls (call_id, call_sid, transport, started_at_ms, ended_at_ms, outcome, \
        disclosure_played, verified_patient_ref, recording_location, caller_frames, barge_ins, tool_calls, emergency) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
        ON CONFLICT (call_id) DO UPDATE SET ended_at_ms = excluded.ended_at_ms, outcome = excluded.outcome, \
        disclosure_played = excluded.disclosure_played, verified_patient_ref = excluded.verified_patient_ref, \
        recording_location = excluded.recording_location, caller_frames = excluded.caller_frames, \
        barge_ins = excluded.barge_ins, tool_calls = excluded.tool_calls, emergency = excluded.emergency";
    macro_rules! bind_all {
        ($q:expr) => {
            $q.bind(start.call_id)
                .bind(start.call_sid)
                .bind(start.transport)
                .bind(i(start.started_at_ms))
                .bind(i(e.ended_at_ms))
                .bind(e.outcome)
                .bind(e.disclosure_played)
                .bind(e.verified_patient_ref)
                .bind(e.recording_location)
                .bind(i(e.caller_frames))
                .bind(i(e.barge_ins))
                .bind(i(e.tool_calls))
                .bind(i64::from(e.emergency))
        };
    }
    match db {
        Db::Sqlite(pool) => {
            bind_all!(sqlx::query(SQLITE)).execute(pool).await?;
        }
        Db::Postgres(pool) => {
            bind_all!(sqlx::query(POSTGRES)).execute(pool).await?;
        }
    }
    Ok(())
}

/// One call's row.
///
/// # Errors
/// The database is unavailable.
pub async fn get(db: &Db, call_id: &str) -> Result<Option<CallRow>, StorageError> {
    Ok(match db {
        Db::Sqlite(pool) => {
            sqlx::query_as("SELECT * FROM calls WHERE call_id = ?")
                .bind(call_id)
                .fetch_optional(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as("SELECT * FROM calls WHERE call_id = $1")
                .bind(call_id)
                .fetch_optional(pool)
                .await?
        }
    })
}

/// Calls with this Twilio CallSid (normally one).
///
/// # Errors
/// The database is unavailable.
pub async fn find_by_call_sid(db: &Db, call_sid: &str) -> Result<Vec<CallRow>, StorageError> {
    Ok(match db {
        Db::Sqlite(pool) => {
            sqlx::query_as("SELECT * FROM calls WHERE call_sid = ?")
                .bind(call_sid)
                .fetch_all(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as("SELECT * FROM calls WHERE call_sid = $1")
                .bind(call_sid)
                .fetch_all(pool)
                .await?
        }
    })
}

/// Name the recording of a call stored after the call ended (outbox upload, crash recovery).
///
/// # Errors
/// The database is unavailable.
pub async fn set_recording_location(db: &Db, call_id: &str, location: &str) -> Result<(), StorageError> {
    match db {
        Db::Sqlite(pool) => {
            sqlx::query("UPDATE calls SET recording_location = ? WHERE call_id = ?")
                .bind(location)
                .bind(call_id)
                .execute(pool)
                .await?;
        }
        Db::Postgres(pool) => {
            sqlx::query("UPDATE calls SET recording_location = $1 WHERE call_id = $2")
                .bind(location)
                .bind(call_id)
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// What one tool call of a call ended with, for the clinic report. Labels only.
#[derive(Debug, Clone, Copy)]
pub struct ToolOutcome<'a> {
    pub tool: &'a str,
    pub outcome: &'a str,
    pub at_ms: u64,
}

/// Store the tool outcomes of an ended call (one transaction; a rerun after a crash adds nothing
/// twice, the primary key is the call and the call's own order).
///
/// # Errors
/// The database is unavailable.
pub async fn record_tool_outcomes(db: &Db, call_id: &str, outcomes: &[ToolOutcome<'_>]) -> Result<(), StorageError> {
    use crate::storage::sql::Arg;
    if outcomes.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    for (seq, o) in outcomes.iter().enumerate() {
        tx.exec(
            "INSERT INTO call_tool_outcomes (call_id, seq, tool, outcome, at_ms) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (call_id, seq) DO NOTHING",
            &[
                Arg::Text(call_id),
                Arg::I64(i(seq as u64)),
                Arg::Text(o.tool),
                Arg::Text(o.outcome),
                Arg::I64(i(o.at_ms)),
            ],
        )
        .await?;
    }
    tx.commit().await
}

/// Close the row of a call a crash interrupted, only if it is still open: a row another path
/// already completed keeps its values, and a rerun changes nothing. Returns whether it closed it.
///
/// # Errors
/// The database is unavailable.
pub async fn close_if_open(db: &Db, call_id: &str, ended_at_ms: u64, outcome: &str) -> Result<bool, StorageError> {
    use crate::storage::sql::Arg;
    let closed = db
        .exec(
            "UPDATE calls SET ended_at_ms = ?, outcome = ? WHERE call_id = ? AND ended_at_ms IS NULL",
            &[Arg::I64(i(ended_at_ms)), Arg::Text(outcome), Arg::Text(call_id)],
        )
        .await?;
    Ok(closed > 0)
}

/// A call's end that could not be written (database down), kept in the replica's local encrypted
/// folder until it can be: without it the row would stay open forever and the clinic's report
/// would count the call as in progress. Retried at start-up and on the outbox timer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ParkedRow {
    pub call_id: String,
    pub call_sid: Option<String>,
    pub transport: String,
    pub started_at_ms: u64,
    pub ended_at_ms: u64,
    pub outcome: String,
    pub disclosure_played: bool,
    pub verified_patient_ref: Option<String>,
    pub recording_location: Option<String>,
    pub caller_frames: u64,
    pub barge_ins: u64,
    pub tool_calls: u64,
    pub emergency: bool,
    /// (tool, outcome, at_ms) of each tool call, for the report.
    pub tools: Vec<(String, String, u64)>,
}

/// Where parked rows live in the local folder.
pub const PARKED_PREFIX: &str = "call-rows/";

impl ParkedRow {
    pub fn key(&self) -> String {
        format!("{PARKED_PREFIX}{}.json", self.call_id)
    }

    /// Write the tool outcomes and complete the row.
    ///
    /// # Errors
    /// The database is still unavailable.
    pub async fn apply(&self, db: &Db) -> Result<(), StorageError> {
        let tools: Vec<ToolOutcome<'_>> = self
            .tools
            .iter()
            .map(|(tool, outcome, at_ms)| ToolOutcome {
                tool,
                outcome,
                at_ms: *at_ms,
            })
            .collect();
        record_tool_outcomes(db, &self.call_id, &tools).await?;
        let start = CallStart {
            call_id: &self.call_id,
            call_sid: self.call_sid.as_deref(),
            transport: &self.transport,
            started_at_ms: self.started_at_ms,
        };
        let end = CallEnd {
            call_id: &self.call_id,
            ended_at_ms: self.ended_at_ms,
            outcome: &self.outcome,
            disclosure_played: self.disclosure_played,
            verified_patient_ref: self.verified_patient_ref.as_deref(),
            recording_location: self.recording_location.as_deref(),
            caller_frames: self.caller_frames,
            barge_ins: self.barge_ins,
            tool_calls: self.tool_calls,
            emergency: self.emergency,
        };
        finish(db, &start, &end).await
    }
}

/// Write every parked row the database now accepts (removing each once written). Returns how
/// many were written.
///
/// # Errors
/// The local folder cannot be listed.
pub async fn retry_parked(
    db: &Db,
    local: &crate::storage::blob::Blobs,
) -> Result<usize, crate::storage::blob::BlobError> {
    let mut written = 0;
    for key in local.list(PARKED_PREFIX).await? {
        let row: ParkedRow = match local.get(&key).await.map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(row)) => row,
            Ok(Err(_)) => {
                tracing::error!(key = %key, "parked call row is unreadable; left in place");
                continue;
            }
            Err(e) => {
                tracing::warn!(key = %key, error.message = %e, "parked call row could not be read");
                continue;
            }
        };
        match row.apply(db).await {
            Ok(()) => {
                if let Err(e) = local.delete(&key).await {
                    tracing::warn!(key = %key, error.message = %e, "written parked call row could not be removed");
                }
                tracing::info!(call_id = %row.call_id, "parked call row written");
                written += 1;
            }
            Err(e) => {
                tracing::debug!(call_id = %row.call_id, error.message = %e, "parked call row still waiting for the database")
            }
        }
    }
    Ok(written)
}
