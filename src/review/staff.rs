//! Staff accounts: argon2id password hashes, add / disable / list, and sign-in with throttling.
//!
//! Sign-in failures are counted per username and per client address in the database (replicas
//! share them); after `max_failures` within the window the key is locked for `lockout_ms`. An
//! unknown user, a wrong password and a disabled account get the same answer, and an unknown user
//! still costs one hash verification, so neither the message nor the timing tells which.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};

use super::{ReviewError, Role, StaffMember, ms, random_id};
use crate::storage::Db;
use crate::storage::sql::Arg;

/// Shortest password accepted (NIST SP 800-63B asks for at least 8; staff see PHI, so 12).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// How sign-in failures are throttled.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window_ms: u64,
    pub lockout_ms: u64,
}

#[derive(sqlx::FromRow)]
struct StaffRow {
    staff_id: String,
    username: String,
    password_hash: String,
    role: String,
    disabled: i64,
}

impl StaffRow {
    fn member(&self) -> Option<StaffMember> {
        Some(StaffMember {
            staff_id: self.staff_id.clone(),
            username: self.username.clone(),
            role: Role::parse(&self.role)?,
            disabled: self.disabled != 0,
        })
    }
}

/// Hash a password (argon2id, the crate's default parameters, a random salt).
///
/// # Errors
/// [`ReviewError::Hash`] if the hasher fails (it does not for valid input).
pub fn hash_password(password: &str) -> Result<String, ReviewError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| ReviewError::Hash)
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Usernames are short identifiers, compared as stored (lower case).
fn check_username(username: &str) -> Result<String, ReviewError> {
    let u = username.trim().to_ascii_lowercase();
    let ok = (3..=64).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(u)
    } else {
        Err(ReviewError::BadRequest(
            "usernames are 3-64 characters: letters, digits, '.', '_', '-', '@'",
        ))
    }
}

/// Create an account.
///
/// # Errors
/// A bad username or short password (`BadRequest`), a taken username (`Conflict`), storage.
pub async fn add(db: &Db, username: &str, password: &str, role: Role, now_ms: u64) -> Result<StaffMember, ReviewError> {
    let username = check_username(username)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ReviewError::BadRequest("passwords need at least 12 characters"));
    }
    let hash = hash_password(password)?;
    let staff_id = random_id("stf");
    let inserted = db
        .exec(
            "INSERT INTO staff (staff_id, username, password_hash, role, disabled, created_at_ms) \
             VALUES (?, ?, ?, ?, 0, ?)",
            &[
                Arg::Text(&staff_id),
                Arg::Text(&username),
                Arg::Text(&hash),
                Arg::Text(role.as_str()),
                Arg::I64(ms(now_ms)),
            ],
        )
        .await;
    match inserted {
        Ok(_) => Ok(StaffMember {
            staff_id,
            username,
            role,
            disabled: false,
        }),
        Err(e) if e.is_conflict() => Err(ReviewError::Conflict("that username is taken")),
        Err(e) => Err(e.into()),
    }
}

/// Disable an account and end its sessions. Returns the account.
///
/// # Errors
/// `NotFound` for an unknown username; storage.
pub async fn disable(db: &Db, username: &str, now_ms: u64) -> Result<StaffMember, ReviewError> {
    let username = check_username(username)?;
    let member = find(db, &username).await?.ok_or(ReviewError::NotFound)?;
    db.exec(
        "UPDATE staff SET disabled = 1 WHERE staff_id = ?",
        &[Arg::Text(&member.staff_id)],
    )
    .await?;
    db.exec(
        "UPDATE staff_sessions SET ended_at_ms = ? WHERE staff_id = ? AND ended_at_ms IS NULL",
        &[Arg::I64(ms(now_ms)), Arg::Text(&member.staff_id)],
    )
    .await?;
    Ok(StaffMember {
        disabled: true,
        ..member
    })
}

/// Every account, by username.
///
/// # Errors
/// Storage.
pub async fn list(db: &Db) -> Result<Vec<StaffMember>, ReviewError> {
    let rows: Vec<StaffRow> = db
        .all(
            "SELECT staff_id, username, password_hash, role, disabled FROM staff ORDER BY username",
            &[],
        )
        .await?;
    Ok(rows.iter().filter_map(StaffRow::member).collect())
}

async fn find_row(db: &Db, username: &str) -> Result<Option<StaffRow>, ReviewError> {
    let mut rows: Vec<StaffRow> = db
        .all(
            "SELECT staff_id, username, password_hash, role, disabled FROM staff WHERE username = ?",
            &[Arg::Text(username)],
        )
        .await?;
    Ok(rows.pop())
}

/// The account with this username.
///
/// # Errors
/// Storage.
pub async fn find(db: &Db, username: &str) -> Result<Option<StaffMember>, ReviewError> {
    Ok(find_row(db, username).await?.as_ref().and_then(StaffRow::member))
}

/// The account with this id.
///
/// # Errors
/// Storage.
pub async fn by_id(db: &Db, staff_id: &str) -> Result<Option<StaffMember>, ReviewError> {
    let mut rows: Vec<StaffRow> = db
        .all(
            "SELECT staff_id, username, password_hash, role, disabled FROM staff WHERE staff_id = ?",
            &[Arg::Text(staff_id)],
        )
        .await?;
    Ok(rows.pop().as_ref().and_then(StaffRow::member))
}

#[derive(sqlx::FromRow)]
struct ThrottleRow {
    failures: i64,
    window_start_ms: i64,
    locked_until_ms: Option<i64>,
}

async fn locked(db: &Db, key: &str, now_ms: u64) -> Result<bool, ReviewError> {
    let rows: Vec<ThrottleRow> = db
        .all(
            "SELECT failures, window_start_ms, locked_until_ms FROM login_throttle WHERE throttle_key = ?",
            &[Arg::Text(key)],
        )
        .await?;
    Ok(rows
        .first()
        .and_then(|r| r.locked_until_ms)
        .is_some_and(|until| until > ms(now_ms)))
}

async fn record_failure(db: &Db, key: &str, now_ms: u64, policy: ThrottlePolicy) -> Result<(), ReviewError> {
    let mut tx = db.begin_write().await?;
    let rows: Vec<ThrottleRow> = tx
        .all(
            "SELECT failures, window_start_ms, locked_until_ms FROM login_throttle WHERE throttle_key = ?",
            &[Arg::Text(key)],
        )
        .await?;
    let now = ms(now_ms);
    let (failures, window_start) = match rows.first() {
        Some(r) if now - r.window_start_ms < ms(policy.window_ms) => (r.failures + 1, r.window_start_ms),
        _ => (1, now),
    };
    let locked_until = (failures >= i64::from(policy.max_failures)).then(|| now + ms(policy.lockout_ms));
    let args = [
        Arg::Text(key),
        Arg::I64(failures),
        Arg::I64(window_start),
        Arg::OptI64(locked_until),
    ];
    if rows.is_empty() {
        tx.exec(
            "INSERT INTO login_throttle (throttle_key, failures, window_start_ms, locked_until_ms) VALUES (?, ?, ?, ?)",
            &args,
        )
        .await?;
    } else {
        tx.exec(
            "UPDATE login_throttle SET failures = ?, window_start_ms = ?, locked_until_ms = ? WHERE throttle_key = ?",
            &[args[1], args[2], args[3], args[0]],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Check a sign-in. `addr` is the client address (throttled separately from the username).
///
/// # Errors
/// `Throttled` while either key is locked; `BadCredentials` for an unknown user, a wrong
/// password or a disabled account (indistinguishable by design); storage.
pub async fn authenticate(
    db: &Db,
    username: &str,
    password: &str,
    addr: &str,
    now_ms: u64,
    policy: ThrottlePolicy,
) -> Result<StaffMember, ReviewError> {
    let username = username.trim().to_ascii_lowercase();
    let user_key = format!("user:{username}");
    let addr_key = format!("addr:{addr}");
    if locked(db, &user_key, now_ms).await? || locked(db, &addr_key, now_ms).await? {
        return Err(ReviewError::Throttled);
    }
    let row = find_row(db, &username).await?;
    // An unknown user still pays for one verification against a fixed hash.
    let hash = row.as_ref().map_or(DUMMY_HASH, |r| r.password_hash.as_str());
    let password_ok = verify_password(password, hash);
    match row.as_ref().and_then(StaffRow::member) {
        Some(member) if password_ok && !member.disabled => {
            db.exec(
                "DELETE FROM login_throttle WHERE throttle_key = ?",
                &[Arg::Text(&user_key)],
            )
            .await?;
            Ok(member)
        }
        _ => {
            record_failure(db, &user_key, now_ms, policy).await?;
            record_failure(db, &addr_key, now_ms, policy).await?;
            Err(ReviewError::BadCredentials)
        }
    }
}

/// An argon2id hash of a random string nobody knows (for timing equality on unknown users).
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$H3m0QF3uB8FzZ0mbw3o8kM4mS8b1lX0m2rZb0GJ1r5E";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password_and_are_salted() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &a));
        assert!(!verify_password("correct horse battery!", &a));
        assert!(!verify_password("anything", DUMMY_HASH));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn usernames_are_folded_and_checked() {
        assert_eq!(check_username(" Alice.Reviewer ").unwrap(), "alice.reviewer");
        assert!(check_username("ab").is_err());
        assert!(check_username("alice reviewer").is_err());
        assert!(check_username("alice/../x").is_err());
    }
}
