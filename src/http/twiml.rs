//! TwiML documents. Every value is XML-escaped; spoken texts are fixed scripts (no PHI).

use crate::call::registry::{NextStep, script};
use crate::config::TwilioSettings;

/// Escape text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn document(body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{body}</Response>")
}

fn say(twilio: &TwilioSettings, text: &str) -> String {
    format!("<Say voice=\"{}\">{}</Say>", escape(&twilio.say_voice), escape(text))
}

/// Staff line if configured, otherwise a polite goodbye.
fn staff_or_goodbye(twilio: &TwilioSettings) -> String {
    match &twilio.staff_number {
        Some(number) => format!("{}<Dial>{}</Dial>", say(twilio, script::TRANSFERRING), escape(number)),
        None => format!("{}<Hangup/>", say(twilio, script::NO_STAFF)),
    }
}

/// Connect the call to our media stream, then follow the redirect when the stream closes.
pub fn connect_stream(stream_url: &str, token: &str, next_url: &str) -> String {
    document(&format!(
        "<Connect><Stream url=\"{}\" name=\"voicegate\"><Parameter name=\"{}\" value=\"{}\"/></Stream></Connect>\
         <Redirect method=\"POST\">{}</Redirect>",
        escape(stream_url),
        crate::call::twilio::TOKEN_PARAMETER,
        escape(token),
        escape(next_url)
    ))
}

/// No capacity (or draining): never open a stream we cannot serve.
pub fn busy(twilio: &TwilioSettings) -> String {
    document(&format!("{}{}", say(twilio, script::BUSY), staff_or_goodbye(twilio)))
}

/// The step after a stream ended.
pub fn next_step(twilio: &TwilioSettings, step: Option<NextStep>) -> String {
    match step {
        Some(NextStep::Goodbye(farewell)) => document(&format!("{}<Hangup/>", say(twilio, farewell.text()))),
        Some(NextStep::TransferToStaff) => document(&staff_or_goodbye(twilio)),
        Some(NextStep::Hangup) => document("<Hangup/>"),
        // No step recorded: the stream never started or the session could not say; the caller
        // must still hear a real answer.
        Some(NextStep::Unavailable) | None => document(&format!(
            "{}{}",
            say(twilio, script::UNAVAILABLE),
            staff_or_goodbye(twilio)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let x = connect_stream("wss://h/twilio/media", "a\"<b>&", "https://h/twilio/voice/next");
        assert!(x.contains("value=\"a&quot;&lt;b&gt;&amp;\""));
        assert!(x.find("</Connect>").unwrap() < x.find("<Redirect").unwrap());
    }

    #[test]
    fn unavailable_dials_staff_when_configured() {
        let mut t = crate::config::Settings::embedded().unwrap().twilio;
        assert!(next_step(&t, None).contains("<Hangup/>"));
        t.staff_number = Some("+15550001111".into());
        let x = next_step(&t, Some(NextStep::Unavailable));
        assert!(x.contains("<Dial>+15550001111</Dial>") && x.contains(script::UNAVAILABLE));
    }
}
