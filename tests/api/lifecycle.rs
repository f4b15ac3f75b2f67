//! How calls end: capacity, upstream failures, idle callers, the time limit, liveness, shutdown.
//! Every way the AI side fails ends in a spoken `/twilio/voice/next` step, never a silent hang-up.

use tokio::time::timeout;
use voicegate::call::registry::script;
use voicegate::testkit::twilio_caller::TwilioCaller;

use crate::helpers::*;

#[tokio::test]
async fn at_capacity_the_webhook_answers_busy_without_a_stream() {
    let app = spawn_app_with(Options::default(), |s| s.server.max_concurrent_calls = 1).await;
    let _first = app.twilio_call(&call_sid(1)).await;
    let _session = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    let answer = app.post_voice(&call_params(&call_sid(2)), true).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.contains(script::BUSY) && answer.body.contains("<Hangup/>"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("<Stream"), "no stream opened at capacity");
    assert!(
        app.get("/metrics")
            .await
            .body
            .contains(r#"voicegate_calls_refused_total{reason="capacity"} 1"#)
    );
}

#[tokio::test]
async fn at_capacity_a_racing_upgrade_is_refused_and_the_next_step_speaks() {
    let app = spawn_app_with(Options::default(), |s| {
        s.server.max_concurrent_calls = 1;
        s.twilio.staff_number = Some("+15550001111".into());
    })
    .await;
    // Both webhooks answered before either stream opened.
    let second = app.call_config(&call_sid(2)).await;
    let _first = app.twilio_call(&call_sid(1)).await;
    let err = TwilioCaller::connect(second)
        .await
        .err()
        .expect("upgrade refused at capacity");
    assert!(err.to_string().contains("503"), "{err}");
    let next = app.post_next(&call_sid(2)).await.body;
    assert!(
        next.contains(script::UNAVAILABLE) && next.contains("<Dial>+15550001111</Dial>"),
        "{next}"
    );
}

#[tokio::test]
async fn upstream_refused_ends_in_the_spoken_unavailable_step() {
    // With the keypad fallback turned off (tests/api/keypad.rs has it on).
    let app = spawn_app_with(Options::default(), |s| s.call.keypad_fallback = false).await;
    app.fake.set_refuse_status(Some(503));
    let mut caller = app.twilio_call(&call_sid(3)).await;
    let (code, _) = timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert_eq!(code, Some(1000), "Twilio continues the TwiML after a normal close");
    let next = app.post_next(&call_sid(3)).await.body;
    assert!(next.contains(script::UNAVAILABLE) && next.contains("<Say"), "{next}");
    assert!(
        app.get("/metrics")
            .await
            .body
            .contains(r#"voicegate_upstream_errors_total{kind="refused"} 1"#)
    );
}

#[tokio::test]
async fn upstream_that_stops_answering_pings_is_detected() {
    // Detection alone: with reconnects and the keypad off, the lost upstream ends the call
    // (tests/api/resilience.rs and keypad.rs cover what happens with them on).
    let app = spawn_app_with(Options::default(), |s| {
        s.realtime.ping_interval_secs = 1;
        s.realtime.pong_timeout_secs = 1;
        s.realtime.reconnect_attempts = 0;
        s.call.keypad_fallback = false;
    })
    .await;
    let mut caller = app.twilio_call(&call_sid(5)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    fake.set_answer_pings(false);
    let (code, _) = timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert_eq!(code, Some(1000));
    assert!(fake.pings_received() >= 1);
    assert!(app.post_next(&call_sid(5)).await.body.contains(script::UNAVAILABLE));
    assert!(app.get("/metrics").await.body.contains(r#"kind="pong_timeout""#));
}

#[tokio::test]
async fn an_idle_upstream_that_answers_pings_stays_up() {
    let app = spawn_app_with(Options::default(), |s| {
        s.realtime.ping_interval_secs = 1;
        s.realtime.pong_timeout_secs = 1;
    })
    .await;
    let mut caller = app.twilio_call(&call_sid(6)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    // Three pings answered while no event flows: the call is still up.
    timeout(GUARD, async {
        while fake.pings_received() < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    caller.send_audio_fast(&pattern(1, 1), 0).await.unwrap();
    fake.wait_for("input_audio_buffer.append").await.unwrap();
}

#[tokio::test]
async fn a_silent_caller_is_prompted_then_the_call_ends_with_a_goodbye() {
    let app = spawn_app_with(Options::default(), |s| {
        s.call.idle_prompt_after_secs = 1;
        s.call.idle_hangup_after_secs = 1;
        s.realtime.greeting = String::new();
    })
    .await;
    let mut caller = app.twilio_call(&call_sid(7)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    let prompt = fake.wait_for("response.create").await.unwrap();
    assert!(
        prompt["response"]["instructions"]
            .as_str()
            .unwrap()
            .contains("still there")
    );
    let (code, _) = timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert_eq!(code, Some(1000));
    assert!(app.post_next(&call_sid(7)).await.body.contains(script::IDLE_GOODBYE));
    timeout(GUARD, fake.closed()).await.unwrap().unwrap();
}

#[tokio::test]
async fn the_maximum_call_length_ends_with_a_goodbye() {
    let app = spawn_app_with(Options::default(), |s| s.call.max_duration_secs = 1).await;
    let mut caller = app.twilio_call(&call_sid(8)).await;
    let (code, _) = timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert_eq!(code, Some(1000));
    assert!(app.post_next(&call_sid(8)).await.body.contains(script::MAX_DURATION));
}

#[tokio::test]
async fn shutdown_drains_then_ends_remaining_calls_politely() {
    let mut app = spawn_app_with(Options::default(), |s| s.server.drain_deadline_secs = 1).await;
    let mut caller = app.twilio_call(&call_sid(9)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    app.stop();
    timeout(GUARD, async {
        while app.get("/readyz").await.status != 503 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("readiness turns 503 while draining");
    let refused = app.post_voice(&call_params(&call_sid(10)), true).await;
    assert!(
        refused.body.contains(script::BUSY),
        "new calls are refused while draining"
    );
    // The live call continues during the drain...
    caller.send_audio_fast(&pattern(2, 1), 0).await.unwrap();
    fake.wait_for("input_audio_buffer.append").await.unwrap();
    // ...and at the deadline it is ended with a goodbye Twilio can still fetch.
    let (code, _) = timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert_eq!(code, Some(1000));
    assert!(app.post_next(&call_sid(9)).await.body.contains(script::SHUTDOWN));
    let server = std::mem::replace(&mut app.server, tokio::spawn(async { Ok(()) }));
    timeout(GUARD, server)
        .await
        .expect("server stops after the drain")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn health_and_metrics_answer_and_carry_no_phi_labels() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status, 200);
    assert_eq!(app.get("/readyz").await.status, 200);
    let metrics = app.get("/metrics").await.body;
    assert!(metrics.contains("voicegate_active_calls"));
    assert!(metrics.contains("voicegate_frame_latency_seconds"));
    assert!(!metrics.contains("+1555"), "no caller numbers in metrics");
}

/// The auth header form is configuration: Azure OpenAI's `api-key` instead of a bearer token.
#[tokio::test]
async fn the_upstream_key_can_travel_as_azure_api_key() {
    let app = spawn_app_with(Options::default(), |s| {
        s.realtime.auth_header = voicegate::config::AuthHeader::ApiKey;
    })
    .await;
    let _caller = app.twilio_call(&call_sid(11)).await;
    let session = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    assert_eq!(session.header("api-key").as_deref(), Some(API_KEY));
    assert_eq!(session.header("authorization"), None);
    assert_eq!(session.header("openai-beta"), None, "never the retired beta header");
}
