//! The server's own service prompts: what the caller hears while the assistant reconnects, and
//! the keypad (DTMF) fallback when it cannot be reached at all.
//!
//! Like the disclosure and the red-flag scripts these cannot come from the model — they play
//! exactly when the model is not there — so they are pre-rendered (`assets/render.sh`, espeak-ng)
//! and embedded. The texts below are what the WAVs say; they go into the call's transcript.

use std::path::Path;

use crate::audio::asset::{AssetError, Prompt};
use crate::safety::red_flag::Language;

macro_rules! wav {
    ($name:literal) => {
        include_bytes!(concat!("../../assets/", $name, ".wav")).as_slice()
    };
}

const ONE_MOMENT_EN: &str = "One moment, please.";
const ONE_MOMENT_ES: &str = "Un momento, por favor.";
const MENU: &str = "I'm sorry, our automated assistant is not available right now. To ask the clinic to call you \
                    back, press 1. To speak with our staff, press 2.";
const MENU_NO_STAFF: &str =
    "I'm sorry, our automated assistant is not available right now. To ask the clinic to call you back, press 1.";
const CALLBACK: &str = "Thank you. The clinic will call you back. Your reference number is";
const REPEAT: &str = "Your reference number again is";
const TRANSFER: &str = "Connecting you to our staff now.";
const GOODBYE: &str = "Thank you for calling. Goodbye.";
const FAILED: &str = "I'm sorry, we could not take your request. Please call again later. Goodbye.";

/// Every service prompt, rendered for both transports.
#[derive(Debug, Clone)]
pub struct ServicePrompts {
    one_moment_en: Prompt,
    one_moment_es: Prompt,
    /// "Press 1 for a callback, 2 for staff."
    pub menu: Prompt,
    /// The menu when no staff line is configured (callback only).
    pub menu_no_staff: Prompt,
    /// "…your reference number is" (the digits follow).
    pub callback: Prompt,
    /// "…again is" (the digits follow once more).
    pub repeat: Prompt,
    pub transfer: Prompt,
    pub goodbye: Prompt,
    /// The callback could not be stored.
    pub failed: Prompt,
    digits: Vec<Prompt>,
}

impl ServicePrompts {
    /// Render the built-in prompts.
    ///
    /// # Errors
    /// Only if an embedded WAV is broken (a unit test rules that out).
    pub fn builtin() -> Result<ServicePrompts, AssetError> {
        ServicePrompts::load(None)
    }

    /// Render the prompts, each from `dir/<name>.wav` when that file exists (a clinic's own
    /// recordings), else the built-in one.
    ///
    /// # Errors
    /// A file that is there but is not mono 16-bit PCM.
    pub fn load(dir: Option<&Path>) -> Result<ServicePrompts, AssetError> {
        let one = |name: &str, text: &str, builtin: &[u8]| -> Result<Prompt, AssetError> {
            match dir.map(|d| d.join(format!("{name}.wav"))).filter(|p| p.is_file()) {
                Some(path) => Prompt::load(text, &path),
                None => Prompt::builtin(text, builtin),
            }
        };
        let digits: [&[u8]; 10] = [
            wav!("digit-0-en"),
            wav!("digit-1-en"),
            wav!("digit-2-en"),
            wav!("digit-3-en"),
            wav!("digit-4-en"),
            wav!("digit-5-en"),
            wav!("digit-6-en"),
            wav!("digit-7-en"),
            wav!("digit-8-en"),
            wav!("digit-9-en"),
        ];
        Ok(ServicePrompts {
            one_moment_en: one("one-moment-en", ONE_MOMENT_EN, wav!("one-moment-en"))?,
            one_moment_es: one("one-moment-es", ONE_MOMENT_ES, wav!("one-moment-es"))?,
            menu: one("keypad-menu-en", MENU, wav!("keypad-menu-en"))?,
            menu_no_staff: one(
                "keypad-menu-no-staff-en",
                MENU_NO_STAFF,
                wav!("keypad-menu-no-staff-en"),
            )?,
            callback: one("keypad-callback-en", CALLBACK, wav!("keypad-callback-en"))?,
            repeat: one("keypad-repeat-en", REPEAT, wav!("keypad-repeat-en"))?,
            transfer: one("keypad-transfer-en", TRANSFER, wav!("keypad-transfer-en"))?,
            goodbye: one("keypad-goodbye-en", GOODBYE, wav!("keypad-goodbye-en"))?,
            failed: one("keypad-failed-en", FAILED, wav!("keypad-failed-en"))?,
            digits: digits
                .iter()
                .enumerate()
                .map(|(d, wav)| one(&format!("digit-{d}-en"), &d.to_string(), wav))
                .collect::<Result<_, _>>()?,
        })
    }

    /// "One moment, please", in the caller's language.
    pub fn one_moment(&self, language: Language) -> &Prompt {
        match language {
            Language::Spanish => &self.one_moment_es,
            _ => &self.one_moment_en,
        }
    }

    /// The spoken digits of `number` (non-digits are skipped), one prompt each.
    pub fn digits<'a>(&'a self, number: &'a str) -> impl Iterator<Item = &'a Prompt> + 'a {
        number
            .chars()
            .filter_map(|c| c.to_digit(10))
            .filter_map(|d| self.digits.get(d as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_prompt_renders_and_is_not_silence() {
        let p = ServicePrompts::builtin().unwrap();
        for prompt in [
            p.one_moment(Language::English),
            p.one_moment(Language::Spanish),
            &p.menu,
            &p.menu_no_staff,
            &p.callback,
            &p.repeat,
            &p.transfer,
            &p.goodbye,
            &p.failed,
        ] {
            assert!(
                prompt.mulaw_8k.len() > 4_000,
                "{}: {}",
                prompt.text,
                prompt.mulaw_8k.len()
            );
            let (at_8k, at_24k) = (prompt.mulaw_8k.len(), prompt.pcm_24k.len());
            assert!(at_24k.abs_diff(at_8k * 3) <= 3, "{}: {at_8k} vs {at_24k}", prompt.text);
        }
        let spoken: Vec<&str> = p.digits("R-407").map(|d| d.text.as_str()).collect();
        assert_eq!(spoken, ["4", "0", "7"]);
    }
}
