//! Calls: one task per call that owns all of the call's state.
//!
//! `twilio::run` accepts an upgraded Twilio media socket, does the `start` handshake while the
//! upstream connects, then hands both to [`session::Session`], whose `select!` loop bridges caller
//! and upstream and whose `finalize` always runs.

pub mod clock;
pub mod registry;
pub mod session;
pub mod state;
pub mod twilio;

use std::sync::Arc;

use crate::audio::asset::Prompt;
use crate::audit::AuditLog;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::storage::Db;
use registry::CallRegistry;

/// Our own id for a call (random, not derived from anything the caller or Twilio sent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallId(String);

impl CallId {
    pub fn new() -> CallId {
        let mut b = [0u8; 12];
        // getrandom only fails when the OS has no entropy source at all; fall back to time.
        if getrandom::fill(&mut b).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            b.copy_from_slice(&t.to_le_bytes()[..12]);
        }
        CallId(format!("call_{}", crate::config::hex(&b)))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for CallId {
    fn default() -> Self {
        CallId::new()
    }
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What every call task needs from the server (cheap clones of shared handles).
#[derive(Debug, Clone)]
pub struct CallDeps {
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub registry: Arc<CallRegistry>,
    pub clock: SharedClock,
    pub disclosure: Arc<Prompt>,
    pub db: Db,
    /// The clinic's records and schedule (built-in store or FHIR), chosen by configuration.
    pub ehr: crate::tools::ehr::Ehr,
    pub audit: Arc<AuditLog>,
    /// Where finished recordings and manifests go (local encrypted folder or S3 + KMS).
    pub blobs: crate::storage::blob::Blobs,
    /// The local encrypted folder: recording spools and the upload outbox (survive a crash).
    pub local_blobs: crate::storage::blob::Blobs,
}
