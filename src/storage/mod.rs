//! Durable state: the database (calls, next steps, the audit table) and the encrypted blob store.
//!
//! - [`db`]: SQLite or PostgreSQL pools, migrations, role checks.
//! - [`calls`]: one row per call, the index compliance review browses.
//! - [`next_steps`]: the step Twilio fetches after a stream, shared by replicas.
//! - [`blob`]: the blob-store interface and its encrypted local implementation.
//! - [`s3`]: the production blob store, S3 with SSE-KMS (finished recordings, manifests, checkpoints).
//! - [`sql`]: one query text for both backends.

pub mod blob;
pub mod callbacks;
pub mod calls;
pub mod crypto;
pub mod db;
pub mod next_steps;
pub mod s3;
pub mod sql;

pub use db::{Backend, Db, StorageError};

use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;

/// Open the database for `serve`: apply migrations (as the schema owner when
/// `database.migration_url` is set), then check that the runtime role cannot rewrite audit history.
///
/// # Errors
/// An unreachable database, failing migrations, or a runtime role with audit UPDATE/DELETE/TRUNCATE.
pub async fn open_database(settings: &Settings) -> Result<Db, StorageError> {
    let url = settings.database_url();
    let max = settings.database.max_connections;
    let timeout = Duration::from_secs(settings.database.acquire_timeout_secs);
    if let Some(owner_url) = &settings.database.migration_url {
        let owner = Db::connect(secrecy::ExposeSecret::expose_secret(owner_url), 2, timeout).await?;
        owner.migrate().await?;
        if let Some(role) = &settings.database.runtime_role {
            owner.grant_runtime(role).await?;
        }
        owner.close().await;
    }
    let db = Db::connect(&url, max, timeout).await?;
    match (db.backend(), &settings.database.migration_url) {
        // The single-node default migrates itself.
        (Backend::Sqlite, None) => db.migrate().await?,
        // A PostgreSQL runtime role cannot (and must not) change the schema: `voicegate migrate`
        // or `database.migration_url` does that. Fail clearly if it has not been done.
        (Backend::Postgres, None) => db.check_schema().await?,
        (_, Some(_)) => {}
    }
    db.check_audit_privileges().await?;
    Ok(db)
}

/// The store `recordings.kind` picks: finished recordings, manifests, audit checkpoints.
///
/// # Errors
/// A missing or malformed key, a bucket that is not reachable or not set up (checked at start,
/// not when the first call ends), or a folder that cannot be created.
pub async fn open_blobs(settings: &Settings) -> Result<blob::Blobs, blob::BlobError> {
    match &settings.recordings {
        crate::config::RecordingsSettings::Local => open_local_blobs(settings),
        crate::config::RecordingsSettings::S3(s3) => {
            let store = s3::S3Store::connect(s3)?;
            store.check().await?;
            Ok(blob::Blobs::S3Kms(Arc::new(store)))
        }
    }
}

/// Always the encrypted local folder: recording spools live here whatever `recordings.kind` says
/// (only a local spool survives a crash).
///
/// # Errors
/// A missing or malformed master key, or a folder that cannot be created.
pub fn open_local_blobs(settings: &Settings) -> Result<blob::Blobs, blob::BlobError> {
    let key = settings
        .secrets
        .blob_master_key
        .as_ref()
        .ok_or_else(|| blob::BlobError::InvalidKey("secrets.blob_master_key is not set".into()))?;
    let master = blob::MasterKey::from_hex(key.id.clone(), std::str::from_utf8(key.bytes()).unwrap_or(""))?;
    let local = blob::LocalEncrypted::open(settings.server.data_dir.join("blobs"), blob::Keyring::new(master))?;
    Ok(blob::Blobs::Local(Arc::new(local)))
}
