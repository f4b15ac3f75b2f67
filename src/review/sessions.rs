//! Review sessions: a random cookie value (only its SHA-256 is stored), a CSRF token per session,
//! an idle timeout and an absolute timeout (automatic log-off), ended on sign-out or when the
//! account is disabled.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use sha2::{Digest, Sha256};

use super::{ReviewError, StaffMember, ms, random_id, staff};
use crate::storage::Db;
use crate::storage::sql::Arg;

/// Session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle_ms: u64,
    pub absolute_ms: u64,
}

/// A live session as a request sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub session_id: String,
    pub csrf: String,
    pub staff: StaffMember,
}

/// Why a cookie does not open a session (all answered with 401; the kind is logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefused {
    Unknown,
    Ended,
    Idle,
    Expired,
    Disabled,
}

impl SessionRefused {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionRefused::Unknown => "unknown",
            SessionRefused::Ended => "ended",
            SessionRefused::Idle => "idle timeout",
            SessionRefused::Expired => "absolute timeout",
            SessionRefused::Disabled => "account disabled",
        }
    }
}

fn secret() -> Result<String, ReviewError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|_| ReviewError::Entropy)?;
    Ok(B64URL.encode(b))
}

fn digest(cookie: &str) -> String {
    crate::config::hex(&Sha256::digest(cookie.as_bytes()))
}

/// Open a session for `staff`; returns the cookie value (to set once, never stored) and the session.
///
/// # Errors
/// Storage.
pub async fn create(db: &Db, staff: StaffMember, now_ms: u64) -> Result<(String, Session), ReviewError> {
    let cookie = secret()?;
    let session_id = random_id("ses");
    let csrf = secret()?;
    db.exec(
        "INSERT INTO staff_sessions (session_hash, session_id, staff_id, csrf_token, created_at_ms, last_seen_ms) \
         VALUES (?, ?, ?, ?, ?, ?)",
        &[
            Arg::Text(&digest(&cookie)),
            Arg::Text(&session_id),
            Arg::Text(&staff.staff_id),
            Arg::Text(&csrf),
            Arg::I64(ms(now_ms)),
            Arg::I64(ms(now_ms)),
        ],
    )
    .await?;
    Ok((
        cookie,
        Session {
            session_id,
            csrf,
            staff,
        },
    ))
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: String,
    staff_id: String,
    csrf_token: String,
    created_at_ms: i64,
    last_seen_ms: i64,
    ended_at_ms: Option<i64>,
}

/// The session behind `cookie`, refreshed (its idle clock restarts), or why there is none.
///
/// # Errors
/// Storage; `Ok(Err(_))` is a refused session.
pub async fn check(
    db: &Db,
    cookie: &str,
    now_ms: u64,
    policy: SessionPolicy,
) -> Result<Result<Session, SessionRefused>, ReviewError> {
    let rows: Vec<SessionRow> = db
        .all(
            "SELECT session_id, staff_id, csrf_token, created_at_ms, last_seen_ms, ended_at_ms \
             FROM staff_sessions WHERE session_hash = ?",
            &[Arg::Text(&digest(cookie))],
        )
        .await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(Err(SessionRefused::Unknown));
    };
    let now = ms(now_ms);
    let refused = if row.ended_at_ms.is_some() {
        Some(SessionRefused::Ended)
    } else if now - row.created_at_ms > ms(policy.absolute_ms) {
        Some(SessionRefused::Expired)
    } else if now - row.last_seen_ms > ms(policy.idle_ms) {
        Some(SessionRefused::Idle)
    } else {
        None
    };
    let staff = staff::by_id(db, &row.staff_id).await?;
    let refused = refused.or(match &staff {
        Some(s) if !s.disabled => None,
        _ => Some(SessionRefused::Disabled),
    });
    if let Some(why) = refused {
        if row.ended_at_ms.is_none() {
            end(db, &row.session_id, now_ms).await?;
        }
        return Ok(Err(why));
    }
    db.exec(
        "UPDATE staff_sessions SET last_seen_ms = ? WHERE session_id = ?",
        &[Arg::I64(now), Arg::Text(&row.session_id)],
    )
    .await?;
    Ok(staff
        .map(|staff| Session {
            session_id: row.session_id,
            csrf: row.csrf_token,
            staff,
        })
        .ok_or(SessionRefused::Disabled))
}

/// End a session (sign-out, timeout).
///
/// # Errors
/// Storage.
pub async fn end(db: &Db, session_id: &str, now_ms: u64) -> Result<(), ReviewError> {
    db.exec(
        "UPDATE staff_sessions SET ended_at_ms = ? WHERE session_id = ? AND ended_at_ms IS NULL",
        &[Arg::I64(ms(now_ms)), Arg::Text(session_id)],
    )
    .await?;
    Ok(())
}
