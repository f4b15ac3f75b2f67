//! The verification gate and the safety rules, enforced by the server whatever the model asks.

use serde_json::{Value, json};
use tokio::time::timeout;
use voicegate::testkit::fake_realtime::FakeSession;
use voicegate::tools::answer;

use crate::helpers::*;

/// Have the fake model call `name` and return the parsed tool output the server sent back.
pub(crate) async fn call_tool(fake: &mut FakeSession, name: &str, args: Value) -> Value {
    let call_id = fake.function_call(name, &args).await.unwrap();
    timeout(GUARD, async {
        loop {
            let e = fake.wait_for("conversation.item.create").await.unwrap();
            if e["item"]["call_id"] == call_id.as_str() {
                return serde_json::from_str::<Value>(e["item"]["output"].as_str().unwrap()).unwrap();
            }
        }
    })
    .await
    .expect("tool output")
}

pub(crate) async fn connected(app: &TestApp, n: u32) -> (voicegate::testkit::twilio_caller::TwilioCaller, FakeSession) {
    let caller = app.twilio_call(&call_sid(n)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    let update = fake.wait_for("session.update").await.unwrap();
    let tools: Vec<&str> = update["session"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"verify_patient") && tools.contains(&"flag_emergency"),
        "{tools:?}"
    );
    (caller, fake)
}

pub(crate) fn jane() -> Value {
    json!({"first_name": "Jane", "last_name": "Doe", "date_of_birth": "February 14, 1980", "phone": "(555) 010-0001"})
}

#[tokio::test]
async fn patient_tools_refuse_before_verification_whatever_the_model_passes() {
    let app = spawn_app().await;
    let (_caller, mut fake) = connected(&app, 1).await;
    for (name, args) in [
        ("list_my_appointments", json!({})),
        (
            "book_appointment",
            json!({"slot": "s1", "reason": "checkup", "patient_id": "demo-p1"}),
        ),
        (
            "cancel_appointment",
            json!({"appointment": "a1", "reason": "x", "patient_id": "demo-p2"}),
        ),
        (
            "reschedule_appointment",
            json!({"appointment": "a1", "new_slot": "okafor/visit/2026-12-07T15:00Z", "patient_id": "demo-p1"}),
        ),
        ("hold_slot", json!({"slot": "okafor/visit/2026-12-07T15:00Z"})),
    ] {
        let out = call_tool(&mut fake, name, args).await;
        assert_eq!(out["say"], answer::NOT_VERIFIED, "{name} refused before verification");
    }
}

#[tokio::test]
async fn exact_identifiers_verify_and_the_attempt_is_audited() {
    let app = spawn_app().await;
    let (_caller, mut fake) = connected(&app, 2).await;
    let out = call_tool(&mut fake, "verify_patient", jane()).await;
    assert_eq!(out["ok"], true, "{out}");
    // After verification the gate opens.
    let out = call_tool(&mut fake, "list_my_appointments", json!({})).await;
    assert_eq!(out["ok"], true, "{out}");
    let trail = audit_trail(&app).await;
    let verify = trail
        .iter()
        .find(|r| r["action"] == "patient.verify")
        .expect("verification audited");
    assert_eq!(verify["outcome"], "success");
    assert!(
        verify["patient"].as_str().unwrap().starts_with("phi:"),
        "patient by keyed reference only"
    );
    assert!(!verify.to_string().to_lowercase().contains("doe"));
}

#[tokio::test]
async fn folding_matches_case_and_accents_but_never_a_prefix() {
    let app = spawn_app().await;
    let (_caller, mut fake) = connected(&app, 3).await;
    let prefix = json!({"first_name": "Ja", "last_name": "Doe", "date_of_birth": "1980-02-14", "phone": "5550100001"});
    assert_eq!(
        call_tool(&mut fake, "verify_patient", prefix).await["say"],
        answer::VERIFY_FAILED
    );
    let folded =
        json!({"first_name": "JOSE", "last_name": "alvarez", "date_of_birth": "07/30/1975", "phone": "555.010.0002"});
    assert_eq!(call_tool(&mut fake, "verify_patient", folded).await["ok"], true);
}

#[tokio::test]
async fn a_fourth_attempt_in_one_call_is_refused() {
    let app = spawn_app().await;
    let (_caller, mut fake) = connected(&app, 4).await;
    let wrong = json!({"first_name": "Jane", "last_name": "Doe", "date_of_birth": "1980-02-15", "phone": "5550100001"});
    for _ in 0..3 {
        assert_eq!(
            call_tool(&mut fake, "verify_patient", wrong.clone()).await["say"],
            answer::VERIFY_FAILED
        );
    }
    assert_eq!(
        call_tool(&mut fake, "verify_patient", jane()).await["say"],
        answer::TOO_MANY_ATTEMPTS,
        "even with the right details"
    );
}

#[tokio::test]
async fn five_failures_lock_the_record_across_calls() {
    let app = spawn_app().await;
    // Right name and birth date, wrong phone: these count against Jane's record.
    let wrong_phone =
        json!({"first_name": "Jane", "last_name": "Doe", "date_of_birth": "1980-02-14", "phone": "5559999999"});
    let (_c1, mut f1) = connected(&app, 5).await;
    for _ in 0..3 {
        call_tool(&mut f1, "verify_patient", wrong_phone.clone()).await;
    }
    let (_c2, mut f2) = connected(&app, 6).await;
    call_tool(&mut f2, "verify_patient", wrong_phone.clone()).await;
    let fifth = call_tool(&mut f2, "verify_patient", wrong_phone.clone()).await;
    assert_eq!(fifth["say"], answer::LOCKED);
    let (_c3, mut f3) = connected(&app, 7).await;
    assert_eq!(
        call_tool(&mut f3, "verify_patient", jane()).await["say"],
        answer::LOCKED,
        "locked until staff verify"
    );

    // Staff find the lockout in their queue and lift it with a reason; earlier failures then no
    // longer count, so one more slip does not lock the caller out again.
    crate::review::add_staff(&app, "front.desk", voicegate::review::Role::Reviewer).await;
    let staff = crate::review::Staff::login(&app, "front.desk").await;
    let queue: Value = serde_json::from_str(&staff.get("/review/api/queue").await.body).unwrap();
    let patient_ref = queue["lockouts"][0]["patient_ref"]
        .as_str()
        .expect("lockout queued")
        .to_owned();
    let lifted = staff
        .post(
            "/review/api/lockouts/lift",
            json!({"patient_ref": patient_ref, "reason": "verified with photo ID at the desk"}),
        )
        .await;
    assert_eq!(lifted.status, 204, "{}", lifted.body);
    let (_c4, mut f4) = connected(&app, 9).await;
    assert_eq!(
        call_tool(&mut f4, "verify_patient", wrong_phone.clone()).await["say"],
        answer::VERIFY_FAILED
    );
    assert_eq!(call_tool(&mut f4, "verify_patient", jane()).await["ok"], true);
}

#[tokio::test]
async fn transfer_goes_through_the_next_step_only_when_a_staff_line_exists() {
    let app = spawn_app_with(Options::default(), |s| {
        s.twilio.staff_number = Some("+15550009999".into())
    })
    .await;
    let (mut caller, mut fake) = connected(&app, 10).await;
    let out = call_tool(&mut fake, "transfer_to_staff", json!({})).await;
    assert_eq!(out["ok"], true);
    fake.wait_for("response.create").await.unwrap();
    fake.respond_audio(&pattern(1, 5), 800, "Transferring you now.")
        .await
        .unwrap();
    let (code, _) = timeout(GUARD, caller.wait_closed()).await.unwrap().unwrap();
    assert_eq!(code, Some(1000));
    let next = app.post_next(&call_sid(10)).await.body;
    assert!(next.contains("<Dial>+15550009999</Dial>"), "{next}");

    let app = spawn_app().await;
    let (_caller, mut fake) = connected(&app, 11).await;
    let out = call_tool(&mut fake, "transfer_to_staff", json!({})).await;
    assert_eq!(out["ok"], false, "never a claimed transfer that will not happen");
}

#[tokio::test]
async fn a_callback_request_is_stored_with_a_spoken_reference() {
    let app = spawn_app().await;
    let (_caller, mut fake) = connected(&app, 12).await;
    let out = call_tool(&mut fake, "request_callback", json!({"topic": "reschedule my visit"})).await;
    let reference = out["reference"].as_str().unwrap().to_owned();
    assert_eq!(reference.len(), 6);
    assert!(
        out["say"]
            .as_str()
            .unwrap()
            .contains(&reference.chars().map(String::from).collect::<Vec<_>>().join(" "))
    );
    let voicegate::storage::Db::Sqlite(pool) = &app.state.deps.db else {
        unreachable!()
    };
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM callback_requests WHERE reference = ?")
        .bind(&reference)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

/// Every audit record in the app's chain, as JSON.
pub(crate) async fn audit_trail(app: &TestApp) -> Vec<Value> {
    let voicegate::storage::Db::Sqlite(pool) = &app.state.deps.db else {
        unreachable!()
    };
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT canonical FROM audit_log ORDER BY idx")
        .fetch_all(pool)
        .await
        .unwrap();
    rows.into_iter()
        .map(|(c,)| serde_json::from_slice(&c).unwrap())
        .collect()
}

/// The webhook's caller ID stands in for an unspoken phone — but only alongside name and birth date.
#[tokio::test]
async fn caller_id_completes_verification_when_no_phone_is_spoken() {
    let app = spawn_app().await;
    let mut params = call_params(&call_sid(14));
    params.insert("From".into(), "+15550100001".into());
    let config = app.call_config_with(&params).await;
    let _caller = voicegate::testkit::twilio_caller::TwilioCaller::connect(config)
        .await
        .unwrap();
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    let no_phone = json!({"first_name": "Jane", "last_name": "Doe", "date_of_birth": "1980-02-14"});
    assert_eq!(call_tool(&mut fake, "verify_patient", no_phone).await["ok"], true);

    // With another number as caller ID, the same request does not verify.
    let (_c2, mut f2) = connected(&app, 15).await;
    let no_phone = json!({"first_name": "Jane", "last_name": "Doe", "date_of_birth": "1980-02-14"});
    assert_eq!(
        call_tool(&mut f2, "verify_patient", no_phone).await["say"],
        answer::VERIFY_FAILED
    );
}

/// Clinical questions go to the care team: the model is told so in its instructions (a fake model
/// cannot test the real model's wording — this checks what we send), and no tool we offer can
/// return results, diagnoses or medications at all.
#[tokio::test]
async fn clinical_questions_are_sent_to_the_care_team_and_no_tool_returns_clinical_data() {
    let app = spawn_app().await;
    let _caller = app.twilio_call(&call_sid(30)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    let update = fake.wait_for("session.update").await.unwrap();
    let instructions = update["session"]["instructions"].as_str().unwrap();
    for must in [
        "never give medical advice",
        "results, diagnoses or medications",
        "care team can help",
        "call 911 now",
    ] {
        assert!(
            instructions.contains(must),
            "instructions lack {must:?}: {instructions}"
        );
    }
    let tools = update["session"]["tools"].to_string().to_lowercase();
    for clinical in ["result", "diagnos", "medication", "prescri", "lab ", "allerg"] {
        assert!(!tools.contains(clinical), "a tool mentions {clinical:?}");
    }
}
