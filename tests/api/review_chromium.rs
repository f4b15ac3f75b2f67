//! The review pages in a real browser: a reviewer signs in, filters the list, opens a call made
//! through the real server, plays its recording, sees the transcript follow playback and the audit
//! trail. A screenshot of the detail page is kept under `target/tmp/artifacts/`.

use serde_json::Value;
use tokio::process::Command;
use tokio::time::timeout;
use voicegate::review::Role;

use crate::browser_chromium::{harness_dir, unavailable};
use crate::helpers::*;
use crate::review::{PASSWORD, add_staff, finished_call};
use crate::tools::audit_trail;

#[tokio::test]
async fn a_reviewer_finds_opens_and_plays_a_call_in_chromium() {
    if unavailable().is_some() {
        return;
    }
    let account = voicegate::testkit::twilio_caller::TEST_ACCOUNT_SID;
    let twilio = voicegate::testkit::fake_twilio_sms::FakeTwilioSms::start(account, AUTH_TOKEN)
        .await
        .unwrap();
    let api_base = twilio.api_base();
    let app = spawn_app_with(Options::default(), |s| {
        s.twilio.account_sid = Some(account.into());
        s.notifications.sms = Some(voicegate::notify::settings::SmsSettings {
            api_base,
            from: Some("+15550109999".into()),
            messaging_service_sid: None,
            timeout_secs: 5,
        });
    })
    .await;
    let call_id = finished_call(&app, 31).await;
    // A booking made in this call (planned straight through the service): its text goes out.
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72);
    let change = voicegate::notify::AppointmentChange {
        kind: voicegate::notify::ChangeKind::Booked,
        appointment_id: "apt-review-ui",
        patient_id: "demo-p1",
        call_id: Some(&call_id),
        start,
        time_zone: "America/New_York",
    };
    app.state.deps.notify.appointment_changed(&change).await.unwrap();
    assert_eq!(twilio.wait_for(1, std::time::Duration::from_secs(10)).await.len(), 1);
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("review-detail.png");
    let _ = std::fs::remove_file(&screenshot);

    let run = Command::new("node")
        .arg(harness_dir().join("review.js"))
        .args(["--url", &format!("{}/review/", app.base)])
        .args(["--user", "rita.reviewer", "--password", PASSWORD, "--call", &call_id])
        .arg("--screenshot")
        .arg(&screenshot)
        .kill_on_drop(true)
        .output();
    let out = timeout(std::time::Duration::from_secs(90), run)
        .await
        .expect("the harness finishes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let report: Value = serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "harness printed {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["listed"].as_u64().unwrap() >= 1, "{report}");
    assert!(report["transcriptLines"].as_u64().unwrap() >= 2, "{report}");
    assert!(report["auditRecords"].as_u64().unwrap() >= 3, "{report}");
    // The call's notifications, next to its tool calls: the confirmation and both reminders.
    let notifications: Vec<&str> = report["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(
        notifications,
        [
            "booked | sms | sent",
            "reminder, 24 h before | sms | planned",
            "reminder, 2 h before | sms | planned"
        ],
        "{report}"
    );
    assert!(report["chain"].as_str().unwrap().contains("verified"), "{report}");
    assert!(report["played"].as_f64().unwrap() > 0.3, "{report}");
    assert!(!report["currentLine"].as_str().unwrap().is_empty(), "{report}");
    assert_eq!(report["channels"], 2, "{report}");
    assert_eq!(report["pageErrors"], serde_json::json!([]), "{report}");
    assert_eq!(report["consoleErrors"], serde_json::json!([]), "{report}");
    let png = std::fs::read(&screenshot).expect("screenshot saved");
    assert!(png.starts_with(b"\x89PNG"), "a PNG at {}", screenshot.display());
    eprintln!("review detail screenshot: {}", screenshot.display());

    // What the browser did is in the audit log, with the reason typed in the dialog.
    let trail = audit_trail(&app).await;
    let viewed = trail
        .iter()
        .find(|r| r["action"] == "review.call.viewed")
        .expect("the view was audited");
    assert_eq!(viewed["call_id"], call_id);
    assert_eq!(viewed["reason"], "Complaint review #1");
    assert!(
        trail
            .iter()
            .any(|r| r["action"] == "review.recording.played" && r["call_id"] == call_id)
    );
}
