//! Twilio Media Streams: one inbound WebSocket text frame → `codec::decode`.
//!
//! Properties, beyond "never panics":
//! - `media`: the μ-law is non-empty and at most `MAX_MEDIA_PAYLOAD` bytes (the documented cap), and
//!   the base64 forwarded upstream byte for byte is exactly the canonical encoding of those bytes (so
//!   what the model hears is what the recorder decodes).
//! - `dtmf`: one keypad character; `mark`: a name of at most 128 bytes, and the mark we would send
//!   with that name (`Outbound::mark`) decodes back to the same name.
//! - `start`: the frames we render for that `streamSid` are JSON carrying it unchanged, however
//!   hostile its characters.
//! - errors: a close code from the fixed set and a close reason that fits a close frame (≤ 123 bytes).
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use libfuzzer_sys::fuzz_target;
use voicegate::transport::twilio::codec::{self, Inbound, MAX_MEDIA_PAYLOAD, Outbound};

fuzz_target!(|data: &[u8]| {
    // WebSocket text frames are UTF-8 by the time the decoder sees them; the lossy form still lets
    // invalid bytes steer the fuzzer towards interesting strings.
    let text = String::from_utf8_lossy(data);
    match codec::decode(&text) {
        Ok(Inbound::Connected | Inbound::Stop) => {}
        Ok(Inbound::Start(start)) => {
            let out = Outbound::new(&start.stream_sid);
            for frame in [out.clear(), out.mark("m"), out.media("/w==")] {
                let v: serde_json::Value = serde_json::from_str(&frame).expect("outbound frame is JSON");
                assert_eq!(v["streamSid"].as_str(), Some(start.stream_sid.as_str()));
            }
        }
        Ok(Inbound::Media(m)) => {
            assert!(!m.mulaw.is_empty());
            assert!(
                m.mulaw.len() <= MAX_MEDIA_PAYLOAD,
                "{} μ-law bytes accepted, cap {MAX_MEDIA_PAYLOAD}",
                m.mulaw.len()
            );
            assert_eq!(B64.encode(&m.mulaw), m.payload_b64, "forwarded base64 is not canonical");
        }
        Ok(Inbound::Dtmf(c)) => assert!(c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'), "{c:?}"),
        Ok(Inbound::Mark(name)) => {
            assert!(name.len() <= 128);
            let echoed = Outbound::new("MZ1").mark(&name);
            match codec::decode(&echoed) {
                Ok(Inbound::Mark(back)) => assert_eq!(back, name),
                other => panic!("our own mark did not decode: {other:?}"),
            }
        }
        Err(e) => {
            assert!(matches!(e.close_code(), 1003 | 1007 | 1008 | 1009 | 1011));
            assert!(e.close_reason().len() <= 123);
        }
    }
});
