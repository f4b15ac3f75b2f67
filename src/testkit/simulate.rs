//! `voicegate simulate`: one scripted call end to end, with no API key and no Twilio account.
//!
//! The server runs in-process on the embedded defaults (or a running server is driven instead);
//! a [`TwilioCaller`] calls it exactly as Twilio does — signed webhook, token from the TwiML,
//! signed WebSocket upgrade, `start` — so every check stays on; the realtime side is the
//! [`FakeRealtime`] peer playing a scripted agent. A readable timeline is printed as it happens.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::time::{Instant, timeout};

use crate::audio::mulaw;
use crate::config::{KeyedSecret, Settings};
use crate::startup::Application;
use crate::testkit::fake_realtime::{FakeRealtime, FakeRealtimeConfig, FakeSession};
use crate::testkit::twilio_caller::{TwilioCaller, TwilioCallerConfig};
use crate::testkit::webhook;
use crate::transport::twilio::signature;

/// Any single step taking longer than this means something is wrong: fail rather than hang.
const STEP: Duration = Duration::from_secs(15);

/// Where to run the simulated call.
#[derive(Debug, Clone, Default)]
pub struct SimulateOptions {
    /// Drive a running server at this base URL (it must use `fake_port` as its realtime URL).
    pub server: Option<String>,
    /// Port for the fake realtime peer when driving a running server.
    pub fake_port: Option<u16>,
    /// Twilio auth token of the running server (default: its generated key under `./data/keys`).
    pub auth_token: Option<String>,
    /// Public base URL the running server signs against (default: `server`).
    pub public_base: Option<String>,
    /// Configuration file for the in-process server.
    pub config: Option<PathBuf>,
    /// Print nothing (tests).
    pub quiet: bool,
}

/// What happened, for tests and for the closing summary.
#[derive(Debug, Clone)]
pub struct SimulationReport {
    /// Our id of the simulated call (for `voicegate recording export --call`).
    pub call_id: Option<String>,
    /// Twilio's id of the simulated call.
    pub call_sid: String,
    /// Where its encrypted recording was stored (in-process runs).
    pub recording_key: Option<String>,
    pub caller_bytes_sent: usize,
    pub upstream_bytes_received: usize,
    pub agent_bytes_played: u64,
    pub disclosure_bytes: u64,
    pub truncated_at_ms: Option<i64>,
    pub heard_at_barge_in_ms: Option<i64>,
}

struct Timeline {
    start: Instant,
    quiet: bool,
}

impl Timeline {
    fn line(&self, who: &str, what: impl AsRef<str>) {
        if !self.quiet {
            let t = self.start.elapsed().as_millis();
            println!("{:>5}.{:03} s  {who:<9} {}", t / 1000, t % 1000, what.as_ref());
        }
    }
}

/// Run the simulation; prints the timeline unless `quiet`.
///
/// # Errors
/// Any step that fails or hangs.
pub async fn run(options: SimulateOptions) -> anyhow::Result<SimulationReport> {
    let tl = Timeline {
        start: Instant::now(),
        quiet: options.quiet,
    };
    match &options.server {
        None => {
            let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await?;
            let mut settings = Settings::load(options.config.as_deref()).context("loading configuration")?;
            settings.server.port = 0;
            settings.realtime.url = fake.url();
            settings
                .realtime
                .api_key
                .get_or_insert_with(|| KeyedSecret::parse("simulated-key"));
            settings.ensure_keys().context("preparing keys")?;
            let auth_token = settings.twilio.auth_token.clone().context("no Twilio auth token")?;
            let app = Application::build(settings.clone()).await?;
            let app_state = app.state();
            let base = format!("http://127.0.0.1:{}", app.port());
            let public_base = settings.public_base().to_owned();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(app.run_until_stopped(async move {
                let _ = stop_rx.await;
            }));
            tl.line(
                "server",
                format!(
                    "voicegate started in-process on {base} (embedded defaults; data in {})",
                    settings.server.data_dir.display()
                ),
            );
            let state = app_state;
            let mut report = scripted_call(&tl, &fake, &base, &public_base, auth_token.bytes()).await;
            if let Ok(report) = report.as_mut() {
                // The call row names the recording once the recorder has stored it.
                let found = step("recording stored", async {
                    loop {
                        let rows = crate::storage::calls::find_by_call_sid(&state.deps.db, &report.call_sid).await?;
                        if let Some(row) = rows.into_iter().find(|r| r.recording_location.is_some()) {
                            return Ok(row);
                        }
                        tokio::task::yield_now().await;
                    }
                })
                .await;
                if let Ok(row) = found {
                    tl.line(
                        "server",
                        format!(
                            "recording stored encrypted at {}; decrypt it with: voicegate recording export --call {} --out call.wav",
                            row.recording_location.as_deref().unwrap_or(""),
                            row.call_id
                        ),
                    );
                    report.recording_key = row.recording_location;
                    report.call_id = Some(row.call_id);
                }
            }
            let _ = stop_tx.send(());
            let _ = timeout(STEP, server).await;
            report
        }
        Some(server) => {
            let port = options.fake_port.unwrap_or(9901);
            let fake = FakeRealtime::start_on(FakeRealtimeConfig::default(), port).await?;
            let token = match &options.auth_token {
                Some(t) => t.clone(),
                None => std::fs::read_to_string("data/keys/twilio-auth-token.key")
                    .context("no --auth-token and no data/keys/twilio-auth-token.key")?,
            };
            let token = KeyedSecret::parse(token.trim());
            let public_base = options.public_base.clone().unwrap_or_else(|| server.clone());
            tl.line(
                "sim",
                format!("driving {server}; its realtime.url must be {}", fake.url()),
            );
            scripted_call(&tl, &fake, server, &public_base, token.bytes()).await
        }
    }
}

/// Speech-like μ-law: voiced syllables (a few harmonics under an envelope) separated by short
/// pauses, so it is recognisably "someone talking" in a recording, not a test tone.
pub fn synthetic_speech(ms: usize, pitch_hz: f32) -> Vec<u8> {
    let n = ms * 8;
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f32 / 8000.0;
        let syllable = (t * 4.0).fract();
        let envelope = if syllable < 0.8 {
            (syllable / 0.8 * std::f32::consts::PI).sin()
        } else {
            0.0
        };
        let f0 = pitch_hz * (1.0 + 0.05 * (t * 3.0).sin());
        let voice: f32 = (1..=4)
            .map(|h| (t * f0 * h as f32 * std::f32::consts::TAU).sin() / h as f32)
            .sum();
        samples.push((voice * envelope * 6000.0) as i16);
    }
    let mut out = Vec::with_capacity(n);
    mulaw::encode_into(&samples, &mut out);
    out
}

async fn step<T>(what: &str, fut: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    match timeout(STEP, fut).await {
        Ok(r) => r.with_context(|| format!("step failed: {what}")),
        Err(_) => bail!("step timed out: {what}"),
    }
}

async fn scripted_call(
    tl: &Timeline,
    fake: &FakeRealtime,
    base: &str,
    public_base: &str,
    auth_token: &[u8],
) -> anyhow::Result<SimulationReport> {
    let mut sid = [0u8; 16];
    getrandom::fill(&mut sid).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let call_sid = format!("CA{}", crate::config::hex(&sid));
    let mut params = BTreeMap::new();
    params.insert("CallSid".to_owned(), call_sid.clone());
    params.insert("AccountSid".to_owned(), "ACsimulated0000000000000000000000".to_owned());
    params.insert("From".to_owned(), "+15550100000".to_owned());
    params.insert("To".to_owned(), "+15550199999".to_owned());
    params.insert("CallStatus".to_owned(), "ringing".to_owned());
    let answer = step(
        "webhook",
        webhook::post_signed(base, public_base, "/twilio/voice", &params, Some(auth_token)),
    )
    .await?;
    if answer.status != 200 {
        bail!("webhook answered HTTP {}: {}", answer.status, answer.body);
    }
    let stream_url = webhook::twiml_attr(&answer.body, "<Stream", "url").context("no <Stream url> in TwiML")?;
    let token = webhook::twiml_attr(&answer.body, "<Parameter", "value").context("no token <Parameter> in TwiML")?;
    tl.line(
        "twilio",
        "POST /twilio/voice (signed) -> TwiML <Connect><Stream> with a per-call token, then <Redirect>",
    );

    let media_url = format!("{}/twilio/media", base.replacen("http", "ws", 1));
    let mut config = TwilioCallerConfig::new(media_url, call_sid.clone());
    config.signature = Some(signature::compute(auth_token, &stream_url, &[]));
    config.custom_parameters.insert("token".into(), token);
    let mut caller = step("media upgrade", TwilioCaller::connect(config)).await?;
    tl.line(
        "twilio",
        "WS /twilio/media (upgrade signed over the public wss:// URL) -> connected, start (token accepted)",
    );
    // The server sends one mark after each agent audio chunk, numbered a0, a1, ... for the whole
    // call; the script counts them to know which echo means "this much was heard".
    let mut marks = MarkCounter(0);

    let mut agent = step("upstream connects", fake.next_session()).await?;
    let update = step("session.update", agent.wait_for("session.update")).await?;
    tl.line(
        "server",
        format!(
            "-> realtime: session.update (input {}, voice {}, server VAD)",
            update["session"]["audio"]["input"]["format"]["type"], update["session"]["audio"]["output"]["voice"]
        ),
    );

    // The greeting, generated while the disclosure is still playing.
    step("greeting requested", agent.wait_for("response.create")).await?;
    let greeting = synthetic_speech(2000, 190.0);
    agent
        .respond_audio(
            &greeting,
            1600,
            "Hello, thank you for calling Riverside Clinic. How can I help?",
        )
        .await?;
    tl.line(
        "agent",
        "\"Hello, thank you for calling Riverside Clinic. How can I help?\" (2.0 s of audio)",
    );
    let disclosure_bytes = step("disclosure heard", caller.wait_for_mark_echo("disclosure")).await?;
    tl.line(
        "caller",
        format!(
            "heard the recording disclosure in full ({:.1} s)",
            disclosure_bytes as f64 / 8000.0
        ),
    );
    let greeting_end = marks.last_after(greeting.len().div_ceil(1600));
    step("greeting heard", caller.wait_for_mark_echo(&greeting_end)).await?;
    tl.line("caller", "heard the greeting (marks echoed as it played)");

    // The caller speaks, in real time.
    let speech = synthetic_speech(1200, 120.0);
    caller.send_audio_paced(&speech).await?;
    step("caller audio upstream", async {
        while agent.appended_audio().len() < speech.len() {
            agent.wait_for("input_audio_buffer.append").await?;
        }
        Ok(())
    })
    .await?;
    tl.line(
        "caller",
        "speaks for 1.2 s -> every frame appended upstream, byte for byte",
    );
    agent.speech_started(0).await?;
    agent.speech_stopped(1200).await?;
    agent
        .user_transcript("I would like to book a check-up with Doctor Rivera.")
        .await?;
    tl.line(
        "realtime",
        "caller transcript: \"I would like to book a check-up with Doctor Rivera.\"",
    );

    // A long answer the caller interrupts.
    let ids = agent.begin_response().await?;
    let long = synthetic_speech(4000, 190.0);
    for chunk in long.chunks(800) {
        agent.audio_delta(&ids, chunk).await?;
    }
    tl.line(
        "agent",
        "\"Of course. Doctor Rivera has openings on Tuesday morning and ...\" (4.0 s queued at the caller)",
    );
    let before_long = marks.0;
    let _ = marks.last_after(long.len().div_ceil(800));
    // Let 1.3 s of the answer play, then barge in.
    step(
        "agent audio playing",
        caller.wait_for_mark_echo(&format!("a{}", before_long + 12)),
    )
    .await?;
    agent.speech_started(1400).await?;
    tl.line("realtime", "speech_started: the caller talks over the agent");
    let (played_at_clear, discarded) = step("clear", caller.wait_for_clear()).await?;
    let truncate = step("truncate", agent.wait_for("conversation.item.truncate")).await?;
    let heard_ms = (played_at_clear as i64 - disclosure_bytes as i64 - greeting.len() as i64) / 8;
    let truncated_ms = truncate["audio_end_ms"].as_i64();
    tl.line(
        "server",
        format!(
            "-> twilio: clear ({:.1} s of queued audio dropped); -> realtime: truncate at {} ms (caller heard {heard_ms} ms)",
            discarded as f64 / 8000.0,
            truncated_ms.unwrap_or(-1)
        ),
    );
    let interruption = synthetic_speech(800, 120.0);
    caller.send_audio_paced(&interruption).await?;
    agent.speech_stopped(2300).await?;
    agent
        .user_transcript("Actually, could we do Wednesday instead?")
        .await?;
    tl.line(
        "realtime",
        "caller transcript: \"Actually, could we do Wednesday instead?\"",
    );
    let reply = synthetic_speech(1500, 190.0);
    agent
        .respond_audio(&reply, 1600, "Wednesday works. I can help you with that.")
        .await?;
    tl.line("agent", "\"Wednesday works. I can help you with that.\" (1.5 s)");
    let reply_end = marks.last_after(reply.len().div_ceil(1600));
    step("reply heard", caller.wait_for_mark_echo(&reply_end)).await?;
    tl.line("caller", "heard the reply");

    caller.send_stop().await?;
    tl.line("twilio", "stop (the caller hung up)");
    step("upstream closed", agent.closed()).await?;
    tl.line("server", "closed the realtime session at once; call finalised");
    let violations = agent.violations();
    if !violations.is_empty() {
        bail!("the realtime protocol was not followed: {violations:?}");
    }
    report(
        &mut agent,
        &caller,
        disclosure_bytes,
        speech.len() + interruption.len(),
        truncated_ms,
        heard_ms,
    )
}

/// Counts the marks the server has sent (one per agent audio chunk).
struct MarkCounter(usize);

impl MarkCounter {
    /// The name of the last mark after `chunks` more chunks.
    fn last_after(&mut self, chunks: usize) -> String {
        self.0 += chunks;
        format!("a{}", self.0 - 1)
    }
}

fn report(
    agent: &mut FakeSession,
    caller: &TwilioCaller,
    disclosure_bytes: u64,
    caller_bytes_sent: usize,
    truncated_ms: Option<i64>,
    heard_ms: i64,
) -> anyhow::Result<SimulationReport> {
    Ok(SimulationReport {
        call_id: None,
        call_sid: caller.config().call_sid.clone(),
        recording_key: None,
        caller_bytes_sent,
        upstream_bytes_received: agent.appended_audio().len(),
        agent_bytes_played: caller.played_bytes().saturating_sub(disclosure_bytes),
        disclosure_bytes,
        truncated_at_ms: truncated_ms,
        heard_at_barge_in_ms: Some(heard_ms),
    })
}
