//! Confirmations and reminders by SMS through the fake Twilio Messaging API (the testkit's, which
//! follows Twilio's documented request and response shapes), its signed status callbacks, and
//! patients' replies on the signed inbound webhook. Also: two servers on one PostgreSQL draining
//! one outbox send each message exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};
use voicegate::clock::ManualClock;
use voicegate::notify::outbox;
use voicegate::notify::settings::SmsSettings;
use voicegate::notify::{AppointmentChange, ChangeKind, Language};
use voicegate::testkit::fake_twilio_sms::{FakeTwilioSms, Scripted};
use voicegate::testkit::webhook;

use crate::helpers::*;
use crate::notify_email::{T0, WAIT, app_at, book, move_to, rows_until, when};
use crate::tools::{audit_trail, connected, jane};

/// The account the testkit's Twilio caller names, so phone calls and texts agree.
const ACCOUNT: &str = voicegate::testkit::twilio_caller::TEST_ACCOUNT_SID;
const CLINIC_NUMBER: &str = "+15550109999";

fn jose() -> Value {
    json!({"first_name": "José", "last_name": "Álvarez", "date_of_birth": "1975-07-30", "phone": "555 010 0002"})
}

fn sms_via(fake: &FakeTwilioSms) -> SmsSettings {
    SmsSettings {
        api_base: fake.api_base(),
        from: Some(CLINIC_NUMBER.into()),
        messaging_service_sid: None,
        timeout_secs: 5,
    }
}

async fn sms_app(clock: Arc<ManualClock>, fake: &FakeTwilioSms) -> TestApp {
    let sms = sms_via(fake);
    app_at(clock, |s| {
        s.twilio.account_sid = Some(ACCOUNT.into());
        s.notifications.sms = Some(sms);
    })
    .await
}

/// A patient's text to the clinic's number, signed (or not) as Twilio signs it.
async fn text(app: &TestApp, from: &str, body: &str, signed: bool) -> webhook::HttpResponse {
    let mut p = BTreeMap::new();
    p.insert("MessageSid".to_owned(), format!("SM{}", "a".repeat(32)));
    p.insert("AccountSid".to_owned(), ACCOUNT.to_owned());
    p.insert("From".to_owned(), from.to_owned());
    p.insert("To".to_owned(), CLINIC_NUMBER.to_owned());
    p.insert("Body".to_owned(), body.to_owned());
    p.insert("NumMedia".to_owned(), "0".to_owned());
    post(app, "/twilio/sms", &p, signed).await
}

async fn post(app: &TestApp, path: &str, p: &BTreeMap<String, String>, signed: bool) -> webhook::HttpResponse {
    webhook::post_signed(&app.base, PUBLIC_BASE, path, p, signed.then_some(AUTH_TOKEN.as_bytes()))
        .await
        .unwrap()
}

async fn sms_consent(app: &TestApp, patient: &str) -> i64 {
    voicegate::notify::contacts::get(&app.state.deps.db, patient)
        .await
        .unwrap()
        .unwrap()
        .sms_consent
}

#[tokio::test]
async fn a_spanish_speaker_gets_a_spanish_sms_whose_delivery_report_and_replies_are_honoured() {
    let twilio = FakeTwilioSms::start(ACCOUNT, AUTH_TOKEN).await.unwrap();
    let clock = ManualClock::at_unix(T0);
    let app = sms_app(clock.clone(), &twilio).await;
    let (_caller, mut fake) = connected(&app, 21).await;
    let (appointment, _) = book(&mut fake, jose()).await;

    let sent = twilio.wait_for(1, WAIT).await;
    assert_eq!(sent.len(), 1);
    let sms = &sent[0];
    assert_eq!(sms.to, "+15550100002");
    assert_eq!(sms.from.as_deref(), Some(CLINIC_NUMBER));
    assert_eq!(
        sms.status_callback.as_deref(),
        Some(format!("{PUBLIC_BASE}/twilio/sms/status").as_str())
    );
    let rows = rows_until(&app, &appointment, "sent", |r| r[0].status == "sent").await;
    let (day, time) = when(&rows[0], Language::Es);
    assert!(
        sms.body.starts_with(&format!(
            "Demo Family Clinic: su cita quedó reservada para el {day} a las {time}."
        )),
        "{}",
        sms.body
    );
    for phi in ["José", "Álvarez", "1975", "Patel", "annual"] {
        assert!(!sms.body.contains(phi), "{phi} in {}", sms.body);
    }
    let sid = sms.sid.clone();
    assert_eq!(rows[0].template_id.as_deref(), Some("booked.sms.es"));

    // Status callbacks: unsigned refused, unknown status refused, neither changes anything.
    let mut bogus = BTreeMap::new();
    bogus.insert("MessageSid".to_owned(), sid.clone());
    bogus.insert("MessageStatus".to_owned(), "delivered".to_owned());
    assert_eq!(post(&app, "/twilio/sms/status", &bogus, false).await.status, 403);
    bogus.insert("MessageStatus".to_owned(), "exploded".to_owned());
    assert_eq!(post(&app, "/twilio/sms/status", &bogus, true).await.status, 400);
    let rows = outbox::for_appointment(&app.state.deps.db, &appointment).await.unwrap();
    assert_eq!(rows[0].status, "sent");
    let report = twilio.report(&app.base, &sid, "delivered", None).await.unwrap();
    assert_eq!(report.status, 204, "{}", report.body);
    let rows = outbox::for_appointment(&app.state.deps.db, &appointment).await.unwrap();
    assert_eq!(rows[0].status, "delivered");

    // "C" confirms the appointment the last message was about.
    let confirmed = text(&app, "+1 (555) 010-0002", "C", true).await;
    assert_eq!(confirmed.status, 200);
    assert!(
        confirmed
            .body
            .contains(&format!("su cita del {day} a las {time} está confirmada")),
        "{}",
        confirmed.body
    );
    let rows = outbox::for_appointment(&app.state.deps.db, &appointment).await.unwrap();
    assert_eq!(rows[0].reply.as_deref(), Some("C"));
    // "R" queues a callback for staff, with a reference the patient can quote.
    let again = text(&app, "+15550100002", "r", true).await;
    assert!(again.body.contains("Referencia"), "{}", again.body);
    let (topic,): (String,) = match &app.state.deps.db {
        voicegate::storage::Db::Sqlite(pool) => sqlx::query_as("SELECT topic FROM callback_requests")
            .fetch_one(pool)
            .await
            .unwrap(),
        voicegate::storage::Db::Postgres(_) => unreachable!(),
    };
    assert_eq!(topic, "reschedule (SMS reply)");
    let help = text(&app, "+15550100002", "HELP", true).await;
    assert!(help.body.contains("+15550100000"), "{}", help.body);

    // STOP withdraws consent at once: the planned reminder is suppressed, not sent.
    let stop = text(&app, "+15550100002", "STOP", true).await;
    assert_eq!(stop.status, 200);
    assert!(!stop.body.contains("<Message>"), "the carrier answers STOP itself");
    assert_eq!(sms_consent(&app, "demo-p2").await, 0);
    let reminder = rows.iter().find(|r| r.kind == "reminder").unwrap().clone();
    move_to(&app, &clock, reminder.due_at_ms);
    let rows = rows_until(&app, &appointment, "suppressed", |r| {
        r.iter()
            .any(|n| n.notification_id == reminder.notification_id && n.status == "suppressed")
    })
    .await;
    assert!(rows.iter().any(|r| r.last_error.as_deref() == Some("no_consent")));
    assert_eq!(twilio.sent().len(), 1, "nothing sent after STOP");
    let start = text(&app, "+15550100002", "start", true).await;
    assert_eq!(start.status, 200);
    assert_eq!(sms_consent(&app, "demo-p2").await, 1);

    let trail = audit_trail(&app).await;
    let actions: Vec<&str> = trail.iter().filter_map(|r| r["action"].as_str()).collect();
    for want in [
        "notification.sent",
        "appointment.confirm",
        "callback.requested",
        "notification.consent",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
}

#[tokio::test]
async fn malformed_or_unsigned_inbound_texts_are_refused_and_change_nothing() {
    let twilio = FakeTwilioSms::start(ACCOUNT, AUTH_TOKEN).await.unwrap();
    let app = sms_app(ManualClock::at_unix(T0), &twilio).await;
    assert_eq!(text(&app, "+15550100001", "STOP", false).await.status, 403);
    assert_eq!(sms_consent(&app, "demo-p1").await, 1, "unsigned STOP changed consent");
    assert_eq!(text(&app, "not a phone", "STOP", true).await.status, 400);
    let mut p = BTreeMap::new();
    p.insert("MessageSid".to_owned(), format!("SM{}", "b".repeat(32)));
    p.insert("From".to_owned(), "+15550100001".to_owned());
    assert_eq!(post(&app, "/twilio/sms", &p, true).await.status, 400, "no Body");
    p.insert("Body".to_owned(), "STOP".to_owned());
    p.insert("MessageSid".to_owned(), "SM-short".to_owned());
    assert_eq!(post(&app, "/twilio/sms", &p, true).await.status, 400, "bad MessageSid");
    p.insert("MessageSid".to_owned(), format!("SM{}", "b".repeat(32)));
    p.insert("AccountSid".to_owned(), "AC99999999999999999999999999999999".to_owned());
    assert_eq!(post(&app, "/twilio/sms", &p, true).await.status, 403, "another account");
    assert_eq!(sms_consent(&app, "demo-p1").await, 1);
    // A garbage body is not a form Twilio would sign.
    let garbage = webhook::request(
        &app.base,
        "POST",
        "/twilio/sms",
        &[("Content-Type", "application/x-www-form-urlencoded".into())],
        "%%%\u{1}&&==",
    )
    .await
    .unwrap();
    assert_eq!(garbage.status, 403);
    // "C" from a number with nothing upcoming, and chatter from a stranger.
    let c = text(&app, "+15550100001", "C", true).await;
    assert!(c.body.contains("could not find an upcoming appointment"), "{}", c.body);
    let stranger = text(&app, "+15557770000", "hello?", true).await;
    assert_eq!(stranger.status, 200);
    assert!(
        !stranger.body.contains("<Message>"),
        "no answer to a stranger: {}",
        stranger.body
    );
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn twilio_5xx_is_retried_and_4xx_fails_with_twilios_code() {
    let twilio = FakeTwilioSms::start(ACCOUNT, AUTH_TOKEN).await.unwrap();
    let clock = ManualClock::at_unix(T0);
    let app = sms_app(clock.clone(), &twilio).await;
    twilio.script(&[Scripted::Error { http: 503, code: 20503 }]);
    let (_caller, mut fake) = connected(&app, 22).await;
    let (appointment, _) = book(&mut fake, jane()).await;
    let rows = rows_until(&app, &appointment, "first attempt refused", |r| {
        r[0].attempts == 1 && r[0].last_error.is_some()
    })
    .await;
    assert_eq!(rows[0].status, "planned");
    assert_eq!(rows[0].last_error.as_deref(), Some("twilio_503_20503"));
    assert!(twilio.sent().is_empty());
    move_to(&app, &clock, rows[0].due_at_ms);
    assert_eq!(twilio.wait_for(1, WAIT).await.len(), 1);
    let rows = rows_until(&app, &appointment, "sent on retry", |r| r[0].status == "sent").await;
    assert_eq!(rows[0].attempts, 2);
    assert_eq!(rows[0].last_error, None);

    // Cancel: its notice is refused by Twilio with 21211 (invalid number): failed at once, audited.
    twilio.script(&[Scripted::Error { http: 400, code: 21211 }]);
    let out = crate::tools::call_tool(
        &mut fake,
        "cancel_appointment",
        json!({"appointment": appointment, "reason": "x"}),
    )
    .await;
    assert_eq!(out["ok"], true, "{out}");
    let rows = rows_until(&app, &appointment, "cancel notice failed", |r| {
        r.iter().any(|n| n.kind == "cancelled" && n.status == "failed")
    })
    .await;
    let failed = rows.iter().find(|r| r.kind == "cancelled").unwrap();
    assert_eq!(failed.attempts, 1, "a 4xx is not retried");
    assert_eq!(failed.last_error.as_deref(), Some("twilio_400_21211"));
    let trail = audit_trail(&app).await;
    assert!(trail.iter().any(|r| r["action"] == "notification.failed"));
}

#[tokio::test]
async fn two_servers_on_one_postgres_send_200_due_messages_exactly_once() {
    let Some(pg) = PgDatabase::create().await else { return };
    let twilio = FakeTwilioSms::start(ACCOUNT, AUTH_TOKEN).await.unwrap();
    let replica = |pg: PgDatabase, sms: SmsSettings| {
        spawn_app_with(Options::default(), move |s| {
            pg.configure(s);
            s.twilio.account_sid = Some(ACCOUNT.into());
            s.notifications.sms = Some(sms);
            s.notifications.reminder_offsets_min = vec![];
            s.notifications.batch_size = 7;
            s.notifications.poll_interval_ms = 20;
        })
    };
    let a = replica(pg.clone(), sms_via(&twilio)).await;
    let b = replica(pg.clone(), sms_via(&twilio)).await;
    // 200 bookings at distinct minutes (so 200 distinct texts), planned through replica A.
    let base = jiff::Timestamp::from_second(i64::try_from(T0).unwrap() + 30 * 86_400).unwrap();
    let patients = ["demo-p1", "demo-p2", "demo-p3", "demo-p4"];
    let ids: Vec<String> = (0..200).map(|i| format!("bulk-{i:03}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let change = AppointmentChange {
            kind: ChangeKind::Booked,
            appointment_id: id,
            patient_id: patients[i % 4],
            call_id: None,
            start: base + jiff::SignedDuration::from_mins(i64::try_from(i).unwrap() * 7),
            time_zone: "America/New_York",
        };
        assert_eq!(a.state.deps.notify.appointment_changed(&change).await.unwrap(), 1);
        // Planning again is a no-op (the id is the idempotency key).
        assert_eq!(a.state.deps.notify.appointment_changed(&change).await.unwrap(), 0);
    }
    b.state.deps.notify.wake();
    let sent = twilio.wait_for(200, std::time::Duration::from_secs(60)).await;
    assert_eq!(sent.len(), 200);
    // Every row finished; only then is "no 201st message" meaningful.
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut done = 0;
        for id in &ids {
            let rows = outbox::for_appointment(&a.state.deps.db, id).await.unwrap();
            done += rows.iter().filter(|r| r.status == "sent").count();
        }
        if done == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "{done} of 200 rows sent");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(twilio.requests(), 200, "no message was sent twice");
    let bodies: BTreeSet<(String, String)> = twilio.sent().into_iter().map(|m| (m.to, m.body)).collect();
    assert_eq!(bodies.len(), 200, "200 distinct messages");
    let sids: BTreeSet<String> = twilio.sent().into_iter().map(|m| m.sid).collect();
    assert_eq!(sids.len(), 200);
    println!("two replicas, one PostgreSQL: 200 planned, 200 sent, 0 duplicates");
}

/// A server on the FHIR peer texting through `twilio`, with Ana Rivera's consent on file; the EHR
/// feed sweeps only when the test says so.
async fn fhir_sms_app(peer: &crate::fhir_peer::FhirPeer, twilio: &FakeTwilioSms, patient: &str) -> TestApp {
    let base = peer.base_url().to_owned();
    let sms = sms_via(twilio);
    let app = spawn_app_with(Options::default(), |s| {
        s.ehr.kind = voicegate::config::EhrKind::Fhir;
        s.ehr.fhir = Some(serde_json::from_value(json!({"base_url": base})).unwrap());
        s.twilio.account_sid = Some(ACCOUNT.into());
        s.notifications.sms = Some(sms);
        s.notifications.poll_interval_ms = 50;
        s.notifications.ehr_feed_secs = 0;
    })
    .await;
    // The clinic's record of consent for this FHIR patient.
    voicegate::notify::contacts::upsert(
        &app.state.deps.db,
        &voicegate::notify::contacts::NewContact {
            patient_id: patient,
            phone_e164: Some("+15550132748"),
            email: None,
            sms_consent: true,
            email_consent: false,
            language: "en",
            updated_by: "test",
        },
        0,
    )
    .await
    .unwrap();
    app
}

/// On a FHIR EHR the tools plan the messages after the EHR commits: a booking, a move and a
/// cancellation each send their text, and the move cancels the old slot's reminders.
#[tokio::test]
async fn a_fhir_booking_move_and_cancellation_each_send_their_text() {
    use crate::ehr_fhir::seed_patient;
    let Some(peer) = crate::fhir_peer::FhirPeer::start().await else {
        return;
    };
    let (role, first, second) = crate::ehr_fhir::seed_okafor_with_two_slots(&peer).await;
    let patient = seed_patient(&peer, "Rivera", "Ana", "1975-06-07", &["555-013-2748"]).await;
    let twilio = FakeTwilioSms::start(ACCOUNT, AUTH_TOKEN).await.unwrap();
    let app = fhir_sms_app(&peer, &twilio, &patient).await;
    let (_caller, mut fake) = connected(&app, 46).await;
    let call = |name: &'static str, args: Value| (name, args);
    let mut steps = vec![
        call(
            "verify_patient",
            json!({"first_name": "ana", "last_name": "RIVERA", "date_of_birth": "June 7, 1975", "phone": "(555) 013-2748"}),
        ),
        call("book_appointment", json!({"slot": first, "reason": "mole check"})),
    ]
    .into_iter();
    let (name, args) = steps.next().unwrap();
    assert_eq!(crate::tools::call_tool(&mut fake, name, args).await["ok"], true);
    let _ = role;
    let (name, args) = steps.next().unwrap();
    let booked = crate::tools::call_tool(&mut fake, name, args).await;
    assert_eq!(booked["ok"], true, "{booked}");
    let appointment = booked["appointment"].as_str().unwrap().to_owned();
    let sent = twilio.wait_for(1, WAIT).await;
    assert_eq!(sent[0].to, "+15550132748");
    assert!(
        sent[0].body.contains("booked for Monday, March 4 at 10:00 AM"),
        "{}",
        sent[0].body
    );
    let moved = crate::tools::call_tool(
        &mut fake,
        "reschedule_appointment",
        json!({"appointment": appointment, "new_slot": second}),
    )
    .await;
    assert_eq!(moved["ok"], true, "{moved}");
    let sent = twilio.wait_for(2, WAIT).await;
    assert!(
        sent[1].body.contains("moved to Tuesday, March 5 at 10:00 AM"),
        "{}",
        sent[1].body
    );
    let old = outbox::for_appointment(&app.state.deps.db, &appointment).await.unwrap();
    assert!(
        old.iter()
            .filter(|r| r.kind == "reminder")
            .all(|r| r.status == "cancelled"),
        "{old:#?}"
    );
    let new_id = moved["appointment"].as_str().unwrap().to_owned();
    let cancelled = crate::tools::call_tool(
        &mut fake,
        "cancel_appointment",
        json!({"appointment": new_id, "reason": "x"}),
    )
    .await;
    assert_eq!(cancelled["ok"], true, "{cancelled}");
    let sent = twilio.wait_for(3, WAIT).await;
    assert!(sent[2].body.contains("is cancelled"), "{}", sent[2].body);
    assert!(
        !sent
            .iter()
            .any(|m| m.body.contains("Rivera") || m.body.contains("Okafor"))
    );
}

/// A move that races a send: the row being sent keeps its claim, so if the carrier took the
/// message the row says "sent" (it went out), and anything else leaves it cancelled. Both backends.
async fn in_flight_cancellation(kind: BackendKind) {
    {
        let Some((mut settings, _dir, _pg)) = fresh_settings(kind).await else {
            return;
        };
        let twilio = FakeTwilioSms::start(ACCOUNT, AUTH_TOKEN).await.unwrap();
        settings.twilio.account_sid = Some(ACCOUNT.into());
        settings.notifications.sms = Some(sms_via(&twilio));
        settings.ensure_keys().unwrap();
        let db = voicegate::storage::open_database(&settings).await.unwrap();
        let clock: voicegate::clock::SharedClock = ManualClock::at_unix(T0);
        let notify = voicegate::notify::Notifications::new(&settings, db.clone(), clock);
        let start = jiff::Timestamp::from_second(i64::try_from(T0).unwrap() + 30 * 86_400).unwrap();
        let change = AppointmentChange {
            kind: ChangeKind::Booked,
            appointment_id: "race-1",
            patient_id: "demo-p1",
            call_id: None,
            start,
            time_zone: "America/New_York",
        };
        assert_eq!(notify.appointment_changed(&change).await.unwrap(), 3);
        let late = start.as_millisecond();
        let claimed = outbox::claim(&db, "w-test", late, late + 60_000, 10).await.unwrap();
        assert_eq!(claimed.len(), 3, "{kind:?}");
        let mut tx = db.begin_write().await.unwrap();
        assert_eq!(
            outbox::cancel_pending(&mut tx, "race-1", "rescheduled", late)
                .await
                .unwrap(),
            3
        );
        tx.commit().await.unwrap();
        let sent = outbox::Outcome::Sent {
            provider_message_id: Some(format!("SM{}", "d".repeat(32))),
            template_id: "reminder.sms.en".into(),
        };
        let retry = outbox::Outcome::Retry {
            reason: "twilio_503".into(),
            due_at_ms: late,
        };
        let failed = outbox::Outcome::Failed { reason: "x".into() };
        let ids: Vec<&str> = claimed.iter().map(|c| c.notification_id.as_str()).collect();
        assert!(outbox::finish(&db, ids[0], "w-test", &sent, late).await.unwrap());
        assert!(!outbox::finish(&db, ids[1], "w-test", &retry, late).await.unwrap());
        assert!(!outbox::finish(&db, ids[2], "w-test", &failed, late).await.unwrap());
        // Another worker's claim name changes nothing.
        assert!(!outbox::finish(&db, ids[1], "w-other", &sent, late).await.unwrap());
        let rows = outbox::for_appointment(&db, "race-1").await.unwrap();
        let status = |id: &str| rows.iter().find(|r| r.notification_id == id).unwrap().status.clone();
        assert_eq!(
            [status(ids[0]), status(ids[1]), status(ids[2])],
            ["sent", "cancelled", "cancelled"],
            "{kind:?}"
        );
        // Cancelled rows are never claimed again.
        assert!(
            outbox::claim(&db, "w-test", late + 120_000, late + 180_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        db.close().await;
    }
}

crate::on_both_backends!(
    a_message_cancelled_while_in_flight_is_recorded_as_what_really_happened,
    in_flight_cancellation
);

/// Staff book, move and cancel at the FHIR EHR's own screens: the feed finds each change and the
/// patient hears of it once, however often it sweeps.
#[tokio::test]
async fn changes_made_in_the_fhir_ehr_itself_are_confirmed_by_the_feed() {
    use crate::ehr_fhir::seed_patient;
    use voicegate::notify::feed;
    let Some(peer) = crate::fhir_peer::FhirPeer::start().await else {
        return;
    };
    let (role, _first, _second) = crate::ehr_fhir::seed_okafor_with_two_slots(&peer).await;
    let patient = seed_patient(&peer, "Rivera", "Ana", "1975-06-07", &["555-013-2748"]).await;
    let stranger = seed_patient(&peer, "Nobody", "Noah", "1980-01-01", &["555-013-9999"]).await;
    let twilio = FakeTwilioSms::start(ACCOUNT, AUTH_TOKEN).await.unwrap();
    let app = fhir_sms_app(&peer, &twilio, &patient).await;
    let voicegate::tools::ehr::Ehr::Fhir(fhir) = &app.state.deps.ehr else {
        unreachable!()
    };
    let notify = &app.state.deps.notify;
    assert_eq!(
        feed::sweep_once(notify, fhir).await.unwrap(),
        feed::Sweep::default(),
        "the first sweep only sets the watermark"
    );

    let appointment = |patient: &str, start: &str, end: &str, status: &str| {
        json!({
            "resourceType": "Appointment",
            "status": status,
            "start": start,
            "end": end,
            "participant": [
                {"actor": {"reference": format!("Patient/{patient}")}, "status": "accepted"},
                {"actor": {"reference": format!("PractitionerRole/{role}")}, "status": "accepted"}
            ]
        })
    };
    let id = peer
        .create(appointment(
            &patient,
            "2030-03-04T15:00:00Z",
            "2030-03-04T15:30:00Z",
            "booked",
        ))
        .await;
    peer.create(appointment(
        &stranger,
        "2030-03-04T16:00:00Z",
        "2030-03-04T16:30:00Z",
        "booked",
    ))
    .await;
    let swept = feed::sweep_once(notify, fhir).await.unwrap();
    assert_eq!(
        swept.planned, 3,
        "confirmation + two reminders, none for the patient without a record: {swept:?}"
    );
    let sent = twilio.wait_for(1, WAIT).await;
    assert!(
        sent[0].body.contains("booked for Monday, March 4 at 10:00 AM"),
        "{}",
        sent[0].body
    );
    assert_eq!(
        feed::sweep_once(notify, fhir).await.unwrap().planned,
        0,
        "a second sweep plans nothing"
    );

    // Moved in place by staff: same id, new time. The old time's reminders go, the new time is
    // confirmed as a move.
    let mut moved = appointment(&patient, "2030-03-05T15:00:00Z", "2030-03-05T15:30:00Z", "booked");
    moved["id"] = json!(id);
    let (status, _) = peer
        .request(hyper::Method::PUT, &format!("Appointment/{id}"), Some(&moved))
        .await;
    assert!(status.is_success(), "{status}");
    let swept = feed::sweep_once(notify, fhir).await.unwrap();
    assert_eq!(swept.planned, 3, "{swept:?}");
    let sent = twilio.wait_for(2, WAIT).await;
    assert!(
        sent[1].body.contains("moved to Tuesday, March 5 at 10:00 AM"),
        "{}",
        sent[1].body
    );
    let rows = outbox::for_appointment(&app.state.deps.db, &id).await.unwrap();
    let old_reminders: Vec<&str> = rows
        .iter()
        .filter(|r| r.kind == "reminder" && r.appointment_start_ms == 1_898_866_800_000)
        .map(|r| r.status.as_str())
        .collect();
    assert_eq!(old_reminders, ["cancelled", "cancelled"], "{rows:#?}");
    assert_eq!(feed::sweep_once(notify, fhir).await.unwrap().planned, 0);

    // Cancelled by staff: the notice goes out once and the last reminders are withdrawn.
    let mut cancelled = moved.clone();
    cancelled["status"] = json!("cancelled");
    cancelled["cancelationReason"] = json!({"text": "provider unavailable"});
    let (status, _) = peer
        .request(hyper::Method::PUT, &format!("Appointment/{id}"), Some(&cancelled))
        .await;
    assert!(status.is_success(), "{status}");
    assert_eq!(feed::sweep_once(notify, fhir).await.unwrap().planned, 1);
    let sent = twilio.wait_for(3, WAIT).await;
    assert!(sent[2].body.contains("is cancelled"), "{}", sent[2].body);
    assert!(!sent[2].body.contains("provider unavailable"));
    assert_eq!(feed::sweep_once(notify, fhir).await.unwrap().planned, 0);
    // The notice reached Twilio before the worker marks its row sent: wait for the mark.
    crate::notify_email::rows_until(&app, &id, "nothing left to send", |rows| {
        rows.iter().all(|r| r.status != "planned")
    })
    .await;
    assert_eq!(twilio.requests(), 3, "each change told once");
}
