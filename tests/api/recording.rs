//! Every call becomes one time-aligned stereo WAV (caller left, agent right), encrypted at rest,
//! with a manifest that validates against `recordings-schema/`.

use std::time::{Duration, Instant};

use tokio::time::timeout;
use voicegate::audio::mulaw;
use voicegate::storage::Db;
use voicegate::testkit::twilio_caller::Received;

use crate::helpers::*;

/// Wait for the call's row to name its recording; return (wav bytes, manifest JSON).
async fn recording_of(app: &TestApp, call_sid: &str) -> (Vec<u8>, serde_json::Value, String) {
    let db = app.state.deps.db.clone();
    let key = timeout(GUARD, async {
        loop {
            let row: Option<(Option<String>,)> = match &db {
                Db::Sqlite(p) => sqlx::query_as("SELECT recording_location FROM calls WHERE call_sid = ?")
                    .bind(call_sid)
                    .fetch_optional(p)
                    .await
                    .unwrap(),
                Db::Postgres(p) => sqlx::query_as("SELECT recording_location FROM calls WHERE call_sid = $1")
                    .bind(call_sid)
                    .fetch_optional(p)
                    .await
                    .unwrap(),
            };
            if let Some((Some(key),)) = row {
                return key;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the call's recording location is recorded");
    let blobs = &app.state.deps.blobs;
    let wav = blobs.get(&key).await.expect("recording readable");
    let manifest_key = key.replace(".wav", ".manifest.json");
    let manifest: serde_json::Value = serde_json::from_slice(&blobs.get(&manifest_key).await.unwrap()).unwrap();
    (wav, manifest, key)
}

fn schema_validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../recordings-schema/manifest-v1.schema.json")).unwrap();
    jsonschema::validator_for(&schema).expect("the schema itself is valid")
}

pub fn assert_manifest_valid(manifest: &serde_json::Value) {
    let validator = schema_validator();
    let errors: Vec<String> = validator.iter_errors(manifest).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "manifest does not validate: {errors:?}");
}

/// μ-law of a tone, so the agent's audio is recognisable by correlation.
fn tone_mulaw(ms: usize, freq: f32) -> Vec<u8> {
    let samples: Vec<i16> = (0..ms * 8)
        .map(|i| ((i as f32 * freq * std::f32::consts::TAU / 8000.0).sin() * 12000.0) as i16)
        .collect();
    let mut out = Vec::new();
    mulaw::encode_into(&samples, &mut out);
    out
}

/// Offset (in samples) where `needle` best matches `hay` (normalised cross-correlation), and the score.
fn best_match(hay: &[i16], needle: &[i16]) -> (usize, f64) {
    let norm = |x: &[i16]| x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
    let nn = norm(needle);
    let mut best = (0, f64::MIN);
    for off in 0..hay.len().saturating_sub(needle.len()) {
        let window = &hay[off..off + needle.len()];
        let dot: f64 = window
            .iter()
            .zip(needle)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        let score = dot / (norm(window) * nn + 1e-9);
        if score > best.1 {
            best = (off, score);
        }
    }
    best
}

#[tokio::test]
async fn a_call_becomes_an_aligned_stereo_wav_cut_at_the_barge_in() {
    let app = spawn_app().await;
    let sid = call_sid(501);
    let mut caller = app.twilio_call(&sid).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();

    // Caller: 1 s of frames, a 0.5 s gap (no frames, timestamps jump), then 2 s more, in real time.
    let t0 = Instant::now();
    let first = pattern(3, 50);
    caller.send_audio_paced(&first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await; // a real gap in the caller's audio, not synchronisation
    let second = pattern(9, 100);
    let gap_ts = caller.last_timestamp_ms() + 500;
    let mut sent = vec![(0u64, first.clone()), (gap_ts, second.clone())];

    // While the second half streams, the agent answers with a tone the caller interrupts.
    let speak = async {
        let mut c = caller;
        let ts = gap_ts;
        for (i, frame) in second.chunks(160).enumerate() {
            c.send_media(frame, ts + i as u64 * 20).await.unwrap();
            tokio::time::sleep_until((t0 + Duration::from_millis(ts + (i as u64 + 1) * 20)).into()).await;
        }
        c
    };
    let answer = async {
        let ids = fake.begin_response().await.unwrap();
        let tone = tone_mulaw(5000, 1000.0);
        for chunk in tone.chunks(800) {
            fake.audio_delta(&ids, chunk).await.unwrap();
        }
        tone
    };
    let (mut caller, tone) = tokio::join!(speak, answer);
    fake.speech_started(2000).await.unwrap();
    let (played_at_clear, _) = timeout(GUARD, caller.wait_for_clear()).await.unwrap().unwrap();
    fake.speech_stopped(2600).await.unwrap();
    fake.user_transcript("wait, one moment please").await.unwrap();
    // Events reach the session in order: once this reply's mark is echoed, the transcript is in.
    // Events reach the session in order: once a later tool call is answered, the transcript is in.
    fake.function_call("search_providers", &serde_json::json!({"specialty": "dermatology"}))
        .await
        .unwrap();
    fake.wait_for("conversation.item.create").await.unwrap();
    caller.send_stop().await.unwrap();

    // Ground truth: when the caller started hearing the tone, on its own clock (ms since frame 0).
    let disclosure_end = caller.mark_position("disclosure").unwrap();
    let mut received = 0u64;
    let mut tone_started = None;
    for event in caller.timeline() {
        if let Received::Media { bytes, at } = event {
            if received >= disclosure_end && tone_started.is_none() {
                tone_started = Some(at);
            }
            received += bytes as u64;
        }
    }
    let heard_at_ms = tone_started.unwrap().duration_since(t0).as_millis() as i64;
    let heard_bytes = (played_at_clear - disclosure_end) as usize;

    let (wav, manifest, key) = recording_of(&app, &sid).await;
    assert!(key.starts_with("recordings/") && key.ends_with(".wav"));
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    assert_eq!((reader.spec().channels, reader.spec().sample_rate), (2, 8000));
    let samples: Vec<i16> = reader.into_samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();

    // Left: exactly the caller's frames where their timestamps place them; the gap is silence.
    sent.truncate(2);
    for (ts, audio) in &sent {
        let mut decoded = Vec::new();
        mulaw::decode_into(audio, &mut decoded);
        let at = *ts as usize * 8;
        assert_eq!(&left[at..at + decoded.len()], &decoded[..], "caller audio at {ts} ms");
    }
    assert!(
        left[8000..(gap_ts as usize) * 8].iter().all(|&s| s == 0),
        "the gap is silence"
    );

    // Right: the tone where the caller heard it (within one 20 ms frame), and only as much of it
    // as was played before the barge-in.
    let mut tone_pcm = Vec::new();
    mulaw::decode_into(&tone[..800], &mut tone_pcm);
    let (offset, score) = best_match(&right, &tone_pcm);
    assert!(score > 0.95, "the agent's tone is in the right channel (score {score})");
    let recorded_at_ms = offset as i64 / 8;
    assert!(
        (recorded_at_ms - heard_at_ms).abs() <= 20,
        "tone recorded at {recorded_at_ms} ms, heard at {heard_at_ms} ms"
    );
    let recorded_tone = right[offset..].iter().rposition(|&s| s != 0).map_or(0, |p| p + 1);
    assert!(
        (recorded_tone as i64 - heard_bytes as i64).abs() <= 160,
        "recorded {recorded_tone} samples of the tone, the caller heard {heard_bytes} (cut at the barge-in)"
    );

    assert_manifest_valid(&manifest);
    assert_eq!(manifest["audio"]["channels"][0]["label"], "caller");
    let caller_turn = manifest["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["speaker"] == "caller")
        .unwrap();
    assert_eq!(
        caller_turn["start_ms"], 2000,
        "caller transcript placed where its speech started on the media clock"
    );
    assert_eq!(manifest["truncations"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_recording_is_encrypted_at_rest() {
    let app = spawn_app().await;
    let sid = call_sid(502);
    let mut caller = app.twilio_call(&sid).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    // A recognisable caller frame: a run of identical bytes whose decoded PCM is easy to search.
    caller.send_audio_fast(&vec![0x2A; 1600], 0).await.unwrap();
    fake.respond_audio(&pattern(2, 10), 800, "Hello, how can I help?")
        .await
        .unwrap();
    timeout(GUARD, caller.wait_for_mark_echo("a1")).await.unwrap().unwrap();
    caller.send_stop().await.unwrap();
    let (wav, manifest, key) = recording_of(&app, &sid).await;
    assert_manifest_valid(&manifest);
    let agent_turn = manifest["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["speaker"] == "agent")
        .unwrap();
    // The reply started after the 0.1 s test disclosure, where the playout model placed it.
    assert!(
        agent_turn["start_ms"].as_u64().is_some_and(|ms| ms >= 100),
        "{agent_turn}"
    );
    // Interleaved caller/agent samples: the caller's value, then agent silence.
    let [lo, hi] = mulaw::decode(0x2A).to_le_bytes();
    let plain_marker: Vec<u8> = [lo, hi, 0, 0].repeat(4);
    assert!(
        wav.windows(plain_marker.len()).any(|w| w == plain_marker),
        "the decrypted WAV holds the audio"
    );
    // No file under the data directory contains the WAV header or the audio in the clear.
    let root = app.state.deps.settings.server.data_dir.clone();
    let mut stack = vec![root];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "disclosure.wav")
                || path
                    .parent()
                    .is_some_and(|p| p.ends_with("scripts") || p.ends_with("prompts"))
            {
                // The test's own prompt fixtures (disclosure, safety scripts, keypad prompts), not
                // server output.
                continue;
            } else {
                files += 1;
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(4).any(|w| w == b"WAVE"),
                    "{} holds a clear WAV",
                    path.display()
                );
                assert!(
                    !bytes.windows(16).any(|w| w == &plain_marker[..]),
                    "{} holds clear audio",
                    path.display()
                );
            }
        }
    }
    assert!(files > 0 && key.contains(&manifest["call_id"].as_str().unwrap().to_owned()));
}

/// A server killed mid-call leaves an encrypted spool; the next start finalises it (marked
/// incomplete), stores its manifest and audits it.
#[tokio::test]
async fn a_spool_left_by_a_crash_is_finalised_at_the_next_start() {
    let Some((settings, _data, _)) = fresh_settings(BackendKind::Sqlite).await else {
        return;
    };
    let blobs = voicegate::storage::open_blobs(&settings).await.unwrap();
    // What a recorder had spooled when the process died: 2.5 chunks of interleaved PCM, unfinished.
    let mut writer = blobs
        .create_writer("recordings/spool/call_00112233445566778899aabb-8000.pcm")
        .await
        .unwrap();
    let frames: Vec<u8> = (0..(64 * 1024 * 5 / 2 / 4))
        .flat_map(|i| [(i % 251) as u8, 1, 0, 0])
        .collect();
    writer.write(&frames).await.unwrap();
    drop(writer);

    let app = voicegate::startup::Application::build(settings.clone())
        .await
        .expect("starts after the crash");
    let state = app.state();
    let wavs: Vec<String> = blobs
        .list("recordings/")
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.ends_with("call_00112233445566778899aabb.wav"))
        .collect();
    assert_eq!(wavs.len(), 1, "the interrupted call's recording was finalised");
    let wav = blobs.get(&wavs[0]).await.unwrap();
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    assert_eq!(
        reader.duration(),
        2 * 65536 / 4,
        "everything up to the last whole sealed chunk survived"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&blobs.get(&wavs[0].replace(".wav", ".manifest.json")).await.unwrap()).unwrap();
    assert_eq!(manifest["incomplete"], true);
    crate::recording::assert_manifest_valid(&manifest);
    assert!(
        blobs.list("recordings/spool/").await.unwrap().is_empty(),
        "the spool is gone"
    );
    let mut out = Vec::new();
    voicegate::audit::verify::export_call(&state.deps.db, "call_00112233445566778899aabb", &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("recording.stored") && text.contains("\"incomplete\":true"),
        "{text}"
    );
}

/// A crash in the moment between a call's start being recorded and its recording spool existing
/// leaves only the open-call marker: the next start still ends that call (late, `interrupted`,
/// no recording) and closes its row — once, however often the server restarts.
#[tokio::test]
async fn a_call_interrupted_before_its_recording_started_is_still_closed() {
    use voicegate::storage::sql::Arg;
    let Some((settings, _data, _)) = fresh_settings(BackendKind::Sqlite).await else {
        return;
    };
    let call_id = "call_99887766554433221100ffee";
    {
        let app = voicegate::startup::Application::build(settings.clone())
            .await
            .expect("first start");
        let deps = &app.state().deps;
        deps.db
            .exec(
                "INSERT INTO calls (call_id, call_sid, transport, started_at_ms) VALUES (?, 'CA1', 'twilio', ?)",
                &[Arg::Text(call_id), Arg::I64(1_800_000_000_000)],
            )
            .await
            .unwrap();
        deps.local_blobs
            .put(&voicegate::call::open_call_key(call_id), b"1800000000000")
            .await
            .unwrap();
    }
    let ended = |text: &str| text.matches("\"action\":\"call.ended\"").count();
    for start in 0..2 {
        let app = voicegate::startup::Application::build(settings.clone())
            .await
            .expect("starts after the crash");
        let deps = &app.state().deps;
        let row = voicegate::storage::calls::get(&deps.db, call_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.outcome.as_deref(), Some("interrupted"));
        assert_eq!(row.ended_at_ms, Some(1_800_000_000_000));
        let mut out = Vec::new();
        voicegate::audit::verify::export_call(&deps.db, call_id, &mut out)
            .await
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(ended(&text), 1, "start {start}: exactly one end record\n{text}");
        assert!(
            text.contains("\"recording\":\"none\"") && text.contains("\"reason\":\"interrupted\""),
            "{text}"
        );
        assert!(
            deps.local_blobs
                .list(voicegate::call::OPEN_CALL_PREFIX)
                .await
                .unwrap()
                .is_empty(),
            "the marker is gone"
        );
    }
}
