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
}
