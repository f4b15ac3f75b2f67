//! The next TwiML step of each ended stream.
//!
//! When a session ends it records what Twilio should do next for that CallSid (a goodbye, "the
//! assistant is unavailable", or a transfer to staff); Twilio then follows the `<Redirect>` after
//! `</Connect>` to `/twilio/voice/next`, which answers it. Steps live in the database, because
//! behind a load balancer the redirect may reach another replica; if the database is down when a
//! step is recorded, it is kept in this process's memory instead (this replica can still answer,
//! and the caller hears the spoken default anywhere else). Steps expire, so calls that hung up
//! leave nothing behind.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::clock::SharedClock;
use crate::storage::{Db, next_steps};

/// How long a step kept in memory (database down) waits for Twilio's redirect.
const MEMORY_TTL: Duration = Duration::from_secs(300);

/// Upper bound on steps kept in memory: a flood of short calls cannot grow memory without bound.
const MAX_MEMORY_STEPS: usize = 10_000;

pub use crate::storage::next_steps::{Farewell, NextStep};

impl Farewell {
    pub fn text(self) -> &'static str {
        match self {
            Farewell::Idle => script::IDLE_GOODBYE,
            Farewell::MaxDuration => script::MAX_DURATION,
            Farewell::Shutdown => script::SHUTDOWN,
            Farewell::Normal => script::GOODBYE,
        }
    }
}

/// Spoken texts, fixed and PHI-free.
pub mod script {
    pub const UNAVAILABLE: &str = "Sorry, our automated assistant is not available right now.";
    pub const TRANSFERRING: &str = "Please hold while I connect you with our staff.";
    pub const NO_STAFF: &str = "Please call back during office hours. Goodbye.";
    pub const BUSY: &str = "All of our lines are busy right now.";
    pub const IDLE_GOODBYE: &str = "I have not heard from you, so I will end the call now. Goodbye.";
    pub const MAX_DURATION: &str =
        "We have reached the time limit for this call. Please call again if you need more help. Goodbye.";
    pub const SHUTDOWN: &str = "We need to end this call now. Please call back in a moment. Goodbye.";
    pub const GOODBYE: &str = "Thank you for calling. Goodbye.";
}

#[derive(Debug, Default)]
struct Local {
    /// Steps this replica recorded and Twilio has not fetched yet (shutdown waits for them).
    pending: HashMap<String, Instant>,
    /// Steps kept here because the database was down.
    fallback: HashMap<String, (NextStep, Instant)>,
}

/// Shared registry (one per server, in `AppState`).
#[derive(Debug)]
pub struct CallRegistry {
    db: Db,
    clock: SharedClock,
    local: Mutex<Local>,
    /// Woken whenever a step is taken.
    taken: Notify,
}

impl CallRegistry {
    pub fn new(db: Db, clock: SharedClock) -> CallRegistry {
        CallRegistry {
            db,
            clock,
            local: Mutex::new(Local::default()),
            taken: Notify::new(),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        // Never held across an await; a poisoned lock still holds consistent maps.
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record the next step for `call_sid`.
    pub async fn set_next_step(&self, call_sid: &str, step: NextStep) {
        let now = Instant::now();
        let stored = next_steps::set(&self.db, call_sid, &step, self.clock.now_unix_ms()).await;
        let mut local = self.local();
        local.pending.retain(|_, at| now.duration_since(*at) < MEMORY_TTL);
        local.fallback.retain(|_, (_, at)| now.duration_since(*at) < MEMORY_TTL);
        if local.pending.len() < MAX_MEMORY_STEPS {
            local.pending.insert(call_sid.to_owned(), now);
        }
        if let Err(e) = stored {
            tracing::warn!(call_sid, error.message = %e, "next step kept in memory: database unavailable");
            if local.fallback.len() < MAX_MEMORY_STEPS {
                local.fallback.insert(call_sid.to_owned(), (step, now));
            }
        }
    }

    /// Take the next step for `call_sid` (None when nothing was recorded or it expired).
    pub async fn take_next_step(&self, call_sid: &str) -> Option<NextStep> {
        let remembered = {
            let mut local = self.local();
            local.pending.remove(call_sid);
            local.fallback.remove(call_sid).map(|(s, _)| s)
        };
        let step = match remembered {
            Some(step) => Some(step),
            None => match next_steps::take(&self.db, call_sid, self.clock.now_unix_ms()).await {
                Ok(step) => step,
                Err(e) => {
                    tracing::warn!(call_sid, error.message = %e, "next step unavailable: database unavailable");
                    None
                }
            },
        };
        self.taken.notify_waiters();
        step
    }

    /// Steps this replica recorded that Twilio has not fetched yet.
    pub fn pending_next_steps(&self) -> usize {
        self.local().pending.len()
    }

    /// Wait until every step this replica recorded was fetched, or `deadline` passes (shutdown).
    pub async fn wait_next_steps_taken(&self, deadline: Instant) {
        loop {
            let taken = self.taken.notified();
            if self.pending_next_steps() == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, taken).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_round_trips_through_its_encoding() {
        for step in [
            NextStep::Goodbye(Farewell::Idle),
            NextStep::Goodbye(Farewell::MaxDuration),
            NextStep::Goodbye(Farewell::Shutdown),
            NextStep::Goodbye(Farewell::Normal),
            NextStep::Unavailable,
            NextStep::TransferToStaff,
        ] {
            assert_eq!(NextStep::decode(step.encode()), Some(step));
        }
        assert_eq!(NextStep::decode("dial:+1555"), None);
    }
}
