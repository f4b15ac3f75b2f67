//! `voicegate audit verify` and `voicegate audit export`.
//!
//! Verification streams the whole chain from the database in index order (memory stays flat for
//! millions of records), checks every hash link and the canonical form of every record, then
//! checks every signed checkpoint from the blob store against the chain, so a truncated tail is
//! detected even though the remaining chain is internally consistent.

use std::io::Write;

use futures_util::TryStreamExt;

use crate::audit::chain::{self, ChainBreak, Checkpoint, StoredRecord, VerifiedChain, Verifier};
use crate::audit::log::CHECKPOINT_PREFIX;
use crate::config::KeyedSecret;
use crate::storage::blob::Blobs;
use crate::storage::{Db, StorageError};

/// Why verification could not be completed (as opposed to a break it found).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("checkpoints could not be read: {0}")]
    Checkpoints(String),
    #[error("a stored row is malformed at index {0}")]
    MalformedRow(i64),
    #[error("export could not be written")]
    Io(#[from] std::io::Error),
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(VerifiedChainSummary),
    Broken(ChainBreak),
}

/// What a clean verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChainSummary {
    pub length: u64,
    pub head_hash_hex: String,
    pub checkpoints_checked: usize,
}

impl From<VerifiedChain> for VerifiedChainSummary {
    fn from(v: VerifiedChain) -> Self {
        VerifiedChainSummary {
            length: v.length,
            head_hash_hex: chain::hex(&v.head_hash),
            checkpoints_checked: v.checkpoints_checked,
        }
    }
}

type RawRow = (i64, Vec<u8>, Vec<u8>, Vec<u8>);

fn to_record(row: RawRow) -> Result<StoredRecord, VerifyError> {
    let (idx, prev, hash, canonical) = row;
    let index = u64::try_from(idx).map_err(|_| VerifyError::MalformedRow(idx))?;
    let prev_hash: [u8; 32] = prev.try_into().map_err(|_| VerifyError::MalformedRow(idx))?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| VerifyError::MalformedRow(idx))?;
    Ok(StoredRecord {
        index,
        prev_hash,
        hash,
        canonical,
    })
}

/// Every checkpoint in the blob store.
///
/// # Errors
/// The blob store cannot be listed or a checkpoint cannot be read.
pub async fn load_checkpoints(blobs: &Blobs) -> Result<Vec<Checkpoint>, VerifyError> {
    let keys = blobs
        .list(CHECKPOINT_PREFIX)
        .await
        .map_err(|e| VerifyError::Checkpoints(e.to_string()))?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let bytes = blobs
            .get(&key)
            .await
            .map_err(|e| VerifyError::Checkpoints(e.to_string()))?;
        match serde_json::from_slice::<Checkpoint>(&bytes) {
            Ok(cp) => out.push(cp),
            Err(_) => return Err(VerifyError::Checkpoints(format!("{key} is not a checkpoint"))),
        }
    }
    Ok(out)
}

/// Verify the whole chain and every checkpoint.
///
/// # Errors
/// The database or blob store could not be read (a break is a [`Verdict::Broken`], not an error).
pub async fn verify(db: &Db, blobs: &Blobs, checkpoint_keys: &[KeyedSecret]) -> Result<Verdict, VerifyError> {
    let mut verifier = Verifier::new();
    const SELECT: &str = "SELECT idx, prev_hash, hash, canonical FROM audit_log ORDER BY idx";
    macro_rules! walk {
        ($pool:expr) => {{
            let mut rows = sqlx::query_as::<_, RawRow>(SELECT).fetch($pool);
            while let Some(row) = rows.try_next().await.map_err(StorageError::from)? {
                if let Err(b) = verifier.push(&to_record(row)?) {
                    return Ok(Verdict::Broken(b));
                }
            }
        }};
    }
    match db {
        Db::Sqlite(pool) => walk!(pool),
        Db::Postgres(pool) => walk!(pool),
    }
    let checkpoints = load_checkpoints(blobs).await?;
    let lookup = |id: &str| checkpoint_keys.iter().find(|k| k.id == id).map(|k| k.bytes().to_vec());
    Ok(match verifier.finish(&checkpoints, &lookup) {
        Ok(v) => Verdict::Ok(v.into()),
        Err(b) => Verdict::Broken(b),
    })
}

/// Write the records of one call as JSON lines: `{"index", "hash", "prev_hash", "record"}` where
/// `record` is the stored canonical JSON, so an auditor can recompute each hash.
///
/// # Errors
/// The database cannot be read or `out` cannot be written.
pub async fn export_call(db: &Db, call_id: &str, out: &mut dyn Write) -> Result<usize, VerifyError> {
    let rows: Vec<RawRow> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_as("SELECT idx, prev_hash, hash, canonical FROM audit_log WHERE call_id = ? ORDER BY idx")
                .bind(call_id)
                .fetch_all(pool)
                .await
                .map_err(StorageError::from)?
        }
        Db::Postgres(pool) => {
            sqlx::query_as("SELECT idx, prev_hash, hash, canonical FROM audit_log WHERE call_id = $1 ORDER BY idx")
                .bind(call_id)
                .fetch_all(pool)
                .await
                .map_err(StorageError::from)?
        }
    };
    let count = rows.len();
    for row in rows {
        let r = to_record(row)?;
        let record: serde_json::Value =
            serde_json::from_slice(&r.canonical).map_err(|_| VerifyError::MalformedRow(r.index as i64))?;
        let line = serde_json::json!({
            "index": r.index,
            "hash": chain::hex(&r.hash),
            "prev_hash": chain::hex(&r.prev_hash),
            "record": record,
        });
        writeln!(out, "{line}")?;
    }
    Ok(count)
}
