//! Safety rules the server enforces itself, whatever the model says.
//!
//! - [`red_flag`]: the deterministic detector run on every final caller transcript (911 / 988).
//! - [`script`]: what the server says when a flag is raised, pre-rendered, in the caller's language.
//! - [`classifier`]: the optional second opinion (off by default), which can only add a flag.
//!
//! [`Safety`] bundles the three for the call sessions; it is built once at start-up from the
//! configuration and shared read-only.

pub mod classifier;
pub mod red_flag;
pub mod script;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Settings;

/// Why the safety rules could not be set up (the server does not start without them).
#[derive(Debug, thiserror::Error)]
pub enum SafetyError {
    #[error(transparent)]
    Detector(#[from] red_flag::DetectorError),
    #[error("red-flag scripts: {0}")]
    Scripts(#[from] crate::audio::asset::AssetError),
    #[error("safety.classifier: {0}")]
    Classifier(#[from] classifier::ClassifierError),
}

/// The detector with the clinic's phrases, the rendered scripts and the classifier, if enabled.
#[derive(Clone, Debug)]
pub struct Safety {
    pub detector: Arc<red_flag::Detector>,
    pub scripts: Arc<script::Scripts>,
    pub classifier: Option<classifier::Classifier>,
}

impl Safety {
    /// Build from settings.
    ///
    /// # Errors
    /// A malformed clinic phrase, a broken embedded recording, a classifier that cannot be set up.
    pub fn build(settings: &Settings) -> Result<Safety, SafetyError> {
        let red = &settings.safety.red_flag;
        Ok(Safety {
            detector: Arc::new(red_flag::Detector::new(&red.phrases, &red.benign)?),
            scripts: Arc::new(match &settings.safety.scripts_dir {
                Some(dir) => script::Scripts::from_dir(dir)?,
                None => script::Scripts::builtin()?,
            }),
            classifier: classifier::Classifier::from_settings(
                &settings.safety.classifier,
                settings.realtime.api_key.as_ref(),
            )?,
        })
    }
}

/// One call's red flag, shared by the session with that call's tool tasks.
///
/// The session raises it the moment a flag is raised; a tool that was already running when the
/// caller described the emergency checks it again just before it writes to the EHR, so a booking
/// the model asked for a second earlier is refused instead of completed. Per call, never global.
#[derive(Clone, Debug, Default)]
pub struct RedFlagLatch(Arc<AtomicBool>);

impl RedFlagLatch {
    /// Raise the flag for the rest of the call (it is never lowered).
    pub fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latch_is_shared_by_its_clones_and_stays_raised() {
        let session = RedFlagLatch::default();
        let tool = session.clone();
        assert!(!tool.is_raised());
        session.raise();
        session.raise();
        assert!(tool.is_raised());
        assert!(!RedFlagLatch::default().is_raised(), "another call's latch is separate");
    }
}
