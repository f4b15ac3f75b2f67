//! Calls: one task per call that owns all of the call's state.
//!
//! `twilio::run` and `browser::run` accept an upgraded caller socket, do their transport's
//! handshake (`start`, `hello`) while the upstream connects, then hand both to
//! [`session::Session`], whose `select!` loop bridges caller and upstream and whose `finalize`
//! always runs. Only the transport differs: tools, recording and audit are the same.

pub mod browser;
pub mod clock;
pub mod keypad;
pub mod registry;
pub mod session;
pub mod state;
pub mod twilio;

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use crate::audio::asset::Prompt;
use crate::audit::{Actor, AuditEvent, AuditLog, AuditOutcome};
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
    /// "One moment" while the assistant reconnects; the keypad fallback's prompts.
    pub prompts: Arc<crate::audio::prompts::ServicePrompts>,
    /// The red-flag detector, the scripts the server plays, the optional classifier.
    pub safety: crate::safety::Safety,
    pub db: Db,
    /// Confirmations and reminders: the tools report committed changes here.
    pub notify: crate::notify::Notifications,
    /// The clinic's records and schedule (built-in store or FHIR), chosen by configuration.
    pub ehr: crate::tools::ehr::Ehr,
    pub audit: Arc<AuditLog>,
    /// Where finished recordings and manifests go (local encrypted folder or S3 + KMS).
    pub blobs: crate::storage::blob::Blobs,
    /// The local encrypted folder: recording spools and the upload outbox (survive a crash).
    pub local_blobs: crate::storage::blob::Blobs,
}

/// The call row and the `call.started` audit record (spooled if the database is down: the call
/// goes on, since nothing has been disclosed yet). `details` are PHI-free transport facts.
/// Where this replica marks a call as open in its local folder, from before the call's row and
/// `call.started` are written until its end is recorded. A crash in the moment before the
/// recording spool exists leaves no spool, so the marker is what tells the next start that this
/// replica owned the call (another replica's open rows are live calls and are never touched).
pub const OPEN_CALL_PREFIX: &str = "open-calls/";

pub fn open_call_key(call_id: &str) -> String {
    format!("{OPEN_CALL_PREFIX}{call_id}")
}

pub(crate) async fn record_call_start(
    deps: &CallDeps,
    id: &CallId,
    call_sid: Option<&str>,
    transport: &'static str,
    mut details: serde_json::Value,
    started_at_ms: u64,
) {
    let start = crate::storage::calls::CallStart {
        call_id: id.as_str(),
        call_sid,
        transport,
        started_at_ms,
    };
    if let Err(e) = deps
        .local_blobs
        .put(&open_call_key(id.as_str()), started_at_ms.to_string().as_bytes())
        .await
    {
        tracing::warn!(call_id = %id, error.message = %e, "open-call marker could not be written");
    }
    if let Err(e) = crate::storage::calls::insert_started(&deps.db, &start).await {
        tracing::warn!(call_id = %id, error.message = %e, "call row could not be written at start");
    }
    if let Some(map) = details.as_object_mut() {
        map.insert("transport".into(), transport.into());
        // The disclosure starts playing now; `call.ended` records whether it was heard in full.
        map.insert("disclosure".into(), "playing".into());
    }
    let event = AuditEvent {
        actor: Actor::Agent {
            call_id: id.to_string(),
        },
        action: "call.started".into(),
        call_id: Some(id.to_string()),
        patient: None,
        reason: None,
        outcome: AuditOutcome::Success,
        details,
        at_ms: started_at_ms,
    };
    if let Err(e) = deps.audit.append_or_spool(&event).await {
        tracing::error!(call_id = %id, error.message = %e, "call.started audit record could not be stored or spooled");
    }
}

/// Start connecting the upstream at once, concurrently with the caller's handshake: the first
/// turn's latency is what callers notice.
pub(crate) fn connect_upstream(deps: &CallDeps) -> session::UpstreamConnecting {
    let rt = deps.settings.realtime.clone();
    let metrics = deps.metrics.clone();
    tokio::spawn(async move { crate::realtime::client::connect(&rt, 1, metrics).await })
}

/// Decrements the active-calls gauge and releases the call permit, however the task ends.
pub(crate) struct ActiveGuard(Arc<Metrics>, #[allow(dead_code)] OwnedSemaphorePermit);

impl ActiveGuard {
    pub(crate) fn new(metrics: Arc<Metrics>, permit: OwnedSemaphorePermit) -> ActiveGuard {
        metrics.active_calls.inc();
        ActiveGuard(metrics, permit)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active_calls.dec();
    }
}
