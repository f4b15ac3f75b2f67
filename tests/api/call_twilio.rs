//! Whole Twilio calls through the real server and the fake realtime peer.

use std::collections::HashSet;

use tokio::time::timeout;
use voicegate::testkit::twilio_caller::CallerObservation;

use crate::helpers::*;

/// Audio flows both ways byte for byte; caller audio sent before the upstream was ready is held
/// and delivered in order after `session.update`; marks are echoed; `stop` closes the upstream.
#[tokio::test]
async fn full_call_passes_audio_both_ways_and_loses_no_early_frame() {
    let mut app = spawn_app_with(
        Options {
            gate_upstream: true,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let mut caller = app.twilio_call(&call_sid(1)).await;

    // 2 s of caller audio while the upstream is still held at the gate.
    let early = pattern(7, 100);
    caller.send_audio_fast(&early, 0).await.unwrap();
    // Wait until the server has buffered all of it (the metric counts frames held back).
    timeout(GUARD, async {
        while !app
            .get("/metrics")
            .await
            .body
            .contains("voicegate_caller_frames_buffered_total 100")
        {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("server buffered the early frames");
    app.gate.as_ref().unwrap().notify_one();

    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    assert_eq!(fake.model().as_deref(), Some("gpt-realtime"));
    let update = fake.wait_for("session.update").await.unwrap();
    assert_eq!(update["session"]["audio"]["input"]["format"]["type"], "audio/pcmu");
    assert_eq!(update["session"]["audio"]["output"]["format"]["type"], "audio/pcmu");

    let late = pattern(9, 50);
    caller.send_audio_fast(&late, 2000).await.unwrap();
    let expected: Vec<u8> = early.iter().chain(late.iter()).copied().collect();
    timeout(GUARD, async {
        while fake.appended_audio().len() < expected.len() {
            fake.wait_for("input_audio_buffer.append").await.unwrap();
        }
    })
    .await
    .expect("all caller audio reached the upstream");
    assert_eq!(
        fake.appended_audio(),
        expected,
        "caller audio is passed through byte for byte, in order"
    );
    let first_append = fake
        .received()
        .iter()
        .position(|e| e["type"] == "input_audio_buffer.append")
        .unwrap();
    let update_at = fake
        .received()
        .iter()
        .position(|e| e["type"] == "session.update")
        .unwrap();
    assert!(update_at < first_append, "session.update precedes the first append");

    // The greeting: the agent's audio reaches the caller unchanged, after the disclosure.
    assert!(
        fake.received().iter().any(|e| e["type"] == "response.create"),
        "the agent greets first"
    );
    let agent = pattern(3, 25);
    fake.respond_audio(&agent, 800, "Hello, how can I help?").await.unwrap();
    let disclosure_end = timeout(GUARD, caller.wait_for_mark_echo("disclosure"))
        .await
        .unwrap()
        .unwrap();
    let last_mark = timeout(GUARD, async {
        loop {
            match caller.next_event().await {
                Some(CallerObservation::MarkEchoed { name, .. }) if name == "a4" => return name,
                Some(_) => continue,
                None => panic!("caller closed"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        last_mark, "a4",
        "one named mark per agent chunk, echoed after it played"
    );
    let played = caller.played_audio();
    assert_eq!(
        &played[disclosure_end as usize..],
        &agent[..],
        "agent audio played byte for byte"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    caller.send_stop().await.unwrap();
    timeout(GUARD, fake.closed())
        .await
        .expect("upstream closed after stop")
        .unwrap();
    // The call's slot is released once it has finalised.
    timeout(GUARD, async {
        while app.state.deps.metrics.active_calls.get() != 0 || app.state.calls.available_permits() != 200 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("call slot released");
    app.stop();
}

/// Barge-in with more than 1 s of agent audio queued: the truncation matches what the caller
/// actually heard within one 20 ms frame; stale marks after `clear` are ignored; the response in
/// flight is left to the server's own `interrupt_response` cancel (no racing `response.cancel`),
/// and its late audio is dropped.
#[tokio::test]
async fn barge_in_truncates_at_what_the_caller_heard() {
    let app = spawn_app().await;
    let mut caller = app.twilio_call(&call_sid(2)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("response.create").await.unwrap();
    caller.send_audio_fast(&pattern(1, 5), 0).await.unwrap();

    // 3 s of agent audio in 100 ms deltas, response left in flight.
    let ids = fake.begin_response().await.unwrap();
    let agent = pattern(5, 150);
    for chunk in agent.chunks(800) {
        fake.audio_delta(&ids, chunk).await.unwrap();
    }
    let disclosure_end = timeout(GUARD, caller.wait_for_mark_echo("disclosure"))
        .await
        .unwrap()
        .unwrap();
    // Let about 1.2 s of the item play (mark a11 = 1.2 s), leaving 1.8 s queued.
    timeout(GUARD, caller.wait_for_mark_echo("a11")).await.unwrap().unwrap();

    fake.speech_started(1000).await.unwrap();
    let (played_at_clear, discarded) = timeout(GUARD, caller.wait_for_clear()).await.unwrap().unwrap();
    assert!(
        discarded >= 8000,
        "at least 1 s was still queued when the caller barged in ({discarded} bytes)"
    );
    let truncate = fake.wait_for("conversation.item.truncate").await.unwrap();
    assert_eq!(truncate["item_id"], ids.item_id.as_str());
    let heard_ms = (played_at_clear - disclosure_end) as i64 / 8;
    let sent_ms = truncate["audio_end_ms"].as_i64().unwrap();
    assert!(
        (sent_ms - heard_ms).abs() <= 20,
        "truncated at {sent_ms} ms, caller heard {heard_ms} ms"
    );
    assert!(sent_ms > 0 && sent_ms <= 3000);

    // Pending marks came back because of the clear; the server must not count them as played,
    // and the next turn plays normally.
    assert!(caller.mark_echoes().iter().any(|m| m.due_to_clear));
    let next = pattern(11, 10);
    let before = caller.received_bytes();
    fake.respond_audio(&next, 800, "Sure.").await.unwrap();
    timeout(GUARD, async {
        while caller.received_bytes() < before + next.len() as u64 {
            caller.next_event().await.expect("caller open");
        }
    })
    .await
    .unwrap();
    let truncates = fake
        .received()
        .iter()
        .filter(|e| e["type"] == "conversation.item.truncate")
        .count();
    assert!(
        !fake.received().iter().any(|e| e["type"] == "response.cancel"),
        "no cancel racing the server's own"
    );
    assert_eq!(truncates, 1, "stale marks did not cause another truncation");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

/// 50 concurrent calls: every caller's audio reaches only its own upstream session, and every
/// agent reply reaches only its own caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_stay_isolated() {
    let app = std::sync::Arc::new(spawn_app().await);
    let mut callers = Vec::new();
    for n in 0..50u32 {
        let app = app.clone();
        callers.push(tokio::spawn(async move {
            let mut caller = app.twilio_call(&call_sid(100 + n)).await;
            caller.send_audio_fast(&pattern(n as u8, 10), 0).await.unwrap();
            caller
        }));
    }
    let mut sessions = Vec::new();
    for _ in 0..50 {
        sessions.push(
            timeout(GUARD, async { app.fake.next_session().await })
                .await
                .unwrap()
                .unwrap(),
        );
    }
    // Each upstream session receives exactly one caller's pattern; answer with that call's seed.
    let mut seen = HashSet::new();
    for session in sessions.iter_mut() {
        timeout(GUARD, async {
            while session.appended_audio().len() < 1600 {
                session.wait_for("input_audio_buffer.append").await.unwrap();
            }
        })
        .await
        .unwrap();
        let audio = session.appended_audio();
        let n = (0..50u32)
            .find(|n| audio == pattern(*n as u8, 10))
            .expect("audio is exactly one caller's pattern");
        assert!(seen.insert(n), "two upstream sessions got call {n}'s audio");
        session
            .respond_audio(&pattern(n as u8 + 100, 5), 800, "ok")
            .await
            .unwrap();
    }
    for (n, caller) in callers.into_iter().enumerate() {
        let mut caller = caller.await.unwrap();
        let disclosure_end = timeout(GUARD, caller.wait_for_mark_echo("disclosure"))
            .await
            .unwrap()
            .unwrap() as usize;
        timeout(GUARD, caller.wait_for_mark_echo("a0")).await.unwrap().unwrap();
        let expected = pattern(n as u8 + 100, 5);
        let got = loop {
            let played = caller.played_audio();
            if played.len() >= disclosure_end + expected.len() {
                break played[disclosure_end..disclosure_end + expected.len()].to_vec();
            }
            caller.next_event().await.expect("caller open");
        };
        assert_eq!(got, expected, "call {n} heard only its own agent");
    }
}
