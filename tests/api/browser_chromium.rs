//! The real page in a real browser: Debian's headless Chromium, driven by playwright-core
//! (`tests/peers/browser/run.js --control`), with a WAV file as its microphone, against the real
//! server and the fake realtime peer. Needs `/usr/bin/chromium` and `npm ci --prefix
//! tests/peers/browser`; without them the tests skip with the reason on a developer's machine and
//! fail in CI (`CI` set).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";

pub(crate) fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/browser")
}

/// None when the browser peer can run here; otherwise why not (a skip off CI, a failure in CI).
pub(crate) fn unavailable() -> Option<String> {
    let missing = if !Path::new(CHROMIUM).exists() {
        Some(format!("{CHROMIUM} is not installed (apt-get install chromium)"))
    } else if !harness_dir().join("node_modules/playwright-core").exists() {
        Some("playwright-core is not installed (npm ci --prefix tests/peers/browser)".to_owned())
    } else {
        None
    };
    match missing {
        Some(reason) if std::env::var_os("CI").is_some() => panic!("CI must run the browser tests: {reason}"),
        Some(reason) => {
            eprintln!("SKIPPED: {reason}");
            Some(reason)
        }
        None => None,
    }
}

/// The page in Chromium, controlled line by line.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    async fn open(url: &str, wav: &Path) -> (Browser, Value) {
        let mut child = Command::new("node")
            .arg(harness_dir().join("run.js"))
            .args(["--url", url, "--wav"])
            .arg(wav)
            .arg("--control")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the harness");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut browser = Browser { child, stdin, lines };
        let ready = browser.read().await;
        assert_eq!(ready["event"], "ready", "{ready}");
        (browser, ready)
    }

    async fn read(&mut self) -> Value {
        let line = timeout(std::time::Duration::from_secs(60), self.lines.next_line())
            .await
            .expect("harness answers")
            .expect("harness stdout")
            .expect("harness still running");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("harness printed {line}"))
    }

    async fn command(&mut self, line: &str) -> Value {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("harness stdin");
        self.read().await
    }

    /// Wait in the page until every `counter>=n` holds (counters of `window.voicegateDebug`);
    /// panics with the page's report otherwise.
    async fn wait(&mut self, conditions: &str) -> Value {
        let report = self.command(&format!("wait {conditions}")).await;
        assert_eq!(report["event"], "ok", "page never reached `{conditions}`: {report}");
        report
    }

    async fn stop(mut self) -> Value {
        let report = self.command("stop").await;
        let _ = timeout(std::time::Duration::from_secs(10), self.child.wait()).await;
        report
    }
}

const LEAD_S: f64 = 2.0;
const SIGNAL_S: f64 = 2.0;
const TAIL_S: f64 = 3.5;

/// The test's "speech": a 300 Hz → 3 kHz chirp with a slow amplitude swell, whose
/// autocorrelation has one sharp peak (a periodic tone would match at many lags).
fn signal(rate: u32) -> Vec<f64> {
    let n = (SIGNAL_S * f64::from(rate)) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let (f0, f1) = (300.0, 3000.0);
            let phase = std::f64::consts::TAU * (f0 * t + (f1 - f0) * t * t / (2.0 * SIGNAL_S));
            let swell = 0.6 + 0.4 * (std::f64::consts::TAU * 1.3 * t).sin();
            0.4 * swell * phase.sin()
        })
        .collect()
}

/// Mono 16-bit 48 kHz: lead silence, the signal, then ≥ 3 s of silence (Chromium's fake
/// microphone repeats its last buffer at the end of a file and loops it, so silence must follow).
fn write_microphone_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    let silence = |s: f64| (s * 48_000.0) as usize;
    for _ in 0..silence(LEAD_S) {
        w.write_sample(0i16).unwrap();
    }
    for x in signal(48_000) {
        w.write_sample((x * 32767.0) as i16).unwrap();
    }
    for _ in 0..silence(TAIL_S) {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().expect("finalize");
}

/// Normalised correlation of `reference` with `captured` at the best lag: a coarse lag from
/// 10 ms energy envelopes, then every sample lag within ±20 ms of it.
fn best_correlation(reference: &[f64], captured: &[f64]) -> (f64, usize) {
    const BLOCK: usize = 240;
    let envelope = |x: &[f64]| -> Vec<f64> { x.chunks(BLOCK).map(|b| b.iter().map(|v| v * v).sum()).collect() };
    let (er, ec) = (envelope(reference), envelope(captured));
    assert!(ec.len() > er.len(), "captured audio shorter than the signal");
    let coarse = (0..=ec.len() - er.len())
        .max_by(|&a, &b| {
            let score = |lag: usize| er.iter().zip(&ec[lag..]).map(|(r, c)| r * c).sum::<f64>();
            score(a).total_cmp(&score(b))
        })
        .unwrap_or(0)
        * BLOCK;
    let ref_energy: f64 = reference.iter().map(|v| v * v).sum();
    let lo = coarse.saturating_sub(480);
    let hi = (coarse + 480).min(captured.len().saturating_sub(reference.len()));
    (lo..=hi)
        .map(|lag| {
            let window = &captured[lag..lag + reference.len()];
            let dot: f64 = reference.iter().zip(window).map(|(r, c)| r * c).sum();
            let energy: f64 = window.iter().map(|v| v * v).sum();
            (dot / (ref_energy * energy).sqrt().max(f64::MIN_POSITIVE), lag)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((0.0, 0))
}

fn pcm_to_f64(pcm: &[u8]) -> Vec<f64> {
    pcm.chunks_exact(2)
        .map(|p| f64::from(i16::from_le_bytes([p[0], p[1]])) / 32768.0)
        .collect()
}

fn tone_pcm(rate: u32, seconds: f64, freq: f64) -> Vec<u8> {
    (0..(seconds * f64::from(rate)) as usize)
        .flat_map(|i| {
            let t = i as f64 / f64::from(rate);
            (((t * freq * std::f64::consts::TAU).sin() * 8000.0) as i16).to_le_bytes()
        })
        .collect()
}

/// Chromium's microphone reaches the upstream faithfully (correlation ≥ 0.9 with the source at
/// the best lag), the page plays the agent's reply and shows its transcript, and a barge-in
/// flushes the page's playback and it reports `cleared`.
#[tokio::test]
async fn chromium_speaks_through_the_page_hears_the_reply_and_barge_in_flushes_playback() {
    if unavailable().is_some() {
        return;
    }
    let app = spawn_app_with(Options::default(), |s| {
        // Bit-faithful file input needs the browser's processing off (Chromium warns it distorts
        // file input); the default is checked by the next test.
        s.browser.audio_constraints.echo_cancellation = false;
        s.browser.audio_constraints.noise_suppression = false;
        s.browser.audio_constraints.auto_gain_control = false;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("microphone.wav");
    write_microphone_wav(&wav);

    let (mut browser, ready) = Browser::open(&format!("{}/", app.base), &wav).await;
    assert_eq!(ready["debug"]["state"], "in-call", "{ready}");
    assert_eq!(ready["getUserMedia"]["audio"]["echoCancellation"], false);
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();

    // Everything up to the end of the signal plus half a second.
    let wanted = ((LEAD_S + SIGNAL_S + 0.5) * 48_000.0) as usize;
    timeout(std::time::Duration::from_secs(30), async {
        while fake.appended_audio().len() < wanted {
            fake.wait_for("input_audio_buffer.append").await.unwrap();
        }
    })
    .await
    .expect("the microphone reached the upstream");
    let captured = pcm_to_f64(&fake.appended_audio());
    let peak = captured.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(peak > 0.1, "the fake microphone delivered sound (peak {peak})");
    let (correlation, lag) = best_correlation(&signal(24_000), &captured);
    eprintln!("browser microphone → upstream: correlation {correlation:.4} at lag {lag} samples (24 kHz)");
    if correlation < 0.9 {
        // Say whether the page dropped frames (its socket backed up) or the server saw gaps.
        let page = browser.command("report").await;
        let metrics = app.get("/metrics").await.body;
        let missing = metrics
            .lines()
            .find(|l| l.starts_with("voicegate_browser_frames_missing_total"));
        panic!(
            "correlation {correlation:.3} at lag {lag} samples: the microphone did not arrive intact \
             (page: {}, server: {missing:?})",
            page["debug"]
        );
    }

    // The agent's reply (1 s in ten 100 ms chunks, a mark after each) plays on the page: its
    // marks come back only once played. The transcript line shows.
    fake.respond_audio(&tone_pcm(24_000, 1.0, 440.0), 4800, "Hello from the clinic.")
        .await
        .unwrap();
    let report = browser.wait("marksEchoed>=11 transcriptLines>=1").await;
    assert!(report["debug"]["audioChunks"].as_u64().unwrap() >= 10, "{report}");
    let transcript = report["transcript"].to_string();
    assert!(transcript.contains("Hello from the clinic."), "{transcript}");

    // Barge-in: a long reply starts playing, the caller "speaks", the page flushes.
    let marks_before = report["debug"]["marksEchoed"].as_u64().unwrap();
    fake.respond_audio(&tone_pcm(24_000, 5.0, 330.0), 4800, "A long answer.")
        .await
        .unwrap();
    browser.wait(&format!("marksEchoed>={}", marks_before + 2)).await;
    fake.speech_started(4_000).await.unwrap();
    let report = browser.wait("cleared.length>=1").await;
    assert_eq!(report["debug"]["clearsReceived"], 1, "{report}");
    let played = report["debug"]["cleared"][0].as_u64().unwrap();
    assert!(
        played > 24_000 + 4_800,
        "the page reports all it played before the clear (the first reply and part of the second): {played}"
    );
    let truncate = fake.wait_for("conversation.item.truncate").await.unwrap();
    let end_ms = truncate["audio_end_ms"].as_u64().unwrap();
    assert!(
        (1..5000).contains(&end_ms),
        "truncated inside the long answer: {end_ms} ms"
    );

    let stopped = browser.stop().await;
    assert_eq!(stopped["debug"]["state"], "ended", "{stopped}");
    assert!(stopped["pageErrors"].as_array().unwrap().is_empty(), "{stopped}");
    timeout(GUARD, fake.closed()).await.unwrap().unwrap();
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

/// Out of the box the page asks the browser for echo cancellation (and the other processing).
#[tokio::test]
async fn the_default_page_requests_echo_cancellation() {
    if unavailable().is_some() {
        return;
    }
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("microphone.wav");
    write_microphone_wav(&wav);
    let (browser, ready) = Browser::open(&format!("{}/", app.base), &wav).await;
    let audio = &ready["getUserMedia"]["audio"];
    assert_eq!(audio["echoCancellation"], true, "{ready}");
    assert_eq!(audio["noiseSuppression"], true, "{ready}");
    assert_eq!(audio["autoGainControl"], true, "{ready}");
    assert_eq!(ready["debug"]["trackSettings"]["echoCancellation"], true, "{ready}");
    browser.stop().await;
}

/// Run a staff-page harness (`tests/peers/browser/<script>`, e.g. schedule.js) with `args` and a
/// screenshot at `artifacts/<screenshot>`; return the one JSON line it prints (panics with its
/// output when there is none). The caller asserts on `ok` and the rest.
pub(crate) async fn run_staff_harness(script: &str, args: &[&str], screenshot: &str) -> (Value, PathBuf) {
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join(screenshot);
    let run = Command::new("node")
        .arg(harness_dir().join(script))
        .args(args)
        .arg("--screenshot")
        .arg(&shot)
        .kill_on_drop(true)
        .output();
    let out = timeout(std::time::Duration::from_secs(90), run)
        .await
        .expect("the harness finishes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|_| {
        panic!(
            "harness printed {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, shot)
}
