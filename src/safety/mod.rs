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
    pub detector: std::sync::Arc<red_flag::Detector>,
    pub scripts: std::sync::Arc<script::Scripts>,
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
            detector: std::sync::Arc::new(red_flag::Detector::new(&red.phrases, &red.benign)?),
            scripts: std::sync::Arc::new(script::Scripts::builtin()?),
            classifier: classifier::Classifier::from_settings(
                &settings.safety.classifier,
                settings.realtime.api_key.as_ref(),
            )?,
        })
    }
}
