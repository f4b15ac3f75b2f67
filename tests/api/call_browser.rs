//! Browser calls through the real server and the fake realtime peer, with a real WebSocket client
//! speaking the page's protocol (the page itself runs in Chromium in `browser_chromium.rs`).

use serde_json::{Value, json};
use tokio::time::timeout;
use voicegate::testkit::browser_caller::{BrowserCaller, Received, fetch_token};

use crate::helpers::*;

impl TestApp {
    /// The server's own origin on loopback, as a page loaded from it would send.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn browser_ws(&self) -> String {
        format!("ws://127.0.0.1:{}/browser/ws", self.port)
    }

    /// A token as the page gets it (self-minted, same origin).
    pub async fn browser_token(&self) -> String {
        fetch_token(&self.base, &[("Origin", self.origin())])
            .await
            .expect("token request")
            .expect("token issued")
    }

    /// Token, upgrade, hello at `rate`, `ready`.
    pub async fn browser_call(&self, rate: u32) -> BrowserCaller {
        let token = self.browser_token().await;
        let mut caller = BrowserCaller::connect(&self.browser_ws(), Some(&self.origin()))
            .await
            .expect("upgrade");
        caller.hello(rate, Some(&token)).unwrap();
        let (ready, _) = timeout(GUARD, caller.until("ready")).await.unwrap().unwrap();
        assert_eq!(ready["playback_rate"], 24000);
        caller
    }
}

/// `n` 20 ms frames of a `freq` tone at `rate`, continuous across frames.
fn tone_frames(rate: u32, n: usize, freq: f64) -> Vec<Vec<i16>> {
    let per = rate as usize / 50;
    (0..n)
        .map(|f| {
            (0..per)
                .map(|i| {
                    let t = (f * per + i) as f64 / f64::from(rate);
                    ((t * freq * std::f64::consts::TAU).sin() * 12000.0) as i16
                })
                .collect()
        })
        .collect()
}

fn pcm_le(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn zero_crossings(pcm: &[u8]) -> usize {
    let s: Vec<i16> = pcm.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]])).collect();
    s.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
}

async fn audit_actions(app: &TestApp) -> Vec<Value> {
    crate::tools::audit_trail(app).await
}

async fn wait_idle(app: &TestApp) {
    timeout(GUARD, async {
        while app.state.deps.metrics.active_calls.get() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("call finalised");
}

/// The whole path: the page's 48 kHz microphone reaches the upstream as 24 kHz PCM of the same
/// tone, the disclosure and the agent's audio reach the page unchanged as binary PCM, transcript
/// lines and agent state are shown, and the call is audited and recorded at 24 kHz.
#[tokio::test]
async fn a_browser_call_is_bridged_at_24_khz_with_transcript_state_audit_and_recording() {
    let app = spawn_app().await;
    let mut caller = app.browser_call(48_000).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    let update = fake.wait_for("session.update").await.unwrap();
    for side in ["input", "output"] {
        assert_eq!(update["session"]["audio"][side]["format"]["type"], "audio/pcm");
        assert_eq!(update["session"]["audio"][side]["format"]["rate"], 24000);
    }

    // The disclosure plays first, as PCM16 at 24 kHz, then its mark.
    let (mark, before) = timeout(GUARD, caller.until("mark")).await.unwrap().unwrap();
    assert_eq!(mark["name"], "disclosure");
    let disclosure: Vec<u8> = before
        .iter()
        .filter_map(|r| match r {
            Received::Audio(a) => Some(a.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(disclosure, pcm_le(&app.state.deps.disclosure.pcm_24k));
    caller.set_auto_echo(true);
    caller
        .send_json(&json!({"type": "mark", "name": "disclosure"}))
        .unwrap();

    // One second of a 440 Hz tone at 48 kHz → 50 frames of 480 samples at 24 kHz upstream.
    for (seq, frame) in tone_frames(48_000, 50, 440.0).iter().enumerate() {
        caller.frame(seq as u32, frame).unwrap();
    }
    timeout(GUARD, async {
        while fake.appended_audio().len() < 50 * 960 {
            fake.wait_for("input_audio_buffer.append").await.unwrap();
        }
    })
    .await
    .expect("the microphone reached the upstream");
    let upstream = fake.appended_audio();
    assert_eq!(upstream.len(), 50 * 960, "every frame resampled to 480 samples");
    // The last half second is steady tone: 440 Hz = 440 zero crossings in 0.5 s.
    let crossings = zero_crossings(&upstream[upstream.len() - 24_000..]);
    assert!((438..=442).contains(&crossings), "{crossings} crossings in 0.5 s");

    // The agent answers: its PCM reaches the page unchanged, with state and transcript.
    let agent: Vec<u8> = pcm_le(&tone_frames(24_000, 25, 300.0).concat());
    fake.respond_audio(&agent, 4800, "Hello, how can I help?")
        .await
        .unwrap();
    let (line, seen) = timeout(GUARD, caller.until("transcript")).await.unwrap().unwrap();
    assert_eq!(
        line,
        json!({"type": "transcript", "speaker": "agent", "text": "Hello, how can I help?", "final": true})
    );
    let heard: Vec<u8> = seen
        .iter()
        .filter_map(|r| match r {
            Received::Audio(a) => Some(a.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(heard, agent, "agent audio played byte for byte");
    assert!(
        seen.iter()
            .any(|r| *r == Received::Control(json!({"type": "agent_state", "state": "speaking"}))),
        "{seen:?}"
    );
    let (state, _) = timeout(GUARD, caller.until("agent_state")).await.unwrap().unwrap();
    assert_eq!(state["state"], "listening", "back to listening once the audio played");

    fake.user_transcript("I would like to book a visit").await.unwrap();
    let (line, _) = timeout(GUARD, caller.until("transcript")).await.unwrap().unwrap();
    assert_eq!(line["speaker"], "caller");
    assert_eq!(line["text"], "I would like to book a visit");

    caller.send_json(&json!({"type": "hangup"})).unwrap();
    let (close, seen) = timeout(GUARD, caller.until_closed()).await.unwrap();
    assert_eq!(close.map(|c| c.0), Some(1000));
    assert!(
        seen.contains(&Received::Control(json!({"type": "ended", "reason": "call ended"}))),
        "{seen:?}"
    );
    timeout(GUARD, fake.closed()).await.unwrap().unwrap();
    wait_idle(&app).await;
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let trail = audit_actions(&app).await;
    let started = trail
        .iter()
        .find(|r| r["action"] == "call.started")
        .expect("call.started");
    assert_eq!(started["details"]["transport"], "browser");
    assert_eq!(started["details"]["sample_rate"], 48000);
    assert_eq!(started["details"]["echo_cancellation"], true);
    let ended = trail.iter().find(|r| r["action"] == "call.ended").expect("call.ended");
    assert_eq!(ended["details"]["outcome"], "hung_up");
    assert_eq!(ended["details"]["disclosure_played"], true);
    let stored = trail
        .iter()
        .find(|r| r["action"] == "recording.stored")
        .expect("recording.stored");
    assert_eq!(stored["details"]["sample_rate"], 24000);
}

/// Barge-in on a browser call: the page is told to clear, the item is truncated where the page's
/// marks put playback, and the page's exact `cleared` count is compared with that estimate.
#[tokio::test]
async fn barge_in_clears_the_page_and_truncates_where_its_marks_put_playback() {
    let app = spawn_app().await;
    let mut caller = app.browser_call(16_000).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    timeout(GUARD, caller.until("mark")).await.unwrap().unwrap();
    caller
        .send_json(&json!({"type": "mark", "name": "disclosure"}))
        .unwrap();

    // Two seconds of agent audio in 100 ms chunks; the page plays the first half second.
    let agent = pcm_le(&tone_frames(24_000, 100, 300.0).concat());
    let ids = fake.respond_audio(&agent, 4800, "Let me find a time.").await.unwrap();
    for n in 0..5 {
        let (mark, _) = timeout(GUARD, caller.until("mark")).await.unwrap().unwrap();
        assert_eq!(mark["name"], format!("a{n}"));
        caller.send_json(&mark).unwrap();
    }
    // A microphone frame after the echoes: once it reaches the upstream, the session has read the
    // echoes before it (one ordered socket, one reader, one session queue).
    caller.frame(0, &tone_frames(16_000, 1, 200.0)[0]).unwrap();
    fake.wait_for("input_audio_buffer.append").await.unwrap();
    fake.speech_started(1_000).await.unwrap();
    timeout(GUARD, caller.until("clear")).await.unwrap().unwrap();
    let disclosure = app.state.deps.disclosure.pcm_24k.len() as u64;
    caller
        .send_json(&json!({"type": "cleared", "played_samples": disclosure + 12_000}))
        .unwrap();
    let truncate = fake.wait_for("conversation.item.truncate").await.unwrap();
    assert_eq!(truncate["item_id"], json!(ids.item_id));
    let end_ms = truncate["audio_end_ms"].as_u64().unwrap();
    assert!(
        (500..2000).contains(&end_ms),
        "truncated at {end_ms} ms: at least the 500 ms the page's marks confirmed, never past the audio"
    );
    timeout(GUARD, async {
        while !app
            .get("/metrics")
            .await
            .body
            .contains("voicegate_truncation_error_seconds_count 1")
        {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the page's cleared report was compared with the estimate");
    caller.send_json(&json!({"type": "hangup"})).unwrap();
    timeout(GUARD, caller.until_closed()).await.unwrap();
}

/// What a bad page (or a hostile script) gets: the reason, the close code, and nothing else; the
/// call in progress beside it is not disturbed.
#[tokio::test]
async fn bad_browser_input_is_refused_with_a_reason_and_other_calls_go_on() {
    let app = spawn_app_with(Options::default(), |s| {
        s.browser.rate_limit.burst = 1000;
        s.call.start_timeout_secs = 1;
    })
    .await;
    // A good call first, kept open through every bad one.
    let good = app.browser_call(48_000).await;
    let mut good_fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    good_fake.wait_for("session.update").await.unwrap();
    let frames = tone_frames(48_000, 40, 440.0);
    good.frame(0, &frames[0]).unwrap();

    struct Case {
        name: &'static str,
        hello: Option<Value>,
        then: Vec<Vec<u8>>,
        text_then: Vec<String>,
        code: u16,
        reason: &'static str,
    }
    let token = app.browser_token().await;
    // Another valid-looking signature: the tag's first character changed.
    let (head, tag) = token.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}{}", if tag.starts_with('A') { 'B' } else { 'A' }, &tag[1..]);
    let hello = |rate: u32, token: &str| json!({"type": "hello", "sample_rate": rate, "format": "pcm16le", "channels": 1, "frame_ms": 20, "token": token});
    let frame48 = |seq: u32, len: usize| {
        let mut f = seq.to_le_bytes().to_vec();
        f.resize(4 + len, 0);
        f
    };
    let cases = vec![
        Case {
            name: "no token",
            hello: Some(json!({"type": "hello", "sample_rate": 48000})),
            then: vec![],
            text_then: vec![],
            code: 1008,
            reason: "stream token rejected: missing",
        },
        Case {
            name: "forged token",
            hello: Some(hello(48_000, &forged)),
            then: vec![],
            text_then: vec![],
            code: 1008,
            reason: "stream token rejected: bad signature",
        },
        Case {
            name: "a Twilio token",
            hello: Some(hello(48_000, "v1.CA1.9999999999.k.sig")),
            then: vec![],
            text_then: vec![],
            code: 1008,
            reason: "stream token rejected: malformed",
        },
        Case {
            name: "unsupported rate",
            hello: Some(hello(12_345, &app.browser_token().await)),
            then: vec![],
            text_then: vec![],
            code: 1008,
            reason: "unsupported sample rate 12345 Hz",
        },
        Case {
            name: "malformed hello",
            hello: None,
            then: vec![],
            text_then: vec!["{\"type\": \"hello\", ".into()],
            code: 1008,
            reason: "malformed JSON frame",
        },
        Case {
            name: "audio before hello",
            hello: None,
            then: vec![frame48(0, 1920)],
            text_then: vec![],
            code: 1008,
            reason: "`audio` before `hello`",
        },
        Case {
            name: "odd-length PCM",
            hello: Some(hello(48_000, &app.browser_token().await)),
            then: vec![frame48(0, 1919)],
            text_then: vec![],
            code: 1007,
            reason: "audio frame of 1923 bytes; expected 1924",
        },
        Case {
            name: "a 44.1 kHz frame at 48 kHz",
            hello: Some(hello(48_000, &app.browser_token().await)),
            then: vec![frame48(0, 1764)],
            text_then: vec![],
            code: 1007,
            reason: "audio frame of 1768 bytes; expected 1924",
        },
        Case {
            name: "oversized frame",
            hello: Some(hello(48_000, &app.browser_token().await)),
            then: vec![frame48(0, 8000)],
            text_then: vec![],
            code: 1009,
            reason: "frame exceeds the size limit",
        },
        Case {
            name: "sequence gap",
            hello: Some(hello(48_000, &app.browser_token().await)),
            then: vec![frame48(0, 1920), frame48(100, 1920)],
            text_then: vec![],
            code: 1008,
            reason: "sequence gap of 99 frames exceeds the limit",
        },
        Case {
            name: "sequence going backwards",
            hello: Some(hello(48_000, &app.browser_token().await)),
            then: vec![frame48(0, 1920), frame48(1, 1920), frame48(1, 1920)],
            text_then: vec![],
            code: 1008,
            reason: "sequence number went backwards",
        },
        Case {
            name: "flood",
            hello: Some(hello(48_000, &app.browser_token().await)),
            then: (0..200).map(|seq| frame48(seq, 1920)).collect(),
            text_then: vec![],
            code: 1008,
            reason: "audio frames ahead of real time",
        },
        Case {
            name: "unknown message",
            hello: Some(hello(48_000, &app.browser_token().await)),
            then: vec![],
            text_then: vec![json!({"type": "patient_name", "value": "x"}).to_string()],
            code: 1008,
            reason: "unknown event",
        },
        Case {
            name: "second hello",
            hello: Some(hello(48_000, &app.browser_token().await)),
            then: vec![],
            text_then: vec![hello(48_000, &token).to_string()],
            code: 1008,
            reason: "second `hello`",
        },
        Case {
            name: "no hello at all",
            hello: None,
            then: vec![],
            text_then: vec![],
            code: 1008,
            reason: "no `hello` within the handshake deadline",
        },
    ];
    for case in cases {
        let mut bad = BrowserCaller::connect(&app.browser_ws(), Some(&app.origin()))
            .await
            .unwrap();
        if let Some(hello) = &case.hello {
            bad.send_json(hello).unwrap();
        }
        for text in &case.text_then {
            bad.send_text(text.clone()).unwrap();
        }
        for frame in &case.then {
            bad.send_binary(frame.clone()).unwrap();
        }
        let (close, seen) = timeout(GUARD, bad.until_closed()).await.unwrap();
        if case.code == 1009 {
            // The socket layer refuses the frame before buffering it; whether our close frame
            // still gets out depends on timing, so the reason is checked in the log.
            assert!(
                close.is_none() || close.as_ref().map(|c| c.0) == Some(1009),
                "{close:?}"
            );
            timeout(GUARD, async {
                while !app.logs.contents().contains("frame exceeds the size limit") {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the reason is logged");
            continue;
        }
        assert_eq!(
            close,
            Some((case.code, case.reason.to_owned())),
            "{}: {seen:?}",
            case.name
        );
        let error = seen.iter().find_map(|r| match r {
            Received::Control(v) if v["type"] == "error" => Some(v.clone()),
            _ => None,
        });
        let error = error.unwrap_or_else(|| panic!("{}: an error message before the close: {seen:?}", case.name));
        assert_eq!(error["message"], case.reason, "{}", case.name);
    }

    // Small gaps (the page drops frames when its socket backs up) are counted, not fatal; the good
    // call still reaches its upstream.
    good.frame(1, &frames[1]).unwrap();
    good.frame(4, &frames[4]).unwrap();
    for seq in 5..20 {
        good.frame(seq, &frames[seq as usize]).unwrap();
    }
    timeout(GUARD, async {
        while good_fake.appended_audio().len() < 20 * 960 {
            good_fake.wait_for("input_audio_buffer.append").await.unwrap();
        }
    })
    .await
    .expect("the good call kept going");
    assert_eq!(
        good_fake.appended_audio().len(),
        20 * 960,
        "the two frames the page skipped arrive upstream as silence, keeping the timeline"
    );
    assert!(
        app.get("/metrics")
            .await
            .body
            .contains("voicegate_browser_frames_missing_total 2")
    );
}

/// The Origin gate on both endpoints, the per-address rate limit, and the issuer credential when
/// the page may not mint its own tokens.
#[tokio::test]
async fn origins_rate_limits_and_the_issuer_credential_gate_browser_calls() {
    let app = spawn_app_with(Options::default(), |s| {
        s.browser.rate_limit.burst = 4;
        s.browser.rate_limit.per_minute = 1;
    })
    .await;
    let evil = [("Origin", "https://evil.example".to_owned())];
    assert_eq!(fetch_token(&app.base, &evil).await.unwrap(), Err(403));
    assert_eq!(fetch_token(&app.base, &[]).await.unwrap(), Err(403), "no Origin");
    // The public base URL's origin is allowed by default (the page behind the load balancer).
    assert!(
        fetch_token(&app.base, &[("Origin", PUBLIC_BASE.to_owned())])
            .await
            .unwrap()
            .is_ok()
    );
    let refused = BrowserCaller::connect(&app.browser_ws(), Some("https://evil.example")).await;
    assert_eq!(refused.err().unwrap().to_string(), "upgrade refused: HTTP 403");
    // Four requests so far from 127.0.0.1; the fifth is over the burst.
    assert_eq!(
        fetch_token(&app.base, &[("Origin", app.origin())]).await.unwrap(),
        Err(429)
    );
    let limited = BrowserCaller::connect(&app.browser_ws(), Some(&app.origin())).await;
    assert_eq!(limited.err().unwrap().to_string(), "upgrade refused: HTTP 429");

    let issuer = spawn_app_with(Options::default(), |s| {
        s.browser.self_mint_tokens = false;
        s.browser.issuer_secret = Some(voicegate::config::KeyedSecret::parse("issuer-secret-1"));
    })
    .await;
    let same_origin = [("Origin", issuer.origin())];
    assert_eq!(
        fetch_token(&issuer.base, &same_origin).await.unwrap(),
        Err(403),
        "the page alone cannot get a token"
    );
    let wrong = ("Authorization", "Bearer issuer-secret-2".to_owned());
    assert_eq!(fetch_token(&issuer.base, &[wrong]).await.unwrap(), Err(403));
    let right = ("Authorization", "Bearer issuer-secret-1".to_owned());
    let token = fetch_token(&issuer.base, &[right])
        .await
        .unwrap()
        .expect("backend gets a token");
    let mut caller = BrowserCaller::connect(&issuer.browser_ws(), Some(&issuer.origin()))
        .await
        .unwrap();
    caller.hello(48_000, Some(&token)).unwrap();
    timeout(GUARD, caller.until("ready")).await.unwrap().unwrap();
}

/// An expired token is refused on the hello (the server's clock decides).
#[tokio::test]
async fn an_expired_browser_token_is_refused() {
    let clock = voicegate::clock::ManualClock::at_unix(1_900_000_000);
    let app = spawn_app_with(
        Options {
            clock: clock.clone(),
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let token = app.browser_token().await;
    clock.advance(std::time::Duration::from_secs(61));
    let mut caller = BrowserCaller::connect(&app.browser_ws(), Some(&app.origin()))
        .await
        .unwrap();
    caller.hello(48_000, Some(&token)).unwrap();
    let (close, seen) = timeout(GUARD, caller.until_closed()).await.unwrap();
    assert_eq!(close, Some((1008, "stream token rejected: expired".to_owned())));
    assert!(seen.contains(&Received::Control(
        json!({"type": "error", "code": "refused", "message": "stream token rejected: expired"})
    )));
}

/// At the call cap a browser cannot read an HTTP status, so the socket opens and says "busy".
#[tokio::test]
async fn a_browser_call_over_the_cap_is_told_the_line_is_busy() {
    let app = spawn_app_with(Options::default(), |s| s.server.max_concurrent_calls = 1).await;
    let _first = app.browser_call(48_000).await;
    let mut second = BrowserCaller::connect(&app.browser_ws(), Some(&app.origin()))
        .await
        .unwrap();
    let (close, seen) = timeout(GUARD, second.until_closed()).await.unwrap();
    assert_eq!(close.map(|c| c.0), Some(1013));
    assert!(
        seen.iter()
            .any(|r| matches!(r, Received::Control(v) if v["type"] == "error" && v["code"] == "busy")),
        "{seen:?}"
    );
}

/// The page is served with its settings injected and a strict policy; off means off.
#[tokio::test]
async fn the_page_is_served_with_its_settings_and_a_strict_policy() {
    let app = spawn_app().await;
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("CSP");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let start = page.body.find(r#"id="config">"#).expect("config block") + r#"id="config">"#.len();
    let end = start + page.body[start..].find("</script>").unwrap();
    let config: Value = serde_json::from_str(&page.body[start..end]).unwrap();
    assert_eq!(
        config["audio_constraints"],
        json!({"echoCancellation": true, "noiseSuppression": true, "autoGainControl": true}),
        "echo cancellation is on by default"
    );
    assert_eq!(config["ws_path"], "/browser/ws");
    assert_eq!(config["disclosure"], app.state.deps.settings.call.disclosure_text);
    for asset in ["/app.js", "/capture-worklet.js", "/playback-worklet.js"] {
        let r = app.get(asset).await;
        assert_eq!(r.status, 200, "{asset}");
        assert_eq!(r.header("content-type"), Some("text/javascript; charset=utf-8"));
    }

    let off = spawn_app_with(Options::default(), |s| s.browser.enabled = false).await;
    assert_eq!(off.get("/").await.status, 404);
    assert_eq!(
        fetch_token(&off.base, &[("Origin", off.origin())]).await.unwrap(),
        Err(404)
    );
}

/// Self-minted tokens would let anyone on the network start calls: refused off loopback.
#[tokio::test]
async fn self_minted_tokens_are_refused_unless_the_server_binds_to_loopback() {
    let mut settings = voicegate::config::Settings::embedded().unwrap();
    settings.server.host = "0.0.0.0".parse().unwrap();
    let err = settings.validate().unwrap_err().to_string();
    assert!(err.contains("browser.self_mint_tokens"), "{err}");
    settings.browser.self_mint_tokens = false;
    assert!(settings.validate().is_ok());
}
