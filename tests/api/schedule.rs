//! The front desk's schedule over the HTTP API, on both backends: the week view, staff bookings
//! and moves with overrides (minimum notice, buffers — never a double booking), blocked time,
//! provider calendars with the orphan check, and who may do each. Every refusal changes nothing.
//!
//! The clock stands at Monday 2026-12-07 14:00 UTC (09:00 in New York, where Doctor Okafor sees
//! patients 09:00-17:00 on weekdays with two hours' notice).

use serde_json::{Value, json};
use voicegate::review::Role;
use voicegate::storage::sql::Arg;

use crate::helpers::*;
use crate::review::{Staff, add_staff};

const T0: u64 = crate::notify_email::T0;

pub(crate) async fn desk_app(kind: BackendKind) -> Option<TestApp> {
    let postgres = match kind {
        BackendKind::Sqlite => None,
        BackendKind::Postgres => Some(PgDatabase::create().await?),
    };
    let clock = voicegate::clock::ManualClock::at_unix(T0);
    Some(
        spawn_app_with(
            Options {
                clock,
                postgres,
                ..Options::default()
            },
            |_| {},
        )
        .await,
    )
}

#[derive(sqlx::FromRow)]
struct Canonical {
    canonical: Vec<u8>,
}

/// Every audit record as JSON, oldest first (both backends).
pub(crate) async fn audit_records(app: &TestApp) -> Vec<Value> {
    let rows: Vec<Canonical> = app
        .state
        .deps
        .db
        .all("SELECT canonical FROM audit_log ORDER BY idx", &[])
        .await
        .unwrap();
    rows.iter()
        .map(|r| serde_json::from_slice(&r.canonical).unwrap())
        .collect()
}

/// (action, outcome) of the audit records whose action starts with `prefix`.
async fn actions(app: &TestApp, prefix: &str) -> Vec<(String, String)> {
    audit_records(app)
        .await
        .iter()
        .filter(|r| r["action"].as_str().is_some_and(|a| a.starts_with(prefix)))
        .map(|r| {
            (
                r["action"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let rows: Vec<Count> = app.state.deps.db.all(sql, &[]).await.unwrap();
    rows[0].n
}

async fn booked_count(app: &TestApp) -> i64 {
    count(app, "SELECT COUNT(*) AS n FROM appointments WHERE status = 'booked'").await
}

fn json_of(r: &voicegate::testkit::webhook::HttpResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

fn book_body(patient: &str, provider: &str, start: &str, overrides: Value) -> Value {
    json!({
        "patient_id": patient, "provider_id": provider, "start": start,
        "visit_reason": "follow-up", "overrides": overrides, "reason": "patient called the desk",
    })
}

async fn desk_flow(kind: BackendKind) {
    let Some(app) = desk_app(kind).await else { return };
    add_staff(&app, "fran.desk", Role::FrontDesk).await;
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    let desk = Staff::login(&app, "fran.desk").await;
    let reviewer = Staff::login(&app, "rita.reviewer").await;
    let week = "/review/api/schedule?from=2026-12-07&days=7&provider=okafor";

    // A compliance reviewer sees none of the schedule and changes none of it.
    assert_eq!(reviewer.get(week).await.status, 403);
    let r = reviewer
        .post(
            "/review/api/appointments",
            book_body("demo-p1", "okafor", "2026-12-07T19:00:00Z", json!({})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(booked_count(&app).await, 0);

    // The week: five open weekdays, the weekend closed, nothing booked yet.
    let r = desk.get(week).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let view = json_of(&r);
    let days = view["providers"][0]["days"].as_array().unwrap();
    let open: Vec<usize> = days.iter().map(|d| d["open"].as_array().unwrap().len()).collect();
    assert_eq!(open, [1, 1, 1, 1, 1, 0, 0]);
    // 09:00-17:00 New York on Monday.
    assert_eq!(
        days[0]["open"][0],
        json!([1_796_652_000_000_i64, 1_796_680_800_000_i64])
    );
    assert_eq!(view["appointments"], json!([]));

    // Ten o'clock is inside the two hours' notice: refused, and the answer says what would pass.
    let soon = book_body("demo-p1", "okafor", "2026-12-07T15:00:00Z", json!({}));
    let r = desk.post("/review/api/appointments", soon).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(json_of(&r)["needs_override"], "short_notice");
    assert_eq!(booked_count(&app).await, 0);
    let r = desk
        .post(
            "/review/api/appointments",
            book_body(
                "demo-p1",
                "okafor",
                "2026-12-07T15:00:00Z",
                json!({"short_notice": true}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let first = json_of(&r)["appointment_id"].as_str().unwrap().to_owned();
    assert_eq!(json_of(&r)["overrides"], json!(["short_notice"]));

    // No override makes a double booking, and nothing overrides closed hours or the past.
    for (start, what) in [
        ("2026-12-07T15:00:00Z", "the same time"),
        ("2026-12-07T15:00:00Z", "the same time, buffers overridden"),
        ("2026-12-08T03:00:00Z", "the middle of the night"),
        ("2026-12-07T13:00:00Z", "an hour ago"),
        ("2026-12-07T19:10:00Z", "off the slot grid"),
    ] {
        let overrides = json!({"short_notice": true, "buffers": what.contains("buffers")});
        let r = desk
            .post(
                "/review/api/appointments",
                book_body("demo-p2", "okafor", start, overrides),
            )
            .await;
        assert_eq!(r.status, 409, "{what}: {}", r.body);
        assert!(json_of(&r)["needs_override"].is_null(), "{what}: {}", r.body);
    }
    // Bad input: a clear 400, nothing written.
    for (body, what) in [
        (
            book_body("demo-p1", "okafor", "tomorrow at ten", json!({})),
            "a start that is not an instant",
        ),
        (
            json!({"patient_id": "demo-p1", "provider_id": "okafor", "start": "2026-12-08T15:00:00Z",
                   "visit_reason": "x", "reason": ""}),
            "no reason",
        ),
        (
            json!({"patient_id": "demo-p1", "provider_id": "okafor", "start": "2026-12-08T15:00:00Z",
                   "visit_reason": "", "reason": "desk"}),
            "no visit reason",
        ),
    ] {
        let r = desk.post("/review/api/appointments", body).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
    }
    for (body, what) in [
        (
            book_body("nobody", "okafor", "2026-12-08T15:00:00Z", json!({})),
            "patient",
        ),
        (
            book_body("demo-p1", "dr-who", "2026-12-08T15:00:00Z", json!({})),
            "provider",
        ),
    ] {
        let r = desk.post("/review/api/appointments", body).await;
        assert_eq!(r.status, 404, "{what}: {}", r.body);
    }
    assert_eq!(booked_count(&app).await, 1);

    // Move it to Tuesday 11:00 New York: the old one ends as rescheduled, the new one stands.
    let r = desk
        .post(
            &format!("/review/api/appointments/{first}/move"),
            json!({"start": "2026-12-08T16:00:00Z", "reason": "patient asked for Tuesday"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let moved = json_of(&r);
    let second = moved["appointment_id"].as_str().unwrap().to_owned();
    assert_eq!(moved["replaces"], first.as_str());
    assert_eq!(moved["before"][0], 1_796_655_600_000_i64);
    let history = voicegate::clinic::history::of(&app.state.deps.db, &first)
        .await
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.event.as_str(), last.to_state.as_str()),
        ("reschedule", "rescheduled")
    );
    assert!(last.actor.starts_with("staff:stf_"), "{}", last.actor);
    assert_eq!(last.reason.as_deref(), Some("patient asked for Tuesday"));
    let details: Value = serde_json::from_str(&last.details).unwrap();
    assert_eq!(details["after"]["start_ms"], 1_796_745_600_000_i64);
    let shown = json_of(&desk.get(week).await);
    let ids: Vec<&str> = shown["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appointment_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str()], "the replaced appointment is not shown");
    assert_eq!(shown["appointments"][0]["source"], "staff");
    assert_eq!(shown["appointments"][0]["patient_name"], "Jane Doe");
    // A move of the replaced appointment is refused by the lifecycle.
    let r = desk
        .post(
            &format!("/review/api/appointments/{first}/move"),
            json!({"start": "2026-12-09T16:00:00Z", "reason": "again"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);

    // Blocked time: over the booked visit it is refused with the visit named; elsewhere it keeps
    // bookings out until it is removed.
    let block = |start: &str, end: &str| json!({"provider_id": "okafor", "start": start, "end": end, "label": "staff meeting", "reason": "monthly meeting"});
    let r = desk
        .post(
            "/review/api/schedule/blocks",
            block("2026-12-08T15:00:00Z", "2026-12-08T17:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(json_of(&r)["appointments"], json!([second]));
    let r = desk
        .post(
            "/review/api/schedule/blocks",
            block("2026-12-09T15:00:00Z", "2026-12-09T17:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let block_id = json_of(&r)["busy_id"].as_str().unwrap().to_owned();
    let into_block = book_body("demo-p2", "okafor", "2026-12-09T16:00:00Z", json!({"buffers": true}));
    let r = desk.post("/review/api/appointments", into_block.clone()).await;
    assert_eq!(r.status, 409, "a booking inside a block: {}", r.body);
    let shown = json_of(&desk.get(week).await);
    assert_eq!(shown["blocks"][0]["label"], "staff meeting");
    let r = desk
        .post(
            &format!("/review/api/schedule/blocks/{block_id}/remove"),
            json!({"reason": "meeting moved"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = desk.post("/review/api/appointments", into_block).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = desk
        .post(
            &format!("/review/api/schedule/blocks/{block_id}/remove"),
            json!({"reason": "twice"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    for (body, what) in [
        (
            block("2026-12-09T17:00:00Z", "2026-12-09T15:00:00Z"),
            "ends before it starts",
        ),
        (
            block("2026-12-09T17:02:00Z", "2026-12-09T18:00:00Z"),
            "off the 5-minute grid",
        ),
        (
            json!({"provider_id": "okafor", "start": "2026-12-10T15:00:00Z", "end": "2026-12-10T16:00:00Z", "label": "", "reason": "x-ray"}),
            "no label",
        ),
    ] {
        let r = desk.post("/review/api/schedule/blocks", body).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
    }

    // Every change was audited before it was made, then with its outcome; overrides by name.
    let trail = actions(&app, "schedule.").await;
    let changes: Vec<(String, String)> = trail.into_iter().filter(|(a, _)| a != "schedule.viewed").collect();
    let pair = |a: &str, o: &str| (a.to_owned(), o.to_owned());
    assert_eq!(
        changes[..4],
        [
            pair("schedule.booked", "attempted"),
            pair("schedule.booked", "failure"),
            pair("schedule.override", "attempted"),
            pair("schedule.override", "success"),
        ]
    );
    assert!(changes.contains(&pair("schedule.moved", "success")));
    assert!(changes.contains(&pair("schedule.blocked", "failure")));
    assert!(changes.contains(&pair("schedule.unblocked", "success")));
    let views = audit_records(&app).await;
    let view = views.iter().rev().find(|r| r["action"] == "schedule.viewed").unwrap();
    assert_eq!(view["details"]["appointments"], json!([second]));
}

crate::on_both_backends!(front_desk_books_moves_and_blocks_within_the_rules, desk_flow);

/// A buffer override drops the new visit's own buffers, never another visit's time.
async fn buffer_override(kind: BackendKind) {
    let Some(app) = desk_app(kind).await else { return };
    add_staff(&app, "cleo.admin", Role::ClinicAdmin).await;
    let admin = Staff::login(&app, "cleo.admin").await;
    // Doctor Lindqvist (Chicago, Tue-Thu 08:00-16:00, 20-minute visits, 10 minutes after):
    // give the calendar ten minutes before each visit too, and a ten-minute slot grid.
    let path = "/review/api/schedule/providers/lindqvist/calendar";
    let mut calendar = json_of(&admin.get(path).await);
    calendar["buffer_before_min"] = json!(10);
    calendar["slot_interval_min"] = json!(10);
    let r = admin
        .post(path, json!({"calendar": calendar, "reason": "room turnover"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Tuesday 08:30 Chicago = 14:30Z: busy 08:20-09:00.
    let r = admin
        .post(
            "/review/api/appointments",
            book_body("demo-p1", "lindqvist", "2026-12-08T14:30:00Z", json!({})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // 08:10-08:30 would overlap that visit's own buffer: no override gets it in.
    let r = admin
        .post(
            "/review/api/appointments",
            book_body("demo-p3", "lindqvist", "2026-12-08T14:10:00Z", json!({"buffers": true})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(json_of(&r)["needs_override"].is_null(), "{}", r.body);
    // 08:00 would be busy 07:50-08:30 with its buffers: it only fits without them.
    let early = |overrides: Value| book_body("demo-p2", "lindqvist", "2026-12-08T14:00:00Z", overrides);
    let r = admin.post("/review/api/appointments", early(json!({}))).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(json_of(&r)["needs_override"], "buffers");
    let r = admin
        .post("/review/api/appointments", early(json!({"buffers": true})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(booked_count(&app).await, 2);
}

crate::on_both_backends!(a_buffer_override_never_overlaps_another_visit, buffer_override);

/// Calendars are edited by clinic admins only, validated, and a change that would leave booked
/// visits outside it lists them instead of dropping them.
async fn calendar_changes(kind: BackendKind) {
    let Some(app) = desk_app(kind).await else { return };
    add_staff(&app, "cleo.admin", Role::ClinicAdmin).await;
    add_staff(&app, "fran.desk", Role::FrontDesk).await;
    let admin = Staff::login(&app, "cleo.admin").await;
    let desk = Staff::login(&app, "fran.desk").await;
    let path = "/review/api/schedule/providers/okafor/calendar";
    let before = json_of(&desk.get(path).await);
    assert_eq!(
        before["open_hours"][0],
        json!({"weekday": 1, "opens": "09:00", "closes": "17:00"})
    );
    assert_eq!(before["min_notice_min"], 120);

    // Thursday 16:00 New York = 21:00Z.
    let r = desk
        .post(
            "/review/api/appointments",
            book_body("demo-p1", "okafor", "2026-12-10T21:00:00Z", json!({})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let late = json_of(&r)["appointment_id"].as_str().unwrap().to_owned();

    let mut shorter = before.clone();
    for h in shorter["open_hours"].as_array_mut().unwrap() {
        h["closes"] = json!("15:00");
    }
    shorter["days_off"] = json!(["2026-12-24", "2026-12-25"]);
    let r = desk
        .post(path, json!({"calendar": shorter, "reason": "winter hours"}))
        .await;
    assert_eq!(r.status, 403, "the front desk does not configure: {}", r.body);
    let r = admin
        .post(path, json!({"calendar": shorter, "reason": "winter hours"}))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        json_of(&r)["orphans"],
        json!([{"appointment_id": late, "start_ms": 1_796_936_400_000_i64, "end_ms": 1_796_938_200_000_i64, "why": "outside_open_hours"}])
    );
    assert_eq!(json_of(&desk.get(path).await), before, "nothing changed");

    let mut broken = before.clone();
    broken["slot_interval_min"] = json!(7);
    let r = admin.post(path, json!({"calendar": broken, "reason": "typo"})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("slot_interval_min"), "{}", r.body);
    assert_eq!(json_of(&desk.get(path).await), before, "nothing changed");

    let r = admin
        .post(
            path,
            json!({"calendar": shorter, "accept_orphans": true, "reason": "winter hours"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let applied = json_of(&r);
    assert_eq!(applied["orphans"][0]["appointment_id"], late.as_str());
    assert_eq!(applied["before"], before);
    assert_eq!(
        json_of(&desk.get(path).await)["days_off"],
        json!(["2026-12-24", "2026-12-25"])
    );
    // The orphan is still booked, and the new hours are what the desk sees.
    let rows: Vec<Count> = app
        .state
        .deps
        .db
        .all(
            "SELECT COUNT(*) AS n FROM appointments WHERE appointment_id = ? AND status = 'booked'",
            &[Arg::Text(&late)],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].n, 1);
    let view = json_of(
        &desk
            .get("/review/api/schedule?from=2026-12-21&days=5&provider=okafor")
            .await,
    );
    let open: Vec<Value> = view["providers"][0]["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| json!([d["open"].as_array().unwrap().len(), d["day_off"]]))
        .collect();
    assert_eq!(
        open,
        [
            json!([1, false]),
            json!([1, false]),
            json!([1, false]),
            json!([0, true]),
            json!([0, true])
        ]
    );
    assert_eq!(
        actions(&app, "schedule.configured").await,
        [
            ("schedule.configured".to_owned(), "attempted".to_owned()),
            ("schedule.configured".to_owned(), "failure".to_owned()),
            ("schedule.configured".to_owned(), "attempted".to_owned()),
            ("schedule.configured".to_owned(), "failure".to_owned()),
            ("schedule.configured".to_owned(), "attempted".to_owned()),
            ("schedule.configured".to_owned(), "success".to_owned()),
        ]
    );
}

crate::on_both_backends!(
    calendar_changes_list_orphans_and_only_clinic_admins_make_them,
    calendar_changes
);

/// The week view refuses bad ranges clearly and keeps serving.
#[tokio::test]
async fn bad_week_queries_are_clear_400s() {
    let app = desk_app(BackendKind::Sqlite).await.unwrap();
    add_staff(&app, "fran.desk", Role::FrontDesk).await;
    let desk = Staff::login(&app, "fran.desk").await;
    for (query, status) in [
        ("from=12/07/2026", 400),
        ("from=2026-12-07&days=0", 400),
        ("from=2026-12-07&days=15", 400),
        ("from=1900-01-01", 400),
        ("from=2026-12-07&days=abc", 400),
        ("from=2026-12-07&provider=dr-who", 404),
        ("from=2026-12-07&location=mars", 404),
    ] {
        let r = desk.get(&format!("/review/api/schedule?{query}")).await;
        assert_eq!(r.status, status, "{query}: {}", r.body);
    }
    let r = desk
        .get("/review/api/schedule?from=2026-12-07&location=riverside")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let view = json_of(&r);
    let providers: Vec<&str> = view["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider_id"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["lindqvist", "patel"]);
}

/// The front desk in a real browser: signed in, the page opens on the schedule (not the calls),
/// the visit is moved with a reason, and its history shows who moved it and why — as does the
/// audit log.
#[tokio::test]
async fn a_front_desk_user_moves_a_visit_in_chromium() {
    use crate::browser_chromium::{run_staff_harness, unavailable};
    use jiff::{ToSpan, tz::TimeZone};
    if let Some(why) = unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let app = spawn_app().await;
    add_staff(&app, "fran.desk", Role::FrontDesk).await;
    let desk = Staff::login(&app, "fran.desk").await;
    // Three days out, on a weekday, 11:00 New York: well past the notice, inside the hours.
    let ny = TimeZone::get("America/New_York").unwrap();
    let mut day = jiff::Timestamp::now()
        .to_zoned_datetime(ny.clone())
        .date()
        .checked_add(3.days())
        .unwrap();
    while day.weekday().to_monday_one_offset() > 5 {
        day = day.tomorrow().unwrap();
    }
    let start = ny.to_timestamp(day.at(11, 0, 0, 0)).unwrap();
    let r = desk
        .post(
            "/review/api/appointments",
            book_body("demo-p1", "okafor", &start.to_string(), json!({})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let booked = json_of(&r)["appointment_id"].as_str().unwrap().to_owned();

    let reason = "Patient asked for the afternoon";
    let (url, from) = (format!("{}/review/", app.base), day.to_string());
    let (report, screenshot) = run_staff_harness(
        "schedule.js",
        &[
            "--url",
            &url,
            "--user",
            "fran.desk",
            "--password",
            crate::review::PASSWORD,
            "--provider",
            "okafor",
            "--from",
            &from,
            "--appointment",
            &booked,
            "--move-day",
            &from,
            "--move-time",
            "14:30",
            "--reason",
            reason,
        ],
        "schedule-moved.png",
    )
    .await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        report["navCallsHidden"], true,
        "the front desk has no call list: {report}"
    );
    assert_eq!(report["before"], json!([booked]), "{report}");
    assert_eq!(report["status"], format!("Moved to {day} 14:30."), "{report}");
    let after: Vec<&str> = report["after"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(after.len(), 1, "{report}");
    assert_ne!(after[0], booked, "a move replaces the appointment");
    let history = report["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{report}");
    assert_eq!(history[0]["event"], "confirm");
    assert_eq!(history[0]["reason"], reason);
    assert!(
        history[0]["actor"].as_str().unwrap().starts_with("staff:stf_"),
        "{report}"
    );
    let moved = audit_records(&app)
        .await
        .into_iter()
        .find(|r| r["action"] == "schedule.moved" && r["outcome"] == "success")
        .expect("the move is audited");
    assert_eq!(moved["reason"], reason);
    assert_eq!(moved["details"]["appointment_id"], booked.as_str());
    assert_eq!(
        moved["details"]["after"]["start_ms"],
        ny.to_timestamp(day.at(14, 30, 0, 0)).unwrap().as_millisecond()
    );
    assert!(screenshot.exists());
}
