//! The clinic owner's report over the HTTP API, on both backends: a seeded November with one
//! call of every outcome (and one just outside each end of the range), visits of every status
//! across both locations and zones, blocked time, and cancellations by the agent, staff and a
//! patient's text reply. The expected numbers are worked out by hand from the demo clinic's
//! calendars in the comments, so a wrong join, a lost time zone or an off-by-one at midnight
//! shows as a wrong count. Also: who may see and download it, that each view is audited, that a
//! report never names a patient, and that bad filters are refused with the server still serving.
//!
//! November 2026 in New York: DST ends on Sunday the 1st, so the range starts at 04:00 UTC and
//! ends at 05:00 UTC on December 1st. The clock stands at Monday 2026-12-07 14:00 UTC.

use jiff::civil::date;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use voicegate::clinic::history::{self, Actor, Entry};
use voicegate::clinic::lifecycle::State;
use voicegate::review::Role;
use voicegate::storage::sql::Arg;

use crate::helpers::*;
use crate::review::{Staff, add_staff};
use crate::schedule::{audit_records, desk_app};

const RANGE: &str = "/review/api/reports?from=2026-11-01&to=2026-11-30&tz=America/New_York";
const CSV: &str = "/review/api/reports/export.csv?from=2026-11-01&to=2026-11-30&tz=America/New_York";

/// A local wall-clock instant as UTC milliseconds.
fn at(zone: &str, m: i8, d: i8, h: i8, min: i8) -> i64 {
    let z = TimeZone::get(zone).unwrap();
    z.to_timestamp(date(2026, m, d).at(h, min, 0, 0))
        .unwrap()
        .as_millisecond()
}

fn ny(m: i8, d: i8, h: i8, min: i8) -> i64 {
    at("America/New_York", m, d, h, min)
}

fn chi(m: i8, d: i8, h: i8, min: i8) -> i64 {
    at("America/Chicago", m, d, h, min)
}

/// A finished (or, with no outcome, live) call and what its tools ended with.
#[allow(clippy::too_many_arguments)]
async fn call(
    app: &TestApp,
    id: &str,
    transport: &str,
    started: i64,
    outcome: Option<&str>,
    verified: bool,
    emergency: bool,
    tools: &[(&str, &str)],
) {
    let db = &app.state.deps.db;
    db.exec(
        "INSERT INTO calls (call_id, call_sid, transport, started_at_ms, ended_at_ms, outcome, verified_patient_ref, emergency) \
         VALUES (?, NULL, ?, ?, ?, ?, ?, ?)",
        &[
            Arg::Text(id),
            Arg::Text(transport),
            Arg::I64(started),
            Arg::OptI64(outcome.map(|_| started + 300_000)),
            Arg::OptText(outcome),
            Arg::OptText(verified.then_some("phi:seeded")),
            Arg::I64(i64::from(emergency)),
        ],
    )
    .await
    .unwrap();
    let outcomes: Vec<voicegate::storage::calls::ToolOutcome<'_>> = tools
        .iter()
        .enumerate()
        .map(|(i, (tool, outcome))| voicegate::storage::calls::ToolOutcome {
            tool,
            outcome,
            at_ms: u64::try_from(started).unwrap() + 10_000 * i as u64,
        })
        .collect();
    voicegate::storage::calls::record_tool_outcomes(db, id, &outcomes)
        .await
        .unwrap();
}

/// A visit in the built-in store (Jane Doe's, the demo patient: the report must never say so).
#[allow(clippy::too_many_arguments)]
async fn visit(
    app: &TestApp,
    id: &str,
    provider: &str,
    start: i64,
    minutes: i64,
    status: &str,
    source: &str,
    call_id: Option<&str>,
    created: i64,
    replaced_by: Option<&str>,
) {
    app.state
        .deps
        .db
        .exec(
            "INSERT INTO appointments (appointment_id, provider_id, patient_id, type_code, start_ms, end_ms, status, \
             reason, call_id, created_at_ms, updated_at_ms, cancel_reason, replaced_by, source) \
             VALUES (?, ?, 'demo-p1', 'visit', ?, ?, ?, 'knee pain', ?, ?, ?, NULL, ?, ?)",
            &[
                Arg::Text(id),
                Arg::Text(provider),
                Arg::I64(start),
                Arg::I64(start + minutes * 60_000),
                Arg::Text(status),
                Arg::OptText(call_id),
                Arg::I64(created),
                Arg::I64(created),
                Arg::OptText(replaced_by),
                Arg::Text(source),
            ],
        )
        .await
        .unwrap();
}

/// One history entry, written the way the store writes it (so cancellations get their category).
#[allow(clippy::too_many_arguments)]
async fn changed(
    app: &TestApp,
    appointment: &str,
    actor: Actor,
    event: &str,
    to: State,
    reason: Option<&str>,
    details: Value,
    at_ms: i64,
) {
    let mut tx = app.state.deps.db.begin_write().await.unwrap();
    history::record(
        &mut tx,
        &Entry {
            appointment_id: appointment,
            actor,
            event,
            from: None,
            to,
            reason,
            details,
            at_ms,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn block(app: &TestApp, id: &str, provider: &str, start: i64, end: i64) {
    app.state
        .deps
        .db
        .exec(
            "INSERT INTO busy_intervals (busy_id, provider_id, kind, start_ms, end_ms, busy_start_ms, busy_end_ms, label, \
             created_by) VALUES (?, ?, 'block', ?, ?, ?, ?, 'Thanksgiving', 'staff-seed')",
            &[
                Arg::Text(id),
                Arg::Text(provider),
                Arg::I64(start),
                Arg::I64(end),
                Arg::I64(start),
                Arg::I64(end),
            ],
        )
        .await
        .unwrap();
}

/// The seeded month. Each line says what it should count as.
async fn seed_november(app: &TestApp) {
    let call_of = |id: &str| Actor::Call(id.to_owned());
    // Calls, New York time. After hours = no provider open: Okafor 09-17 NY, Reyes M/W/F 08-12 NY,
    // Patel 12-20 Chicago (13-21 NY), Lindqvist Tu-Th 08-16 Chicago (09-17 NY).
    let (v, s) = (true, false);
    call(
        app,
        "c-book1",
        "twilio",
        ny(11, 2, 9, 10),
        Some("hung_up"),
        v,
        s,
        &[
            ("verify_patient", "verified"),
            ("find_slots", "slots_found"),
            ("book_appointment", "booked"),
        ],
    )
    .await;
    changed(
        app,
        "a1",
        call_of("c-book1"),
        "confirm",
        State::Confirmed,
        None,
        json!({}),
        ny(11, 2, 9, 10) + 150_000,
    )
    .await;
    // Saturday: after hours; booked 70 s in.
    call(
        app,
        "c-book2",
        "browser",
        ny(11, 7, 10, 0),
        Some("caller_gone"),
        v,
        s,
        &[("verify_patient", "verified"), ("book_appointment", "booked")],
    )
    .await;
    changed(
        app,
        "a2",
        call_of("c-book2"),
        "confirm",
        State::Confirmed,
        None,
        json!({}),
        ny(11, 7, 10, 0) + 70_000,
    )
    .await;
    // A move: counted as rescheduled, and its new visit is neither a new booking nor timed.
    call(
        app,
        "c-resched",
        "twilio",
        ny(11, 9, 12, 0),
        Some("hung_up"),
        v,
        s,
        &[("reschedule_appointment", "rescheduled")],
    )
    .await;
    changed(
        app,
        "a3old",
        call_of("c-resched"),
        "reschedule",
        State::Rescheduled,
        None,
        json!({"replaced_by": "a3new"}),
        ny(11, 9, 12, 1),
    )
    .await;
    changed(
        app,
        "a3new",
        call_of("c-resched"),
        "confirm",
        State::Confirmed,
        None,
        json!({"replaces": "a3old"}),
        ny(11, 9, 12, 1),
    )
    .await;
    // Tuesday 23:00: after hours; a late cancellation (10 h before the visit) the caller explained.
    call(
        app,
        "c-cancel",
        "twilio",
        ny(11, 10, 23, 0),
        Some("hung_up"),
        v,
        s,
        &[("cancel_appointment", "cancelled")],
    )
    .await;
    changed(
        app,
        "a4",
        call_of("c-cancel"),
        "cancel",
        State::Cancelled,
        Some("I'm feeling better"),
        json!({}),
        ny(11, 10, 23, 1),
    )
    .await;
    call(
        app,
        "c-callback",
        "twilio",
        ny(11, 11, 10, 0),
        Some("hung_up"),
        s,
        s,
        &[("request_callback", "callback_queued")],
    )
    .await;
    app.state
        .deps
        .db
        .exec(
            "INSERT INTO callback_requests (reference, call_id, patient_ref, topic, created_at_ms) VALUES ('R-1', 'c-callback', NULL, 'billing', ?)",
            &[Arg::I64(ny(11, 11, 10, 2))],
        )
        .await
        .unwrap();
    call(
        app,
        "c-verify",
        "twilio",
        ny(11, 11, 10, 30),
        Some("hung_up"),
        s,
        s,
        &[
            ("verify_patient", "verify_failed"),
            ("list_my_appointments", "refused_unverified"),
            ("verify_patient", "verify_failed"),
        ],
    )
    .await;
    call(
        app,
        "c-info",
        "twilio",
        ny(11, 12, 11, 0),
        Some("hung_up"),
        s,
        s,
        &[("search_providers", "providers_found"), ("find_slots", "no_slots")],
    )
    .await;
    call(
        app,
        "c-abandon",
        "twilio",
        ny(11, 12, 11, 5),
        Some("hung_up"),
        s,
        s,
        &[],
    )
    .await;
    call(
        app,
        "c-emergency",
        "twilio",
        ny(11, 13, 9, 0),
        Some("hung_up"),
        v,
        true,
        &[
            ("flag_emergency", "emergency"),
            ("book_appointment", "refused_emergency"),
        ],
    )
    .await;
    call(
        app,
        "c-transfer",
        "twilio",
        ny(11, 13, 9, 30),
        Some("transferred"),
        s,
        s,
        &[("transfer_to_staff", "transferring")],
    )
    .await;
    call(
        app,
        "c-system",
        "twilio",
        ny(11, 16, 9, 0),
        Some("upstream_lost"),
        v,
        s,
        &[("hold_slot", "ehr_unavailable")],
    )
    .await;
    // Monday 23:30, still live: in progress, after hours.
    call(app, "c-live", "twilio", ny(11, 30, 23, 30), None, s, s, &[]).await;
    // One minute before the range and the first instant after it: neither counts.
    call(
        app,
        "c-before",
        "twilio",
        ny(10, 31, 23, 59),
        Some("hung_up"),
        s,
        true,
        &[("book_appointment", "refused_emergency")],
    )
    .await;
    call(
        app,
        "c-after",
        "twilio",
        ny(12, 1, 0, 0),
        Some("hung_up"),
        s,
        true,
        &[("book_appointment", "refused_emergency")],
    )
    .await;

    // Visits. Okafor: 10080 open minutes (21 weekdays x 8 h), Reyes 3120 (13 M/W/F x 4 h),
    // Patel 10080, Lindqvist 5760 (12 Tu-Th x 8 h).
    let oct = ny(10, 20, 12, 0);
    visit(
        app,
        "a0",
        "okafor",
        ny(10, 31, 23, 45),
        30,
        "fulfilled",
        "staff",
        None,
        oct,
        None,
    )
    .await; // 15 min inside
    visit(
        app,
        "a1",
        "okafor",
        ny(11, 9, 10, 0),
        30,
        "fulfilled",
        "phone_agent",
        Some("c-book1"),
        ny(11, 2, 9, 12),
        None,
    )
    .await;
    visit(
        app,
        "a2",
        "patel",
        chi(11, 10, 13, 0),
        30,
        "noshow",
        "browser_agent",
        Some("c-book2"),
        ny(11, 7, 10, 1),
        None,
    )
    .await;
    visit(
        app,
        "a3old",
        "okafor",
        ny(11, 12, 11, 0),
        30,
        "cancelled",
        "phone_agent",
        None,
        oct,
        Some("a3new"),
    )
    .await;
    visit(
        app,
        "a3new",
        "okafor",
        ny(11, 16, 11, 0),
        30,
        "booked",
        "phone_agent",
        Some("c-resched"),
        ny(11, 9, 12, 1),
        None,
    )
    .await;
    visit(
        app,
        "a4",
        "reyes",
        ny(11, 11, 9, 0),
        30,
        "cancelled",
        "phone_agent",
        None,
        oct,
        None,
    )
    .await;
    visit(
        app,
        "a5",
        "okafor",
        ny(11, 20, 14, 0),
        60,
        "fulfilled",
        "staff",
        None,
        ny(11, 18, 9, 0),
        None,
    )
    .await;
    visit(
        app,
        "a6",
        "lindqvist",
        chi(11, 24, 8, 0),
        20,
        "fulfilled",
        "staff",
        None,
        ny(11, 20, 9, 0),
        None,
    )
    .await;
    visit(
        app,
        "a7",
        "lindqvist",
        chi(11, 25, 9, 0),
        20,
        "cancelled",
        "ehr",
        None,
        ny(11, 19, 9, 0),
        None,
    )
    .await;
    visit(
        app,
        "a9",
        "patel",
        chi(11, 27, 12, 0),
        30,
        "cancelled",
        "phone_agent",
        None,
        ny(11, 1, 7, 0),
        None,
    )
    .await;
    // Staff cancel two days ahead (the clinic's doing); the patient cancels by text 10 h ahead;
    // a cancellation from before the categories existed, of a visit the store does not hold.
    changed(
        app,
        "a7",
        Actor::Staff("staff-1".into()),
        "cancel",
        State::Cancelled,
        Some("provider out sick"),
        json!({}),
        chi(11, 23, 9, 0),
    )
    .await;
    changed(
        app,
        "a9",
        Actor::PatientSms,
        "cancel",
        State::Cancelled,
        Some(""),
        json!({}),
        chi(11, 27, 2, 0),
    )
    .await;
    app.state
        .deps
        .db
        .exec(
            "INSERT INTO appointment_history (appointment_id, at_ms, actor, event, from_state, to_state, reason, details) \
             VALUES ('a10', ?, 'staff:staff-1', 'cancel', 'confirmed', 'cancelled', 'typed before categories', '{}')",
            &[Arg::I64(ny(11, 5, 12, 0))],
        )
        .await
        .unwrap();
    // Okafor's blocked time: two hours on Friday the 27th, and Thanksgiving all day (only its
    // eight open hours count): 600 minutes.
    block(app, "b1", "okafor", ny(11, 27, 12, 0), ny(11, 27, 14, 0)).await;
    block(app, "b2", "okafor", ny(11, 26, 0, 0), ny(11, 27, 0, 0)).await;
}

fn counts(v: &Value) -> Vec<(String, i64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap().to_owned(), c["count"].as_i64().unwrap()))
        .collect()
}

fn pairs(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

async fn seeded_month(kind: BackendKind) {
    let Some(app) = desk_app(kind).await else { return };
    seed_november(&app).await;
    add_staff(&app, "olga.owner", Role::ClinicAdmin).await;
    let owner = Staff::login(&app, "olga.owner").await;
    let r = owner.get(RANGE).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let report: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (report["from"].as_str(), report["to"].as_str()),
        (Some("2026-11-01"), Some("2026-11-30"))
    );

    let calls = &report["calls"];
    assert_eq!(calls["total"], 12, "c-before and c-after are outside");
    assert_eq!(
        counts(&calls["outcomes"]),
        pairs(&[
            ("emergency_script", 1),
            ("transferred", 1),
            ("booked", 2),
            ("rescheduled", 1),
            ("cancelled", 1),
            ("callback_requested", 1),
            ("verification_failed", 1),
            ("information_only", 1),
            ("abandoned", 1),
            ("ended_by_system", 1),
            ("in_progress", 1),
        ])
    );
    assert_eq!(counts(&calls["by_transport"]), pairs(&[("twilio", 11), ("browser", 1)]));
    let mut hours = vec![0_i64; 24];
    for (h, n) in [(9, 4), (10, 3), (11, 2), (12, 1), (23, 2)] {
        hours[h] = n;
    }
    let by_hour: Vec<i64> = calls["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(by_hour, hours, "local New York hours across the DST change");
    assert_eq!(calls["after_hours"], 3, "Saturday, Tuesday 23:00, Monday 23:30");
    assert_eq!(calls["after_hours_share"], 0.25);
    let b = &calls["booking_time"];
    assert_eq!(
        (b["bookings"].as_i64(), b["average_seconds"].as_i64()),
        (Some(2), Some(110))
    );
    assert_eq!(
        (b["fastest_seconds"].as_i64(), b["slowest_seconds"].as_i64()),
        (Some(70), Some(150))
    );
    assert_eq!(
        counts(&b["buckets"]),
        pairs(&[
            ("under_120s", 1),
            ("under_240s", 1),
            ("under_360s", 0),
            ("under_600s", 0),
            ("600s_or_more", 0)
        ])
    );
    let could = &calls["could_not"];
    let tools: Vec<(String, String, i64)> = could["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tool"].as_str().unwrap().into(),
                t["outcome"].as_str().unwrap().into(),
                t["count"].as_i64().unwrap(),
            )
        })
        .collect();
    let expect = |t: &str, o: &str, n: i64| (t.to_owned(), o.to_owned(), n);
    assert_eq!(
        tools,
        [
            expect("verify_patient", "verify_failed", 2),
            expect("book_appointment", "refused_emergency", 1),
            expect("find_slots", "no_slots", 1),
            expect("hold_slot", "ehr_unavailable", 1),
            expect("list_my_appointments", "refused_unverified", 1),
        ]
    );
    assert_eq!(
        (could["callbacks_requested"].as_i64(), could["transfers"].as_i64()),
        (Some(1), Some(1))
    );

    let s = &report["schedule"];
    let provider = |id: &str| {
        s["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["provider_id"] == id)
            .unwrap()
            .clone()
    };
    let okafor = provider("okafor");
    assert_eq!(
        (
            okafor["open_minutes"].as_i64(),
            okafor["blocked_minutes"].as_i64(),
            okafor["booked_minutes"].as_i64()
        ),
        (Some(10_080), Some(600), Some(135)),
        "a0's 15 minutes inside, a1, a3new, a5; the cancelled a3old is not"
    );
    assert_eq!(okafor["utilization"], 0.0142, "135 / 9480");
    assert_eq!(okafor["visits"], 4);
    assert_eq!(
        okafor["no_shows"],
        json!({"completed": 3, "no_shows": 0, "unmarked": 1, "rate": 0.0})
    );
    let patel = provider("patel");
    assert_eq!(
        (patel["open_minutes"].as_i64(), patel["booked_minutes"].as_i64()),
        (Some(10_080), Some(30))
    );
    assert_eq!(
        patel["no_shows"],
        json!({"completed": 0, "no_shows": 1, "unmarked": 0, "rate": 1.0})
    );
    let lindqvist = provider("lindqvist");
    assert_eq!(
        (lindqvist["open_minutes"].as_i64(), lindqvist["booked_minutes"].as_i64()),
        (Some(5_760), Some(20))
    );
    assert_eq!(lindqvist["utilization"], 0.0035);
    let reyes = provider("reyes");
    assert_eq!(
        (reyes["open_minutes"].as_i64(), reyes["booked_minutes"].as_i64()),
        (Some(3_120), Some(0))
    );
    assert_eq!(reyes["utilization"], 0.0);
    assert_eq!(reyes["no_shows"]["rate"], Value::Null, "no visit with an outcome");
    let locations: Vec<(String, i64, i64, i64, f64)> = s["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["location_id"].as_str().unwrap().into(),
                l["open_minutes"].as_i64().unwrap(),
                l["blocked_minutes"].as_i64().unwrap(),
                l["booked_minutes"].as_i64().unwrap(),
                l["utilization"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        locations,
        [
            ("main-street".to_owned(), 13_200, 600, 135, 0.0107),
            ("riverside".to_owned(), 15_840, 0, 50, 0.0032),
        ]
    );
    assert_eq!(
        s["no_shows"],
        json!({"completed": 4, "no_shows": 1, "unmarked": 1, "rate": 0.2})
    );
    assert_eq!(
        counts(&s["bookings_by_source"]),
        pairs(&[
            ("phone_agent", 2),
            ("browser_agent", 1),
            ("staff", 2),
            ("ehr", 1),
            ("unknown", 0)
        ]),
        "a3new replaced a3old: a move, not a new booking; a0 was made in October"
    );

    let x = &report["cancellations"];
    assert_eq!(
        (x["total"].as_i64(), x["late"].as_i64()),
        (Some(4), Some(2)),
        "a4 and a9 within 24 h"
    );
    assert_eq!(
        counts(&x["by_reason"]),
        pairs(&[
            ("schedule_conflict", 0),
            ("feeling_better", 1),
            ("cost_or_coverage", 0),
            ("transport", 0),
            ("care_elsewhere", 0),
            ("clinic_initiated", 1),
            ("illness", 0),
            ("not_given", 1),
            ("other", 0),
            ("unclassified", 1),
        ])
    );
    assert_eq!(
        counts(&x["by_who"]),
        pairs(&[("agent", 1), ("staff", 2), ("patient_sms", 1), ("ehr", 0)])
    );

    // Counts only: no patient id, name, visit reason or typed cancellation reason.
    for phi in [
        "demo-p1",
        "Jane",
        "Doe",
        "knee pain",
        "feeling better",
        "provider out sick",
        "phi:seeded",
        "billing",
    ] {
        assert!(!r.body.contains(phi), "{phi} in the report");
    }

    // The CSV has the same numbers, one per row, and is a separate audited download.
    let csv = owner.get(CSV).await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(csv.header("content-type").unwrap_or_default().starts_with("text/csv"));
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"voicegate-report-2026-11-01-to-2026-11-30.csv\"")
    );
    let lines: Vec<&str> = csv.body.split("\r\n").collect();
    assert_eq!(lines[0], "section,metric,key,value");
    for row in [
        "calls,total,,12",
        "calls,outcome,booked,2",
        "calls,hour_of_day,09,4",
        "calls,after_hours,share,0.25",
        "calls,could_not,verify_patient:verify_failed,2",
        "provider,utilization,Doctor Amara Okafor (okafor),0.0142",
        "location,booked_minutes,the Riverside office (riverside),50",
        "visits,no_show_rate,,0.2",
        "cancellations,reason,unclassified,1",
    ] {
        assert!(lines.contains(&row), "{row} missing from\n{}", csv.body);
    }
    for phi in ["demo-p1", "Jane", "knee pain", "feeling better"] {
        assert!(!csv.body.contains(phi), "{phi} in the CSV");
    }
    let trail = audit_records(&app).await;
    let viewed: Vec<&Value> = trail.iter().filter(|r| r["action"] == "report.viewed").collect();
    let exported: Vec<&Value> = trail.iter().filter(|r| r["action"] == "report.exported").collect();
    assert_eq!((viewed.len(), exported.len()), (1, 1));
    for r in viewed.iter().chain(&exported) {
        assert_eq!(r["details"]["from"], "2026-11-01");
        assert_eq!(r["details"]["to"], "2026-11-30");
        assert_eq!(r["actor"]["kind"], "staff");
    }
}
crate::on_both_backends!(a_seeded_month_reports_exact_counts_on, seeded_month);

/// Who may see the report: the front desk sees the charts but may not download the CSV,
/// compliance roles see neither; a refused request is not a view, so nothing is audited.
#[tokio::test]
async fn the_front_desk_sees_the_report_but_only_clinic_admins_download_it() {
    let app = desk_app(BackendKind::Sqlite).await.unwrap();
    add_staff(&app, "fran.desk", Role::FrontDesk).await;
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    add_staff(&app, "al.auditor", Role::Auditor).await;
    add_staff(&app, "ada.admin", Role::Admin).await;
    let desk = Staff::login(&app, "fran.desk").await;
    assert_eq!(desk.get(RANGE).await.status, 200);
    assert_eq!(desk.get(CSV).await.status, 403);
    for who in ["rita.reviewer", "al.auditor"] {
        let s = Staff::login(&app, who).await;
        assert_eq!(s.get(RANGE).await.status, 403, "{who}");
        assert_eq!(s.get(CSV).await.status, 403, "{who}");
    }
    let admin = Staff::login(&app, "ada.admin").await;
    assert_eq!(admin.get(CSV).await.status, 200);
    let anonymous = app.get(RANGE).await;
    assert_eq!(anonymous.status, 401);
    let trail = audit_records(&app).await;
    let actions: Vec<&str> = trail
        .iter()
        .filter_map(|r| r["action"].as_str())
        .filter(|a| a.starts_with("report."))
        .collect();
    assert_eq!(actions, ["report.viewed", "report.exported"]);
}

/// Bad filters get a 400 that says what is wrong, and the server goes on serving reports.
#[tokio::test]
async fn bad_report_filters_are_refused_with_a_reason() {
    let app = desk_app(BackendKind::Sqlite).await.unwrap();
    add_staff(&app, "olga.owner", Role::ClinicAdmin).await;
    let owner = Staff::login(&app, "olga.owner").await;
    for (query, message) in [
        ("from=2026-13-01", "YYYY-MM-DD"),
        ("from=yesterday", "YYYY-MM-DD"),
        ("from=1999-12-31&to=2000-01-01", "YYYY-MM-DD"),
        ("from=2026-11-30&to=2026-11-01", "before"),
        ("from=2025-11-01&to=2026-11-30", "366"),
        ("from=2026-11-01&to=2026-11-30&tz=Mars/Olympus_Mons", "time zone"),
        ("from=2026-11-01&tz=%00", "time zone"),
    ] {
        let r = owner.get(&format!("/review/api/reports?{query}")).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.body.contains(message), "{query}: {}", r.body);
        let csv = owner.get(&format!("/review/api/reports/export.csv?{query}")).await;
        assert_eq!(csv.status, 400, "{query}");
    }
    // A whole year is allowed; the default is the 30 days ending today in the clinic's zone.
    assert_eq!(
        owner
            .get("/review/api/reports?from=2025-12-01&to=2026-11-30")
            .await
            .status,
        200
    );
    let r = owner.get("/review/api/reports").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let report: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (
            report["from"].as_str(),
            report["to"].as_str(),
            report["time_zone"].as_str()
        ),
        (Some("2026-11-08"), Some("2026-12-07"), Some("America/New_York"))
    );
}

/// The report page in a real Chromium: the charts draw the API's numbers (a bar's size follows
/// its value), every chart has a title and a table beneath it, and the "Download CSV" link
/// downloads the same report.
#[tokio::test]
async fn a_clinic_admin_reads_the_charts_and_downloads_the_csv_in_chromium() {
    use crate::browser_chromium::{run_staff_harness, unavailable};
    if let Some(why) = unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let app = desk_app(BackendKind::Sqlite).await.unwrap();
    seed_november(&app).await;
    add_staff(&app, "olga.owner", Role::ClinicAdmin).await;
    let url = format!("{}/review/", app.base);
    let (report, screenshot) = run_staff_harness(
        "reports.js",
        &[
            "--url",
            &url,
            "--user",
            "olga.owner",
            "--password",
            crate::review::PASSWORD,
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
        ],
        "reports.png",
    )
    .await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .starts_with("12 calls from 2026-11-01 to 2026-11-30"),
        "{report}"
    );
    let chart = |id: &str| report["charts"][id].clone();
    let bars = |id: &str| -> Vec<(String, Option<f64>, f64)> {
        chart(id)["bars"]
            .as_array()
            .unwrap_or_else(|| panic!("no chart {id}: {report}"))
            .iter()
            .map(|b| {
                (
                    b["key"].as_str().unwrap().to_owned(),
                    b["value"].as_f64(),
                    b["size"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    for id in [
        "rep-chart-outcomes",
        "rep-chart-hours",
        "rep-chart-booking",
        "rep-chart-utilization",
        "rep-chart-sources",
        "rep-chart-cancellations",
    ] {
        assert_eq!(chart(id)["role"], "img", "{id}");
        assert!(
            !chart(id)["title"].as_str().unwrap_or_default().is_empty(),
            "{id} has a title"
        );
    }
    let outcomes = bars("rep-chart-outcomes");
    let value = |list: &[(String, Option<f64>, f64)], key: &str| list.iter().find(|b| b.0 == key).cloned().unwrap();
    assert_eq!(value(&outcomes, "booked").1, Some(2.0));
    assert_eq!(value(&outcomes, "abandoned").1, Some(1.0));
    // Drawn to scale: the largest value has the longest bar, twice a value of half its size.
    assert!(
        (value(&outcomes, "booked").2 - 2.0 * value(&outcomes, "abandoned").2).abs() <= 1.0,
        "{outcomes:?}"
    );
    let hours = bars("rep-chart-hours");
    assert_eq!(hours.len(), 24);
    let at9 = value(&hours, "09");
    assert_eq!(at9.1, Some(4.0));
    assert!(
        at9.2 > value(&hours, "10").2 && value(&hours, "03").2 == 0.0,
        "{hours:?}"
    );
    let util = bars("rep-chart-utilization");
    assert_eq!(value(&util, "okafor").1, Some(0.0142));
    assert_eq!(
        report["charts"]["rep-chart-utilization"]["bars"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["key"] == "okafor")
            .unwrap()["shown"],
        "1.4%"
    );
    let reasons = bars("rep-chart-cancellations");
    assert_eq!(value(&reasons, "feeling_better").1, Some(1.0));
    assert!(
        report["tables"].as_i64().unwrap() >= 8,
        "a table under every chart: {report}"
    );

    assert_eq!(report["csvName"], "voicegate-report-2026-11-01-to-2026-11-30.csv");
    let csv = report["csv"].as_str().unwrap();
    assert!(csv.starts_with("section,metric,key,value\r\n"), "{csv}");
    assert!(csv.contains("calls,outcome,booked,2\r\n"), "{csv}");
    assert!(!csv.contains("demo-p1") && !csv.contains("Jane"));
    assert!(screenshot.exists());
    let trail = audit_records(&app).await;
    assert!(
        trail
            .iter()
            .any(|r| r["action"] == "report.exported" && r["details"]["from"] == "2026-11-01")
    );
}

/// A real call through the fake model counts in the report: its tool outcomes are stored when it
/// ends, its booking is timed from the call's start, and the cancellation the caller explained
/// is categorised without the words reaching the report.
#[tokio::test]
async fn a_call_that_books_and_cancels_is_counted_from_what_the_server_recorded() {
    use crate::tools::{call_tool, connected, jane};
    let app = desk_app(BackendKind::Sqlite).await.unwrap();
    let (mut caller, mut fake) = connected(&app, 7).await;
    let (appointment, _) = crate::notify_email::book(&mut fake, jane()).await;
    let refused = call_tool(&mut fake, "find_slots", json!({"provider_id": "nobody"})).await;
    assert_ne!(refused["ok"], true, "{refused}");
    let cancelled = call_tool(
        &mut fake,
        "cancel_appointment",
        json!({"appointment": appointment, "reason": "I have to work that day"}),
    )
    .await;
    assert_eq!(cancelled["ok"], true, "{cancelled}");
    caller.send_stop().await.unwrap();
    tokio::time::timeout(GUARD, fake.closed()).await.unwrap().unwrap();
    let call_id = tokio::time::timeout(GUARD, async {
        loop {
            let rows = voicegate::storage::calls::find_by_call_sid(&app.state.deps.db, &call_sid(7))
                .await
                .unwrap();
            if let Some(row) = rows.into_iter().find(|r| r.outcome.is_some()) {
                return row.call_id;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the call row is completed");

    add_staff(&app, "olga.owner", Role::ClinicAdmin).await;
    let owner = Staff::login(&app, "olga.owner").await;
    let r = owner.get("/review/api/reports?from=2026-12-07&to=2026-12-07").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let report: Value = serde_json::from_str(&r.body).unwrap();
    let calls = &report["calls"];
    assert_eq!(calls["total"], 1);
    let outcomes = counts(&calls["outcomes"]);
    assert!(
        outcomes.contains(&("booked".to_owned(), 1)),
        "booked first, then cancelled: {outcomes:?}"
    );
    assert_eq!(calls["booking_time"]["bookings"], 1);
    let tools: Vec<(&str, &str)> = calls["could_not"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["tool"].as_str().unwrap(), t["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(tools.len(), 1, "only the provider nobody has: {tools:?}");
    assert_eq!(tools[0].0, "find_slots");
    let x = &report["cancellations"];
    assert!(
        counts(&x["by_reason"]).contains(&("schedule_conflict".to_owned(), 1)),
        "{x}"
    );
    assert!(counts(&x["by_who"]).contains(&("agent".to_owned(), 1)), "{x}");
    assert!(!r.body.contains("work that day") && !r.body.contains(&appointment) && !r.body.contains(&call_id));

    #[derive(sqlx::FromRow)]
    struct Stored {
        tool: String,
        outcome: String,
    }
    let stored: Vec<Stored> = app
        .state
        .deps
        .db
        .all(
            "SELECT tool, outcome FROM call_tool_outcomes WHERE call_id = ? ORDER BY seq",
            &[Arg::Text(&call_id)],
        )
        .await
        .unwrap();
    let stored: Vec<(&str, &str)> = stored.iter().map(|s| (s.tool.as_str(), s.outcome.as_str())).collect();
    assert_eq!(
        stored,
        [
            ("verify_patient", "verified"),
            ("find_slots", "slots_found"),
            ("book_appointment", "booked"),
            ("find_slots", tools[0].1),
            ("cancel_appointment", "cancelled"),
        ]
    );
}
