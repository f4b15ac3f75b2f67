//! `voicegate simulate` runs green on a fresh data directory with no API key.

use voicegate::testkit::simulate::{SimulateOptions, run};

#[tokio::test]
async fn the_simulator_completes_a_call_with_no_key() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("sim.yaml");
    std::fs::write(&config, format!("server:\n  data_dir: {}\n", data.path().display())).unwrap();
    let report = run(SimulateOptions {
        config: Some(config),
        quiet: true,
        ..Default::default()
    })
    .await
    .expect("simulated call succeeds");
    assert_eq!(
        report.upstream_bytes_received, report.caller_bytes_sent,
        "every caller byte reached the agent"
    );
    let truncated = report.truncated_at_ms.expect("the barge-in truncated the agent");
    let heard = report.heard_at_barge_in_ms.unwrap();
    assert!(
        (truncated - heard).abs() <= 20,
        "truncated at {truncated} ms, caller heard {heard} ms"
    );
    assert!(
        data.path().join("keys/twilio-auth-token.key").exists(),
        "single-node keys generated under data/"
    );

    // The newcomer's next step: decrypt the simulated call's recording (and the export is audited).
    let call_id = report.call_id.expect("the simulated call was recorded");
    let out = data.path().join("call.wav");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_voicegate"))
        .args(["recording", "export", "--call", &call_id, "--out"])
        .arg(&out)
        .env("VOICEGATE__SERVER__DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let reader = hound::WavReader::open(&out).unwrap();
    assert_eq!((reader.spec().channels, reader.spec().sample_rate), (2, 8000));
    assert!(
        reader.duration() > 8000 * 8,
        "the whole call, disclosure included, is in the file"
    );
    let audit = std::process::Command::new(env!("CARGO_BIN_EXE_voicegate"))
        .args(["audit", "export", "--call", &call_id])
        .env("VOICEGATE__SERVER__DATA_DIR", data.path())
        .output()
        .unwrap();
    let trail = String::from_utf8_lossy(&audit.stdout);
    for action in ["call.started", "call.ended", "recording.stored", "recording.exported"] {
        assert!(trail.contains(action), "{action} missing from the call's audit trail");
    }
}
