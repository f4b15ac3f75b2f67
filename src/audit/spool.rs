//! A durable local spool for audit records that could not be appended (database down).
//!
//! Each record is one JSON file, written to a temporary name, fsynced, renamed and the directory
//! fsynced, so a crash leaves either the whole record or nothing. Records are PHI-free by
//! construction (patients appear only as keyed references), so the spool is not encrypted.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
///
/// Files are named `<sequence>-<at_ms>-<random>.json` and drained in name order, so records come
/// back in the order they were spooled — not by timestamp, which ties within a millisecond and can
/// step backwards with the clock. The sequence continues past every name already in the folder
/// (including the older `<at_ms>-<random>` names), so a restart keeps the order too.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    next: Arc<AtomicU64>,
}

impl Spool {
    /// Open (creating) the spool at `dir`.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(dir: PathBuf) -> Result<Spool, SpoolError> {
        std::fs::create_dir_all(&dir)?;
        let mut highest = 0u64;
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let first = name
                .to_string_lossy()
                .split('-')
                .next()
                .and_then(|n| n.parse::<u64>().ok());
            highest = highest.max(first.unwrap_or(0));
        }
        Ok(Spool {
            dir,
            next: Arc::new(AtomicU64::new(highest.saturating_add(1))),
        })
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
        let seq = self.next.fetch_add(1, Ordering::SeqCst);
        let name = format!("{seq:020}-{:020}-{}.json", event.at_ms, crate::config::hex(&id));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at_ms: u64, n: u64) -> AuditEvent {
        AuditEvent {
            actor: crate::audit::Actor::System { job: "test".into() },
            action: format!("test.{n}"),
            call_id: None,
            patient: None,
            reason: None,
            outcome: crate::audit::AuditOutcome::Success,
            details: serde_json::json!({}),
            at_ms,
        }
    }

    #[tokio::test]
    async fn records_come_back_in_the_order_they_were_spooled_across_ties_clock_steps_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        // An entry in the older `<at_ms>-<random>` naming, left by an earlier version.
        std::fs::write(
            dir.path().join(format!("{:020}-00.json", 1_800_000_000_000u64)),
            serde_json::to_vec(&event(1_800_000_000_000, 0)).unwrap(),
        )
        .unwrap();
        let spool = Spool::open(dir.path().to_path_buf()).unwrap();
        // Same millisecond, then a clock that stepped back.
        for (n, at) in [(1, 1_900_000_000_000), (2, 1_900_000_000_000), (3, 1_700_000_000_000)] {
            spool.push(&event(at, n)).await.unwrap();
        }
        let reopened = Spool::open(dir.path().to_path_buf()).unwrap();
        reopened.push(&event(1_600_000_000_000, 4)).await.unwrap();
        let order: Vec<String> = reopened
            .entries()
            .unwrap()
            .iter()
            .map(|p| Spool::read(p).unwrap().action)
            .collect();
        assert_eq!(order, ["test.0", "test.1", "test.2", "test.3", "test.4"]);
    }
}
