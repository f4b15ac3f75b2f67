//! Red flags in a live call: whatever the model does, the server itself tells the caller to call
//! 911 (or 988) at once, in their language, and nothing is booked afterwards.
//!
//! The scripts are short distinct tones here (`Options::short_scripts`), so what the caller heard
//! can be compared byte for byte with the script the server holds; one test plays the real
//! recordings.

use serde_json::{Value, json};
use tokio::time::timeout;
use voicegate::safety::red_flag::{Language, Script};
use voicegate::safety::script;
use voicegate::testkit::fake_classifier::{FakeClassifier, Reply};
use voicegate::testkit::fake_realtime::FakeSession;
use voicegate::testkit::twilio_caller::TwilioCaller;
use voicegate::tools::answer;

use crate::helpers::*;
use crate::tools::{audit_trail, call_tool, connected, jane};

/// The next assistant message the server put into the conversation (what it said itself).
async fn server_said(fake: &mut FakeSession) -> String {
    timeout(GUARD, async {
        loop {
            let e = fake.wait_for("conversation.item.create").await.unwrap();
            if e["item"]["type"] == "message" && e["item"]["role"] == "assistant" {
                return e["item"]["content"][0]["text"].as_str().unwrap().to_owned();
            }
        }
    })
    .await
    .expect("the server told the model what it said")
}

/// The caller heard the whole script `n` (mark `safety-n`), and it was the last thing played.
async fn heard_script(app: &TestApp, caller: &mut TwilioCaller, n: u32, which: Script, language: Language) {
    let played = caller.wait_for_mark_echo(&format!("safety-{n}")).await.unwrap();
    let audio = caller.played_audio();
    assert_eq!(played as usize, audio.len(), "the mark follows the script");
    let script = &app.state.deps.safety.scripts.get(which, language).mulaw_8k;
    assert!(
        audio.ends_with(script),
        "the caller heard the {which:?}/{language:?} script in full"
    );
}

/// Red-flag audit records, as JSON.
async fn red_flags(app: &TestApp) -> Vec<Value> {
    audit_trail(app)
        .await
        .into_iter()
        .filter(|r| r["action"] == "safety.red_flag")
        .collect()
}

#[tokio::test]
async fn a_stroke_in_plain_words_gets_the_server_script_and_every_tool_refuses() {
    let app = spawn_app().await;
    let (mut caller, mut fake) = connected(&app, 101).await;
    fake.user_transcript("half my body just went numb out of nowhere")
        .await
        .unwrap();
    assert_eq!(server_said(&mut fake).await, script::EMERGENCY_911_EN);
    let update = fake.wait_for("session.update").await.unwrap();
    let instructions = update["session"]["instructions"].as_str().unwrap();
    assert!(instructions.starts_with("SAFETY MODE") && instructions.contains("9 1 1"));
    heard_script(&app, &mut caller, 1, Script::Emergency911, Language::English).await;
    let out = call_tool(&mut fake, "verify_patient", jane()).await;
    assert_eq!(out["say"], answer::EMERGENCY, "every tool refuses after a red flag");
    let flags = red_flags(&app).await;
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(
        flags[0]["details"],
        json!({"script": "emergency_911", "category": "stroke", "source": "transcript", "language": "en"})
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

/// The acceptance call: mid-booking, while the agent is speaking, the caller describes
/// stroke signs. The agent is cut off, the script plays within that turn, and the booking the
/// model then attempts is refused.
#[tokio::test]
async fn stroke_signs_mid_booking_stop_the_booking_and_play_the_script_at_once() {
    let app = spawn_app().await;
    let (mut caller, mut fake) = connected(&app, 102).await;
    caller.wait_for_mark_echo("disclosure").await.unwrap();
    assert_eq!(call_tool(&mut fake, "verify_patient", jane()).await["ok"], true);
    let slots = call_tool(&mut fake, "find_slots", json!({"provider_id": "okafor"})).await;
    let slot = slots["slots"][0]["slot"].as_str().unwrap().to_owned();
    fake.wait_for("response.create").await.unwrap();
    // The agent starts reading times (3 s of audio) and is still talking when the caller speaks.
    let reply = fake.begin_response().await.unwrap();
    fake.audio_delta(&reply, &pattern(3, 150)).await.unwrap();
    fake.user_transcript("sorry hang on, my face feels droopy on one side and I cant lift my arm")
        .await
        .unwrap();
    let (_, discarded) = caller.wait_for_clear().await.unwrap();
    assert!(discarded > 0, "the agent was cut off mid-sentence");
    let cancel = fake.wait_for("response.cancel").await.unwrap();
    assert_eq!(cancel["response_id"], reply.response_id.as_str());
    assert_eq!(server_said(&mut fake).await, script::EMERGENCY_911_EN);
    heard_script(&app, &mut caller, 1, Script::Emergency911, Language::English).await;
    let booked = call_tool(
        &mut fake,
        "book_appointment",
        json!({"slot": slot, "reason": "checkup"}),
    )
    .await;
    assert_eq!(booked["ok"], false, "{booked}");
    assert_eq!(booked["say"], answer::EMERGENCY);
    let trail = audit_trail(&app).await;
    assert!(
        !trail.iter().any(|r| r["action"] == "appointment.book"),
        "no booking after the flag"
    );
    let flag = trail
        .iter()
        .find(|r| r["action"] == "safety.red_flag")
        .expect("the flag is audited");
    assert_eq!(flag["details"]["category"], "stroke");
    assert!(
        flag["patient"].is_string(),
        "the verified caller is referenced by key: {flag}"
    );
    let record = flag.to_string().to_lowercase();
    for word in ["droopy", "face", "arm", "lift"] {
        assert!(
            !record.contains(word),
            "the audit record holds no words of the caller: {record}"
        );
    }
}

#[tokio::test]
async fn a_spanish_caller_hears_the_spanish_script() {
    let app = spawn_app().await;
    let (mut caller, mut fake) = connected(&app, 103).await;
    fake.user_transcript("ayuda, a mi esposo se le cayó la cara de un lado y no puede hablar")
        .await
        .unwrap();
    assert_eq!(server_said(&mut fake).await, script::EMERGENCY_911_ES);
    heard_script(&app, &mut caller, 1, Script::Emergency911, Language::Spanish).await;
    assert_eq!(red_flags(&app).await[0]["details"]["language"], "es");
}

#[tokio::test]
async fn a_crisis_after_an_emergency_gets_its_own_script_after_the_first() {
    let app = spawn_app().await;
    let (mut caller, mut fake) = connected(&app, 104).await;
    fake.user_transcript("my father passed out and won't wake up")
        .await
        .unwrap();
    fake.user_transcript("and honestly I don't want to be here anymore")
        .await
        .unwrap();
    assert_eq!(server_said(&mut fake).await, script::EMERGENCY_911_EN);
    assert_eq!(server_said(&mut fake).await, script::CRISIS_988_EN);
    caller.wait_for_mark_echo("safety-1").await.unwrap();
    heard_script(&app, &mut caller, 2, Script::Crisis988, Language::English).await;
    assert!(caller.clears().is_empty(), "the second script never cuts the first");
    // A third flag of a script already played is not played again.
    fake.user_transcript("he is still not breathing right").await.unwrap();
    assert_eq!(
        call_tool(&mut fake, "verify_patient", jane()).await["say"],
        answer::EMERGENCY
    );
    let scripts: Vec<Value> = red_flags(&app)
        .await
        .iter()
        .map(|r| r["details"]["script"].clone())
        .collect();
    assert_eq!(scripts, [json!("emergency_911"), json!("crisis_988")]);
}

#[tokio::test]
async fn the_models_flag_plays_the_script_it_names_and_bad_arguments_still_flag() {
    let app = spawn_app().await;
    let (mut caller, mut fake) = connected(&app, 105).await;
    let out = call_tool(&mut fake, "flag_emergency", json!({"kind": "crisis_988"})).await;
    assert_eq!(out["say"], answer::FLAG_RAISED);
    assert_eq!(server_said(&mut fake).await, script::CRISIS_988_EN);
    heard_script(&app, &mut caller, 1, Script::Crisis988, Language::English).await;

    let (mut caller, mut fake) = connected(&app, 106).await;
    let call_id = fake
        .function_call("flag_emergency", &json!("not an object"))
        .await
        .unwrap();
    assert!(!call_id.is_empty());
    assert_eq!(server_said(&mut fake).await, script::EMERGENCY_911_EN);
    heard_script(&app, &mut caller, 1, Script::Emergency911, Language::English).await;
    let sources: Vec<Value> = red_flags(&app)
        .await
        .iter()
        .map(|r| json!([r["details"]["source"], r["details"]["category"]]))
        .collect();
    assert_eq!(
        sources,
        [
            json!(["model", "reported_crisis"]),
            json!(["model", "reported_emergency"])
        ]
    );
}

#[tokio::test]
async fn a_negated_or_past_symptom_is_not_an_emergency() {
    let app = spawn_app().await;
    let (_caller, mut fake) = connected(&app, 107).await;
    for said in [
        "no chest pain, I just need a follow-up appointment",
        "I had a stroke in 2019 and I need my yearly check",
        "my car seized up so I might be late",
    ] {
        fake.user_transcript(said).await.unwrap();
    }
    // The next tool still works, so no red flag was raised.
    assert_eq!(call_tool(&mut fake, "verify_patient", jane()).await["ok"], true);
    assert!(red_flags(&app).await.is_empty());
}

/// The real recordings, and a caller who talks over the script: it is never cut.
#[tokio::test]
async fn the_caller_cannot_talk_over_the_recorded_script() {
    let app = spawn_app_with(
        Options {
            short_scripts: false,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let (mut caller, mut fake) = connected(&app, 108).await;
    fake.user_transcript("I think I'm having a heart attack, my chest is crushing")
        .await
        .unwrap();
    assert_eq!(server_said(&mut fake).await, script::EMERGENCY_911_EN);
    fake.speech_started(1000).await.unwrap();
    fake.speech_stopped(1500).await.unwrap();
    heard_script(&app, &mut caller, 1, Script::Emergency911, Language::English).await;
    assert!(caller.clears().is_empty(), "a barge-in never clears the script");
    let seconds = app
        .state
        .deps
        .safety
        .scripts
        .get(Script::Emergency911, Language::English)
        .mulaw_8k
        .len()
        / 8000;
    assert!(seconds >= 3, "the built-in recording is real speech ({seconds} s)");
}

#[tokio::test]
async fn a_phone_caller_is_offered_staff_after_the_script_and_the_transfer_still_works() {
    let app = spawn_app_with(Options::default(), |s| {
        s.twilio.staff_number = Some("+15550009999".into());
    })
    .await;
    let (mut caller, mut fake) = connected(&app, 109).await;
    fake.user_transcript("my wife collapsed and she's not breathing")
        .await
        .unwrap();
    server_said(&mut fake).await;
    heard_script(&app, &mut caller, 1, Script::Emergency911, Language::English).await;
    let offer = fake.wait_for("response.create").await.unwrap();
    assert_eq!(offer["response"]["instructions"], script::OFFER_TRANSFER);
    let out = call_tool(&mut fake, "transfer_to_staff", json!({})).await;
    assert_eq!(out["ok"], true, "a transfer stays possible in an emergency: {out}");
}

#[tokio::test]
async fn no_transfer_is_offered_when_the_clinic_turned_it_off() {
    let app = spawn_app_with(Options::default(), |s| {
        s.twilio.staff_number = Some("+15550009999".into());
        s.safety.offer_transfer = false;
    })
    .await;
    let (mut caller, mut fake) = connected(&app, 110).await;
    fake.user_transcript("my wife collapsed and she's not breathing")
        .await
        .unwrap();
    server_said(&mut fake).await;
    heard_script(&app, &mut caller, 1, Script::Emergency911, Language::English).await;
    // A tool round trip after the mark: the session has handled the echo by then.
    call_tool(&mut fake, "verify_patient", jane()).await;
    assert!(
        !fake
            .received()
            .iter()
            .any(|e| e["response"]["instructions"] == script::OFFER_TRANSFER)
    );
}

async fn with_classifier(reply: Reply, timeout_ms: u64) -> (TestApp, FakeClassifier) {
    let classifier = FakeClassifier::start(reply).await.unwrap();
    let url = classifier.url();
    let app = spawn_app_with(Options::default(), move |s| {
        s.safety.classifier.enabled = true;
        s.safety.classifier.url = Some(url);
        s.safety.classifier.timeout_ms = timeout_ms;
    })
    .await;
    (app, classifier)
}

/// Wait (bounded) until `/metrics` shows `line`.
async fn metric_shows(app: &TestApp, line: &str) {
    timeout(GUARD, async {
        while !app.get("/metrics").await.body.contains(line) {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("metrics never showed {line}"));
}

#[tokio::test]
async fn the_second_opinion_can_add_a_flag_the_detector_missed() {
    let (app, classifier) = with_classifier(Reply::verdict("EMERGENCY_911", "stroke"), 5_000).await;
    let (mut caller, mut fake) = connected(&app, 111).await;
    let said = "something is really off with me, I feel weird all over";
    fake.user_transcript(said).await.unwrap();
    let request = classifier.next_request().await.unwrap();
    assert_eq!(request.transcript, said);
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_eq!(server_said(&mut fake).await, script::EMERGENCY_911_EN);
    heard_script(&app, &mut caller, 1, Script::Emergency911, Language::English).await;
    let flags = red_flags(&app).await;
    assert_eq!(flags[0]["details"]["source"], "classifier");
    assert!(classifier.violations().is_empty(), "{:?}", classifier.violations());
}

#[tokio::test]
async fn a_classifier_that_never_answers_does_not_delay_the_detector() {
    let (app, classifier) = with_classifier(Reply::Hang, 300).await;
    let (mut caller, mut fake) = connected(&app, 112).await;
    fake.user_transcript("my chest is crushing and my left arm is numb")
        .await
        .unwrap();
    classifier.next_request().await.unwrap();
    // The classifier is still sitting on that request; the script has already gone out.
    assert_eq!(server_said(&mut fake).await, script::EMERGENCY_911_EN);
    heard_script(&app, &mut caller, 1, Script::Emergency911, Language::English).await;
    metric_shows(&app, "voicegate_red_flag_classifier_checks_total{result=\"timeout\"} 1").await;
    assert_eq!(red_flags(&app).await.len(), 1);
}

#[tokio::test]
async fn a_classifier_cannot_clear_a_flag_and_its_failures_are_ignored() {
    let (app, classifier) = with_classifier(Reply::verdict("NONE", "none"), 5_000).await;
    let (_caller, mut fake) = connected(&app, 113).await;
    fake.user_transcript("he took a whole bottle of pills and he won't wake up")
        .await
        .unwrap();
    classifier.next_request().await.unwrap();
    assert_eq!(server_said(&mut fake).await, script::EMERGENCY_911_EN);
    metric_shows(&app, "voicegate_red_flag_classifier_checks_total{result=\"clear\"} 1").await;

    // Broken answers add nothing and the call goes on.
    for (reply, label) in [(Reply::Malformed, "malformed"), (Reply::Status(500), "status")] {
        let (app, classifier) = with_classifier(reply, 5_000).await;
        let (_caller, mut fake) = connected(&app, 114).await;
        fake.user_transcript("I'd like to book a checkup next week")
            .await
            .unwrap();
        classifier.next_request().await.unwrap();
        metric_shows(
            &app,
            &format!("voicegate_red_flag_classifier_checks_total{{result=\"{label}\"}} 1"),
        )
        .await;
        assert_eq!(call_tool(&mut fake, "verify_patient", jane()).await["ok"], true);
        assert!(red_flags(&app).await.is_empty());
    }
}
