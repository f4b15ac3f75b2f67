//! Confirmations and reminders by email, against a real SMTP server on loopback (aiosmtpd): the
//! real server books through a Twilio-protocol call with the fake realtime peer playing the model,
//! the worker sends, and the tests read what the SMTP server stored. Time is a `ManualClock`.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use voicegate::clock::ManualClock;
use voicegate::notify::outbox::{self, NotificationRow};
use voicegate::notify::settings::{EmailSettings, SmtpTls};
use voicegate::notify::{Language, template};

use crate::helpers::*;
use crate::smtp_peer::SmtpPeer;
use crate::tools::{audit_trail, call_tool, connected, jane};

/// Monday 2026-12-07 14:00 UTC (9 AM in New York).
pub const T0: u64 = 1_796_652_000;
pub const WAIT: Duration = Duration::from_secs(15);

pub fn email_to(port: u16) -> EmailSettings {
    EmailSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "Demo Family Clinic <appointments@clinic.test>".into(),
        ca_file: None,
        timeout_secs: 5,
    }
}

pub async fn app_at(clock: Arc<ManualClock>, tweak: impl FnOnce(&mut voicegate::config::Settings)) -> TestApp {
    spawn_app_with(
        Options {
            clock,
            ..Default::default()
        },
        |s| {
            s.notifications.poll_interval_ms = 50;
            tweak(s);
        },
    )
    .await
}

pub fn slots(out: &Value) -> Vec<String> {
    out["slots"]
        .as_array()
        .unwrap_or_else(|| panic!("slots in {out}"))
        .iter()
        .map(|s| s["slot"].as_str().unwrap().to_owned())
        .collect()
}

/// Verify `who`, then book Doctor Patel's first slot from Thursday (three days out, so both
/// reminders lie ahead); returns (appointment id, slot ids).
pub async fn book(fake: &mut voicegate::testkit::fake_realtime::FakeSession, who: Value) -> (String, Vec<String>) {
    assert_eq!(call_tool(fake, "verify_patient", who).await["ok"], true);
    let found = call_tool(
        fake,
        "find_slots",
        json!({"provider_id": "patel", "from": "2026-12-10"}),
    )
    .await;
    let slots = slots(&found);
    let booked = call_tool(
        fake,
        "book_appointment",
        json!({"slot": slots[0], "reason": "annual physical"}),
    )
    .await;
    assert_eq!(booked["ok"], true, "{booked}");
    (booked["appointment"].as_str().unwrap().to_owned(), slots)
}

/// Poll the outbox until `done` holds for the appointment's rows (or fail after `WAIT`).
pub async fn rows_until(
    app: &TestApp,
    appointment: &str,
    what: &str,
    done: impl Fn(&[NotificationRow]) -> bool,
) -> Vec<NotificationRow> {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = outbox::for_appointment(&app.state.deps.db, appointment).await.unwrap();
        if done(&rows) {
            return rows;
        }
        assert!(tokio::time::Instant::now() < until, "{what}: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Move the clock to `at_ms` (+1 s) and wake the worker.
pub fn move_to(app: &TestApp, clock: &ManualClock, at_ms: i64) {
    let now = i64::try_from(clock_now(app)).unwrap();
    let by = u64::try_from(at_ms - now + 1000).unwrap_or(0);
    clock.advance(Duration::from_millis(by));
    app.state.deps.notify.wake();
}

fn clock_now(app: &TestApp) -> u64 {
    app.state.deps.clock.now_unix_ms()
}

/// The one mail whose subject contains `word` (the SMTP server's order is not the sending order
/// within one second).
fn titled<'a>(mails: &'a [crate::smtp_peer::Mail], word: &str) -> &'a crate::smtp_peer::Mail {
    let found: Vec<_> = mails
        .iter()
        .filter(|m| m.header("Subject").is_some_and(|s| s.contains(word)))
        .collect();
    assert_eq!(found.len(), 1, "one mail about {word}: {mails:#?}");
    found[0]
}

pub fn when(row: &NotificationRow, language: Language) -> (String, String) {
    let start = Timestamp::from_millisecond(row.appointment_start_ms).unwrap();
    let tz = TimeZone::get(&row.time_zone).unwrap();
    template::day_and_time(start, &tz, language)
}

#[tokio::test]
async fn a_booking_is_confirmed_at_once_and_reminded_24h_and_2h_before_by_real_smtp() {
    let Some(peer) = SmtpPeer::start().await else { return };
    let clock = ManualClock::at_unix(T0);
    let app = app_at(clock.clone(), |s| s.notifications.email = Some(email_to(peer.port))).await;
    let (_caller, mut fake) = connected(&app, 1).await;
    let (appointment, _) = book(&mut fake, jane()).await;

    let mails = peer.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "one confirmation");
    let rows = rows_until(&app, &appointment, "confirmation sent", |r| {
        r.iter().any(|n| n.kind == "booked" && n.status == "sent")
    })
    .await;
    assert_eq!(rows.len(), 3, "confirmation + two reminders: {rows:#?}");
    let (day, time) = when(&rows[0], Language::En);
    let m = &mails[0];
    assert!(
        m.header("To").unwrap().contains("jane.doe@patients.test"),
        "{:?}",
        m.headers
    );
    assert!(m.header("From").unwrap().contains("appointments@clinic.test"));
    assert_eq!(
        m.header("Subject"),
        Some(format!("Demo Family Clinic: appointment booked for {day}").as_str())
    );
    assert!(m.body.contains(&format!("{day} at {time}")), "{}", m.body);
    assert!(m.body.contains("+15550100000"), "the clinic's number: {}", m.body);
    let unsubscribe = m.header("List-Unsubscribe").unwrap();
    assert!(
        unsubscribe.starts_with(&format!("<{PUBLIC_BASE}/notify/unsubscribe?t=")),
        "{unsubscribe}"
    );
    assert_eq!(m.header("List-Unsubscribe-Post"), Some("List-Unsubscribe=One-Click"));
    assert!(
        m.body.contains(unsubscribe.trim_matches(['<', '>'])),
        "link in the body too"
    );
    assert!(m.header("Message-ID").unwrap().ends_with("@clinic.test>"));
    // PHI-minimal: no name, birth date, provider, specialty or reason anywhere in the message.
    let all = format!("{:?} {:?} {}", m.header("Subject"), m.header("From"), m.body);
    for phi in [
        "Jane",
        "Doe",
        "1980",
        "Patel",
        "Family Medicine",
        "annual physical",
        "5550100001",
    ] {
        assert!(!all.contains(phi), "{phi} leaked into the email: {all}");
    }

    // The 24-hour reminder: nothing before its time, then exactly one.
    let reminders: Vec<&NotificationRow> = rows.iter().filter(|r| r.kind == "reminder").collect();
    assert_eq!(reminders[0].offset_min, Some(1440));
    assert_eq!(reminders[1].offset_min, Some(120));
    move_to(&app, &clock, reminders[0].due_at_ms);
    let mails = peer.wait_for(2, WAIT).await;
    assert_eq!(mails.len(), 2);
    let reminder = titled(&mails, "reminder");
    assert_eq!(
        reminder.header("Subject"),
        Some(format!("Demo Family Clinic: reminder of your appointment on {day}").as_str())
    );
    assert!(reminder.body.contains(&time));
    rows_until(&app, &appointment, "24 h reminder sent", |r| {
        r.iter().filter(|n| n.status == "sent").count() == 2
    })
    .await;
    assert_eq!(peer.messages().len(), 2, "the 2-hour reminder waits for its time");

    move_to(&app, &clock, reminders[1].due_at_ms);
    let mails = peer.wait_for(3, WAIT).await;
    assert_eq!(mails.len(), 3);
    let rows = rows_until(&app, &appointment, "all sent", |r| r.iter().all(|n| n.status == "sent")).await;
    let templates: Vec<_> = rows.iter().map(|r| r.template_id.clone().unwrap()).collect();
    assert_eq!(templates, ["booked.email.en", "reminder.email.en", "reminder.email.en"]);
    // Three different Message-IDs: three messages, none sent twice.
    let mut ids: Vec<_> = mails
        .iter()
        .map(|m| m.header("Message-ID").unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);

    // Each is a disclosure to a carrier: audited with the keyed reference, never the address.
    let trail = audit_trail(&app).await;
    let sent: Vec<&Value> = trail.iter().filter(|r| r["action"] == "notification.sent").collect();
    assert_eq!(sent.len(), 3, "{trail:#?}");
    for r in &sent {
        let e = *r;
        assert_eq!(e["details"]["appointment_id"], appointment.as_str());
        assert_eq!(e["details"]["channel"], "email");
        assert!(e["patient"].as_str().unwrap().starts_with("phi:"));
        assert_eq!(e["actor"]["kind"], "system", "{e}");
        assert_eq!(e["actor"]["job"], "notifications", "{e}");
        assert!(!e.to_string().contains("jane.doe"), "{e}");
    }

    // Compliance review lists the call's notifications next to its tool calls and audit trail.
    let call_id = rows[0].call_id.clone().expect("planned from the call");
    crate::review::add_staff(&app, "rita.reviewer", voicegate::review::Role::Reviewer).await;
    let reviewer = crate::review::Staff::login(&app, "rita.reviewer").await;
    let view = reviewer
        .post(
            &format!("/review/api/calls/{call_id}/view"),
            json!({"reason": "patient asks whether reminders went out"}),
        )
        .await;
    assert_eq!(view.status, 200, "{}", view.body);
    let detail: Value = serde_json::from_str(&view.body).unwrap();
    let listed: Vec<(&str, &str, &str)> = detail["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap(),
                n["channel"].as_str().unwrap(),
                n["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("booked", "email", "sent"),
            ("reminder", "email", "sent"),
            ("reminder", "email", "sent")
        ]
    );
    assert!(!view.body.contains("jane.doe"), "no address in the review API");

    // The same history by appointment, for the appointment's page: a schedule view, so a
    // compliance reviewer is refused and the front desk needs a reason first; audited.
    let path = format!("/review/api/appointments/{appointment}/notifications");
    assert_eq!(
        reviewer.post(&path, json!({"reason": "curious"})).await.status,
        403,
        "reading calls does not grant the schedule"
    );
    crate::review::add_staff(&app, "fran.desk", voicegate::review::Role::FrontDesk).await;
    let desk = crate::review::Staff::login(&app, "fran.desk").await;
    assert_eq!(desk.post(&path, json!({})).await.status, 400);
    assert_eq!(
        desk.post(
            "/review/api/appointments/apt-nope/notifications",
            json!({"reason": "checking"})
        )
        .await
        .status,
        404
    );
    let history = desk.post(&path, json!({"reason": "front desk asked"})).await;
    assert_eq!(history.status, 200, "{}", history.body);
    let history: Value = serde_json::from_str(&history.body).unwrap();
    assert_eq!(history["notifications"].as_array().unwrap().len(), 3);
    let trail = audit_trail(&app).await;
    assert!(
        trail
            .iter()
            .any(|r| r["action"] == "review.appointment.notifications.viewed"
                && r["reason"] == "front desk asked"
                && r["details"]["appointment_id"] == appointment.as_str())
    );
}

#[tokio::test]
async fn a_reschedule_cancels_the_old_reminders_and_confirms_the_new_time() {
    let Some(peer) = SmtpPeer::start().await else { return };
    let clock = ManualClock::at_unix(T0);
    let app = app_at(clock.clone(), |s| s.notifications.email = Some(email_to(peer.port))).await;
    let (_caller, mut fake) = connected(&app, 2).await;
    let (old, slots) = book(&mut fake, jane()).await;
    peer.wait_for(1, WAIT).await;
    rows_until(&app, &old, "confirmation recorded", |r| r[0].status == "sent").await;
    let moved = call_tool(
        &mut fake,
        "reschedule_appointment",
        json!({"appointment": old, "new_slot": slots[2]}),
    )
    .await;
    assert_eq!(moved["ok"], true, "{moved}");
    let new = moved["appointment"].as_str().unwrap().to_owned();

    let mails = peer.wait_for(2, WAIT).await;
    assert_eq!(mails.len(), 2);
    let new_rows = rows_until(&app, &new, "move confirmed", |r| {
        r.iter().any(|n| n.kind == "rescheduled" && n.status == "sent")
    })
    .await;
    let (day, time) = when(&new_rows[0], Language::En);
    let moved_mail = titled(&mails, "moved");
    assert_eq!(
        moved_mail.header("Subject"),
        Some(format!("Demo Family Clinic: appointment moved to {day}").as_str())
    );
    assert!(
        moved_mail.body.contains(&format!("{day} at {time}")),
        "{}",
        moved_mail.body
    );

    let old_rows = outbox::for_appointment(&app.state.deps.db, &old).await.unwrap();
    let states: Vec<_> = old_rows
        .iter()
        .map(|r| (r.kind.as_str(), r.status.as_str(), r.last_error.as_deref()))
        .collect();
    assert_eq!(
        states,
        [
            ("booked", "sent", None),
            ("reminder", "cancelled", Some("rescheduled")),
            ("reminder", "cancelled", Some("rescheduled")),
        ]
    );

    // Past both slots' 24-hour marks: only the new slot's reminder goes out.
    let latest = new_rows
        .iter()
        .chain(old_rows.iter())
        .filter(|r| r.offset_min == Some(1440))
        .map(|r| r.due_at_ms)
        .max()
        .unwrap();
    move_to(&app, &clock, latest);
    let mails = peer.wait_for(3, WAIT).await;
    rows_until(&app, &new, "new reminder sent", |r| {
        r.iter().any(|n| n.offset_min == Some(1440) && n.status == "sent")
    })
    .await;
    assert_eq!(mails.len(), 3);
    assert_eq!(peer.messages().len(), 3, "the old slot's reminder never went out");
    let reminder = titled(&mails, "reminder");
    assert!(
        reminder.body.contains(&time),
        "reminder names the new time: {}",
        reminder.body
    );

    // Cancelling the new appointment cancels its last reminder and says so.
    let cancelled = call_tool(
        &mut fake,
        "cancel_appointment",
        json!({"appointment": new, "reason": "feeling better"}),
    )
    .await;
    assert_eq!(cancelled["ok"], true, "{cancelled}");
    let mails = peer.wait_for(4, WAIT).await;
    assert_eq!(mails.len(), 4);
    let notice = titled(&mails, "cancelled");
    assert_eq!(
        notice.header("Subject"),
        Some("Demo Family Clinic: appointment cancelled")
    );
    assert!(!notice.body.contains("feeling better"), "the reason stays out");
    let rows = rows_until(&app, &new, "cancel notice sent", |r| {
        r.iter().any(|n| n.kind == "cancelled" && n.status == "sent")
    })
    .await;
    assert!(
        rows.iter()
            .any(|r| r.offset_min == Some(120) && r.status == "cancelled"),
        "{rows:#?}"
    );
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_retried_with_backoff_then_marked_failed_and_the_call_goes_on() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let clock = ManualClock::at_unix(T0);
    let app = app_at(clock.clone(), |s| {
        s.notifications.email = Some(email_to(port));
        s.notifications.max_attempts = 2;
        s.notifications.reminder_offsets_min = vec![];
    })
    .await;
    let (_caller, mut fake) = connected(&app, 3).await;
    let (appointment, _) = book(&mut fake, jane()).await;
    let rows = rows_until(&app, &appointment, "first attempt failed", |r| {
        r.first()
            .is_some_and(|n| n.attempts == 1 && n.last_error.is_some() && n.status == "planned")
    })
    .await;
    assert_eq!(rows[0].last_error.as_deref(), Some("smtp_unreachable"));
    let now = i64::try_from(T0 * 1000).unwrap();
    assert!(
        rows[0].due_at_ms >= now + 30_000,
        "backed off 30 s: due {} now {now}",
        rows[0].due_at_ms
    );
    move_to(&app, &clock, rows[0].due_at_ms);
    let rows = rows_until(&app, &appointment, "gave up", |r| r[0].status == "failed").await;
    assert_eq!(rows[0].attempts, 2);
    assert_eq!(rows[0].last_error.as_deref(), Some("smtp_unreachable_gave_up"));
    let trail = audit_trail(&app).await;
    assert!(
        trail
            .iter()
            .any(|r| r["action"] == "notification.failed" && r["details"]["reason"] == "smtp_unreachable_gave_up"),
        "{trail:#?}"
    );
    // The call and the server carry on.
    let listed = call_tool(&mut fake, "list_my_appointments", json!({})).await;
    assert_eq!(listed["ok"], true, "{listed}");
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn email_goes_over_starttls_to_a_server_that_requires_it() {
    let Some(peer) = SmtpPeer::start_tls().await else {
        return;
    };
    let clock = ManualClock::at_unix(T0);
    let ca = peer.ca_file.clone();
    let app = app_at(clock.clone(), |s| {
        s.notifications.email = Some(EmailSettings {
            tls: SmtpTls::Starttls,
            ca_file: ca,
            ..email_to(peer.port)
        });
    })
    .await;
    let (_caller, mut fake) = connected(&app, 4).await;
    let (appointment, _) = book(&mut fake, jane()).await;
    let mails = peer.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    rows_until(&app, &appointment, "sent over TLS", |r| r[0].status == "sent").await;
}

#[tokio::test]
async fn the_unsubscribe_link_asks_first_and_then_stops_further_email() {
    let Some(peer) = SmtpPeer::start().await else { return };
    let clock = ManualClock::at_unix(T0);
    let app = app_at(clock.clone(), |s| s.notifications.email = Some(email_to(peer.port))).await;
    let (_caller, mut fake) = connected(&app, 5).await;
    let (appointment, _) = book(&mut fake, jane()).await;
    let mails = peer.wait_for(1, WAIT).await;
    let link = mails[0]
        .header("List-Unsubscribe")
        .unwrap()
        .trim_matches(['<', '>'])
        .to_owned();
    let path = link.strip_prefix(PUBLIC_BASE).unwrap().to_owned();

    // A link scanner's GET changes nothing.
    let page = app.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);
    // Bad tokens: a clear error, nothing changed.
    assert_eq!(app.get("/notify/unsubscribe?t=nothex").await.status, 400);
    let unknown = voicegate::testkit::webhook::request(
        &app.base,
        "POST",
        &format!("/notify/unsubscribe?t={}", "0".repeat(32)),
        &[],
        "",
    )
    .await
    .unwrap();
    assert_eq!(unknown.status, 404);
    let contact = voicegate::notify::contacts::get(&app.state.deps.db, "demo-p1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.email_consent, 1);

    // RFC 8058 one-click: a POST to the same URL.
    let done = voicegate::testkit::webhook::request(
        &app.base,
        "POST",
        &path,
        &[("Content-Type", "application/x-www-form-urlencoded".into())],
        "List-Unsubscribe=One-Click",
    )
    .await
    .unwrap();
    assert_eq!(done.status, 200, "{}", done.body);
    let contact = voicegate::notify::contacts::get(&app.state.deps.db, "demo-p1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.email_consent, 0);
    let trail = audit_trail(&app).await;
    assert!(
        trail
            .iter()
            .any(|r| r["action"] == "notification.consent" && r["details"]["via"] == "email:unsubscribe")
    );

    // The reminder already planned is suppressed, not sent.
    let rows = outbox::for_appointment(&app.state.deps.db, &appointment).await.unwrap();
    move_to(&app, &clock, rows[1].due_at_ms);
    let rows = rows_until(&app, &appointment, "suppressed", |r| r[1].status == "suppressed").await;
    assert_eq!(rows[1].last_error.as_deref(), Some("no_consent"));
    assert_eq!(peer.messages().len(), 1);
}
