//! `voicegate simulate` runs green on a fresh data directory with no API key.

use serde_json::Value;
use voicegate::testkit::simulate::{Scenario, SimulateOptions, SimulationReport, run};

#[tokio::test]
async fn the_barge_in_scenario_truncates_at_what_was_heard_and_records_the_call() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("sim.yaml");
    std::fs::write(&config, format!("server:\n  data_dir: {}\n", data.path().display())).unwrap();
    let report = run(SimulateOptions {
        config: Some(config),
        quiet: true,
        scenario: Scenario::BargeIn,
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

async fn scenario(scenario: Scenario) -> (SimulationReport, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("sim.yaml");
    std::fs::write(&config, format!("server:\n  data_dir: {}\n", data.path().display())).unwrap();
    let report = run(SimulateOptions {
        config: Some(config),
        quiet: true,
        scenario,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{scenario:?} failed: {e:#}"));
    (report, data)
}

fn outcomes(report: &SimulationReport) -> Vec<(String, bool)> {
    report
        .tools
        .iter()
        .map(|(name, out): &(String, Value)| (name.clone(), out["ok"] == true))
        .collect()
}

fn ok(names: &[&str]) -> Vec<(String, bool)> {
    names.iter().map(|n| ((*n).to_owned(), true)).collect()
}

/// The default scenario is a complete booking on the demo clinic, with no key and no servers.
#[tokio::test]
async fn the_default_scenario_books_an_appointment_on_the_demo_clinic() {
    assert_eq!(Scenario::default(), Scenario::Booking);
    let (report, _data) = scenario(Scenario::Booking).await;
    assert_eq!(
        outcomes(&report),
        ok(&["verify_patient", "search_providers", "find_slots", "book_appointment"])
    );
    let booked = &report.tools[3].1["say"];
    assert!(booked.as_str().unwrap().starts_with("Booked: "), "{booked}");
    assert_eq!(report.upstream_bytes_received, report.caller_bytes_sent);
}

#[tokio::test]
async fn the_cancel_and_reschedule_scenarios_change_the_booking() {
    let (cancel, _d1) = scenario(Scenario::Cancel).await;
    let names: Vec<String> = cancel.tools.iter().map(|t| t.0.clone()).collect();
    assert_eq!(&names[4..], ["list_my_appointments", "cancel_appointment"]);
    assert!(cancel.tools.iter().all(|t| t.1["ok"] == true));
    let (moved, _d2) = scenario(Scenario::Reschedule).await;
    let last = moved.tools.last().unwrap();
    assert_eq!(
        (last.0.as_str(), &last.1["ok"]),
        ("reschedule_appointment", &Value::Bool(true))
    );
}

#[tokio::test]
async fn the_verification_failure_scenario_stops_at_three_and_takes_a_callback() {
    let (report, _data) = scenario(Scenario::VerificationFailure).await;
    let o = outcomes(&report);
    assert_eq!(o.len(), 5);
    assert!(o[..4].iter().all(|(n, ok)| n == "verify_patient" && !ok), "{o:?}");
    assert_eq!(report.tools[3].1["say"], voicegate::tools::answer::TOO_MANY_ATTEMPTS);
    assert_eq!(o[4], ("request_callback".to_owned(), true));
}

#[tokio::test]
async fn the_emergency_scenario_plays_the_script_mid_booking_and_refuses_the_booking() {
    let (report, _data) = scenario(Scenario::Emergency).await;
    assert!(report.emergency_script);
    assert_eq!(
        outcomes(&report),
        [
            ("verify_patient".to_owned(), true),
            ("find_slots".to_owned(), true),
            ("book_appointment".to_owned(), false),
        ],
        "the booking after the stroke signs is refused"
    );
}

/// The bar: the demo clinic confirms a booking made in `voicegate simulate` within 5 s,
/// to a real SMTP server on loopback, with configuration alone.
#[tokio::test]
async fn a_simulated_booking_is_confirmed_by_email_within_five_seconds() {
    let Some(peer) = crate::smtp_peer::SmtpPeer::start().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("sim.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  data_dir: {}\nnotifications:\n  email: {{host: 127.0.0.1, port: {}, tls: none, from: \"Demo Family Clinic <appointments@clinic.test>\"}}\n",
            data.path().display(),
            peer.port
        ),
    )
    .unwrap();
    let report = run(SimulateOptions {
        config: Some(config),
        quiet: true,
        scenario: Scenario::Booking,
        ..Default::default()
    })
    .await
    .expect("simulated call succeeds");
    let confirmation = report
        .notifications
        .iter()
        .find(|r| r.kind == "booked")
        .unwrap_or_else(|| panic!("a confirmation was planned: {:#?}", report.notifications));
    assert_eq!(confirmation.status, "sent", "{confirmation:#?}");
    let took = confirmation.sent_at_ms.unwrap() - confirmation.created_at_ms;
    assert!((0..=5000).contains(&took), "confirmation took {took} ms");
    let mails = peer.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]
            .header("Subject")
            .unwrap()
            .starts_with("Demo Family Clinic: appointment booked for"),
        "{:?}",
        mails[0].headers
    );
    println!("simulate: confirmation sent {took} ms after the booking committed");
}
