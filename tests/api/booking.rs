//! Whole booking calls through the real server: a Twilio-protocol caller, the fake realtime peer
//! playing the model, and the built-in EHR or a real FHIR server behind the tools.

use serde_json::{Value, json};
use voicegate::config::EhrKind;
use voicegate::tools::answer;

use crate::ehr_fhir::{appointment_status, seed_patient, slot_status};
use crate::fhir_peer::FhirPeer;
use crate::helpers::*;
use crate::tools::{audit_trail, call_tool, connected, jane};

fn jose() -> Value {
    json!({"first_name": "José", "last_name": "Álvarez", "date_of_birth": "1975-07-30", "phone": "555 010 0002"})
}

fn slot_ids(out: &Value) -> Vec<String> {
    out["slots"]
        .as_array()
        .unwrap_or_else(|| panic!("slots in {out}"))
        .iter()
        .map(|s| s["slot"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_happy_path_books_lists_moves_and_cancels_on_the_builtin_ehr() {
    let app = spawn_app().await;
    let (_caller, mut fake) = connected(&app, 40).await;
    assert_eq!(call_tool(&mut fake, "verify_patient", jane()).await["ok"], true);

    // Ranking: both family doctors match; only Doctor Patel takes Medicaid.
    let providers = call_tool(
        &mut fake,
        "search_providers",
        json!({"specialty": "Family Medicine", "insurance": "Medicaid"}),
    )
    .await;
    assert_eq!(providers["providers"][0]["provider_id"], "patel", "{providers}");
    assert_eq!(providers["providers"][0]["accepts_insurance"], true);
    assert_eq!(providers["providers"][1]["accepts_insurance"], false);
    let first_opening = providers["providers"][0]["first_opening"].as_str().unwrap();
    assert!(
        first_opening.contains(", at ") && !first_opening.chars().any(|c| c.is_ascii_digit()),
        "{first_opening}"
    );

    let found = call_tool(&mut fake, "find_slots", json!({"provider_id": "patel"})).await;
    let slots = slot_ids(&found);
    assert_eq!(slots.len(), 5, "{found}");
    let when = found["slots"][0]["when"].as_str().unwrap();
    assert!(!when.chars().any(|c| c.is_ascii_digit()), "dates as words: {when}");

    let held = call_tool(&mut fake, "hold_slot", json!({"slot": slots[0]})).await;
    assert_eq!(held["ok"], true, "{held}");
    let booked = call_tool(
        &mut fake,
        "book_appointment",
        json!({"slot": slots[0], "reason": "annual physical"}),
    )
    .await;
    assert_eq!(booked["ok"], true, "{booked}");
    assert!(booked["say"].as_str().unwrap().contains(when), "read back: {booked}");
    let appointment = booked["appointment"].as_str().unwrap().to_owned();

    let listed = call_tool(&mut fake, "list_my_appointments", json!({})).await;
    assert_eq!(listed["appointments"][0]["appointment"], appointment.as_str());

    let moved = call_tool(
        &mut fake,
        "reschedule_appointment",
        json!({"appointment": appointment, "new_slot": slots[2]}),
    )
    .await;
    assert_eq!(moved["ok"], true, "{moved}");
    let new_id = moved["appointment"].as_str().unwrap().to_owned();
    let listed = call_tool(&mut fake, "list_my_appointments", json!({})).await;
    let ids: Vec<&str> = listed["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appointment"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [new_id.as_str()]);
    // The old time is offered again.
    let again = call_tool(&mut fake, "find_slots", json!({"provider_id": "patel"})).await;
    assert!(slot_ids(&again).contains(&slots[0]));

    let cancelled = call_tool(
        &mut fake,
        "cancel_appointment",
        json!({"appointment": new_id, "reason": "not needed"}),
    )
    .await;
    assert_eq!(cancelled["ok"], true, "{cancelled}");
    let listed = call_tool(&mut fake, "list_my_appointments", json!({})).await;
    assert_eq!(listed["appointments"], json!([]));

    // Every patient-data step is in the audit trail, by keyed reference, without PHI.
    let trail = audit_trail(&app).await;
    for action in [
        "appointment.hold",
        "appointment.book",
        "appointment.list",
        "appointment.reschedule",
        "appointment.cancel",
    ] {
        let record = trail
            .iter()
            .find(|r| r["action"] == action)
            .unwrap_or_else(|| panic!("{action} audited"));
        assert!(record["patient"].as_str().unwrap().starts_with("phi:"));
        assert_eq!(record["outcome"], "success", "{record}");
    }
    let text = serde_json::to_string(&trail).unwrap().to_lowercase();
    for phi in ["doe", "1980-02-14", "5550100001", "annual physical"] {
        assert!(!text.contains(phi), "audit trail holds {phi}");
    }
}

#[tokio::test]
async fn someone_elses_appointment_ids_get_nothing() {
    let app = spawn_app().await;
    let (_c1, mut jose_call) = connected(&app, 41).await;
    assert_eq!(call_tool(&mut jose_call, "verify_patient", jose()).await["ok"], true);
    let found = call_tool(&mut jose_call, "find_slots", json!({"specialty": "dermatology"})).await;
    let slots = slot_ids(&found);
    let booked = call_tool(
        &mut jose_call,
        "book_appointment",
        json!({"slot": slots[0], "reason": "rash"}),
    )
    .await;
    let joses = booked["appointment"].as_str().unwrap().to_owned();

    let (_c2, mut jane_call) = connected(&app, 42).await;
    assert_eq!(call_tool(&mut jane_call, "verify_patient", jane()).await["ok"], true);
    let listed = call_tool(&mut jane_call, "list_my_appointments", json!({})).await;
    assert_eq!(
        listed["appointments"],
        json!([]),
        "Jane does not see José's appointment"
    );
    for (tool, args) in [
        ("cancel_appointment", json!({"appointment": joses, "reason": "x"})),
        (
            "reschedule_appointment",
            json!({"appointment": joses, "new_slot": slots[1]}),
        ),
    ] {
        let out = call_tool(&mut jane_call, tool, args).await;
        assert_eq!(out["ok"], false, "{tool}: {out}");
        assert!(!out.to_string().contains("derm"), "nothing about it leaks: {out}");
    }
    let still = call_tool(&mut jose_call, "list_my_appointments", json!({})).await;
    assert_eq!(still["appointments"][0]["appointment"], joses.as_str(), "untouched");
}

#[tokio::test]
async fn availability_needs_no_verification_but_booking_does() {
    let app = spawn_app().await;
    let (_caller, mut fake) = connected(&app, 43).await;
    let found = call_tool(&mut fake, "find_slots", json!({"specialty": "pediatrics"})).await;
    let slots = slot_ids(&found);
    assert!(!slots.is_empty());
    for (tool, args) in [
        ("hold_slot", json!({"slot": slots[0]})),
        (
            "book_appointment",
            json!({"slot": slots[0], "reason": "x", "patient_id": "demo-p1"}),
        ),
    ] {
        assert_eq!(call_tool(&mut fake, tool, args).await["say"], answer::NOT_VERIFIED);
    }
    let bad = call_tool(
        &mut fake,
        "find_slots",
        json!({"specialty": "pediatrics", "from": "next Tuesday"}),
    )
    .await;
    assert_eq!(bad["ok"], false, "{bad}");
    let none = call_tool(&mut fake, "search_providers", json!({"specialty": "astrology"})).await;
    assert_eq!(none["ok"], false, "{none}");
}

/// The EHR is down: the agent says so, books nothing, and a callback is stored with a reference.
#[tokio::test]
async fn an_unreachable_ehr_is_said_honestly_and_a_callback_is_taken() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = spawn_app_with(Options::default(), |s| {
        s.ehr.kind = EhrKind::Fhir;
        s.ehr.timeout_ms = 2000;
        s.ehr.fhir = Some(
            serde_json::from_value(json!({"base_url": format!("http://127.0.0.1:{port}/fhir/R4"), "timeout_ms": 500}))
                .unwrap(),
        );
    })
    .await;
    let (_caller, mut fake) = connected(&app, 44).await;
    let verify = call_tool(&mut fake, "verify_patient", jane()).await;
    assert_eq!(verify["say"], answer::UNAVAILABLE);
    let slots = call_tool(&mut fake, "find_slots", json!({"specialty": "dermatology"})).await;
    assert_eq!(slots["say"], answer::UNAVAILABLE);
    let callback = call_tool(&mut fake, "request_callback", json!({"topic": "book a visit"})).await;
    assert_eq!(callback["ok"], true);
    let reference = callback["reference"].as_str().unwrap();
    let voicegate::storage::Db::Sqlite(pool) = &app.state.deps.db else {
        unreachable!()
    };
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM callback_requests WHERE reference = ?")
        .bind(reference)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(n, 1, "the callback is stored under the number the caller heard");
}

#[tokio::test]
async fn the_happy_path_works_on_a_real_fhir_server() {
    let Some(peer) = FhirPeer::start().await else { return };
    let (role, first, second) = crate::ehr_fhir::seed_okafor_with_two_slots(&peer).await;
    seed_patient(&peer, "Rivera", "Ana", "1975-06-07", &["555-013-2748"]).await;
    let base = peer.base_url().to_owned();
    let app = spawn_app_with(Options::default(), |s| {
        s.ehr.kind = EhrKind::Fhir;
        s.ehr.fhir = Some(serde_json::from_value(json!({"base_url": base})).unwrap());
    })
    .await;
    let (_caller, mut fake) = connected(&app, 45).await;
    let verify = call_tool(
        &mut fake,
        "verify_patient",
        json!({"first_name": "ana", "last_name": "RIVERA", "date_of_birth": "June 7, 1975", "phone": "(555) 013-2748"}),
    )
    .await;
    assert_eq!(verify["ok"], true, "{verify}");
    let providers = call_tool(&mut fake, "search_providers", json!({"specialty": "dermatology"})).await;
    assert_eq!(providers["providers"][0]["provider_id"], role.as_str());
    let found = call_tool(
        &mut fake,
        "find_slots",
        json!({"provider_id": role, "from": "2030-03-04", "to": "2030-03-06"}),
    )
    .await;
    assert_eq!(slot_ids(&found), [first.clone(), second.clone()], "{found}");
    assert_eq!(found["slots"][0]["when"], "Monday, March fourth, at ten a.m.");
    let booked = call_tool(
        &mut fake,
        "book_appointment",
        json!({"slot": first, "reason": "mole check"}),
    )
    .await;
    assert_eq!(booked["ok"], true, "{booked}");
    let appointment = booked["appointment"].as_str().unwrap().to_owned();
    assert_eq!(slot_status(&peer, &first).await, "busy");
    let listed = call_tool(&mut fake, "list_my_appointments", json!({})).await;
    assert_eq!(listed["appointments"][0]["appointment"], appointment.as_str());
    let moved = call_tool(
        &mut fake,
        "reschedule_appointment",
        json!({"appointment": appointment, "new_slot": second}),
    )
    .await;
    assert_eq!(moved["ok"], true, "{moved}");
    let new_id = moved["appointment"].as_str().unwrap().to_owned();
    assert_eq!(
        (slot_status(&peer, &first).await, slot_status(&peer, &second).await),
        ("free".to_owned(), "busy".to_owned())
    );
    assert_eq!(appointment_status(&peer, &appointment).await, "cancelled");
    let cancelled = call_tool(
        &mut fake,
        "cancel_appointment",
        json!({"appointment": new_id, "reason": "x"}),
    )
    .await;
    assert_eq!(cancelled["ok"], true, "{cancelled}");
    assert_eq!(appointment_status(&peer, &new_id).await, "cancelled");
    assert_eq!(slot_status(&peer, &second).await, "free");
}
