//! The first admin of a single node, so a newcomer can sign in to `/review` at once.
//!
//! Only on the embedded single-node shape (`secrets.generate_missing` and a loopback address) and
//! only while no staff account exists: an `admin` account is created with a random password that
//! is written to `data_dir/keys/initial-admin-password` (mode 0600, like the generated keys) and
//! never logged. A deployment that configures its own keys never gets one: its operators create
//! accounts with `voicegate staff add`.

use std::io::Write as _;
use std::path::PathBuf;

use crate::config::Settings;
use crate::review::{ReviewError, Role, staff};
use crate::storage::Db;

/// The username of the seeded account.
pub const USERNAME: &str = "admin";

/// Where the password is written.
pub fn password_path(settings: &Settings) -> PathBuf {
    settings.server.data_dir.join("keys").join("initial-admin-password")
}

/// Why the first admin could not be created (the server still starts; staff can be added by CLI).
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error("the initial admin password file could not be written")]
    File(#[source] std::io::Error),
}

/// Create the first admin if this is a fresh single node. Returns the password file's path when
/// an account was created.
///
/// # Errors
/// Storage failures, or the password file cannot be written (then no account is created).
pub async fn first_admin(settings: &Settings, db: &Db, now_ms: u64) -> Result<Option<PathBuf>, BootstrapError> {
    if !settings.secrets.generate_missing || !settings.server.host.is_loopback() {
        return Ok(None);
    }
    if !staff::list(db).await?.is_empty() {
        return Ok(None);
    }
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| BootstrapError::File(std::io::Error::other(e.to_string())))?;
    let password = crate::config::hex(&bytes);
    let path = password_path(settings);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(BootstrapError::File)?;
    }
    // The file first: an account whose password nobody can read would lock the newcomer out.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(BootstrapError::File)?;
    file.write_all(format!("{password}\n").as_bytes())
        .map_err(BootstrapError::File)?;
    staff::add(db, USERNAME, &password, Role::Admin, now_ms).await?;
    Ok(Some(path))
}
