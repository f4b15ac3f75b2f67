//! The appointment lifecycle through the real server: every change the agent makes is written to
//! the appointment's history in the same transaction, with who made it and where the booking
//! came from, and an illegal change is refused with nothing written. Both backends.

use serde_json::{Value, json};
use voicegate::clinic::history;
use voicegate::storage::sql::Arg;

use crate::helpers::*;
use crate::notify_email::slots;
use crate::tools::{call_tool, connected, jane};

#[derive(sqlx::FromRow)]
struct Source {
    source: String,
}

fn states(rows: &[history::HistoryRow]) -> Vec<(String, Option<String>, String)> {
    rows.iter()
        .map(|r| (r.event.clone(), r.from_state.clone(), r.to_state.clone()))
        .collect()
}

async fn lifecycle_history(kind: BackendKind) {
    let Some(app) = spawn_app_on(kind).await else { return };
    let (_caller, mut fake) = connected(&app, 61).await;
    assert_eq!(call_tool(&mut fake, "verify_patient", jane()).await["ok"], true);
    let found = call_tool(&mut fake, "find_slots", json!({"provider_id": "patel"})).await;
    let slots = slots(&found);
    let booked = call_tool(
        &mut fake,
        "book_appointment",
        json!({"slot": slots[0], "reason": "checkup"}),
    )
    .await;
    let first = booked["appointment"].as_str().unwrap().to_owned();
    let db = &app.state.deps.db;
    let source: Vec<Source> = db
        .all(
            "SELECT source FROM appointments WHERE appointment_id = ?",
            &[Arg::Text(&first)],
        )
        .await
        .unwrap();
    assert_eq!(source[0].source, "phone_agent", "a Twilio call's booking");

    let moved = call_tool(
        &mut fake,
        "reschedule_appointment",
        json!({"appointment": first, "new_slot": slots[1]}),
    )
    .await;
    let second = moved["appointment"].as_str().unwrap().to_owned();
    let old = history::of(db, &first).await.unwrap();
    assert_eq!(
        states(&old),
        [
            ("confirm".into(), None, "confirmed".into()),
            ("reschedule".into(), Some("confirmed".into()), "rescheduled".into()),
        ]
    );
    let details: Value = serde_json::from_str(&old[1].details).unwrap();
    assert_eq!(details["replaced_by"], second.as_str());
    assert!(
        old.iter().all(|r| r.actor.starts_with("call:call_")),
        "{:?}",
        old[0].actor
    );

    // A cancellation without a reason from the caller still records why it ended.
    let cancelled = call_tool(&mut fake, "cancel_appointment", json!({"appointment": second})).await;
    assert_eq!(cancelled["ok"], true, "{cancelled}");
    let new = history::of(db, &second).await.unwrap();
    assert_eq!(
        states(&new),
        [
            ("confirm".into(), None, "confirmed".into()),
            ("cancel".into(), Some("confirmed".into()), "cancelled".into()),
        ]
    );
    assert_eq!(new[1].reason.as_deref(), Some("caller request"));
    assert_eq!(
        serde_json::from_str::<Value>(&new[0].details).unwrap()["replaces"],
        first.as_str()
    );

    // Terminal: a second cancellation and a move of the old one are refused, nothing written.
    let again = call_tool(
        &mut fake,
        "cancel_appointment",
        json!({"appointment": second, "reason": "x"}),
    )
    .await;
    assert_eq!(again["ok"], false, "{again}");
    let move_old = call_tool(
        &mut fake,
        "reschedule_appointment",
        json!({"appointment": first, "new_slot": slots[2]}),
    )
    .await;
    assert_ne!(move_old["ok"], true, "{move_old}");
    assert_eq!(history::of(db, &second).await.unwrap().len(), 2);
    assert_eq!(history::of(db, &first).await.unwrap().len(), 2);
}

crate::on_both_backends!(every_change_is_in_the_appointment_history, lifecycle_history);

/// Staff move an appointment through its lifecycle over the API: admin only, a typed reason
/// always, and the lifecycle refuses what does not fit (409, nothing changed); each change is in
/// the history and the audit log.
#[tokio::test]
async fn staff_cancel_and_mark_visits_through_the_api_within_the_lifecycle() {
    use crate::review::{Staff, add_staff};
    use voicegate::review::Role;
    let clock = voicegate::clock::ManualClock::at_unix(crate::notify_email::T0);
    let app = crate::notify_email::app_at(clock.clone(), |_| {}).await;
    let (_caller, mut fake) = connected(&app, 62).await;
    let (first, slots) = crate::notify_email::book(&mut fake, jane()).await;
    let second = call_tool(&mut fake, "book_appointment", json!({"slot": slots[3], "reason": "x"})).await;
    let second = second["appointment"].as_str().unwrap().to_owned();
    add_staff(&app, "ada.admin", Role::Admin).await;
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    let admin = Staff::login(&app, "ada.admin").await;
    let reviewer = Staff::login(&app, "rita.reviewer").await;
    let path = |id: &str| format!("/review/api/appointments/{id}/status");
    let db = &app.state.deps.db;

    let r = reviewer
        .post(&path(&first), json!({"to": "cancelled", "reason": "provider sick"}))
        .await;
    assert_eq!(r.status, 403, "a reviewer cannot change the schedule: {}", r.body);
    for (body, status) in [
        (json!({"to": "cancelled", "reason": ""}), 400),
        (json!({"to": "teleported", "reason": "provider sick"}), 400),
        (json!({"to": "no-show", "reason": "did not come"}), 409),
        (json!({"to": "completed", "reason": "seen"}), 409),
    ] {
        let r = admin.post(&path(&first), body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
    }
    let r = admin
        .post(&path("apt-nope"), json!({"to": "cancelled", "reason": "provider sick"}))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        history::of(db, &first).await.unwrap().len(),
        1,
        "refusals changed nothing"
    );

    let r = admin
        .post(&path(&first), json!({"to": "cancelled", "reason": "provider sick"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (body["from"].as_str(), body["to"].as_str()),
        (Some("confirmed"), Some("cancelled"))
    );
    let h = history::of(db, &first).await.unwrap();
    assert_eq!(h[1].actor, format!("staff:{}", staff_id(&app, "ada.admin").await));
    assert_eq!(h[1].reason.as_deref(), Some("provider sick"));
    let again = admin
        .post(&path(&first), json!({"to": "cancelled", "reason": "twice"}))
        .await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already cancelled"), "{}", again.body);

    // After the visit's start: completed, then nothing more.
    let start = {
        #[derive(sqlx::FromRow)]
        struct Start {
            start_ms: i64,
        }
        let rows: Vec<Start> = db
            .all(
                "SELECT start_ms FROM appointments WHERE appointment_id = ?",
                &[Arg::Text(&second)],
            )
            .await
            .unwrap();
        rows[0].start_ms
    };
    crate::notify_email::move_to(&app, &clock, start);
    // Days later: the old session timed out (idle limit); sign in again.
    let admin = Staff::login(&app, "ada.admin").await;
    let r = admin
        .post(&path(&second), json!({"to": "cancelled", "reason": "too late"}))
        .await;
    assert_eq!(r.status, 409, "a started visit is not cancelled: {}", r.body);
    let r = admin
        .post(&path(&second), json!({"to": "completed", "reason": "seen by Dr Patel"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin
        .post(&path(&second), json!({"to": "no-show", "reason": "changed my mind"}))
        .await;
    assert_eq!(r.status, 409);

    // The appointment's record: history and (no channel on) no notifications; the audit trail.
    let record = admin
        .post(
            &format!("/review/api/appointments/{second}/notifications"),
            json!({"reason": "front desk check"}),
        )
        .await;
    assert_eq!(record.status, 200, "{}", record.body);
    let record: Value = serde_json::from_str(&record.body).unwrap();
    let events: Vec<&str> = record["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["confirm", "mark_completed"]);
    let trail = crate::tools::audit_trail(&app).await;
    let changes: Vec<&Value> = trail
        .iter()
        .filter(|r| r["action"] == "schedule.status_changed")
        .collect();
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert_eq!(changes[0]["reason"], "provider sick");
    assert_eq!(changes[1]["details"]["to"], "completed");
}

async fn staff_id(app: &TestApp, username: &str) -> String {
    #[derive(sqlx::FromRow)]
    struct Id {
        staff_id: String,
    }
    let rows: Vec<Id> = app
        .state
        .deps
        .db
        .all("SELECT staff_id FROM staff WHERE username = ?", &[Arg::Text(username)])
        .await
        .unwrap();
    rows[0].staff_id.clone()
}

/// The same staff actions on a real FHIR server: the lifecycle reads the stored status, the new
/// one is written to the EHR (`noshow`, `fulfilled`, `cancelled` with the typed reason), and the
/// history is kept here.
#[tokio::test]
async fn staff_actions_are_written_to_a_fhir_ehr() {
    use crate::review::{Staff, add_staff};
    use voicegate::review::Role;
    let Some(peer) = crate::fhir_peer::FhirPeer::start().await else {
        return;
    };
    let (role, _, _) = crate::ehr_fhir::seed_okafor_with_two_slots(&peer).await;
    let patient = crate::ehr_fhir::seed_patient(&peer, "Rivera", "Ana", "1975-06-07", &["555-013-2748"]).await;
    let appointment = |start: &str, end: &str| {
        json!({
            "resourceType": "Appointment", "status": "booked", "start": start, "end": end,
            "participant": [
                {"actor": {"reference": format!("Patient/{patient}")}, "status": "accepted"},
                {"actor": {"reference": format!("PractitionerRole/{role}")}, "status": "accepted"}
            ]
        })
    };
    let future = peer
        .create(appointment("2030-03-04T15:00:00Z", "2030-03-04T15:30:00Z"))
        .await;
    let past = peer
        .create(appointment("2020-03-04T15:00:00Z", "2020-03-04T15:30:00Z"))
        .await;
    let base = peer.base_url().to_owned();
    let app = spawn_app_with(Options::default(), |s| {
        s.ehr.kind = voicegate::config::EhrKind::Fhir;
        s.ehr.fhir = Some(serde_json::from_value(json!({"base_url": base})).unwrap());
    })
    .await;
    add_staff(&app, "ada.admin", Role::Admin).await;
    let admin = Staff::login(&app, "ada.admin").await;
    let path = |id: &str| format!("/review/api/appointments/{id}/status");

    let r = admin
        .post(&path(&future), json!({"to": "no-show", "reason": "did not come"}))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        peer.read("Appointment", &future).await["status"],
        "booked",
        "nothing written"
    );
    let r = admin
        .post(
            &path(&future),
            json!({"to": "cancelled", "reason": "provider unavailable"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let stored = peer.read("Appointment", &future).await;
    assert_eq!(stored["status"], "cancelled");
    assert_eq!(stored["cancelationReason"]["text"], "provider unavailable");
    let r = admin
        .post(&path(&future), json!({"to": "cancelled", "reason": "again"}))
        .await;
    assert_eq!(r.status, 409);

    let r = admin
        .post(&path(&past), json!({"to": "completed", "reason": "seen"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(peer.read("Appointment", &past).await["status"], "fulfilled");
    let r = admin
        .post(
            &path("no-such-appointment"),
            json!({"to": "completed", "reason": "seen"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);

    let h = history::of(&app.state.deps.db, &future).await.unwrap();
    assert_eq!(
        states(&h),
        [("cancel".into(), Some("confirmed".into()), "cancelled".into())]
    );
    assert!(h[0].actor.starts_with("staff:stf_"), "{}", h[0].actor);
}
