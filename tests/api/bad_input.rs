//! Every bad input from a caller ends that one call with a clear close reason; other calls and the
//! server go on.

use std::time::Duration;

use tokio::time::timeout;
use voicegate::clock::ManualClock;
use voicegate::testkit::fake_realtime::FakeSession;
use voicegate::testkit::twilio_caller::{TwilioCaller, TwilioCallerConfig};

use crate::helpers::*;

/// Run `misbehave` on a fresh call while a healthy call is live on the same server; assert the
/// bad call is closed with `code` and a reason containing `reason`, and the healthy call still works.
async fn assert_refused<F, Fut>(
    app: &TestApp,
    n: u32,
    prepare: impl FnOnce(&mut TwilioCallerConfig),
    misbehave: F,
    code: u16,
    reason: &str,
) where
    F: FnOnce(TwilioCaller) -> Fut,
    Fut: std::future::Future<Output = TwilioCaller>,
{
    let healthy = HealthyCall::open(app, 9000 + n).await;

    let mut config = app.call_config(&call_sid(n)).await;
    prepare(&mut config);
    let bad = TwilioCaller::connect(config).await.expect("upgrade accepted");
    let mut bad = misbehave(bad).await;
    let (got_code, got_reason) = timeout(GUARD, bad.wait_closed())
        .await
        .expect("closed in time")
        .unwrap();
    assert_eq!(got_code, Some(code), "close code (reason {got_reason:?})");
    assert!(
        got_reason.contains(reason),
        "close reason {got_reason:?} should mention {reason:?}"
    );

    healthy.still_works(app).await;
}

/// A call that stays live while another call misbehaves.
struct HealthyCall {
    caller: TwilioCaller,
    upstream: FakeSession,
}

impl HealthyCall {
    async fn open(app: &TestApp, n: u32) -> HealthyCall {
        let caller = app.twilio_call(&call_sid(n)).await;
        let mut upstream = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
        upstream.wait_for("session.update").await.unwrap();
        HealthyCall { caller, upstream }
    }

    /// It still passes audio, and the server still answers.
    async fn still_works(mut self, app: &TestApp) {
        self.caller.send_audio_fast(&pattern(42, 3), 0).await.unwrap();
        timeout(GUARD, async {
            while self.upstream.appended_audio().len() < 480 {
                self.upstream.wait_for("input_audio_buffer.append").await.unwrap();
            }
        })
        .await
        .expect("healthy call unaffected");
        assert_eq!(app.get("/healthz").await.status, 200);
    }
}

#[tokio::test]
async fn malformed_json_closes_the_call() {
    let app = spawn_app().await;
    assert_refused(
        &app,
        1,
        |_| {},
        |mut c| async move {
            c.send_raw_text("{nope".into()).await.unwrap();
            c
        },
        1008,
        "malformed JSON",
    )
    .await;
}

#[tokio::test]
async fn bad_base64_closes_the_call() {
    let app = spawn_app().await;
    let frame = r#"{"event":"media","sequenceNumber":"2","streamSid":"MZx","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"@@not base64@@"}}"#;
    assert_refused(
        &app,
        2,
        |_| {},
        |mut c| async move {
            c.send_raw_text(frame.into()).await.unwrap();
            c
        },
        1008,
        "base64",
    )
    .await;
}

#[tokio::test]
async fn media_before_start_is_refused() {
    let app = spawn_app().await;
    assert_refused(
        &app,
        3,
        |c| c.send_start = false,
        |mut c| async move {
            c.send_media(&[0x55; 160], 0).await.unwrap();
            c
        },
        1008,
        "before `start`",
    )
    .await;
}

/// A frame beyond the WebSocket limit is not even read: the server drops the connection (the
/// unread bytes make the kernel answer with a reset, so no close frame can arrive), logs why, and
/// keeps serving.
#[tokio::test]
async fn oversized_frame_is_refused() {
    let app = spawn_app().await;
    let healthy = HealthyCall::open(&app, 9004).await;
    let mut bad = app.twilio_call(&call_sid(4)).await;
    let big = format!(
        r#"{{"event":"media","media":{{"timestamp":"0","payload":"{}"}}}}"#,
        "A".repeat(200_000)
    );
    let _ = bad.send_raw_text(big).await;
    let (code, _) = timeout(GUARD, bad.wait_closed())
        .await
        .expect("closed in time")
        .unwrap();
    assert!(code.is_none() || code == Some(1009), "{code:?}");
    timeout(GUARD, async {
        while !app.logs.contents().contains("frame exceeds the size limit") {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the reason is logged");
    healthy.still_works(&app).await;
}

#[tokio::test]
async fn oversized_payload_within_frame_limit_is_refused() {
    let app = spawn_app().await;
    let big = format!(
        r#"{{"event":"media","media":{{"timestamp":"0","payload":"{}"}}}}"#,
        "A".repeat(40_000)
    );
    assert_refused(
        &app,
        5,
        |_| {},
        |mut c| async move {
            c.send_raw_text(big).await.unwrap();
            c
        },
        1009,
        "exceeds",
    )
    .await;
}

#[tokio::test]
async fn unknown_event_closes_the_call() {
    let app = spawn_app().await;
    assert_refused(
        &app,
        6,
        |_| {},
        |mut c| async move {
            c.send_raw_text(r#"{"event":"party","streamSid":"MZx"}"#.into())
                .await
                .unwrap();
            c
        },
        1008,
        "unknown event",
    )
    .await;
}

#[tokio::test]
async fn wrong_media_format_is_refused() {
    let app = spawn_app().await;
    assert_refused(
        &app,
        7,
        |c| c.media_format = serde_json::json!({"encoding":"audio/x-l16","sampleRate":16000,"channels":1}),
        |c| async move { c },
        1008,
        "media format",
    )
    .await;
}

#[tokio::test]
async fn missing_token_is_refused() {
    let app = spawn_app().await;
    assert_refused(
        &app,
        8,
        |c| {
            c.custom_parameters.clear();
        },
        |c| async move { c },
        1008,
        "missing",
    )
    .await;
}

#[tokio::test]
async fn token_for_another_call_is_refused() {
    let app = spawn_app().await;
    assert_refused(
        &app,
        9,
        |c| c.call_sid = call_sid(99_999),
        |c| async move { c },
        1008,
        "another call",
    )
    .await;
}

#[tokio::test]
async fn binary_frame_is_refused() {
    let app = spawn_app().await;
    assert_refused(
        &app,
        10,
        |_| {},
        |mut c| async move {
            c.send_raw_binary(vec![1, 2, 3]).await.unwrap();
            c
        },
        1003,
        "binary",
    )
    .await;
}

#[tokio::test]
async fn second_start_is_refused() {
    let app = spawn_app().await;
    let start = r#"{"event":"start","sequenceNumber":"9","start":{"streamSid":"MZ1","accountSid":"AC1","callSid":"CA1","tracks":["inbound"],"customParameters":{},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}"#;
    assert_refused(
        &app,
        11,
        |_| {},
        |mut c| async move {
            c.send_raw_text(start.into()).await.unwrap();
            c
        },
        1008,
        "second",
    )
    .await;
}

#[tokio::test]
async fn expired_token_is_refused() {
    let clock = ManualClock::at_unix(1_900_000_000);
    let app = spawn_app_with(
        Options {
            clock: clock.clone(),
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let mut config = app.call_config(&call_sid(12)).await;
    clock.advance(Duration::from_secs(61));
    config.stream_sid = "MZexpired".into();
    let mut caller = TwilioCaller::connect(config).await.expect("upgrade accepted");
    let (code, reason) = timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert_eq!(code, Some(1008));
    assert!(reason.contains("expired"), "{reason}");
}

#[tokio::test]
async fn no_start_within_the_deadline_is_refused() {
    let app = spawn_app_with(Options::default(), |s| s.call.start_timeout_secs = 1).await;
    let mut config = app.call_config(&call_sid(13)).await;
    config.send_start = false;
    let mut caller = TwilioCaller::connect(config).await.expect("upgrade accepted");
    let (code, reason) = timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert_eq!(code, Some(1008));
    assert!(reason.contains("start"), "{reason}");
    assert!(app.logs.contents().contains("media stream refused at handshake"));
}
