//! Media Streams JSON ↔ typed messages.
//!
//! Inbound: every event Twilio sends (`connected`, `start`, `media`, `dtmf`, `mark`, `stop`) is
//! parsed and validated here; anything else is a [`TransportError`] that ends the call with a clear
//! reason. Outbound: `media`, `mark` and `clear` are rendered as text frames for one stream.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use crate::transport::TransportError;

/// Largest μ-law payload accepted in one `media` event: one second. Twilio sends 20 ms (160 bytes);
/// anything near this is a broken or hostile peer, and the cap bounds per-frame work.
pub const MAX_MEDIA_PAYLOAD: usize = 8000;

/// Longest mark name we accept back (ours are short; a longer one is not ours).
const MAX_MARK_NAME: usize = 128;

/// `start.mediaFormat`: the only accepted value is μ-law, 8 kHz, mono.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    pub encoding: String,
    pub sample_rate: u32,
    pub channels: u16,
}

/// The `start` event's metadata.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartMeta {
    pub stream_sid: String,
    pub account_sid: String,
    pub call_sid: String,
    #[serde(default)]
    pub tracks: Vec<String>,
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, String>,
    pub media_format: MediaFormat,
}

/// One caller audio frame.
#[derive(Debug, Clone)]
pub struct MediaFrame {
    /// ms since stream start (Twilio's presentation timestamp).
    pub timestamp_ms: u64,
    /// The base64 payload as received: forwarded upstream byte for byte.
    pub payload_b64: String,
    /// Decoded μ-law bytes.
    pub mulaw: Vec<u8>,
}

/// A validated inbound message.
#[derive(Debug, Clone)]
pub enum Inbound {
    Connected,
    Start(Box<StartMeta>),
    Media(MediaFrame),
    Dtmf(char),
    Mark(String),
    Stop,
}

#[derive(Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Wire {
    Connected {},
    Start {
        start: StartMeta,
    },
    Media {
        media: MediaWire,
    },
    Dtmf {
        dtmf: DtmfWire,
    },
    Mark {
        mark: MarkWire,
    },
    Stop {},
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct MediaWire {
    #[serde(default)]
    track: Option<String>,
    timestamp: String,
    payload: String,
}

#[derive(Deserialize)]
struct DtmfWire {
    digit: String,
}

#[derive(Deserialize)]
struct MarkWire {
    name: String,
}

#[derive(Deserialize)]
struct EventName {
    event: Option<String>,
}

/// Parse one text frame from Twilio.
///
/// # Errors
/// Malformed JSON, unknown events, bad base64, oversized payloads and invalid fields.
pub fn decode(text: &str) -> Result<Inbound, TransportError> {
    let wire: Wire = match serde_json::from_str(text) {
        Ok(w) => w,
        Err(_) => {
            // Tell an event with bad fields apart from text that is not JSON at all.
            return Err(match serde_json::from_str::<EventName>(text) {
                Ok(EventName { event: Some(e) }) if known(&e) => TransportError::BadField("event body"),
                Ok(EventName { event: Some(_) }) => TransportError::UnknownEvent,
                Ok(EventName { event: None }) => TransportError::BadField("event"),
                Err(_) => TransportError::MalformedJson,
            });
        }
    };
    Ok(match wire {
        Wire::Connected {} => Inbound::Connected,
        Wire::Start { start } => Inbound::Start(Box::new(start)),
        Wire::Media { media } => {
            if media.track.as_deref().is_some_and(|t| t != "inbound") {
                return Err(TransportError::BadField("media.track"));
            }
            let timestamp_ms = media
                .timestamp
                .parse::<u64>()
                .map_err(|_| TransportError::BadField("media.timestamp"))?;
            // Check the size before decoding so a huge payload costs nothing.
            if media.payload.len() > MAX_MEDIA_PAYLOAD.div_ceil(3) * 4 {
                return Err(TransportError::OversizedPayload(media.payload.len() / 4 * 3));
            }
            let mulaw = B64
                .decode(media.payload.as_bytes())
                .map_err(|_| TransportError::BadBase64)?;
            if mulaw.is_empty() {
                return Err(TransportError::BadField("media.payload"));
            }
            Inbound::Media(MediaFrame {
                timestamp_ms,
                payload_b64: media.payload,
                mulaw,
            })
        }
        Wire::Dtmf { dtmf } => {
            let mut chars = dtmf.digit.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') => Inbound::Dtmf(c),
                _ => return Err(TransportError::BadField("dtmf.digit")),
            }
        }
        Wire::Mark { mark } => {
            if mark.name.len() > MAX_MARK_NAME {
                return Err(TransportError::BadField("mark.name"));
            }
            Inbound::Mark(mark.name)
        }
        Wire::Stop {} => Inbound::Stop,
        // The peer's event name is not echoed anywhere: a hostile peer could put anything there.
        Wire::Unknown => return Err(TransportError::UnknownEvent),
    })
}

fn known(event: &str) -> bool {
    matches!(event, "connected" | "start" | "media" | "dtmf" | "mark" | "stop")
}

impl MediaFormat {
    /// μ-law, 8 kHz, mono: what `<Connect><Stream>` always sends.
    pub fn is_supported(&self) -> bool {
        self.encoding == "audio/x-mulaw" && self.sample_rate == 8000 && self.channels == 1
    }
}

/// Renders outbound frames for one stream (the `streamSid` is escaped once, not per frame).
#[derive(Debug, Clone)]
pub struct Outbound {
    sid_json: String,
}

impl Outbound {
    pub fn new(stream_sid: &str) -> Outbound {
        // Serialising a &str cannot fail.
        let sid_json = serde_json::to_string(stream_sid).unwrap_or_else(|_| "\"\"".into());
        Outbound { sid_json }
    }

    /// `media` with an already base64-encoded μ-law payload.
    pub fn media(&self, payload_b64: &str) -> String {
        format!(
            r#"{{"event":"media","streamSid":{},"media":{{"payload":"{}"}}}}"#,
            self.sid_json, payload_b64
        )
    }

    pub fn mark(&self, name: &str) -> String {
        let name = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into());
        format!(
            r#"{{"event":"mark","streamSid":{},"mark":{{"name":{}}}}}"#,
            self.sid_json, name
        )
    }

    pub fn clear(&self) -> String {
        format!(r#"{{"event":"clear","streamSid":{}}}"#, self.sid_json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"streamSid":"MZ1","accountSid":"AC1","callSid":"CA1","tracks":["inbound"],"customParameters":{"token":"t"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}"#;

    #[test]
    fn parses_every_documented_event() {
        assert!(matches!(
            decode(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#),
            Ok(Inbound::Connected)
        ));
        let Ok(Inbound::Start(s)) = decode(START) else {
            panic!("start")
        };
        assert_eq!(s.call_sid, "CA1");
        assert_eq!(s.custom_parameters["token"], "t");
        assert!(s.media_format.is_supported());
        let m = decode(r#"{"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"/w=="},"streamSid":"MZ1"}"#).unwrap();
        let Inbound::Media(m) = m else { panic!("media") };
        assert_eq!(
            (m.timestamp_ms, m.mulaw.as_slice(), m.payload_b64.as_str()),
            (5, &[0xFF][..], "/w==")
        );
        assert!(matches!(
            decode(
                r#"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#
            ),
            Ok(Inbound::Dtmf('1'))
        ));
        assert!(
            matches!(decode(r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"m1"}}"#), Ok(Inbound::Mark(n)) if n == "m1")
        );
        assert!(matches!(
            decode(
                r#"{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"}"#
            ),
            Ok(Inbound::Stop)
        ));
    }

    #[test]
    fn every_malformed_input_has_its_own_error() {
        assert!(matches!(decode("{not json"), Err(TransportError::MalformedJson)));
        assert!(matches!(
            decode(r#"{"event":"party"}"#),
            Err(TransportError::UnknownEvent)
        ));
        assert!(matches!(
            decode(r#"{"event":"media","media":{"timestamp":"1","payload":"@@@"}}"#),
            Err(TransportError::BadBase64)
        ));
        assert!(matches!(
            decode(r#"{"event":"media","media":{"timestamp":"x","payload":"/w=="}}"#),
            Err(TransportError::BadField("media.timestamp"))
        ));
        assert!(matches!(
            decode(r#"{"event":"media","media":{"timestamp":"1"}}"#),
            Err(TransportError::BadField(_))
        ));
        let big = format!(
            r#"{{"event":"media","media":{{"timestamp":"1","payload":"{}"}}}}"#,
            "A".repeat(20_000)
        );
        assert!(matches!(decode(&big), Err(TransportError::OversizedPayload(_))));
        assert!(matches!(
            decode(r#"{"event":"dtmf","dtmf":{"digit":"12"}}"#),
            Err(TransportError::BadField("dtmf.digit"))
        ));
        assert!(matches!(
            decode(r#"{"no_event":1}"#),
            Err(TransportError::BadField("event"))
        ));
    }

    #[test]
    fn wrong_media_format_is_detected() {
        let s = START.replace("audio/x-mulaw", "audio/l16");
        let Ok(Inbound::Start(s)) = decode(&s) else { panic!() };
        assert!(!s.media_format.is_supported());
    }

    #[test]
    fn outbound_frames_have_twilio_shape() {
        let o = Outbound::new("MZ\"1");
        let v: serde_json::Value = serde_json::from_str(&o.media("/w==")).unwrap();
        assert_eq!(v["streamSid"], "MZ\"1");
        assert_eq!(v["media"]["payload"], "/w==");
        let v: serde_json::Value = serde_json::from_str(&o.mark("a\"b")).unwrap();
        assert_eq!(v["mark"]["name"], "a\"b");
        let v: serde_json::Value = serde_json::from_str(&o.clear()).unwrap();
        assert_eq!(v["event"], "clear");
    }
}
