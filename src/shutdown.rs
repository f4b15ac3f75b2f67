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
pub fn signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    // Registered now, not on the future's first poll: a SIGTERM that arrives the moment the server
    // says it is listening must start the drain, not end the process with the default action.
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
