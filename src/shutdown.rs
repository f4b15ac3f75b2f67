//! Graceful shutdown: stop taking calls, let live calls finish, then end the rest politely.
//!
//! Policy on SIGTERM (or the future passed to `run_until_stopped`):
//! 1. Draining starts: `/readyz` answers 503, the webhook answers "busy" TwiML, media upgrades
//!    get 503. HTTP keeps serving so ending calls can still fetch `/twilio/voice/next`.
//! 2. Live calls continue until they end or `drain_deadline` passes.
//! 3. Then the root token is cancelled: every remaining call says goodbye through its next step
//!    and finalises; we wait up to `hard_deadline` for that and for Twilio to fetch those steps.
//! 4. The HTTP server stops.
//!
//! axum does not wait for upgraded WebSocket connections, so every call task is tracked by a
//! [`TaskTracker`] token taken before the upgrade.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared shutdown state (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    /// Cancelled when remaining calls must end.
    pub root: CancellationToken,
    /// Every call task.
    pub tracker: TaskTracker,
    draining: Arc<AtomicBool>,
}

impl Shutdown {
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
