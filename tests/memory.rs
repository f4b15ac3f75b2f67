//! A long call keeps the server's memory flat: a call in accelerated media time (caller frames
//! sent back to back, agent audio every minute), recording spooled, not held.
//!
//! The server runs as its own process (the real binary), so its resident memory is measured
//! alone, from `/proc/<pid>/status`, not mixed with the test's fake peer (which keeps everything it
//! receives). CI runs five minutes of call; the hour-long run is the documented command
//! `VOICEGATE_LONG_CALL_MINUTES=60 cargo test --all-features --test memory -- --nocapture`.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::collections::BTreeMap;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::timeout;
use voicegate::testkit::fake_realtime::{FakeRealtime, FakeRealtimeConfig};
use voicegate::testkit::twilio_caller::{TwilioCaller, TwilioCallerConfig};
use voicegate::testkit::webhook;
use voicegate::transport::twilio::signature;

use helpers::*;

/// Resident set size of a process, in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Bound on the server's growth after the first minute: its per-call window is 2 s of audio plus
/// agent audio queued ahead. Holding the call instead (5 min × 8 kHz × 2 channels × 2 bytes =
/// 9.6 MB, plus the μ-law and base64 copies) would exceed it several times over.
const RSS_GROWTH_BOUND_KIB: u64 = 4 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_call_keeps_the_server_memory_flat() {
    let minutes: u64 = std::env::var("VOICEGATE_LONG_CALL_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(5);
    let data = tempfile::tempdir().unwrap();
    let wav = data.path().join("disclosure.wav");
    write_tone_wav(&wav, 8000, 800, 300.0);
    let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await.unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_voicegate"))
        .args(["serve", "--port", "0"])
        .env("VOICEGATE__SERVER__DATA_DIR", data.path())
        .env("VOICEGATE__SERVER__PUBLIC_BASE_URL", PUBLIC_BASE)
        .env("VOICEGATE__TWILIO__AUTH_TOKEN", AUTH_TOKEN)
        .env("VOICEGATE__REALTIME__URL", fake.url())
        .env("VOICEGATE__CALL__DISCLOSURE_WAV", &wav)
        .env("VOICEGATE__CALL__IDLE_PROMPT_AFTER_SECS", "100000")
        .env("OPENAI_API_KEY", API_KEY)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = server.id().unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let port: u16 = timeout(GUARD, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("voicegate listening") {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                return v["fields"]["port"].as_u64().unwrap() as u16;
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server starts");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    // A call exactly as Twilio makes it.
    let base = format!("http://127.0.0.1:{port}");
    let mut params = BTreeMap::new();
    params.insert("CallSid".to_owned(), call_sid(1));
    let answer = webhook::post_signed(
        &base,
        PUBLIC_BASE,
        "/twilio/voice",
        &params,
        Some(AUTH_TOKEN.as_bytes()),
    )
    .await
    .unwrap();
    let token = webhook::twiml_attr(&answer.body, "<Parameter", "value").unwrap();
    let mut config = TwilioCallerConfig::new(format!("ws://127.0.0.1:{port}/twilio/media"), call_sid(1));
    config.signature = Some(signature::compute(
        AUTH_TOKEN.as_bytes(),
        "wss://voice.test.example/twilio/media",
        &[],
    ));
    config.custom_parameters.insert("token".into(), token);
    let mut caller = TwilioCaller::connect(config).await.unwrap();
    let mut agent = timeout(GUARD, fake.next_session()).await.unwrap().unwrap();
    agent.wait_for("session.update").await.unwrap();

    let frames_per_minute = 60 * 50;
    let reply = pattern(7, 50);
    let mut samples = Vec::new();
    for minute in 0..minutes {
        let audio = pattern((minute % 200) as u8, frames_per_minute);
        caller.send_audio_fast(&audio, minute * 60_000).await.unwrap();
        let ids = agent.begin_response().await.unwrap();
        agent.audio_delta(&ids, &reply).await.unwrap();
        agent.end_response(&ids, "ok").await.unwrap();
        // Everything sent so far has passed through the server before memory is read.
        let expected = ((minute + 1) * frames_per_minute as u64 * 160) as usize;
        timeout(GUARD, async {
            while agent.appended_audio().len() < expected {
                agent.wait_for("input_audio_buffer.append").await.unwrap();
            }
        })
        .await
        .expect("audio keeps flowing");
        caller.drain_events();
        samples.push(rss_kib(pid));
    }
    let first = samples[0];
    let max = *samples.iter().max().unwrap();
    eprintln!(
        "server RSS after each minute of call (KiB): {samples:?}; growth after minute 1: {} KiB",
        max - first
    );
    assert!(
        max - first < RSS_GROWTH_BOUND_KIB,
        "server memory grew {} KiB over {minutes} minutes",
        max - first
    );
    caller.send_stop().await.unwrap();
    timeout(GUARD, agent.closed()).await.unwrap().unwrap();
    let _ = server.kill().await;
}
