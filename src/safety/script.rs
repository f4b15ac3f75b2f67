//! The fixed red-flag scripts: what the server itself says when a red flag is raised, in the
//! caller's language.
//!
//! The server plays these from pre-rendered audio (`assets/script-*.wav`, made by
//! `assets/render.sh`), so the caller hears them even if the model misbehaves or the upstream is
//! slow: the model is told afterwards what was said, it does not say it. Their wording is fixed and
//! reviewed; a change means re-rendering the audio.

use crate::audio::asset::{AssetError, Prompt};
use crate::safety::red_flag::{Language, Script};

/// English 911 script.
pub const EMERGENCY_911_EN: &str = "This sounds like it could be an emergency. Please hang up and call 9 1 1 now, \
                                    or go to the nearest emergency room.";
/// English 988 script (its last sentence covers an emergency heard in the same breath).
pub const CRISIS_988_EN: &str = "I'm really glad you told me. Please call or text 9 8 8 now to reach the Suicide and \
                                 Crisis Lifeline. If you are in immediate danger, call 9 1 1.";
/// Spanish 911 script.
pub const EMERGENCY_911_ES: &str = "Esto podría ser una emergencia. Por favor, cuelgue y llame al 9 1 1 ahora mismo, \
                                    o vaya a la sala de emergencias más cercana.";
/// Spanish 988 script (988 offers Spanish on option 2).
pub const CRISIS_988_ES: &str = "Gracias por decírmelo. Por favor, llame o envíe un mensaje de texto al 9 8 8 ahora \
                                 mismo, y marque 2 para español, para hablar con la Línea de Prevención del Suicidio y \
                                 Crisis. Si está en peligro inmediato, llame al 9 1 1.";

const WAV_911_EN: &[u8] = include_bytes!("../../assets/script-911-en.wav");
const WAV_988_EN: &[u8] = include_bytes!("../../assets/script-988-en.wav");
const WAV_911_ES: &[u8] = include_bytes!("../../assets/script-911-es.wav");
const WAV_988_ES: &[u8] = include_bytes!("../../assets/script-988-es.wav");

/// The text of a script in a language.
pub fn text(script: Script, language: Language) -> &'static str {
    match (script, language) {
        (Script::Emergency911, Language::English) => EMERGENCY_911_EN,
        (Script::Crisis988, Language::English) => CRISIS_988_EN,
        (Script::Emergency911, Language::Spanish) => EMERGENCY_911_ES,
        (Script::Crisis988, Language::Spanish) => CRISIS_988_ES,
    }
}

/// What the model is told once the server has played a script: the session's instructions for the
/// rest of the call. The model is the one that answers the caller afterwards, so it must not drift
/// back into booking (the tools refuse anyway) nor contradict what was said.
pub fn model_instructions(script: Script, can_transfer: bool) -> String {
    let (number, reason) = match script {
        Script::Emergency911 => ("9 1 1", "a possible medical emergency"),
        Script::Crisis988 => (
            "9 8 8 (or 9 1 1 if they are in immediate danger)",
            "thoughts of suicide, self-harm or harming someone",
        ),
    };
    let transfer = if can_transfer {
        " You may offer to transfer them to clinic staff; if they accept, call transfer_to_staff."
    } else {
        ""
    };
    format!(
        "SAFETY MODE. The caller described {reason}, and the server has already told them, in their language, \
         to call {number} now. For the rest of this call: do not book, change or look up appointments and do not \
         give medical advice or a diagnosis. Answer in the caller's language, in one or two short, calm sentences, \
         and each time urge them to call {number} now.{transfer}"
    )
}

/// The one reply the model is asked for right after a script when a transfer is possible.
pub const OFFER_TRANSFER: &str = "In one short sentence, in the caller's language, offer to transfer them to clinic staff \
                                  now, while they call for help.";

/// The four scripts, rendered for every transport.
#[derive(Debug, Clone)]
pub struct Scripts {
    /// Indexed by [`Scripts::slot`].
    prompts: [Prompt; 4],
}

impl Scripts {
    /// Render the built-in recordings.
    ///
    /// # Errors
    /// Only if an embedded WAV is broken, which a unit test rules out.
    pub fn builtin() -> Result<Scripts, AssetError> {
        let render = |script, language, wav| Prompt::builtin(text(script, language), wav);
        Ok(Scripts {
            prompts: [
                render(Script::Emergency911, Language::English, WAV_911_EN)?,
                render(Script::Crisis988, Language::English, WAV_988_EN)?,
                render(Script::Emergency911, Language::Spanish, WAV_911_ES)?,
                render(Script::Crisis988, Language::Spanish, WAV_988_ES)?,
            ],
        })
    }

    /// The four recordings in `dir` (`script-911-en.wav`, `script-988-en.wav`, `script-911-es.wav`,
    /// `script-988-es.wav`), which must say the built-in words.
    ///
    /// # Errors
    /// A missing, unreadable or non-mono-16-bit file (the server does not start with part of a set).
    pub fn from_dir(dir: &std::path::Path) -> Result<Scripts, AssetError> {
        let load = |script: Script, language: Language| {
            let number = match script {
                Script::Emergency911 => "911",
                Script::Crisis988 => "988",
            };
            let path = dir.join(format!("script-{number}-{}.wav", language.tag()));
            Prompt::load(text(script, language), &path)
        };
        Ok(Scripts {
            prompts: [
                load(Script::Emergency911, Language::English)?,
                load(Script::Crisis988, Language::English)?,
                load(Script::Emergency911, Language::Spanish)?,
                load(Script::Crisis988, Language::Spanish)?,
            ],
        })
    }

    /// Scripts from given prompts (tests: short, recognisable audio), in the order of
    /// [`Scripts::slot`].
    pub fn from_prompts(prompts: [Prompt; 4]) -> Scripts {
        Scripts { prompts }
    }

    fn slot(script: Script, language: Language) -> usize {
        match (script, language) {
            (Script::Emergency911, Language::English) => 0,
            (Script::Crisis988, Language::English) => 1,
            (Script::Emergency911, Language::Spanish) => 2,
            (Script::Crisis988, Language::Spanish) => 3,
        }
    }

    /// The prompt for a script in a language.
    pub fn get(&self, script: Script, language: Language) -> &Prompt {
        &self.prompts[Scripts::slot(script, language)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_script_renders_with_its_text_and_is_long_enough_to_say_it() {
        let scripts = Scripts::builtin().unwrap();
        for script in [Script::Emergency911, Script::Crisis988] {
            for language in [Language::English, Language::Spanish] {
                let p = scripts.get(script, language);
                assert_eq!(p.text, text(script, language));
                let seconds = p.mulaw_8k.len() as f64 / 8000.0;
                // Spoken at a calm pace: at least ~2.2 words per second of audio, never clipped short.
                let words = p.text.split_whitespace().count() as f64;
                assert!(
                    seconds > words / 3.0 && seconds < 30.0,
                    "{script:?} {language:?}: {seconds} s"
                );
                let (at_24k, at_8k) = (p.pcm_24k.len() as i64, p.mulaw_8k.len() as i64);
                assert!(
                    (at_24k - 3 * at_8k).abs() < 30,
                    "both rates hold the same audio: {at_24k} vs {at_8k}"
                );
            }
        }
    }

    #[test]
    fn scripts_name_the_right_number() {
        for language in [Language::English, Language::Spanish] {
            assert!(text(Script::Emergency911, language).contains("9 1 1"));
            assert!(text(Script::Crisis988, language).contains("9 8 8"));
        }
    }
}
