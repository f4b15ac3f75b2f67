//! What a patient's text message to the clinic's number means (pure).
//!
//! The opt-out words are the ones carriers and Twilio's Advanced Opt-Out honour, so consent here
//! never disagrees with the carrier's: a patient who texts `CANCEL` to stop messages is opted out,
//! not asking to cancel an appointment (that would be a surprise with a medical consequence).

/// A reply, by its first word (case, punctuation and surrounding spaces ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Stop all messages.
    Stop,
    /// Resume messages.
    Start,
    Help,
    /// "C": the appointment is confirmed.
    Confirm,
    /// "R": the patient wants another time (a callback for staff).
    Reschedule,
    /// Anything else: answered with what this number understands.
    Other,
}

const STOP: &[&str] = &[
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "optout",
    "revoke",
    "alto",
    "parar",
];
const START: &[&str] = &["start", "unstop", "yes", "subscribe", "optin"];
const HELP: &[&str] = &["help", "info", "ayuda"];

/// Classify the body of an inbound message.
pub fn classify(body: &str) -> Reply {
    let word: String = body
        .split_whitespace()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    // A one-word message only: "stop by tomorrow?" is not an opt-out, but carriers treat the
    // bare keyword as one, and so do we.
    let single = body.split_whitespace().count() == 1;
    if !single {
        return Reply::Other;
    }
    let w = word.as_str();
    if STOP.contains(&w) {
        Reply::Stop
    } else if START.contains(&w) {
        Reply::Start
    } else if HELP.contains(&w) {
        Reply::Help
    } else if matches!(w, "c" | "confirm" | "confirmar") {
        Reply::Confirm
    } else if matches!(w, "r" | "reschedule" | "cambiar") {
        Reply::Reschedule
    } else {
        Reply::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_recognised_alone_in_any_case() {
        for (body, want) in [
            ("STOP", Reply::Stop),
            (" stop. ", Reply::Stop),
            ("Cancel", Reply::Stop),
            ("UNSUBSCRIBE", Reply::Stop),
            ("start", Reply::Start),
            ("UNSTOP", Reply::Start),
            ("Help", Reply::Help),
            ("ayuda", Reply::Help),
            ("C", Reply::Confirm),
            ("c!", Reply::Confirm),
            ("R", Reply::Reschedule),
            ("Confirmar", Reply::Confirm),
        ] {
            assert_eq!(classify(body), want, "{body:?}");
        }
    }

    #[test]
    fn sentences_and_noise_are_not_commands() {
        for body in [
            "",
            "   ",
            "stop by at noon?",
            "c u tomorrow",
            "Can I change it",
            "ok",
            "🙂",
        ] {
            assert_eq!(classify(body), Reply::Other, "{body:?}");
        }
    }
}
