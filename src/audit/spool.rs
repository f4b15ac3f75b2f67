//! A durable local spool for audit records that could not be appended (database down).
//!
//! Each record is one JSON file, written to a temporary name, fsynced, renamed and the directory
//! fsynced, so a crash leaves either the whole record or nothing. Records are PHI-free by
//! construction (patients appear only as keyed references), so the spool is not encrypted.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::audit::AuditEvent;

/// Spool failures (retryable once the disk is fixed).
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("audit spool I/O failed")]
    Io(#[from] std::io::Error),
    #[error("audit spool entry could not be encoded")]
    Encode(#[from] serde_json::Error),
}

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// Open (creating) the spool at `dir`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(dir: PathBuf) -> Result<Spool, SpoolError> {
        std::fs::create_dir_all(&dir)?;
        Ok(Spool { dir })
    }

    /// Durably store `event`.
    ///
    /// # Errors
    /// The file cannot be written.
    pub async fn push(&self, event: &AuditEvent) -> Result<PathBuf, SpoolError> {
        let bytes = serde_json::to_vec(event)?;
        let dir = self.dir.clone();
        let mut id = [0u8; 8];
        let _ = getrandom::fill(&mut id);
        let name = format!("{:020}-{}.json", event.at_ms, crate::config::hex(&id));
        tokio::task::spawn_blocking(move || write_durably(&dir, &name, &bytes))
            .await
            .map_err(|e| SpoolError::Io(std::io::Error::other(e.to_string())))?
    }

    /// Spooled records, oldest first.
    ///
    /// # Errors
    /// The directory cannot be read.
    pub fn entries(&self) -> Result<Vec<PathBuf>, SpoolError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        Ok(files)
    }

    /// Read one spooled record.
    ///
    /// # Errors
    /// Unreadable or undecodable file.
    pub fn read(path: &Path) -> Result<AuditEvent, SpoolError> {
        Ok(serde_json::from_slice(&std::fs::read(path)?)?)
    }

    /// Remove a record once it is in the chain.
    ///
    /// # Errors
    /// The file cannot be removed.
    pub fn remove(path: &Path) -> Result<(), SpoolError> {
        std::fs::remove_file(path)?;
        Ok(())
    }
}

fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, SpoolError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(path)
}
