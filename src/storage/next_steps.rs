//! The step Twilio fetches after a stream closes, in the database so any replica can answer the
//! `<Redirect>` (the stream and the redirect may reach different replicas).

use crate::storage::{Db, StorageError};

/// Why a call is being ended with a goodbye.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Farewell {
    /// The caller stayed silent.
    Idle,
    /// The maximum call length was reached.
    MaxDuration,
    /// The server is shutting down.
    Shutdown,
    /// The conversation is over.
    Normal,
}

/// What Twilio does after the media stream closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Say goodbye and hang up.
    Goodbye(Farewell),
    /// The assistant could not continue: apologise, then the staff line or a hang-up.
    Unavailable,
    /// Connect the caller to the staff number.
    TransferToStaff,
    /// Hang up: the server already said goodbye (the keypad fallback).
    Hangup,
}

impl NextStep {
    /// Stable text form for the database.
    pub fn encode(&self) -> &'static str {
        match self {
            NextStep::Goodbye(Farewell::Idle) => "goodbye:idle",
            NextStep::Goodbye(Farewell::MaxDuration) => "goodbye:max_duration",
            NextStep::Goodbye(Farewell::Shutdown) => "goodbye:shutdown",
            NextStep::Goodbye(Farewell::Normal) => "goodbye:normal",
            NextStep::Unavailable => "unavailable",
            NextStep::TransferToStaff => "transfer",
            NextStep::Hangup => "hangup",
        }
    }

    pub fn decode(s: &str) -> Option<NextStep> {
        Some(match s {
            "goodbye:idle" => NextStep::Goodbye(Farewell::Idle),
            "goodbye:max_duration" => NextStep::Goodbye(Farewell::MaxDuration),
            "goodbye:shutdown" => NextStep::Goodbye(Farewell::Shutdown),
            "goodbye:normal" => NextStep::Goodbye(Farewell::Normal),
            "unavailable" => NextStep::Unavailable,
            "transfer" => NextStep::TransferToStaff,
            "hangup" => NextStep::Hangup,
            _ => return None,
        })
    }
}

/// Steps older than this are never answered (Twilio redirects within seconds).
pub const NEXT_STEP_TTL_MS: u64 = 300_000;

/// Record the step for `call_sid` (replacing an earlier one), purging expired rows.
///
/// # Errors
/// The database is unavailable.
pub async fn set(db: &Db, call_sid: &str, step: &NextStep, now_ms: u64) -> Result<(), StorageError> {
    let encoded = step.encode();
    let cutoff = i64::try_from(now_ms.saturating_sub(NEXT_STEP_TTL_MS)).unwrap_or(0);
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    match db {
        Db::Sqlite(pool) => {
            sqlx::query("DELETE FROM next_steps WHERE created_at_ms < ?")
                .bind(cutoff)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO next_steps (call_sid, step, created_at_ms) VALUES (?, ?, ?) \
                 ON CONFLICT (call_sid) DO UPDATE SET step = excluded.step, created_at_ms = excluded.created_at_ms",
            )
            .bind(call_sid)
            .bind(encoded)
            .bind(now)
            .execute(pool)
            .await?;
        }
        Db::Postgres(pool) => {
            sqlx::query("DELETE FROM next_steps WHERE created_at_ms < $1")
                .bind(cutoff)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO next_steps (call_sid, step, created_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (call_sid) DO UPDATE SET step = excluded.step, created_at_ms = excluded.created_at_ms",
            )
            .bind(call_sid)
            .bind(encoded)
            .bind(now)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// Take (and delete) the step for `call_sid`, if one was recorded and has not expired.
///
/// # Errors
/// The database is unavailable.
pub async fn take(db: &Db, call_sid: &str, now_ms: u64) -> Result<Option<NextStep>, StorageError> {
    let row: Option<(String, i64)> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_as("DELETE FROM next_steps WHERE call_sid = ? RETURNING step, created_at_ms")
                .bind(call_sid)
                .fetch_optional(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as("DELETE FROM next_steps WHERE call_sid = $1 RETURNING step, created_at_ms")
                .bind(call_sid)
                .fetch_optional(pool)
                .await?
        }
    };
    Ok(row.and_then(|(step, created)| {
        let fresh = now_ms.saturating_sub(u64::try_from(created).unwrap_or(0)) <= NEXT_STEP_TTL_MS;
        if fresh { NextStep::decode(&step) } else { None }
    }))
}

/// Remember the caller ID of `call_sid` until its stream starts (purging stale rows).
///
/// # Errors
/// The database is unavailable.
pub async fn set_caller_id(db: &Db, call_sid: &str, e164: &str, now_ms: u64) -> Result<(), StorageError> {
    let cutoff = i64::try_from(now_ms.saturating_sub(NEXT_STEP_TTL_MS)).unwrap_or(0);
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    match db {
        Db::Sqlite(pool) => {
            sqlx::query("DELETE FROM call_origins WHERE created_at_ms < ?")
                .bind(cutoff)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO call_origins (call_sid, caller_e164, created_at_ms) VALUES (?, ?, ?) \
                 ON CONFLICT (call_sid) DO UPDATE SET caller_e164 = excluded.caller_e164",
            )
            .bind(call_sid)
            .bind(e164)
            .bind(now)
            .execute(pool)
            .await?;
        }
        Db::Postgres(pool) => {
            sqlx::query("DELETE FROM call_origins WHERE created_at_ms < $1")
                .bind(cutoff)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO call_origins (call_sid, caller_e164, created_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (call_sid) DO UPDATE SET caller_e164 = excluded.caller_e164",
            )
            .bind(call_sid)
            .bind(e164)
            .bind(now)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// Take (and delete) the caller ID remembered for `call_sid`.
///
/// # Errors
/// The database is unavailable.
pub async fn take_caller_id(db: &Db, call_sid: &str) -> Result<Option<String>, StorageError> {
    let row: Option<(String,)> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_as("DELETE FROM call_origins WHERE call_sid = ? RETURNING caller_e164")
                .bind(call_sid)
                .fetch_optional(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as("DELETE FROM call_origins WHERE call_sid = $1 RETURNING caller_e164")
                .bind(call_sid)
                .fetch_optional(pool)
                .await?
        }
    };
    Ok(row.map(|(e,)| e))
}
