//! Calls survive a lost upstream: the session replaces the Realtime connection mid-call, gives
//! the new one the same configuration and the conversation so far, in order, hands it the caller
//! audio buffered meanwhile, and the call goes on — verification included, because that lives in
//! the server. A connection that cannot be restored falls back after the configured attempts; a
//! long call moves to a fresh session at a pause before the API's time limit, silently.

use serde_json::{Value, json};
use tokio::time::timeout;

use crate::helpers::*;
use crate::tools::{call_tool, jane};

/// The `item`s of the `conversation.item.create` events a fake session received, in order.
fn created_items(fake: &voicegate::testkit::fake_realtime::FakeSession) -> Vec<Value> {
    fake.received()
        .into_iter()
        .filter(|e| e["type"] == "conversation.item.create")
        .map(|e| e["item"].clone())
        .collect()
}

/// A short description of an item: (type, role or name, text or call id).
fn describe(item: &Value) -> (String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match item["type"].as_str() {
        Some("message") => (s(&item["type"]), s(&item["role"]), s(&item["content"][0]["text"])),
        Some("function_call") => (s(&item["type"]), s(&item["name"]), s(&item["call_id"])),
        _ => (s(&item["type"]), String::new(), s(&item["call_id"])),
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    timeout(GUARD, async {
        while !done() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// The fault matrix's line for one finished call (SQLite): its recording stored and audited, its
/// end audited, nothing lost.
pub(crate) async fn print_fault_counts(app: &TestApp, call_id: &str) {
    let row = voicegate::storage::calls::get(&app.state.deps.db, call_id)
        .await
        .unwrap()
        .expect("the call's row");
    let trail = crate::tools::audit_trail(app).await;
    let of_call: Vec<&Value> = trail.iter().filter(|r| r["call_id"] == call_id).collect();
    let ended = of_call.iter().any(|r| r["action"] == "call.ended");
    let stored = of_call.iter().any(|r| r["action"] == "recording.stored") && row.recording_location.is_some();
    let lost = usize::from(!ended) + usize::from(!stored);
    println!(
        "calls=1 recordings_stored={} audit_records={} lost={lost}",
        usize::from(stored),
        of_call.len()
    );
    assert_eq!(lost, 0, "{of_call:#?}");
}

/// The call's transcript lines as compliance review shows them.
async fn transcript(app: &TestApp, n: u32) -> Vec<String> {
    let call_id = timeout(GUARD, async {
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
    .expect("the call finalised with a recording");
    crate::review::add_staff(app, "rita.reviewer", voicegate::review::Role::Reviewer).await;
    let reviewer = crate::review::Staff::login(app, "rita.reviewer").await;
    let r = reviewer
        .post(
            &format!("/review/api/calls/{call_id}/view"),
            json!({"reason": "checking the reconnect"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let detail: Value = serde_json::from_str(&r.body).unwrap();
    detail["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_dropped_upstream_is_replaced_and_the_conversation_goes_on() {
    let app = spawn_app_with(
        Options {
            gate_upstream: true,
            ..Options::default()
        },
        |s| s.realtime.greeting = String::new(),
    )
    .await;
    let gate = app.gate.clone().expect("gated upstream");
    gate.notify_one();
    let mut caller = app.twilio_call(&call_sid(1)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    let first_update = fake.wait_for("session.update").await.unwrap();
    caller.wait_for_mark_echo("disclosure").await.unwrap();

    caller.send_audio_fast(&pattern(1, 25), 0).await.unwrap();
    fake.user_transcript("I would like to book a checkup").await.unwrap();
    let said = "Of course. May I have your name, date of birth and phone number?";
    let ids = fake.respond_audio(&pattern(2, 10), 800, said).await.unwrap();
    let verified = call_tool(&mut fake, "verify_patient", jane()).await;
    assert_eq!(verified["ok"], true, "{verified}");
    fake.wait_for("response.create").await.unwrap();
    let before_items = created_items(&fake);
    let verify_call_id = before_items
        .iter()
        .find(|i| i["type"] == "function_call_output")
        .and_then(|i| i["call_id"].as_str())
        .unwrap()
        .to_owned();

    // The socket drops. The new connection is held at the gate, so the session is mid-reconnect:
    // the caller hears "one moment" instead of silence, and what they say now is buffered.
    let heard_before = caller.received_bytes();
    fake.drop_connection().await;
    until("the one-moment prompt", || {
        caller.received_bytes() >= heard_before + 8_000
    })
    .await;
    let during = pattern(3, 10);
    caller.send_audio_fast(&during, 1_000).await.unwrap();
    gate.notify_one();

    let mut fake2 = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    let second_update = fake2.wait_for("session.update").await.unwrap();
    assert_eq!(
        second_update["session"], first_update["session"],
        "the same instructions, tools, voice and formats"
    );
    fake2.wait_for("response.create").await.unwrap();
    let replayed: Vec<(String, String, String)> = created_items(&fake2).iter().map(describe).collect();
    let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        replayed,
        [
            s("message", "user", "I would like to book a checkup"),
            s("message", "assistant", said),
            s("function_call", "verify_patient", &verify_call_id),
            s("function_call_output", "", &verify_call_id),
        ],
        "the conversation so far, in order, with the original call id"
    );
    let replayed_call = created_items(&fake2)
        .into_iter()
        .find(|i| i["type"] == "function_call")
        .unwrap();
    assert!(
        replayed_call["arguments"].as_str().unwrap().contains("Jane"),
        "the call's own arguments"
    );
    until("the buffered caller audio", || {
        fake2.appended_audio().len() >= during.len()
    })
    .await;
    assert_eq!(
        fake2.appended_audio(),
        during,
        "what the caller said during the outage, in order, none lost"
    );
    // The caller is still verified: the server holds that, not the model.
    let listed = call_tool(&mut fake2, "list_my_appointments", json!({})).await;
    assert_eq!(listed["ok"], true, "{listed}");
    let _ = ids;

    caller.send_stop().await.unwrap();
    timeout(GUARD, fake2.closed()).await.unwrap().unwrap();
    let lines = transcript(&app, 1).await;
    let at = |t: &str| {
        lines
            .iter()
            .position(|l| l == t)
            .unwrap_or_else(|| panic!("{t} missing: {lines:?}"))
    };
    assert!(at("I would like to book a checkup") < at(said));
    assert!(at(said) < at("One moment, please."), "{lines:?}");
    let metrics = app.get("/metrics").await.body;
    assert!(
        metrics.contains(r#"voicegate_upstream_replacements_total{result="reconnected"} 1"#),
        "{metrics}"
    );
    assert!(fake2.violations().is_empty(), "{:?}", fake2.violations());
    let rows = voicegate::storage::calls::find_by_call_sid(&app.state.deps.db, &call_sid(1))
        .await
        .unwrap();
    print_fault_counts(&app, &rows[0].call_id).await;
}

#[tokio::test]
async fn an_upstream_that_cannot_be_restored_ends_in_the_spoken_unavailable_step() {
    let app = spawn_app_with(Options::default(), |s| {
        s.realtime.greeting = String::new();
        s.realtime.reconnect_attempts = 2;
        s.call.keypad_fallback = false;
    })
    .await;
    let mut caller = app.twilio_call(&call_sid(2)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    app.fake.set_refuse_status(Some(503));
    fake.drop_connection().await;
    let (code, _) = timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert_eq!(code, Some(1000), "Twilio continues with the next TwiML");
    assert_eq!(app.fake.upgrades_refused(), 2, "exactly the configured attempts");
    assert_eq!(app.fake.sessions_accepted(), 1);
    let next = app.post_next(&call_sid(2)).await.body;
    assert!(next.contains(voicegate::call::registry::script::UNAVAILABLE), "{next}");
    assert!(
        app.get("/metrics")
            .await
            .body
            .contains(r#"voicegate_upstream_replacements_total{result="reconnect_failed"} 1"#)
    );
}

#[tokio::test]
async fn a_long_call_moves_to_a_fresh_session_at_a_pause_without_a_word_to_the_caller() {
    let app = spawn_app_with(Options::default(), |s| {
        s.realtime.greeting = String::new();
        s.realtime.recycle_after_secs = 1;
    })
    .await;
    let mut caller = app.twilio_call(&call_sid(3)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    caller.wait_for_mark_echo("disclosure").await.unwrap();
    fake.user_transcript("What are your opening hours?").await.unwrap();
    let said = "We are open weekdays from nine to five.";
    fake.respond_audio(&pattern(2, 10), 800, said).await.unwrap();

    // After a second, once the answer has played, the session moves on its own.
    let mut fake2 = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake2.wait_for("session.update").await.unwrap();
    until("the replay", || created_items(&fake2).len() >= 2).await;
    let replayed: Vec<(String, String, String)> = created_items(&fake2).iter().map(describe).collect();
    assert_eq!(
        replayed,
        [
            ("message".into(), "user".into(), "What are your opening hours?".into()),
            ("message".into(), "assistant".into(), said.into()),
        ]
    );
    timeout(GUARD, fake.closed()).await.unwrap().unwrap();
    assert!(
        fake.client_close().is_some(),
        "the old session was closed by us, not lost"
    );
    // Nothing was owed, so the new session does not speak unprompted; the caller goes on.
    caller.send_audio_fast(&pattern(4, 5), 5_000).await.unwrap();
    until("the caller's audio on the new session", || {
        !fake2.appended_audio().is_empty()
    })
    .await;
    assert!(
        !fake2.received().iter().any(|e| e["type"] == "response.create"),
        "no unprompted answer"
    );
    caller.send_stop().await.unwrap();
    timeout(GUARD, fake2.closed()).await.unwrap().unwrap();
    let lines = transcript(&app, 3).await;
    assert!(!lines.iter().any(|l| l == "One moment, please."), "{lines:?}");
    assert!(
        app.get("/metrics")
            .await
            .body
            .contains(r#"voicegate_upstream_replacements_total{result="recycled"} 1"#)
    );
}
