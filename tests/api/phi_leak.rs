//! Patient data never reaches logs, metrics, HTTP bodies or WebSocket close reasons.
//!
//! A call whose caller ID, transcripts and tool arguments carry a test patient's name, birth date
//! and phone runs with every log level on, through failure paths (the database lost mid-call,
//! malformed tool arguments, a protocol error); then everything observable is searched for every
//! rendering of those identifiers. The patient is on file, so the call also verifies and runs the
//! whole booking flow (providers, slots, hold, book, list, reschedule, cancel) with PHI in the
//! visit reason.

use tokio::time::timeout;

use crate::helpers::*;
use crate::tools::call_tool;

const FIRST: &str = "Marisol";
const LAST: &str = "Quintanilla-Ortega";
const PHONE_E164: &str = "+15550132748";

/// Every rendering of the test patient's identifiers that must never appear (compared
/// case-insensitively).
fn renderings() -> Vec<&'static str> {
    vec![
        // Name, case-folded by the comparison.
        "marisol",
        "quintanilla",
        "ortega",
        // Birth date 1961-04-09: ISO, US, compact, spoken.
        "1961-04-09",
        "04/09/1961",
        "4/9/1961",
        "19610409",
        "april 9, 1961",
        "april ninth",
        "nineteen sixty-one",
        // Phone: E.164, national, digits only, dotted.
        "+15550132748",
        "(555) 013-2748",
        "555-013-2748",
        "5550132748",
        "555.013.2748",
        "013-2748",
    ]
}

/// The test patient, on file in the built-in EHR.
async fn insert_test_patient(app: &TestApp) {
    voicegate::tools::ehr::builtin::insert_patient(
        &app.state.deps.db,
        "phi-test-patient",
        &voicegate::domain::PersonName::parse(FIRST).unwrap(),
        &voicegate::domain::PersonName::parse(LAST).unwrap(),
        &voicegate::domain::DateOfBirth::parse("1961-04-09").unwrap(),
        &voicegate::domain::PhoneNumber::parse(PHONE_E164).unwrap(),
    )
    .await
    .unwrap();
}

fn assert_clean(what: &str, text: &str) {
    let folded = text.to_lowercase();
    for r in renderings() {
        assert!(!folded.contains(r), "{what} contains patient data ({r:?})");
    }
}

#[tokio::test]
async fn no_patient_data_leaves_the_server_outside_the_call() {
    // Texts go out too: the notification worker and the SMS webhooks log nothing of the patient.
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
    insert_test_patient(&app).await;
    voicegate::notify::contacts::upsert(
        &app.state.deps.db,
        &voicegate::notify::contacts::NewContact {
            patient_id: "phi-test-patient",
            phone_e164: Some(PHONE_E164),
            email: Some("marisol.quintanilla@patients.test"),
            sms_consent: true,
            email_consent: true,
            language: "es",
            updated_by: "test",
        },
        0,
    )
    .await
    .unwrap();
    let logs_before = app.logs.contents().len();
    let mut bodies = Vec::new();

    // The webhook carries the patient's phone as caller ID.
    let mut params = call_params(&call_sid(4242));
    params.insert("From".into(), PHONE_E164.into());
    params.insert("Caller".into(), PHONE_E164.into());
    params.insert("CallerName".into(), format!("{FIRST} {LAST}"));
    let answer = app.post_voice(&params, true).await;
    bodies.push(answer.body.clone());
    let mut config = app.call_config(&call_sid(4242)).await;
    config
        .custom_parameters
        .insert("note".into(), format!("{FIRST} {LAST} 1961-04-09 {PHONE_E164}"));
    let mut caller = voicegate::testkit::twilio_caller::TwilioCaller::connect(config)
        .await
        .unwrap();
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    caller.send_audio_fast(&pattern(1, 10), 0).await.unwrap();

    // Transcripts and tool arguments full of PHI, well-formed and malformed.
    fake.speech_started(0).await.unwrap();
    fake.speech_stopped(200).await.unwrap();
    fake.user_transcript(&format!(
        "Hi, this is {FIRST} {LAST}, born April 9, 1961, my number is 555-013-2748"
    ))
    .await
    .unwrap();
    let verified = call_tool(
        &mut fake,
        "verify_patient",
        serde_json::json!({"first_name": FIRST, "last_name": LAST, "date_of_birth": "1961-04-09", "phone": PHONE_E164}),
    )
    .await;
    assert_eq!(verified["ok"], true, "the test patient verifies: {verified}");
    // The whole booking flow, with the patient's identifiers in the visit reason.
    let reason = format!("follow-up for {FIRST} {LAST}, born April 9, 1961, call back on 555-013-2748");
    call_tool(
        &mut fake,
        "search_providers",
        serde_json::json!({"specialty": "family medicine"}),
    )
    .await;
    let slots = call_tool(&mut fake, "find_slots", serde_json::json!({"provider_id": "okafor"})).await;
    let slot = |i: usize| slots["slots"][i]["slot"].as_str().unwrap().to_owned();
    call_tool(&mut fake, "hold_slot", serde_json::json!({"slot": slot(0)})).await;
    let booked = call_tool(
        &mut fake,
        "book_appointment",
        serde_json::json!({"slot": slot(0), "reason": reason}),
    )
    .await;
    assert_eq!(booked["ok"], true, "{booked}");
    call_tool(&mut fake, "list_my_appointments", serde_json::json!({})).await;
    let moved = call_tool(
        &mut fake,
        "reschedule_appointment",
        serde_json::json!({"appointment": booked["appointment"], "new_slot": slot(1)}),
    )
    .await;
    assert_eq!(moved["ok"], true, "{moved}");
    let cancelled = call_tool(
        &mut fake,
        "cancel_appointment",
        serde_json::json!({"appointment": moved["appointment"], "reason": reason}),
    )
    .await;
    assert_eq!(cancelled["ok"], true, "{cancelled}");
    // Booked, then cancelled (the move's text is cancelled with it if it was not out yet); then
    // the patient texts back from that phone.
    let until = tokio::time::Instant::now() + GUARD;
    let texts = loop {
        let texts = twilio.wait_for(2, GUARD).await;
        if texts.iter().any(|t| t.body.contains("cancelada")) {
            break texts;
        }
        assert!(tokio::time::Instant::now() < until, "no cancellation text: {texts:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    for body in ["C", "R", "HELP", "STOP", &format!("soy {FIRST} {LAST} 1961-04-09")] {
        let mut p = std::collections::BTreeMap::new();
        p.insert("MessageSid".to_owned(), format!("SM{}", "c".repeat(32)));
        p.insert("AccountSid".to_owned(), account.to_owned());
        p.insert("From".to_owned(), PHONE_E164.to_owned());
        p.insert("Body".to_owned(), body.to_owned());
        let r = voicegate::testkit::webhook::post_signed(
            &app.base,
            PUBLIC_BASE,
            "/twilio/sms",
            &p,
            Some(AUTH_TOKEN.as_bytes()),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        bodies.push(r.body);
    }
    let report = twilio
        .report(&app.base, &texts[0].sid, "undelivered", Some(30003))
        .await
        .unwrap();
    bodies.push(report.body);
    // A red flag whose transcript is full of PHI: logged, counted and audited by category only.
    fake.user_transcript(&format!(
        "this is {FIRST} {LAST} again, born 04/09/1961, call 555-013-2748, my husband collapsed and he is not breathing"
    ))
    .await
    .unwrap();
    timeout(GUARD, async {
        loop {
            let e = fake.wait_for("conversation.item.create").await.unwrap();
            if e["item"]["role"] == "assistant" {
                break;
            }
        }
    })
    .await
    .expect("the red-flag script was played");
    fake.send(serde_json::json!({
        "type": "response.function_call_arguments.done",
        "call_id": "call_bad", "name": "verify_patient", "item_id": "item_x",
        "arguments": format!("{{not json {FIRST} {LAST} 04/09/1961 (555) 013-2748"),
    }))
    .await
    .unwrap();
    // A frame of a known type with PHI in a malformed field, and an unknown type carrying PHI.
    fake.send(serde_json::json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": 5, "transcript": FIRST}))
        .await
        .unwrap();
    fake.send(serde_json::json!({"type": "marisol.5550132748", "text": LAST}))
        .await
        .unwrap();
    // A tool name made of PHI (a model can hallucinate anything).
    fake.function_call("lookup_marisol_quintanilla_5550132748", &serde_json::json!({}))
        .await
        .unwrap();
    fake.wait_for("conversation.item.create").await.unwrap();
    fake.send(serde_json::json!({"type": "error", "error": {"type": "invalid_request_error", "code": null, "message": format!("bad input near '{FIRST} {LAST}'")}}))
        .await
        .unwrap();
    fake.respond_audio(
        &pattern(2, 5),
        800,
        &format!("Thank you {FIRST}, I see your birthday is April ninth."),
    )
    .await
    .unwrap();

    // The database is lost mid-call; the call still ends cleanly (its record is spooled).
    app.state.deps.db.close().await;
    // A protocol error from the caller side carrying PHI in the frame.
    caller
        .send_raw_text(format!("{{\"event\":\"{FIRST}\",\"phone\":\"{PHONE_E164}\"}}"))
        .await
        .unwrap();
    let (_, reason) = timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert_clean("the WebSocket close reason", &reason);
    let upstream_close = timeout(GUARD, async {
        fake.closed().await.unwrap();
        fake.client_close()
    })
    .await
    .unwrap();
    assert_clean("the upstream close reason", &format!("{upstream_close:?}"));
    let next = app.post_next(&call_sid(4242)).await;
    bodies.push(next.body);
    timeout(GUARD, async {
        while !app.logs.contents()[logs_before..].contains("call.ended audit record")
            && !app.logs.contents()[logs_before..].contains("audit record spooled")
        {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the call finalised");

    bodies.push(app.get("/metrics").await.body);
    for (i, body) in bodies.iter().enumerate() {
        assert_clean(&format!("HTTP body #{i}"), body);
    }
    let logs = app.logs.contents();
    assert!(logs.len() > logs_before, "logs were captured");
    assert_clean("the captured logs", &logs[logs_before..]);
    // The identifiers did pass through the server: it answered the webhook and the tool call.
    assert_eq!(answer.status, 200);
    assert!(
        fake.received()
            .iter()
            .any(|e| e["type"] == "conversation.item.create" && e["item"]["type"] == "function_call_output")
    );
}

/// The browser path: transcripts with the patient's identifiers are shown to the caller (their
/// own words) but never logged; a hostile frame carrying PHI is refused without echoing it.
#[tokio::test]
async fn a_browser_call_shows_the_transcript_to_the_caller_and_logs_none_of_it() {
    use voicegate::testkit::browser_caller::{BrowserCaller, Received};
    let app = spawn_app().await;
    insert_test_patient(&app).await;
    let logs_before = app.logs.contents().len();
    let mut caller: BrowserCaller = app.browser_call(48_000).await;
    caller.set_auto_echo(true);
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    let said = format!("Hi, this is {FIRST} {LAST}, born April 9, 1961, my number is 555-013-2748");
    fake.user_transcript(&said).await.unwrap();
    let (line, _) = timeout(GUARD, caller.until("transcript")).await.unwrap().unwrap();
    assert_eq!(line["text"], said, "the caller sees their own words");
    let verified = call_tool(
        &mut fake,
        "verify_patient",
        serde_json::json!({"first_name": FIRST, "last_name": LAST, "date_of_birth": "1961-04-09", "phone": PHONE_E164}),
    )
    .await;
    assert_eq!(verified["ok"], true, "{verified}");
    fake.respond_audio(&[0; 9600], 4800, &format!("Thank you {FIRST}, you are verified."))
        .await
        .unwrap();
    timeout(GUARD, caller.until("transcript")).await.unwrap().unwrap();
    // A hostile frame with PHI in its type and body.
    caller
        .send_json(&serde_json::json!({"type": format!("{FIRST}-{PHONE_E164}"), "dob": "1961-04-09"}))
        .unwrap();
    let (close, seen) = timeout(GUARD, caller.until_closed()).await.unwrap();
    assert_clean("the browser close reason", &format!("{close:?}"));
    let errors: Vec<_> = seen
        .iter()
        .filter(|r| matches!(r, Received::Control(v) if v["type"] == "error"))
        .collect();
    assert_clean("the browser error message", &format!("{errors:?}"));
    timeout(GUARD, fake.closed()).await.unwrap().unwrap();
    timeout(GUARD, async {
        while app.state.deps.metrics.active_calls.get() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the call finalised");
    assert_clean("/metrics", &app.get("/metrics").await.body);
    let logs = app.logs.contents();
    assert!(logs.len() > logs_before, "logs were captured");
    assert_clean("the captured logs", &logs[logs_before..]);
}
