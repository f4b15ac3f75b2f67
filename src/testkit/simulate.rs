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
    /// What the call does.
    pub scenario: Scenario,
}

/// What the simulated caller and agent do after the greeting. Every scenario runs the real tools
/// against the configured EHR (the demo clinic by default), so what is printed really happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Verify, find a dermatology slot, book it, read it back.
    #[default]
    Booking,
    /// Verify, book, list the appointments, cancel the new one.
    Cancel,
    /// Verify, book, then move it to a later slot.
    Reschedule,
    /// Three wrong birth dates: no more attempts, a callback instead.
    VerificationFailure,
    /// The caller describes chest pain: the server plays the 911 script, every tool refuses.
    Emergency,
    /// The caller talks over a long answer: clear, truncation at what was heard.
    BargeIn,
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
    /// Each tool the agent called and the server's answer (`ok` and `say`).
    pub tools: Vec<(String, serde_json::Value)>,
    /// The server played its red-flag script and the caller heard all of it.
    pub emergency_script: bool,
    /// The confirmations the call's changes planned, once each was attempted (in-process runs
    /// with a notification channel on).
    pub notifications: Vec<crate::notify::outbox::NotificationRow>,
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
            let mut report = scripted_call(&tl, &fake, &base, &public_base, auth_token.bytes(), options.scenario).await;
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
                if let Some(call_id) = report.call_id.clone()
                    && !state.deps.notify.channels().is_empty()
                {
                    report.notifications = confirmations(&tl, &state.deps.db, &call_id).await?;
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
            scripted_call(&tl, &fake, server, &public_base, token.bytes(), options.scenario).await
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

/// Wait for the confirmations the call planned to be attempted, and print each.
async fn confirmations(
    tl: &Timeline,
    db: &crate::storage::Db,
    call_id: &str,
) -> anyhow::Result<Vec<crate::notify::outbox::NotificationRow>> {
    let rows = step("confirmation attempted", async {
        loop {
            let rows = crate::notify::outbox::for_call(db, call_id).await?;
            let mut confirmations = rows.iter().filter(|r| r.kind != "reminder").peekable();
            if confirmations.peek().is_some() && confirmations.all(|r| r.status != "planned") {
                return Ok(rows);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await?;
    for r in &rows {
        let line = match (r.kind.as_str(), r.sent_at_ms) {
            ("reminder", _) => format!(
                "{} reminder planned for {} min before the visit",
                r.channel,
                r.offset_min.unwrap_or(0)
            ),
            (_, Some(sent)) => format!(
                "{} {} by {} {} ms after the change committed",
                r.template_id.as_deref().unwrap_or(&r.kind),
                r.status,
                r.channel,
                sent - r.created_at_ms
            ),
            _ => format!(
                "{} {} by {} ({})",
                r.kind,
                r.status,
                r.channel,
                r.last_error.as_deref().unwrap_or("")
            ),
        };
        tl.line("notify", line);
    }
    Ok(rows)
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
    scenario: Scenario,
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
    if scenario != Scenario::BargeIn {
        let mut script = Script {
            tl,
            agent,
            caller,
            marks,
            tools: Vec::new(),
            caller_bytes: 0,
        };
        let emergency = script.run(scenario).await?;
        script.caller.send_stop().await?;
        tl.line("twilio", "stop (the caller hung up)");
        step("upstream closed", script.agent.closed()).await?;
        tl.line("server", "closed the realtime session at once; call finalised");
        let violations = script.agent.violations();
        if !violations.is_empty() {
            bail!("the realtime protocol was not followed: {violations:?}");
        }
        let mut out = report(
            &mut script.agent,
            &script.caller,
            disclosure_bytes,
            script.caller_bytes,
            None,
            0,
        )?;
        out.heard_at_barge_in_ms = None;
        out.tools = script.tools;
        out.emergency_script = emergency;
        return Ok(out);
    }

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
        tools: Vec::new(),
        emergency_script: false,
        notifications: Vec::new(),
    })
}

/// A scenario in progress: the caller, the scripted agent, and what the tools answered.
struct Script<'a> {
    tl: &'a Timeline,
    agent: FakeSession,
    caller: TwilioCaller,
    marks: MarkCounter,
    tools: Vec<(String, serde_json::Value)>,
    caller_bytes: usize,
}

/// The demo clinic's first patient, as a caller would say the details.
fn jane(date_of_birth: &str) -> serde_json::Value {
    serde_json::json!({"first_name": "Jane", "last_name": "Doe", "date_of_birth": date_of_birth, "phone": "555 010 0001"})
}

impl Script<'_> {
    /// The caller speaks (real-time paced audio), the server VAD events and the transcript follow.
    async fn caller_says(&mut self, text: &str) -> anyhow::Result<()> {
        let speech = synthetic_speech(600, 120.0);
        let before = self.agent.appended_audio().len();
        self.caller.send_audio_paced(&speech).await?;
        self.caller_bytes += speech.len();
        step("caller audio upstream", async {
            while self.agent.appended_audio().len() < before + speech.len() {
                self.agent.wait_for("input_audio_buffer.append").await?;
            }
            Ok(())
        })
        .await?;
        self.agent.speech_started(0).await?;
        self.agent.speech_stopped(600).await?;
        self.agent.user_transcript(text).await?;
        self.tl.line("caller", format!("\"{text}\""));
        Ok(())
    }

    /// The agent speaks `text` and the caller hears all of it.
    async fn agent_says(&mut self, text: &str) -> anyhow::Result<()> {
        let speech = synthetic_speech(800, 190.0);
        self.agent.respond_audio(&speech, 1600, text).await?;
        let end = self.marks.last_after(speech.len().div_ceil(1600));
        step("agent reply heard", self.caller.wait_for_mark_echo(&end)).await?;
        self.tl.line("agent", format!("\"{text}\""));
        Ok(())
    }

    /// The model calls a tool; the server runs it and asks for a spoken answer, which the agent
    /// gives from the tool's `say`. Returns the tool's output.
    async fn tool(&mut self, name: &str, args: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let call_id = self.agent.function_call(name, &args).await?;
        let out = step(name, async {
            loop {
                let e = self.agent.wait_for("conversation.item.create").await?;
                if e["item"]["call_id"] == call_id.as_str() {
                    let text = e["item"]["output"].as_str().unwrap_or("{}");
                    return Ok(serde_json::from_str::<serde_json::Value>(text)?);
                }
            }
        })
        .await?;
        self.tl.line(
            "tool",
            format!("{name} -> {}", if out["ok"] == true { "ok" } else { "refused" }),
        );
        self.tools.push((name.to_owned(), out.clone()));
        step("response after the tool", self.agent.wait_for("response.create")).await?;
        let say = out["say"].as_str().unwrap_or("Done.").to_owned();
        self.agent_says(&say).await?;
        Ok(out)
    }

    /// A tool that must succeed for the scenario to go on.
    async fn tool_ok(&mut self, name: &str, args: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let out = self.tool(name, args).await?;
        if out["ok"] != true {
            bail!("{name} was refused: {}", out["say"]);
        }
        Ok(out)
    }

    fn first_slot(out: &serde_json::Value, index: usize) -> anyhow::Result<String> {
        out["slots"][index]["slot"]
            .as_str()
            .map(str::to_owned)
            .context("find_slots returned too few slots")
    }

    /// Verify, find dermatology slots, book the first; returns (slots output, appointment id).
    async fn verify_and_book(&mut self) -> anyhow::Result<(serde_json::Value, String)> {
        self.caller_says("I'd like to see a dermatologist. I'm Jane Doe, born February 14th, 1980.")
            .await?;
        self.tool_ok("verify_patient", jane("February 14, 1980")).await?;
        let providers = self
            .tool_ok("search_providers", serde_json::json!({"specialty": "dermatology"}))
            .await?;
        let provider = providers["providers"][0]["provider_id"].clone();
        let slots = self
            .tool_ok("find_slots", serde_json::json!({"provider_id": provider}))
            .await?;
        self.caller_says("The first one works.").await?;
        let slot = Self::first_slot(&slots, 0)?;
        let booked = self
            .tool_ok(
                "book_appointment",
                serde_json::json!({"slot": slot, "reason": "skin check"}),
            )
            .await?;
        let id = booked["appointment"].as_str().context("no appointment id")?.to_owned();
        Ok((slots, id))
    }

    /// Returns whether the emergency script was requested.
    async fn run(&mut self, scenario: Scenario) -> anyhow::Result<bool> {
        match scenario {
            Scenario::Booking | Scenario::BargeIn => {
                self.verify_and_book().await?;
                self.caller_says("Thank you, bye.").await?;
            }
            Scenario::Cancel => {
                let (_, id) = self.verify_and_book().await?;
                self.caller_says("Actually, what do I have booked? I need to cancel that.")
                    .await?;
                self.tool_ok("list_my_appointments", serde_json::json!({})).await?;
                self.tool_ok(
                    "cancel_appointment",
                    serde_json::json!({"appointment": id, "reason": "schedule conflict"}),
                )
                .await?;
            }
            Scenario::Reschedule => {
                let (slots, id) = self.verify_and_book().await?;
                self.caller_says("Sorry, can we make it the next opening instead?")
                    .await?;
                let later = Self::first_slot(&slots, 1)?;
                self.tool_ok(
                    "reschedule_appointment",
                    serde_json::json!({"appointment": id, "new_slot": later}),
                )
                .await?;
            }
            Scenario::VerificationFailure => {
                self.caller_says("I want to check my appointments. Jane Doe, born February 15th, 1980.")
                    .await?;
                for _ in 0..3 {
                    self.tool("verify_patient", jane("February 15, 1980")).await?;
                }
                let fourth = self.tool("verify_patient", jane("February 14, 1980")).await?;
                if fourth["ok"] == true {
                    bail!("a fourth verification attempt was accepted");
                }
                self.tool_ok("request_callback", serde_json::json!({"topic": "verify identity"}))
                    .await?;
            }
            Scenario::Emergency => {
                // Mid-booking, the caller describes stroke signs without the word.
                self.caller_says("I'd like to see a dermatologist. I'm Jane Doe, born February 14th, 1980.")
                    .await?;
                self.tool_ok("verify_patient", jane("February 14, 1980")).await?;
                let slots = self
                    .tool_ok("find_slots", serde_json::json!({"specialty": "dermatology"}))
                    .await?;
                let slot = Self::first_slot(&slots, 0)?;
                self.caller_says("Hold on, my face feels droopy on one side and I can't lift my arm.")
                    .await?;
                let said = step("emergency script", async {
                    loop {
                        let e = self.agent.wait_for("conversation.item.create").await?;
                        if e["item"]["role"] == "assistant" {
                            return Ok(e["item"]["content"][0]["text"].as_str().unwrap_or_default().to_owned());
                        }
                    }
                })
                .await?;
                self.tl.line(
                    "server",
                    "red flag in the transcript (stroke) -> plays its recorded 911 script itself, tools off",
                );
                step("script heard", self.caller.wait_for_mark_echo("safety-1")).await?;
                self.tl.line("caller", format!("heard in full: \"{said}\""));
                let refused = self
                    .tool(
                        "book_appointment",
                        serde_json::json!({"slot": slot, "reason": "skin check"}),
                    )
                    .await?;
                if refused["ok"] == true {
                    bail!("a booking went through after the emergency");
                }
                return Ok(true);
            }
        }
        Ok(false)
    }
}
