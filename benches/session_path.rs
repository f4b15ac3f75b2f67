//! The per-frame path through a whole call session, and the recorder (run:
//! `cargo bench --bench session_path`).
//!
//! - **caller frame through the session**: one Twilio `media` text decoded as the reader does it,
//!   handed to a running [`Session`](voicegate::call::session::Session) (real database, audit log,
//!   recorder and encrypted spool), and waited for until its `input_audio_buffer.append` comes out
//!   of the upstream queue. One frame at a time, as on a live call where frames are 20 ms apart:
//!   every channel hand-off and task wake-up of the real path is in the figure (reader → session →
//!   upstream pump), only the two sockets are not (see `benches/machine_floor.rs` for those).
//! - **recorder**: 100 ms of both legs as the session sends them (one caller batch, one agent
//!   chunk), through the recorder's channel into its window, spooled encrypted, and at the end
//!   stored as the encrypted WAV (spool decrypted, hashed, sealed again): the whole recording cost
//!   of that much call, since the final store grows with the call's length. Measured in the
//!   process's CPU time, not wall time: the spool's periodic fsync waits on the disk, which costs
//!   no CPU but dominated the wall-clock figure (~90 µs per 100 ms here). Only the manifest and
//!   the fixed set-up fall in criterion's intercept.

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use criterion::{Criterion, criterion_group, criterion_main};
use voicegate::call::session::CallerInput;
use voicegate::call::twilio::caller_input;
use voicegate::config::Settings;
use voicegate::recording::recorder::{RecorderHandle, Stores};
use voicegate::recording::{AudioChunk, Leg, ManifestInput};
use voicegate::testkit::session_harness::SessionHarness;
use voicegate::transport::CallerEvent;

/// The server's runtime shape on this machine: a multi-threaded runtime with two workers.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn twilio_media_json(timestamp_ms: u64) -> String {
    let payload: Vec<u8> = (0..160u32).map(|i| (i * 37 % 251) as u8).collect();
    format!(
        r#"{{"event":"media","sequenceNumber":"{}","media":{{"track":"inbound","chunk":"{}","timestamp":"{timestamp_ms}","payload":"{}"}},"streamSid":"MZ00000000000000000000000000000000"}}"#,
        timestamp_ms / 20 + 2,
        timestamp_ms / 20 + 1,
        B64.encode(payload)
    )
}

fn caller_frame_through_session(c: &mut Criterion) {
    let rt = runtime();
    let harness = rt.block_on(async {
        let mut h = SessionHarness::start(
            |s| {
                s.call.idle_prompt_after_secs = 86_400;
                s.call.max_duration_secs = 86_400;
            },
            || {},
        )
        .await
        .expect("session harness");
        let update = h.next_upstream().await.expect("session.update");
        assert_eq!(update["type"], "session.update");
        h.hear_disclosure().await.expect("disclosure");
        h
    });
    // Frames carry Twilio's media clock; texts are made up front so formatting is not measured.
    let texts: std::sync::Arc<Vec<String>> =
        std::sync::Arc::new((0..3000u64).map(|i| twilio_media_json(i * 20)).collect());
    let mut slot = Some((harness, 0usize));
    c.bench_function(
        "caller frame through the session (decode → session → upstream queue)",
        |b| {
            b.iter_custom(|iters| {
                let (mut h, mut n) = slot.take().expect("harness between runs");
                let texts = texts.clone();
                // Driven from a task on the runtime, as the reader task is, not from this thread.
                let task = rt.spawn(async move {
                    let started = Instant::now();
                    for _ in 0..iters {
                        let input = caller_input(&texts[n % texts.len()]);
                        n += 1;
                        h.caller.send(input).await.expect("session running");
                        black_box(h.upstream.sent.recv().await.expect("upstream open"));
                    }
                    (h, n, started.elapsed())
                });
                let (h, n, elapsed) = rt.block_on(task).expect("benchmark task");
                slot = Some((h, n));
                elapsed
            })
        },
    );
    let (harness, _) = slot.take().expect("harness after the runs");
    rt.block_on(async {
        harness
            .caller
            .send(CallerInput::Event(CallerEvent::Hangup))
            .await
            .expect("session running");
        black_box(harness.session.await.expect("session ends"));
    });
}

/// CPU time of the whole process (every thread: the recorder task, the blocking pool sealing and
/// writing the spool, and the benchmark's own sends).
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "process CPU clock");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn recorder(c: &mut Criterion) {
    let rt = runtime();
    let data = tempfile::tempdir().expect("temp dir");
    let blobs = rt.block_on(async {
        let mut settings = Settings::embedded().expect("embedded settings");
        settings.server.data_dir = data.path().to_path_buf();
        settings.ensure_keys().expect("keys");
        voicegate::storage::open_blobs(&settings).await.expect("blob folder")
    });
    let caller: Vec<i16> = (0..800).map(|i| ((i as f32 * 0.07).sin() * 9000.0) as i16).collect();
    let agent: Vec<i16> = (0..800).map(|i| ((i as f32 * 0.11).sin() * 7000.0) as i16).collect();
    let mut group = c.benchmark_group("recorder");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(
        "CPU time per 100 ms of both legs (window → encrypted spool → stored WAV)",
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let stores = Stores {
                        local: blobs.clone(),
                        store: blobs.clone(),
                    };
                    let call_id = format!("bench{}", voicegate::call::CallId::new());
                    let recorder = RecorderHandle::spawn(stores, &call_id, 8000);
                    let started = process_cpu_time();
                    for i in 0..iters {
                        let at = i * 800;
                        for (leg, samples) in [(Leg::Caller, &caller), (Leg::Agent, &agent)] {
                            let chunk = AudioChunk::Audio {
                                leg,
                                sample_index: at,
                                samples: samples.clone(),
                            };
                            recorder.tx.send(chunk).await.expect("recorder running");
                        }
                    }
                    let manifest = ManifestInput {
                        call_id,
                        transport: "twilio".into(),
                        outcome: "hung_up".into(),
                        ..ManifestInput::default()
                    };
                    black_box(recorder.finish(manifest).await.expect("recording stored"));
                    process_cpu_time().saturating_sub(started)
                })
            })
        },
    );
    group.finish();
}

criterion_group!(benches, caller_frame_through_session, recorder);
criterion_main!(benches);
