//! Live calls and the next TwiML step of each ended stream.
//!
//! When a session ends it records what Twilio should do next for that CallSid (a goodbye, "the
//! assistant is unavailable", or a transfer to staff); Twilio then follows the `<Redirect>` after
//! `</Connect>` to `/twilio/voice/next`, which answers it. Entries expire, so calls that hung up
//! (and never fetch their next step) leave nothing behind.
//!
//! This store is in process memory, which is correct for one node. Behind a load balancer the
//! redirect may reach another replica, so the storage issue moves it into the database behind the
//! same methods.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a recorded next step waits for Twilio's redirect.
const NEXT_STEP_TTL: Duration = Duration::from_secs(300);

/// Upper bound on remembered next steps: a flood of short calls cannot grow memory without bound.
const MAX_NEXT_STEPS: usize = 100_000;

/// What Twilio does after the media stream closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Say this and hang up.
    Goodbye(&'static str),
    /// The assistant could not continue: apologise, then the staff line or a hang-up.
    Unavailable,
    /// Connect the caller to the staff number.
    TransferToStaff,
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
struct Inner {
    next_steps: HashMap<String, (NextStep, Instant)>,
}

/// Shared registry (one per server, in `AppState`).
#[derive(Debug, Default)]
pub struct CallRegistry {
    inner: Mutex<Inner>,
    /// Woken whenever a next step is taken (shutdown waits for pending ones).
    taken: Notify,
}

impl CallRegistry {
    /// Record the next step for `call_sid`.
    pub fn set_next_step(&self, call_sid: &str, step: NextStep) {
        let now = Instant::now();
        // Never held across an await.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .next_steps
            .retain(|_, (_, at)| now.duration_since(*at) < NEXT_STEP_TTL);
        if inner.next_steps.len() >= MAX_NEXT_STEPS {
            tracing::warn!("next-step table full; dropping the oldest entries");
            let mut by_age: Vec<_> = inner.next_steps.iter().map(|(k, (_, at))| (*at, k.clone())).collect();
            by_age.sort();
            for (_, k) in by_age.into_iter().take(MAX_NEXT_STEPS / 10) {
                inner.next_steps.remove(&k);
            }
        }
        inner.next_steps.insert(call_sid.to_owned(), (step, now));
    }

    /// Take the next step for `call_sid` (None when nothing was recorded).
    pub fn take_next_step(&self, call_sid: &str) -> Option<NextStep> {
        let step = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.next_steps.remove(call_sid).map(|(s, _)| s)
        };
        self.taken.notify_waiters();
        step
    }

    /// Next steps recorded and not yet fetched.
    pub fn pending_next_steps(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).next_steps.len()
    }

    /// Wait until every recorded next step was fetched, or `deadline` passes (shutdown).
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
    fn a_step_is_answered_once() {
        let r = CallRegistry::default();
        r.set_next_step("CA1", NextStep::Unavailable);
        assert_eq!(r.take_next_step("CA1"), Some(NextStep::Unavailable));
        assert_eq!(r.take_next_step("CA1"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn steps_expire() {
        let r = CallRegistry::default();
        r.set_next_step("CA1", NextStep::Unavailable);
        tokio::time::advance(NEXT_STEP_TTL + Duration::from_secs(1)).await;
        r.set_next_step("CA2", NextStep::Unavailable);
        assert_eq!(r.pending_next_steps(), 1);
    }
}
