//! The FHIR EHR adapter against a real FHIR R4 server ([`FhirPeer`]): what a caller would notice
//! (who is found, which times are offered, what ends up booked or free on the server).
//!
//! "Now" is pinned to [`NOW`] so the seeded slots stay in the future whatever the date.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use url::Url;
use voicegate::domain::{DateOfBirth, PersonName};
use voicegate::tools::ehr::fhir::{FhirEhr, FhirSettings};
use voicegate::tools::ehr::{AppointmentStatus, EhrAdapter, EhrError, ProviderQuery, SlotQuery};

use crate::fhir_peer::FhirPeer;

/// The pinned clock: every seeded slot is relative to this.
const NOW: &str = "2030-03-01T12:00:00Z";

/// Upper bound for any single test step, so a hang fails instead of blocking CI.
const STEP: Duration = Duration::from_secs(30);

fn ts(s: &str) -> Timestamp {
    s.parse().expect("a valid timestamp")
}

fn settings(base_url: Url, timeout_ms: u64) -> FhirSettings {
    serde_json::from_value(json!({ "base_url": base_url.as_str(), "timeout_ms": timeout_ms })).expect("valid settings")
}

fn ehr_for(peer: &FhirPeer) -> FhirEhr {
    FhirEhr::connect(&settings(peer.base_url().clone(), 5000))
        .expect("connect")
        .with_clock(|| ts(NOW))
}

pub(crate) async fn seed_patient(
    peer: &FhirPeer,
    family: &str,
    given: &str,
    birth_date: &str,
    phones: &[&str],
) -> String {
    let telecom: Vec<Value> = phones
        .iter()
        .map(|p| json!({ "system": "phone", "value": p }))
        .collect();
    peer.create(json!({
        "resourceType": "Patient",
        "name": [{ "use": "official", "family": family, "given": [given] }],
        "birthDate": birth_date,
        "telecom": telecom,
    }))
    .await
}

/// Doctor Okafor (dermatology, Main Street, New York time) with free slots on Monday 4 and
/// Tuesday 5 March 2030 at 10 a.m.; returns (PractitionerRole id, first slot, second slot).
pub(crate) async fn seed_okafor_with_two_slots(peer: &FhirPeer) -> (String, String, String) {
    let (role, schedule) = seed_provider(
        peer,
        "Amara",
        "Okafor",
        "dermatology",
        ("the Main Street clinic", Some("America/New_York")),
        &["aetna"],
    )
    .await;
    let first = seed_slot(peer, &schedule, "2030-03-04T15:00:00Z", "free").await;
    let second = seed_slot(peer, &schedule, "2030-03-05T15:00:00Z", "free").await;
    (role, first, second)
}

/// A provider as the clinic would enter it; returns (PractitionerRole id, Schedule id).
pub(crate) async fn seed_provider(
    peer: &FhirPeer,
    given: &str,
    family: &str,
    specialty: &str,
    location: (&str, Option<&str>),
    insurances: &[&str],
) -> (String, String) {
    let practitioner = peer
        .create(json!({ "resourceType": "Practitioner", "name": [{ "family": family, "given": [given] }] }))
        .await;
    let mut loc = json!({ "resourceType": "Location", "name": location.0 });
    if let Some(tz) = location.1 {
        loc["extension"] = json!([{ "url": "http://hl7.org/fhir/StructureDefinition/timezone", "valueCode": tz }]);
    }
    let location = peer.create(loc).await;
    let extension: Vec<Value> = insurances
        .iter()
        .map(
            |i| json!({ "url": "https://voicegate.dev/fhir/StructureDefinition/accepted-insurance", "valueString": i }),
        )
        .collect();
    let mut display = specialty.to_owned();
    if let Some(first) = display.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let mut role = json!({
        "resourceType": "PractitionerRole",
        "active": true,
        "practitioner": { "reference": format!("Practitioner/{practitioner}") },
        "location": [{ "reference": format!("Location/{location}") }],
        "specialty": [{ "coding": [{ "system": "https://voicegate.dev/fhir/specialty", "code": specialty, "display": display }] }],
    });
    if !extension.is_empty() {
        role["extension"] = json!(extension);
    }
    let role = peer.create(role).await;
    let schedule = peer
        .create(json!({ "resourceType": "Schedule", "actor": [{ "reference": format!("PractitionerRole/{role}") }] }))
        .await;
    (role, schedule)
}

pub(crate) async fn seed_slot(peer: &FhirPeer, schedule: &str, start: &str, status: &str) -> String {
    let start = ts(start);
    let end = start + jiff::SignedDuration::from_mins(30);
    peer.create(json!({
        "resourceType": "Slot",
        "schedule": { "reference": format!("Schedule/{schedule}") },
        "status": status,
        "start": start.to_string(),
        "end": end.to_string(),
    }))
    .await
}

/// One provider with one free slot, and a patient: the common start of the booking tests.
struct Booking {
    role: String,
    schedule: String,
    slot: String,
    patient: String,
}

async fn seed_booking(peer: &FhirPeer) -> Booking {
    let (role, schedule) = seed_provider(
        peer,
        "Amara",
        "Okafor",
        "dermatology",
        ("Main St", Some("America/Chicago")),
        &[],
    )
    .await;
    let slot = seed_slot(peer, &schedule, "2030-03-04T15:00:00Z", "free").await;
    let patient = seed_patient(peer, "Rivera", "Ana", "1975-06-07", &["555-013-2748"]).await;
    Booking {
        role,
        schedule,
        slot,
        patient,
    }
}

pub(crate) async fn slot_status(peer: &FhirPeer, id: &str) -> String {
    peer.read("Slot", id).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub(crate) async fn appointment_status(peer: &FhirPeer, id: &str) -> String {
    peer.read("Appointment", id).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn step<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f).await.expect("step finished in time")
}

#[tokio::test]
async fn patients_are_found_by_folded_last_name_and_birth_date() {
    let Some(peer) = FhirPeer::start().await else { return };
    let ehr = ehr_for(&peer);
    let id = seed_patient(
        &peer,
        "Núñez",
        "José",
        "1980-02-03",
        &["(555) 013-2748", "+1 555 222 3333", "12"],
    )
    .await;
    seed_patient(&peer, "Nunez", "Other", "1980-02-04", &[]).await;
    seed_patient(&peer, "Doe", "Jane", "1980-02-03", &[]).await;

    let last = PersonName::parse("NUNEZ").expect("name");
    let dob = DateOfBirth::parse("1980-02-03").expect("date");
    let found = step(ehr.find_patients(&last, &dob)).await.expect("search");
    assert_eq!(found.len(), 1, "only the Núñez born that day: {found:?}");
    let c = &found[0];
    assert_eq!(c.patient_id, id);
    assert_eq!(c.first_name_folded, "jose");
    assert_eq!(c.last_name_folded, "nunez");
    assert_eq!(c.birth_date, "1980-02-03");
    assert_eq!(
        c.phones_e164,
        vec!["+15550132748", "+15552223333"],
        "unparseable phones are dropped"
    );
}

#[tokio::test]
async fn two_patients_with_the_same_family_and_birth_date_are_both_returned() {
    let Some(peer) = FhirPeer::start().await else { return };
    let ehr = ehr_for(&peer);
    let a = seed_patient(&peer, "Smith", "Alex", "1990-01-01", &[]).await;
    let b = seed_patient(&peer, "smith", "Sam", "1990-01-01", &[]).await;
    let found = step(ehr.find_patients(
        &PersonName::parse("Smith").expect("name"),
        &DateOfBirth::parse("1990-01-01").expect("date"),
    ))
    .await
    .expect("search");
    let mut ids: Vec<&str> = found.iter().map(|c| c.patient_id.as_str()).collect();
    ids.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let mut firsts: Vec<&str> = found.iter().map(|c| c.first_name_folded.as_str()).collect();
    firsts.sort();
    assert_eq!(firsts, vec!["alex", "sam"]);
}

#[tokio::test]
async fn providers_by_specialty_carry_time_zone_location_and_insurance() {
    let Some(peer) = FhirPeer::start().await else { return };
    let ehr = ehr_for(&peer);
    let (plain, _) = seed_provider(&peer, "Lee", "Park", "dermatology", ("North Clinic", None), &[]).await;
    let (insured, _) = seed_provider(
        &peer,
        "Amara",
        "Okafor",
        "dermatology",
        ("Lakeside", Some("America/Chicago")),
        &["Aetna", "Blue Cross"],
    )
    .await;
    seed_provider(
        &peer,
        "Ravi",
        "Patel",
        "cardiology",
        ("Lakeside", Some("America/Chicago")),
        &["Aetna"],
    )
    .await;

    let query = ProviderQuery {
        specialty: "Dermatology".into(),
        location: None,
        insurance: Some("AETNA".into()),
    };
    let found = step(ehr.search_providers(&query)).await.expect("search");
    let ids: Vec<&str> = found.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![insured.as_str(), plain.as_str()],
        "dermatology only, the insured one ranked first"
    );

    let okafor = &found[0];
    assert_eq!(okafor.display_name, "Doctor Amara Okafor");
    assert_eq!(okafor.specialty, "dermatology");
    assert_eq!(okafor.location_name, "Lakeside");
    assert_eq!(okafor.time_zone.iana_name(), Some("America/Chicago"));
    assert_eq!(okafor.insurances, vec!["aetna", "blue cross"]);
    let park = &found[1];
    assert_eq!(
        park.time_zone.iana_name(),
        Some("America/New_York"),
        "no extension → the default zone"
    );
    assert!(park.insurances.is_empty());

    assert_eq!(step(ehr.provider(&insured)).await.expect("provider"), *okafor);
    assert!(matches!(
        step(ehr.provider("no-such-role")).await,
        Err(EhrError::NotFound)
    ));
    assert!(matches!(
        step(ehr.provider("../Patient/x")).await,
        Err(EhrError::NotFound)
    ));
    let none = ProviderQuery {
        specialty: "podiatry".into(),
        ..ProviderQuery::default()
    };
    assert!(step(ehr.search_providers(&none)).await.expect("search").is_empty());
}

#[tokio::test]
async fn slots_are_free_in_range_future_sorted_and_limited() {
    let Some(peer) = FhirPeer::start().await else { return };
    let ehr = ehr_for(&peer);
    let (a, sched_a) = seed_provider(&peer, "Amara", "Okafor", "dermatology", ("Lakeside", None), &[]).await;
    let (b, sched_b) = seed_provider(&peer, "Lee", "Park", "dermatology", ("North", None), &[]).await;
    let a2 = seed_slot(&peer, &sched_a, "2030-03-02T15:00:00Z", "free").await;
    let a1 = seed_slot(&peer, &sched_a, "2030-03-02T14:00:00Z", "free").await;
    seed_slot(&peer, &sched_a, "2030-03-02T13:00:00Z", "busy").await;
    seed_slot(&peer, &sched_a, "2030-03-01T11:00:00Z", "free").await; // before "now"
    seed_slot(&peer, &sched_a, "2030-03-06T09:00:00Z", "free").await; // after the range
    let b1 = seed_slot(&peer, &sched_b, "2030-03-02T14:30:00Z", "free").await;
    let b2 = seed_slot(&peer, &sched_b, "2030-03-03T09:00:00Z", "free").await;

    let query = SlotQuery {
        provider_ids: vec![a.clone(), b.clone(), "unknown-role".into()],
        from: ts("2030-03-01T00:00:00Z"),
        to: ts("2030-03-05T00:00:00Z"),
        limit: 10,
    };
    let slots = step(ehr.find_slots(&query)).await.expect("slots");
    let got: Vec<(&str, &str)> = slots.iter().map(|s| (s.id.as_str(), s.provider_id.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (a1.as_str(), a.as_str()),
            (b1.as_str(), b.as_str()),
            (a2.as_str(), a.as_str()),
            (b2.as_str(), b.as_str())
        ]
    );
    assert_eq!(slots[0].start, ts("2030-03-02T14:00:00Z"));
    assert_eq!(slots[0].end, ts("2030-03-02T14:30:00Z"));

    let limited = step(ehr.find_slots(&SlotQuery {
        limit: 2,
        ..query.clone()
    }))
    .await
    .expect("slots");
    let ids: Vec<&str> = limited.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec![a1.as_str(), b1.as_str()]);

    let narrow = SlotQuery {
        from: ts("2030-03-02T14:15:00Z"),
        to: ts("2030-03-02T15:00:00Z"),
        ..query
    };
    let ids: Vec<String> = step(ehr.find_slots(&narrow))
        .await
        .expect("slots")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec![b1], "[from, to) is half-open");
}

#[tokio::test]
async fn booking_claims_the_slot_and_the_appointment_is_listed() {
    let Some(peer) = FhirPeer::start().await else { return };
    let ehr = ehr_for(&peer);
    let s = seed_booking(&peer).await;

    let booked = step(ehr.book(&s.patient, "call-1", &s.slot, "itchy rash"))
        .await
        .expect("book");
    assert_eq!(booked.status, AppointmentStatus::Booked);
    assert_eq!(booked.provider_id, s.role);
    assert_eq!(booked.provider_name, "Doctor Amara Okafor");
    assert_eq!(booked.start, ts("2030-03-04T15:00:00Z"));
    assert_eq!(booked.time_zone.iana_name(), Some("America/Chicago"));

    assert_eq!(slot_status(&peer, &s.slot).await, "busy");
    let on_server = peer.read("Appointment", &booked.id).await;
    assert_eq!(on_server["status"], "booked");
    assert_eq!(on_server["slot"][0]["reference"], format!("Slot/{}", s.slot));
    assert_eq!(on_server["description"], "itchy rash");
    let actors: Vec<&str> = on_server["participant"]
        .as_array()
        .expect("participants")
        .iter()
        .filter_map(|p| p["actor"]["reference"].as_str())
        .collect();
    assert!(
        actors.contains(&format!("Patient/{}", s.patient).as_str()),
        "{actors:?}"
    );
    assert!(
        actors.contains(&format!("PractitionerRole/{}", s.role).as_str()),
        "{actors:?}"
    );

    // The list shows it, and only upcoming booked/pending ones of this patient.
    peer.create(json!({
        "resourceType": "Appointment", "status": "booked",
        "start": "2030-02-01T10:00:00Z", "end": "2030-02-01T10:30:00Z",
        "participant": [{ "actor": { "reference": format!("Patient/{}", s.patient) }, "status": "accepted" }]
    }))
    .await;
    peer.create(json!({
        "resourceType": "Appointment", "status": "cancelled",
        "start": "2030-03-09T10:00:00Z", "end": "2030-03-09T10:30:00Z",
        "participant": [{ "actor": { "reference": format!("Patient/{}", s.patient) }, "status": "accepted" }]
    }))
    .await;
    let list = step(ehr.list_appointments(&s.patient)).await.expect("list");
    assert_eq!(list, vec![booked.clone()]);
    let other = seed_patient(&peer, "Rivera", "Other", "1975-06-07", &[]).await;
    assert!(step(ehr.list_appointments(&other)).await.expect("list").is_empty());
}

#[tokio::test]
async fn busy_past_and_unknown_slots_are_refused() {
    let Some(peer) = FhirPeer::start().await else { return };
    let ehr = ehr_for(&peer);
    let s = seed_booking(&peer).await;
    let busy = seed_slot(&peer, &s.schedule, "2030-03-04T16:00:00Z", "busy").await;
    let past = seed_slot(&peer, &s.schedule, "2030-02-04T16:00:00Z", "free").await;

    assert!(matches!(
        step(ehr.book(&s.patient, "c", &busy, "")).await,
        Err(EhrError::SlotTaken)
    ));
    assert!(matches!(
        step(ehr.book(&s.patient, "c", &past, "")).await,
        Err(EhrError::NotAllowed(_))
    ));
    assert!(matches!(
        step(ehr.book(&s.patient, "c", "no-such-slot", "")).await,
        Err(EhrError::NotFound)
    ));
    assert!(matches!(
        step(ehr.book(&s.patient, "c", "Slot/../x", "")).await,
        Err(EhrError::NotFound)
    ));
    step(ehr.book(&s.patient, "c", &s.slot, ""))
        .await
        .expect("first booking");
    assert!(
        matches!(
            step(ehr.book(&s.patient, "c", &s.slot, "")).await,
            Err(EhrError::SlotTaken)
        ),
        "second booking of the same slot"
    );
    assert!(
        peer.search("Appointment", &format!("slot=Slot/{busy}"))
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_bookings_of_one_slot_give_exactly_one_appointment() {
    let Some(peer) = FhirPeer::start().await else { return };
    let ehr = ehr_for(&peer);
    let s = seed_booking(&peer).await;
    let mut patients = Vec::new();
    for i in 0..10 {
        patients.push(seed_patient(&peer, "Racer", &format!("P{}", char::from(b'a' + i)), "1970-01-01", &[]).await);
    }
    let mut set = JoinSet::new();
    for patient in patients {
        let (ehr, slot) = (ehr.clone(), s.slot.clone());
        set.spawn(async move { ehr.book(&patient, "race", &slot, "").await });
    }
    let (mut ok, mut taken) = (0, 0);
    while let Some(joined) = step(set.join_next()).await {
        match joined.expect("task ran") {
            Ok(_) => ok += 1,
            Err(EhrError::SlotTaken) => taken += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((ok, taken), (1, 9));
    assert_eq!(slot_status(&peer, &s.slot).await, "busy");
    let appointments = peer.search("Appointment", &format!("slot=Slot/{}", s.slot)).await;
    assert_eq!(appointments.len(), 1, "exactly one appointment for the slot");
}

#[tokio::test]
async fn cancel_marks_the_appointment_cancelled_and_frees_the_slot() {
    let Some(peer) = FhirPeer::start().await else { return };
    let ehr = ehr_for(&peer);
    let s = seed_booking(&peer).await;
    let booked = step(ehr.book(&s.patient, "c", &s.slot, "checkup")).await.expect("book");

    let cancelled = step(ehr.cancel(&s.patient, "call-test", &booked.id, "feeling better"))
        .await
        .expect("cancel");
    assert_eq!(cancelled.status, AppointmentStatus::Cancelled);
    assert_eq!(cancelled.id, booked.id);
    let on_server = peer.read("Appointment", &booked.id).await;
    assert_eq!(on_server["status"], "cancelled");
    assert_eq!(on_server["cancelationReason"]["text"], "feeling better");
    assert_eq!(slot_status(&peer, &s.slot).await, "free");
    assert!(step(ehr.list_appointments(&s.patient)).await.expect("list").is_empty());

    assert!(
        matches!(
            step(ehr.cancel(&s.patient, "call-test", &booked.id, "")).await,
            Err(EhrError::NotAllowed(_))
        ),
        "already cancelled"
    );
    // The freed slot can be booked again.
    step(ehr.book(&s.patient, "c", &s.slot, ""))
        .await
        .expect("rebook the freed slot");
}

#[tokio::test]
async fn another_patients_appointment_is_not_found_and_untouched() {
    let Some(peer) = FhirPeer::start().await else { return };
    let ehr = ehr_for(&peer);
    let s = seed_booking(&peer).await;
    let intruder = seed_patient(&peer, "Mallory", "Eve", "1970-01-01", &[]).await;
    let booked = step(ehr.book(&s.patient, "c", &s.slot, "")).await.expect("book");
    let spare = seed_slot(&peer, &s.schedule, "2030-03-05T15:00:00Z", "free").await;

    assert!(matches!(
        step(ehr.cancel(&intruder, "call-test", &booked.id, "")).await,
        Err(EhrError::NotFound)
    ));
    assert!(matches!(
        step(ehr.reschedule(&intruder, "c", &booked.id, &spare)).await,
        Err(EhrError::NotFound)
    ));
    assert!(matches!(
        step(ehr.cancel(&s.patient, "call-test", "no-such-appointment", "")).await,
        Err(EhrError::NotFound)
    ));
    assert_eq!(appointment_status(&peer, &booked.id).await, "booked");
    assert_eq!(slot_status(&peer, &s.slot).await, "busy");
    assert_eq!(slot_status(&peer, &spare).await, "free");
}

#[tokio::test]
async fn reschedule_moves_the_appointment() {
    let Some(peer) = FhirPeer::start().await else { return };
    let ehr = ehr_for(&peer);
    let s = seed_booking(&peer).await;
    let new_slot = seed_slot(&peer, &s.schedule, "2030-03-05T15:00:00Z", "free").await;
    let old = step(ehr.book(&s.patient, "c", &s.slot, "follow-up"))
        .await
        .expect("book");

    let moved = step(ehr.reschedule(&s.patient, "c2", &old.id, &new_slot))
        .await
        .expect("reschedule");
    assert_ne!(moved.id, old.id);
    assert_eq!(moved.status, AppointmentStatus::Booked);
    assert_eq!(moved.start, ts("2030-03-05T15:00:00Z"));
    assert_eq!(appointment_status(&peer, &old.id).await, "cancelled");
    assert_eq!(slot_status(&peer, &s.slot).await, "free");
    assert_eq!(appointment_status(&peer, &moved.id).await, "booked");
    assert_eq!(slot_status(&peer, &new_slot).await, "busy");
    assert_eq!(
        peer.read("Appointment", &moved.id).await["description"],
        "follow-up",
        "the reason carries over"
    );
    assert_eq!(
        step(ehr.list_appointments(&s.patient)).await.expect("list"),
        vec![moved]
    );
}

#[tokio::test]
async fn reschedule_onto_a_taken_slot_keeps_the_old_appointment() {
    let Some(peer) = FhirPeer::start().await else { return };
    let ehr = ehr_for(&peer);
    let s = seed_booking(&peer).await;
    let taken = seed_slot(&peer, &s.schedule, "2030-03-05T15:00:00Z", "busy").await;
    let old = step(ehr.book(&s.patient, "c", &s.slot, "")).await.expect("book");

    assert!(matches!(
        step(ehr.reschedule(&s.patient, "c", &old.id, &taken)).await,
        Err(EhrError::SlotTaken)
    ));
    assert_eq!(appointment_status(&peer, &old.id).await, "booked");
    assert_eq!(slot_status(&peer, &s.slot).await, "busy");
    assert_eq!(step(ehr.list_appointments(&s.patient)).await.expect("list"), vec![old]);
}

#[tokio::test]
async fn startup_check_passes_against_a_live_server() {
    let Some(peer) = FhirPeer::start().await else { return };
    step(ehr_for(&peer).check()).await.expect("metadata");
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let base = Url::parse(&format!("http://127.0.0.1:{port}/fhir/R4")).expect("url");
    let ehr = FhirEhr::connect(&settings(base, 2000)).expect("connect");
    assert!(matches!(step(ehr.check()).await, Err(EhrError::Unavailable)));
    let query = ProviderQuery {
        specialty: "dermatology".into(),
        ..ProviderQuery::default()
    };
    assert!(matches!(
        step(ehr.search_providers(&query)).await,
        Err(EhrError::Unavailable)
    ));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accept and hold every connection without answering.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let base = Url::parse(&format!("http://127.0.0.1:{port}/fhir/R4")).expect("url");
    let ehr = FhirEhr::connect(&settings(base, 300)).expect("connect");
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), ehr.check())
        .await
        .expect("the adapter's own timeout fired");
    assert!(matches!(result, Err(EhrError::Timeout)), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    silent.abort();
}

#[tokio::test]
async fn holds_are_unsupported() {
    let base = Url::parse("http://127.0.0.1:9/fhir/R4").expect("url");
    let ehr = FhirEhr::connect(&settings(base, 1000)).expect("connect");
    assert!(matches!(ehr.hold("p", "c", "s").await, Err(EhrError::Unsupported)));
}

#[tokio::test]
async fn logs_never_contain_names_birth_dates_phones_or_reasons() {
    let Some(peer) = FhirPeer::start().await else { return };
    // The server's own JSON subscriber at trace level, writing into a capture.
    let logs = voicegate::testkit::log_capture::LogCapture::default();
    let subscriber = voicegate::telemetry::subscriber("trace", logs.clone());
    // Current-thread test runtime: every future below runs on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let ehr = ehr_for(&peer);
    let s = seed_booking(&peer).await;
    let second = seed_slot(&peer, &s.schedule, "2030-03-05T15:00:00Z", "free").await;
    let found = step(ehr.find_patients(
        &PersonName::parse("Rivera").expect("name"),
        &DateOfBirth::parse("1975-06-07").expect("date"),
    ))
    .await
    .expect("search");
    assert_eq!(found.len(), 1);
    let query = SlotQuery {
        provider_ids: vec![s.role.clone()],
        from: ts(NOW),
        to: ts("2030-03-09T00:00:00Z"),
        limit: 5,
    };
    assert_eq!(step(ehr.find_slots(&query)).await.expect("slots").len(), 2);
    let booked = step(ehr.book(&s.patient, "c", &s.slot, "chest pain since Tuesday"))
        .await
        .expect("book");
    assert!(matches!(
        step(ehr.book(&s.patient, "c", &s.slot, "chest pain since Tuesday")).await,
        Err(EhrError::SlotTaken)
    ));
    let moved = step(ehr.reschedule(&s.patient, "c", &booked.id, &second))
        .await
        .expect("reschedule");
    step(ehr.list_appointments(&s.patient)).await.expect("list");
    step(ehr.cancel(&s.patient, "call-test", &moved.id, "moving to Ohio"))
        .await
        .expect("cancel");
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let down_url = Url::parse(&format!("http://127.0.0.1:{port}/fhir")).expect("url");
    let down = FhirEhr::connect(&settings(down_url, 500)).expect("connect");
    let _ = step(down.find_patients(
        &PersonName::parse("Rivera").expect("name"),
        &DateOfBirth::parse("1975-06-07").expect("date"),
    ))
    .await;

    let text = logs.contents();
    assert!(text.contains("FHIR request"), "logs were captured: {text}");
    // Needles long enough not to collide with ports, UUIDs or timestamps in transport traces.
    for phi in [
        "Rivera",
        "rivera",
        "1975-06-07",
        "5550132748",
        "013-2748",
        "chest pain",
        "Tuesday",
        "Ohio",
    ] {
        assert!(!text.contains(phi), "logs contain {phi:?}:\n{text}");
    }
}
