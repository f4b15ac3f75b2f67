//! The keypad fallback: a phone caller whose assistant cannot be reached still gets somewhere.
//! Against the real server with the fake upstream refusing: the disclosure, then the menu; 1
//! queues a callback in the same queue staff work (the reference read out twice), 2 reaches the
//! staff line, silence replays the menu three times and says goodbye. Every step is audited.

use serde_json::{Value, json};
use tokio::time::timeout;
use voicegate::storage::sql::Arg;

use crate::helpers::*;

#[derive(sqlx::FromRow)]
struct Callback {
    reference: String,
    topic: String,
}

async fn callbacks_of(app: &TestApp, call_id: &str) -> Vec<Callback> {
    app.state
        .deps
        .db
        .all(
            "SELECT reference, topic FROM callback_requests WHERE call_id = ?",
            &[Arg::Text(call_id)],
        )
        .await
        .unwrap()
}

async fn ended_call_id(app: &TestApp, n: u32) -> String {
    timeout(GUARD, async {
        loop {
            let rows = voicegate::storage::calls::find_by_call_sid(&app.state.deps.db, &call_sid(n))
                .await
                .unwrap();
            if let Some(row) = rows
                .into_iter()
                .find(|r| r.outcome.is_some() && r.recording_location.is_some())
            {
                return row.call_id;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the call finalised")
}

fn keypad_records(trail: &[Value], call_id: &str) -> Vec<(String, String)> {
    trail
        .iter()
        .filter(|r| r["call_id"] == call_id)
        .filter(|r| {
            let a = r["action"].as_str().unwrap_or_default();
            a.starts_with("keypad.") || a == "call.keypad_fallback" || a == "callback.requested"
        })
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn pressing_1_queues_a_callback_with_a_reference_read_out_twice() {
    let app = spawn_app().await;
    app.fake.set_refuse_status(Some(503));
    let mut caller = app.twilio_call(&call_sid(1)).await;
    caller.wait_for_mark_echo("disclosure").await.unwrap();
    caller.wait_for_mark_echo("keypad-1").await.unwrap();
    caller.send_dtmf('1').await.unwrap();
    let (code, _) = timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert_eq!(code, Some(1000));
    let next = app.post_next(&call_sid(1)).await.body;
    assert!(
        next.contains("<Hangup/>") && !next.contains("<Say"),
        "the server already said goodbye: {next}"
    );

    let call_id = ended_call_id(&app, 1).await;
    let queued = callbacks_of(&app, &call_id).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].reference.len(), 6);
    assert!(queued[0].topic.contains("keypad"), "{}", queued[0].topic);
    let trail = crate::tools::audit_trail(&app).await;
    assert_eq!(
        keypad_records(&trail, &call_id),
        [
            ("call.keypad_fallback".to_owned(), "success".to_owned()),
            ("callback.requested".to_owned(), "success".to_owned()),
        ]
    );
    let requested = trail.iter().find(|r| r["action"] == "callback.requested").unwrap();
    assert_eq!(requested["details"]["reference"], queued[0].reference.as_str());
    assert_eq!(requested["details"]["via"], "keypad");

    // Staff see it in their work queue, and the call's transcript has the digits read out twice.
    crate::review::add_staff(&app, "rita.reviewer", voicegate::review::Role::Reviewer).await;
    let staff = crate::review::Staff::login(&app, "rita.reviewer").await;
    let queue: Value = serde_json::from_str(&staff.get("/review/api/queue").await.body).unwrap();
    assert!(
        queue["callbacks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["reference"] == queued[0].reference.as_str())
    );
    let view = staff
        .post(
            &format!("/review/api/calls/{call_id}/view"),
            json!({"reason": "keypad check"}),
        )
        .await;
    let detail: Value = serde_json::from_str(&view.body).unwrap();
    let spoken: String = detail["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["text"].as_str())
        .filter(|t| t.len() == 1 && t.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(spoken, format!("{0}{0}", queued[0].reference));
    crate::resilience::print_fault_counts(&app, &call_id).await;
}

#[tokio::test]
async fn pressing_2_reaches_the_staff_line() {
    let app = spawn_app_with(Options::default(), |s| {
        s.twilio.staff_number = Some("+15550001111".into());
    })
    .await;
    app.fake.set_refuse_status(Some(503));
    let mut caller = app.twilio_call(&call_sid(2)).await;
    caller.wait_for_mark_echo("keypad-1").await.unwrap();
    caller.send_dtmf('2').await.unwrap();
    timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    let next = app.post_next(&call_sid(2)).await.body;
    assert!(next.contains("<Dial>+15550001111</Dial>"), "{next}");
    let call_id = ended_call_id(&app, 2).await;
    assert!(callbacks_of(&app, &call_id).await.is_empty());
    let trail = crate::tools::audit_trail(&app).await;
    assert_eq!(
        keypad_records(&trail, &call_id),
        [
            ("call.keypad_fallback".to_owned(), "success".to_owned()),
            ("keypad.transfer".to_owned(), "success".to_owned()),
        ]
    );
}

#[tokio::test]
async fn without_a_staff_line_2_replays_the_menu_and_silence_ends_in_a_goodbye() {
    let app = spawn_app_with(Options::default(), |s| s.call.keypad_timeout_secs = 1).await;
    app.fake.set_refuse_status(Some(503));
    let mut caller = app.twilio_call(&call_sid(3)).await;
    caller.wait_for_mark_echo("keypad-1").await.unwrap();
    caller.send_dtmf('2').await.unwrap();
    // The second menu after the wrong key, the third after a silence; then goodbye.
    caller.wait_for_mark_echo("keypad-2").await.unwrap();
    caller.wait_for_mark_echo("keypad-3").await.unwrap();
    timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert!(!caller.received_marks().contains(&"keypad-4".to_owned()));
    let next = app.post_next(&call_sid(3)).await.body;
    assert!(next.contains("<Hangup/>"), "{next}");
    let call_id = ended_call_id(&app, 3).await;
    assert!(callbacks_of(&app, &call_id).await.is_empty());
    let trail = crate::tools::audit_trail(&app).await;
    let records = keypad_records(&trail, &call_id);
    assert_eq!(records.last().unwrap().0, "keypad.no_input");
    let no_input = trail.iter().find(|r| r["action"] == "keypad.no_input").unwrap();
    assert_eq!(no_input["details"]["menus"], 3);
}

#[tokio::test]
async fn an_assistant_lost_mid_call_and_not_restored_hands_over_to_the_keypad() {
    let app = spawn_app_with(Options::default(), |s| {
        s.realtime.greeting = String::new();
        s.realtime.reconnect_attempts = 1;
    })
    .await;
    let mut caller = app.twilio_call(&call_sid(4)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    caller.wait_for_mark_echo("disclosure").await.unwrap();
    app.fake.set_refuse_status(Some(503));
    fake.drop_connection().await;
    caller.wait_for_mark_echo("keypad-1").await.unwrap();
    caller.send_dtmf('1').await.unwrap();
    timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    let call_id = ended_call_id(&app, 4).await;
    assert_eq!(callbacks_of(&app, &call_id).await.len(), 1);
    let trail = crate::tools::audit_trail(&app).await;
    let fallback = trail.iter().find(|r| r["action"] == "call.keypad_fallback").unwrap();
    assert_eq!(fallback["details"]["reason"], "upstream_lost");
}
