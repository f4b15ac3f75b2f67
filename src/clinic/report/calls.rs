//! The calls half of the report: what callers got, when they call, how long a booking takes, and
//! what the agent could not do.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::{Count, Range, in_order, share};
use crate::storage::sql::Arg;
use crate::storage::{Db, StorageError};

/// Each call's outcome, first match wins (a call that booked and then asked for a callback
/// counts as booked; an emergency script trumps everything, it is what a clinic must know).
pub const OUTCOMES: [&str; 11] = [
    "emergency_script",
    "transferred",
    "booked",
    "rescheduled",
    "cancelled",
    "callback_requested",
    "verification_failed",
    "information_only",
    "abandoned",
    "ended_by_system",
    "in_progress",
];

/// Tool outcome labels that mean the tool did what was asked (everything else is something the
/// agent could not do). They are the labels `crate::tools` gives its results.
pub const DONE: [&str; 13] = [
    "ok",
    "listed",
    "verified",
    "already_verified",
    "transferring",
    "slots_found",
    "providers_found",
    "held",
    "booked",
    "rescheduled",
    "cancelled",
    "callback_queued",
    "emergency",
];

/// Booking-time buckets, upper bounds in seconds (the last bucket is open-ended).
pub const BOOKING_BUCKETS_S: [i64; 4] = [120, 240, 360, 600];

/// Transports, in the report's order.
const TRANSPORTS: [&str; 2] = ["twilio", "browser"];

#[derive(Debug, Clone, Serialize)]
pub struct CallsReport {
    pub total: i64,
    pub outcomes: Vec<Count>,
    pub by_transport: Vec<Count>,
    /// Calls by local hour of day (0–23) in the report's zone.
    pub by_hour: Vec<i64>,
    /// Calls that started when no provider was open, each provider in its location's zone
    /// (`None` when no open hours are kept here: an external EHR's schedule).
    pub after_hours: Option<i64>,
    pub after_hours_share: Option<f64>,
    pub booking_time: BookingTime,
    pub could_not: CouldNot,
}

/// From a call's start to the first booking it confirmed.
#[derive(Debug, Clone, Serialize)]
pub struct BookingTime {
    pub bookings: i64,
    pub average_seconds: Option<i64>,
    pub fastest_seconds: Option<i64>,
    pub slowest_seconds: Option<i64>,
    /// `under_120s`, `under_240s`, `under_360s`, `under_600s`, `600s_or_more`.
    pub buckets: Vec<Count>,
}

/// What the agent could not do.
#[derive(Debug, Clone, Serialize)]
pub struct CouldNot {
    /// Tool calls that did not do what was asked, by tool and outcome label, most frequent first.
    pub tools: Vec<ToolCount>,
    /// Calls in which the caller was given a callback reference.
    pub callbacks_requested: i64,
    /// Calls handed to staff.
    pub transfers: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ToolCount {
    pub tool: String,
    pub outcome: String,
    pub count: i64,
}

#[derive(sqlx::FromRow)]
struct Bucket {
    bucket: i64,
    count: i64,
}

#[derive(sqlx::FromRow)]
struct BookingRow {
    bookings: i64,
    total_ms: Option<i64>,
    fastest_ms: Option<i64>,
    slowest_ms: Option<i64>,
    b0: i64,
    b1: i64,
    b2: i64,
    b3: i64,
}

#[derive(sqlx::FromRow)]
struct OpenRow {
    weekday: i64,
    opens_min: i64,
    closes_min: i64,
    time_zone: String,
}

#[derive(sqlx::FromRow)]
struct One {
    count: i64,
}

/// Start-time granularity for the hour and after-hours counts: five minutes, the calendar's own
/// grid, so any real zone offset (India's :30, Nepal's :45) lands whole buckets in local hours.
const BUCKET_MS: i64 = 300_000;

fn quoted_list(labels: &[&str]) -> String {
    // Constants of this module only (never input), so inlining them is safe.
    labels.iter().map(|l| format!("'{l}'")).collect::<Vec<_>>().join(", ")
}

/// The calls half of the report for `range`.
///
/// # Errors
/// Storage failures.
pub async fn build(db: &Db, range: &Range) -> Result<CallsReport, StorageError> {
    let span = [Arg::I64(range.from_ms), Arg::I64(range.to_ms)];
    let outcome_sql = format!(
        "SELECT x.outcome_key AS key, COUNT(*) AS count FROM (SELECT CASE \
         WHEN c.ended_at_ms IS NULL THEN 'in_progress' \
         WHEN c.emergency <> 0 THEN 'emergency_script' \
         WHEN c.outcome = 'transferred' THEN 'transferred' \
         WHEN EXISTS (SELECT 1 FROM appointment_history h WHERE h.actor = 'call:' || c.call_id \
              AND h.event = 'confirm' AND h.details NOT LIKE '%\"replaces\"%') THEN 'booked' \
         WHEN EXISTS (SELECT 1 FROM appointment_history h WHERE h.actor = 'call:' || c.call_id \
              AND h.event = 'reschedule') THEN 'rescheduled' \
         WHEN EXISTS (SELECT 1 FROM appointment_history h WHERE h.actor = 'call:' || c.call_id \
              AND h.event = 'cancel') THEN 'cancelled' \
         WHEN EXISTS (SELECT 1 FROM callback_requests r WHERE r.call_id = c.call_id) THEN 'callback_requested' \
         WHEN c.verified_patient_ref IS NULL AND EXISTS (SELECT 1 FROM call_tool_outcomes t \
              WHERE t.call_id = c.call_id AND t.outcome IN ('verify_failed', 'locked', 'too_many_attempts')) \
              THEN 'verification_failed' \
         WHEN c.outcome IN ('hung_up', 'caller_gone', 'idle') AND EXISTS (SELECT 1 FROM call_tool_outcomes t \
              WHERE t.call_id = c.call_id AND t.outcome IN ({done})) THEN 'information_only' \
         WHEN c.outcome IN ('hung_up', 'caller_gone', 'idle') THEN 'abandoned' \
         ELSE 'ended_by_system' END AS outcome_key \
         FROM calls c WHERE c.started_at_ms >= ? AND c.started_at_ms < ?) x GROUP BY x.outcome_key",
        done = quoted_list(&DONE)
    );
    let outcomes = in_order(&OUTCOMES, db.all::<Count>(&outcome_sql, &span).await?);
    let total = outcomes.iter().map(|c| c.count).sum();

    let by_transport = in_order(
        &TRANSPORTS,
        db.all::<Count>(
            "SELECT transport AS key, COUNT(*) AS count FROM calls \
             WHERE started_at_ms >= ? AND started_at_ms < ? GROUP BY transport",
            &span,
        )
        .await?,
    );

    let buckets: Vec<Bucket> = db
        .all(
            &format!(
                "SELECT started_at_ms / {BUCKET_MS} AS bucket, COUNT(*) AS count FROM calls \
                 WHERE started_at_ms >= ? AND started_at_ms < ? GROUP BY started_at_ms / {BUCKET_MS}"
            ),
            &span,
        )
        .await?;
    let open = open_hours(db).await?;
    let mut by_hour = vec![0_i64; 24];
    let mut after_hours = 0;
    for b in &buckets {
        let Ok(at) = Timestamp::from_millisecond(b.bucket * BUCKET_MS) else {
            continue;
        };
        let hour = at.to_zoned_datetime(range.zone.clone()).hour();
        if let Some(slot) = usize::try_from(hour).ok().and_then(|h| by_hour.get_mut(h)) {
            *slot += b.count;
        }
        if !open.is_empty() && !open.iter().any(|o| o.contains(at)) {
            after_hours += b.count;
        }
    }

    let booking: Vec<BookingRow> = db
        .all(
            &format!(
                "SELECT COUNT(*) AS bookings, CAST(SUM(ms) AS BIGINT) AS total_ms, MIN(ms) AS fastest_ms, \
                 MAX(ms) AS slowest_ms, \
                 COUNT(CASE WHEN ms < {b0} THEN 1 END) AS b0, \
                 COUNT(CASE WHEN ms >= {b0} AND ms < {b1} THEN 1 END) AS b1, \
                 COUNT(CASE WHEN ms >= {b1} AND ms < {b2} THEN 1 END) AS b2, \
                 COUNT(CASE WHEN ms >= {b2} AND ms < {b3} THEN 1 END) AS b3 \
                 FROM (SELECT MIN(h.at_ms) - c.started_at_ms AS ms FROM calls c \
                 JOIN appointment_history h ON h.actor = 'call:' || c.call_id \
                 WHERE h.event = 'confirm' AND h.details NOT LIKE '%\"replaces\"%' \
                 AND c.started_at_ms >= ? AND c.started_at_ms < ? \
                 GROUP BY c.call_id, c.started_at_ms) x",
                b0 = BOOKING_BUCKETS_S[0] * 1000,
                b1 = BOOKING_BUCKETS_S[1] * 1000,
                b2 = BOOKING_BUCKETS_S[2] * 1000,
                b3 = BOOKING_BUCKETS_S[3] * 1000,
            ),
            &span,
        )
        .await?;
    let booking_time = match booking.into_iter().next() {
        Some(r) if r.bookings > 0 => {
            let under = [r.b0, r.b1, r.b2, r.b3];
            let mut buckets: Vec<Count> = BOOKING_BUCKETS_S
                .iter()
                .zip(under)
                .map(|(s, count)| Count {
                    key: format!("under_{s}s"),
                    count,
                })
                .collect();
            buckets.push(Count {
                key: format!("{}s_or_more", BOOKING_BUCKETS_S[3]),
                count: r.bookings - under.iter().sum::<i64>(),
            });
            BookingTime {
                bookings: r.bookings,
                average_seconds: r.total_ms.map(|t| (t / r.bookings + 500) / 1000),
                fastest_seconds: r.fastest_ms.map(|m| m / 1000),
                slowest_seconds: r.slowest_ms.map(|m| m / 1000),
                buckets,
            }
        }
        _ => BookingTime {
            bookings: 0,
            average_seconds: None,
            fastest_seconds: None,
            slowest_seconds: None,
            buckets: BOOKING_BUCKETS_S
                .iter()
                .map(|s| format!("under_{s}s"))
                .chain([format!("{}s_or_more", BOOKING_BUCKETS_S[3])])
                .map(|key| Count { key, count: 0 })
                .collect(),
        },
    };

    let tools: Vec<ToolCount> = db
        .all(
            &format!(
                "SELECT t.tool, t.outcome, COUNT(*) AS count FROM call_tool_outcomes t \
                 JOIN calls c ON c.call_id = t.call_id \
                 WHERE c.started_at_ms >= ? AND c.started_at_ms < ? AND t.outcome NOT IN ({}) \
                 GROUP BY t.tool, t.outcome ORDER BY COUNT(*) DESC, t.tool, t.outcome",
                quoted_list(&DONE)
            ),
            &span,
        )
        .await?;
    let callbacks: Vec<One> = db
        .all(
            "SELECT COUNT(DISTINCT r.call_id) AS count FROM callback_requests r JOIN calls c ON c.call_id = r.call_id \
             WHERE c.started_at_ms >= ? AND c.started_at_ms < ?",
            &span,
        )
        .await?;
    let transfers: Vec<One> = db
        .all(
            "SELECT COUNT(*) AS count FROM calls WHERE started_at_ms >= ? AND started_at_ms < ? \
             AND outcome = 'transferred'",
            &span,
        )
        .await?;
    let first = |rows: Vec<One>| rows.into_iter().next().map_or(0, |r| r.count);

    Ok(CallsReport {
        total,
        outcomes,
        by_transport,
        by_hour,
        after_hours: (!open.is_empty()).then_some(after_hours),
        after_hours_share: if open.is_empty() {
            None
        } else {
            share(after_hours, total)
        },
        booking_time,
        could_not: CouldNot {
            tools,
            callbacks_requested: first(callbacks),
            transfers: first(transfers),
        },
    })
}

/// One provider's weekly open window, in its location's zone.
struct Open {
    weekday: i8,
    opens_min: i32,
    closes_min: i32,
    zone: TimeZone,
}

impl Open {
    fn contains(&self, at: Timestamp) -> bool {
        let local = at.to_zoned_datetime(self.zone.clone());
        let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
        local.weekday().to_monday_one_offset() == self.weekday && self.opens_min <= minute && minute < self.closes_min
    }
}

/// Every provider's weekly hours (none on an external EHR, whose hours are not kept here).
async fn open_hours(db: &Db) -> Result<Vec<Open>, StorageError> {
    let rows: Vec<OpenRow> = db
        .all(
            "SELECT o.weekday, o.opens_min, o.closes_min, l.time_zone FROM open_hours o \
             JOIN providers p ON p.provider_id = o.provider_id JOIN locations l ON l.location_id = p.location_id",
            &[],
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Open {
                weekday: i8::try_from(r.weekday).ok()?,
                opens_min: i32::try_from(r.opens_min).ok()?,
                closes_min: i32::try_from(r.closes_min).ok()?,
                zone: TimeZone::get(&r.time_zone).ok()?,
            })
        })
        .collect())
}
