//! Appending to the chain, checkpoints, and the spool of records written late.
//!
//! Appends are serialised in the database, not in process memory, so several replicas build one
//! chain: on SQLite a `BEGIN IMMEDIATE` transaction (the database write lock), on PostgreSQL a
//! transaction-scoped advisory lock. Inside it: read the head, build the record with the next
//! index, canonicalise, hash, insert, commit.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::audit::canonical;
use crate::audit::chain::{self, Checkpoint, GENESIS};
use crate::audit::spool::{Spool, SpoolError};
use crate::audit::{AuditEvent, AuditReceipt};
use crate::clock::SharedClock;
use crate::config::KeyedSecret;
use crate::storage::blob::Blobs;
use crate::storage::{Db, StorageError};

/// Arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
const AUDIT_LOCK_ID: i64 = 0x0076_6f69_6365_6701;

/// Blob key prefix of the checkpoints.
pub const CHECKPOINT_PREFIX: &str = "audit/checkpoints/";

/// Record format version inside the hashed JSON.
const RECORD_VERSION: u64 = 1;

/// Audit failures. None of them carries record contents.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database could not take the record (retryable; see [`AuditLog::append_or_spool`]).
    #[error("audit record could not be stored")]
    Storage(#[from] StorageError),
    /// The record could not be canonicalised (a bug: details must be plain JSON).
    #[error("audit record is not canonicalisable: {0}")]
    Canonical(#[from] canonical::CanonicalError),
    /// The chain head in the database is malformed (integrity problem; run `audit verify`).
    #[error("audit chain head is malformed")]
    Head,
    /// A stored record's bytes are not JSON (integrity problem; run `audit verify`).
    #[error("stored audit record is malformed")]
    Record,
    /// Neither the database nor the local spool could take the record.
    #[error("audit record could be neither stored nor spooled")]
    Spool(#[from] SpoolError),
}

/// Why the audit log could not be opened (not retryable without fixing configuration or disk).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("secrets.audit_checkpoint_key is not set")]
    NoCheckpointKey,
    #[error("audit spool could not be opened")]
    Spool(#[from] SpoolError),
    #[error("blob store could not be opened")]
    Blobs(#[from] crate::storage::blob::BlobError),
}

/// Where a record that must never be lost ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditDisposition {
    /// In the chain.
    Appended(AuditReceipt),
    /// On local disk; it will be appended (flagged late) when the database is back.
    Spooled,
}

/// The server's audit log.
#[derive(Debug)]
pub struct AuditLog {
    db: Db,
    spool: Spool,
    blobs: Blobs,
    checkpoint_key: KeyedSecret,
    checkpoint_every: u64,
    clock: SharedClock,
}

impl AuditLog {
    pub fn new(
        db: Db,
        spool: Spool,
        blobs: Blobs,
        checkpoint_key: KeyedSecret,
        checkpoint_every: u64,
        clock: SharedClock,
    ) -> AuditLog {
        AuditLog {
            db,
            spool,
            blobs,
            checkpoint_key,
            checkpoint_every: checkpoint_every.max(1),
            clock,
        }
    }

    /// The audit log configured in `settings` over `db`: its spool under the data directory, its
    /// checkpoints in the configured blob store.
    ///
    /// # Errors
    /// A missing checkpoint key, or a spool or blob store that cannot be opened.
    pub async fn open(settings: &crate::config::Settings, db: Db, clock: SharedClock) -> Result<AuditLog, OpenError> {
        let spool = Spool::open(settings.server.data_dir.join("audit-spool"))?;
        let blobs = crate::storage::open_blobs(settings).await?;
        let key = settings
            .secrets
            .audit_checkpoint_key
            .clone()
            .ok_or(OpenError::NoCheckpointKey)?;
        Ok(AuditLog::new(
            db,
            spool,
            blobs,
            key,
            settings.audit.checkpoint_every,
            clock,
        ))
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Append `event` to the chain. Returns once the record is committed.
    ///
    /// # Errors
    /// The database is unavailable (nothing was written).
    pub async fn append(&self, event: &AuditEvent) -> Result<AuditReceipt, AuditError> {
        self.append_inner(event, false).await
    }

    /// Append, or if the database is unavailable, spool durably for a later append. For records
    /// that must never be lost but disclose nothing (call ended, recording stored).
    ///
    /// # Errors
    /// Only when the spool cannot be written either.
    pub async fn append_or_spool(&self, event: &AuditEvent) -> Result<AuditDisposition, AuditError> {
        match self.append(event).await {
            Ok(receipt) => Ok(AuditDisposition::Appended(receipt)),
            Err(AuditError::Storage(e)) => {
                tracing::warn!(action = %event.action, error.message = %e, "audit record spooled: database unavailable");
                self.spool.push(event).await?;
                Ok(AuditDisposition::Spooled)
            }
            Err(e) => Err(e),
        }
    }

    /// As [`append_or_spool`](Self::append_or_spool), flagged late: for a record of something that
    /// happened before records already in the chain (the end of a call a crash interrupted,
    /// written at the next start). A spooled record is appended late anyway.
    ///
    /// # Errors
    /// Only when the spool cannot be written either.
    pub async fn append_late_or_spool(&self, event: &AuditEvent) -> Result<AuditDisposition, AuditError> {
        match self.append_inner(event, true).await {
            Ok(receipt) => Ok(AuditDisposition::Appended(receipt)),
            Err(AuditError::Storage(e)) => {
                tracing::warn!(action = %event.action, error.message = %e, "late audit record spooled: database unavailable");
                self.spool.push(event).await?;
                Ok(AuditDisposition::Spooled)
            }
            Err(e) => Err(e),
        }
    }

    /// The first `action` record about `call_id`, as JSON: from the chain (the stored record), or
    /// else from the spool (the event, not appended yet). Lets start-up write a call's end once.
    ///
    /// # Errors
    /// The database or the spool cannot be read.
    pub async fn call_record(&self, call_id: &str, action: &str) -> Result<Option<serde_json::Value>, AuditError> {
        use crate::storage::sql::Arg;
        let rows: Vec<(Vec<u8>,)> = self
            .db
            .all(
                "SELECT canonical FROM audit_log WHERE call_id = ? AND action = ? ORDER BY idx LIMIT 1",
                &[Arg::Text(call_id), Arg::Text(action)],
            )
            .await?;
        if let Some((canonical,)) = rows.into_iter().next() {
            return Ok(Some(
                serde_json::from_slice(&canonical).map_err(|_| AuditError::Record)?,
            ));
        }
        for path in self.spool.entries()? {
            match Spool::read(&path) {
                Ok(event) if event.call_id.as_deref() == Some(call_id) && event.action == action => {
                    return Ok(Some(serde_json::to_value(&event).map_err(SpoolError::from)?));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(file = %path.display(), error.message = %e, "unreadable audit spool entry"),
            }
        }
        Ok(None)
    }

    /// Append every spooled record (flagged late), oldest first. Returns how many were appended.
    ///
    /// # Errors
    /// The database is still unavailable (the rest stay spooled).
    pub async fn drain_spool(&self) -> Result<usize, AuditError> {
        let mut appended = 0;
        for path in self.spool.entries()? {
            let event = match Spool::read(&path) {
                Ok(event) => event,
                Err(e) => {
                    tracing::error!(file = %path.display(), error.message = %e, "unreadable audit spool entry left in place");
                    continue;
                }
            };
            self.append_inner(&event, true).await?;
            Spool::remove(&path)?;
            appended += 1;
        }
        if appended > 0 {
            tracing::info!(records = appended, "spooled audit records appended late");
        }
        Ok(appended)
    }

    /// Retry the spool every `interval` until cancelled.
    pub fn spawn_spool_retry(
        self: Arc<Self>,
        interval: Duration,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = self.drain_spool().await {
                            tracing::debug!(error.message = %e, "audit spool retry deferred");
                        }
                    }
                    () = cancel.cancelled() => return,
                }
            }
        })
    }

    async fn append_inner(&self, event: &AuditEvent, late: bool) -> Result<AuditReceipt, AuditError> {
        // Inside the locked transaction: read the head, build the next record, insert, commit.
        macro_rules! append_locked {
            ($tx:ident, $insert:literal) => {{
                let head: Option<(i64, Vec<u8>)> =
                    sqlx::query_as("SELECT idx, hash FROM audit_log ORDER BY idx DESC LIMIT 1")
                        .fetch_optional(&mut *$tx)
                        .await
                        .map_err(StorageError::from)?;
                let row = build(event, late, head)?;
                sqlx::query($insert)
                    .bind(row.index as i64)
                    .bind(row.prev_hash.as_slice())
                    .bind(row.hash.as_slice())
                    .bind(row.canonical.as_slice())
                    .bind(event.call_id.as_deref())
                    .bind(event.action.as_str())
                    .bind(event.at_ms as i64)
                    .bind(late)
                    .execute(&mut *$tx)
                    .await
                    .map_err(StorageError::from)?;
                $tx.commit().await.map_err(StorageError::from)?;
                AuditReceipt {
                    index: row.index,
                    hash: row.hash,
                }
            }};
        }
        let receipt = match &self.db {
            Db::Sqlite(pool) => {
                // BEGIN IMMEDIATE takes SQLite's write lock up front (also across processes).
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(StorageError::from)?;
                append_locked!(
                    tx,
                    "INSERT INTO audit_log (idx, prev_hash, hash, canonical, call_id, action, created_at_ms, late) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                )
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(StorageError::from)?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(AUDIT_LOCK_ID)
                    .execute(&mut *tx)
                    .await
                    .map_err(StorageError::from)?;
                append_locked!(
                    tx,
                    "INSERT INTO audit_log (idx, prev_hash, hash, canonical, call_id, action, created_at_ms, late) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                )
            }
        };
        if receipt.index % self.checkpoint_every == 0 {
            self.write_checkpoint(receipt.index, &receipt.hash).await;
        }
        Ok(receipt)
    }

    /// Sign and store a checkpoint of the current head (also called at shutdown).
    ///
    /// # Errors
    /// The database cannot be read; a failing blob write is logged, not returned.
    pub async fn checkpoint_now(&self) -> Result<Option<Checkpoint>, AuditError> {
        let head: Option<(i64, Vec<u8>)> = match &self.db {
            Db::Sqlite(pool) => sqlx::query_as("SELECT idx, hash FROM audit_log ORDER BY idx DESC LIMIT 1")
                .fetch_optional(pool)
                .await
                .map_err(StorageError::from)?,
            Db::Postgres(pool) => sqlx::query_as("SELECT idx, hash FROM audit_log ORDER BY idx DESC LIMIT 1")
                .fetch_optional(pool)
                .await
                .map_err(StorageError::from)?,
        };
        let Some((idx, hash)) = head else { return Ok(None) };
        let hash: [u8; 32] = hash.try_into().map_err(|_| AuditError::Head)?;
        Ok(self.write_checkpoint(idx as u64, &hash).await)
    }

    async fn write_checkpoint(&self, length: u64, head: &[u8; 32]) -> Option<Checkpoint> {
        let cp = Checkpoint::sign(
            length,
            head,
            self.clock.now_unix_ms(),
            &self.checkpoint_key.id,
            self.checkpoint_key.bytes(),
        );
        let body = match serde_json::to_vec(&cp) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error.message = %e, "audit checkpoint could not be encoded");
                return None;
            }
        };
        let key = format!("{CHECKPOINT_PREFIX}{length:020}.json");
        match self.blobs.put(&key, &body).await {
            Ok(_) => {
                tracing::info!(length, "audit checkpoint written");
                Some(cp)
            }
            Err(e) => {
                tracing::error!(length, error.message = %e, "audit checkpoint could not be written");
                None
            }
        }
    }
}

/// A record ready to insert.
struct Row {
    index: u64,
    prev_hash: [u8; 32],
    hash: [u8; 32],
    canonical: Vec<u8>,
}

/// Build the next record after `head` (None = genesis).
fn build(event: &AuditEvent, late: bool, head: Option<(i64, Vec<u8>)>) -> Result<Row, AuditError> {
    let (index, prev_hash) = match head {
        None => (1, GENESIS),
        Some((idx, hash)) => {
            let hash: [u8; 32] = hash.try_into().map_err(|_| AuditError::Head)?;
            let idx = u64::try_from(idx).map_err(|_| AuditError::Head)?;
            (idx + 1, hash)
        }
    };
    let record = json!({
        "v": RECORD_VERSION,
        "index": index,
        "at_ms": event.at_ms,
        "actor": event.actor,
        "action": event.action,
        "call_id": event.call_id,
        "patient": event.patient,
        "reason": event.reason,
        "outcome": event.outcome,
        "details": event.details,
        "late": late,
    });
    let canonical = canonical::canonicalize(&record)?;
    let hash = chain::record_hash(&prev_hash, &canonical);
    Ok(Row {
        index,
        prev_hash,
        hash,
        canonical,
    })
}
