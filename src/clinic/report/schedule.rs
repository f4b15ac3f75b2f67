//! The schedule half of the report: utilization per provider and location, no-shows, where
//! bookings came from, and why visits were cancelled.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use super::{Count, Range, in_order, share};
use crate::clinic::cancel_reason::CancelReason;
use crate::storage::sql::Arg;
use crate::storage::{Db, StorageError};

/// Appointment statuses (FHIR codes) that occupy the provider's time: a no-show took the slot
/// as much as a completed visit did.
const OCCUPYING: &str = "'booked', 'arrived', 'checked-in', 'fulfilled', 'noshow'";

/// Booking sources, in the report's order (`crate::clinic::lifecycle`'s sources).
const SOURCES: [&str; 5] = ["phone_agent", "browser_agent", "staff", "ehr", "unknown"];

/// Who cancelled, in the report's order.
const WHO: [&str; 4] = ["agent", "staff", "patient_sms", "ehr"];

/// A cancellation this close to the visit's start is late (the clinic can rarely refill it).
pub const LATE_MS: i64 = 24 * 3_600_000;

#[derive(Debug, Clone, Serialize)]
pub struct ScheduleReport {
    pub providers: Vec<ProviderUse>,
    pub locations: Vec<LocationUse>,
    pub no_shows: NoShows,
    /// New bookings made in the range (moves not counted again), by source.
    pub bookings_by_source: Vec<Count>,
}

/// One provider's time in the range, in minutes.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderUse {
    pub provider_id: String,
    pub name: String,
    pub location_id: String,
    /// Open hours in the range (days off excluded).
    pub open_minutes: i64,
    /// Blocked time (leave, meetings) inside those open hours.
    pub blocked_minutes: i64,
    /// Visits (with no-shows) inside the range.
    pub booked_minutes: i64,
    /// `booked / (open - blocked)`; `None` with no bookable time.
    pub utilization: Option<f64>,
    pub visits: i64,
    pub no_shows: NoShows,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocationUse {
    pub location_id: String,
    pub name: String,
    pub open_minutes: i64,
    pub blocked_minutes: i64,
    pub booked_minutes: i64,
    pub utilization: Option<f64>,
}

/// Visits that have started, by what the desk recorded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NoShows {
    pub completed: i64,
    pub no_shows: i64,
    /// Started but not yet marked completed or no-show.
    pub unmarked: i64,
    /// `no_shows / (completed + no_shows)`: of the visits whose outcome is recorded.
    pub rate: Option<f64>,
}

impl NoShows {
    fn add(&mut self, other: &NoShows) {
        self.completed += other.completed;
        self.no_shows += other.no_shows;
        self.unmarked += other.unmarked;
        self.rate = share(self.no_shows, self.completed + self.no_shows);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Cancellations {
    pub total: i64,
    /// Within [`LATE_MS`] of the visit (visits kept in the built-in store only).
    pub late: i64,
    /// By category ([`CancelReason`]); `unclassified` for rows older than the categories.
    pub by_reason: Vec<Count>,
    pub by_who: Vec<Count>,
}

#[derive(sqlx::FromRow)]
struct ProviderRow {
    provider_id: String,
    display_name: String,
    location_id: String,
    location_name: String,
}

#[derive(sqlx::FromRow)]
struct UseRow {
    provider_id: String,
    booked_ms: Option<i64>,
    visits: i64,
    no_shows: i64,
    completed: i64,
    unmarked: i64,
}

#[derive(sqlx::FromRow)]
struct BlockRow {
    provider_id: String,
    start_ms: i64,
    end_ms: i64,
}

#[derive(sqlx::FromRow)]
struct One {
    count: i64,
}

/// The schedule half for `range` on the built-in store, as of `now` (a visit after `now` has
/// no outcome yet).
///
/// # Errors
/// Storage failures.
pub async fn build(db: &Db, range: &Range, now: Timestamp) -> Result<ScheduleReport, StorageError> {
    let (from, to) = (range.from_ms, range.to_ms);
    let now_ms = now.as_millisecond();
    let providers: Vec<ProviderRow> = db
        .all(
            "SELECT p.provider_id, p.display_name, p.location_id, l.name AS location_name FROM providers p \
             JOIN locations l ON l.location_id = p.location_id ORDER BY l.location_id, p.provider_id",
            &[],
        )
        .await?;
    let uses: Vec<UseRow> = db
        .all(
            &format!(
                "SELECT a.provider_id, \
                 CAST(SUM(CASE WHEN a.status IN ({OCCUPYING}) THEN \
                   (CASE WHEN a.end_ms > ? THEN ? ELSE a.end_ms END) - (CASE WHEN a.start_ms < ? THEN ? ELSE a.start_ms END) \
                   ELSE 0 END) AS BIGINT) AS booked_ms, \
                 COUNT(CASE WHEN a.status IN ({OCCUPYING}) THEN 1 END) AS visits, \
                 COUNT(CASE WHEN a.status = 'noshow' THEN 1 END) AS no_shows, \
                 COUNT(CASE WHEN a.status = 'fulfilled' THEN 1 END) AS completed, \
                 COUNT(CASE WHEN a.status IN ('booked', 'arrived', 'checked-in') AND a.start_ms <= ? THEN 1 END) AS unmarked \
                 FROM appointments a WHERE a.start_ms < ? AND a.end_ms > ? GROUP BY a.provider_id"
            ),
            &[
                Arg::I64(to),
                Arg::I64(to),
                Arg::I64(from),
                Arg::I64(from),
                Arg::I64(now_ms),
                Arg::I64(to),
                Arg::I64(from),
            ],
        )
        .await?;
    let blocks: Vec<BlockRow> = db
        .all(
            "SELECT provider_id, start_ms, end_ms FROM busy_intervals WHERE kind = 'block' AND start_ms < ? AND end_ms > ?",
            &[Arg::I64(to), Arg::I64(from)],
        )
        .await?;

    let mut out = Vec::new();
    let mut locations: BTreeMap<String, LocationUse> = BTreeMap::new();
    let mut all = NoShows::default();
    for p in providers {
        let open = open_intervals(db, &p.provider_id, range).await?;
        let open_ms: i64 = open.iter().map(|(a, b)| b - a).sum();
        let blocked_ms: i64 = blocks
            .iter()
            .filter(|b| b.provider_id == p.provider_id)
            .map(|b| {
                open.iter()
                    .map(|(a, z)| (b.end_ms.min(*z) - b.start_ms.max(*a)).max(0))
                    .sum::<i64>()
            })
            .sum();
        let u = uses.iter().find(|u| u.provider_id == p.provider_id);
        let booked_ms = u.and_then(|u| u.booked_ms).unwrap_or(0);
        let no_shows = NoShows {
            completed: u.map_or(0, |u| u.completed),
            no_shows: u.map_or(0, |u| u.no_shows),
            unmarked: u.map_or(0, |u| u.unmarked),
            rate: u.and_then(|u| share(u.no_shows, u.completed + u.no_shows)),
        };
        all.add(&no_shows);
        let (open_minutes, blocked_minutes, booked_minutes) =
            (open_ms / 60_000, blocked_ms / 60_000, booked_ms / 60_000);
        let loc = locations.entry(p.location_id.clone()).or_insert_with(|| LocationUse {
            location_id: p.location_id.clone(),
            name: p.location_name.clone(),
            open_minutes: 0,
            blocked_minutes: 0,
            booked_minutes: 0,
            utilization: None,
        });
        loc.open_minutes += open_minutes;
        loc.blocked_minutes += blocked_minutes;
        loc.booked_minutes += booked_minutes;
        out.push(ProviderUse {
            provider_id: p.provider_id,
            name: p.display_name,
            location_id: p.location_id,
            open_minutes,
            blocked_minutes,
            booked_minutes,
            utilization: share(booked_minutes, open_minutes - blocked_minutes),
            visits: u.map_or(0, |u| u.visits),
            no_shows,
        });
    }
    let locations = locations
        .into_values()
        .map(|mut l| {
            l.utilization = share(l.booked_minutes, l.open_minutes - l.blocked_minutes);
            l
        })
        .collect();

    let bookings_by_source = in_order(
        &SOURCES,
        db.all::<Count>(
            "SELECT a.source AS key, COUNT(*) AS count FROM appointments a \
             WHERE a.created_at_ms >= ? AND a.created_at_ms < ? \
             AND NOT EXISTS (SELECT 1 FROM appointments o WHERE o.replaced_by = a.appointment_id) \
             GROUP BY a.source",
            &[Arg::I64(from), Arg::I64(to)],
        )
        .await?,
    );
    Ok(ScheduleReport {
        providers: out,
        locations,
        no_shows: all,
        bookings_by_source,
    })
}

/// The cancellations recorded in the range (on any EHR: the history is kept here).
///
/// # Errors
/// Storage failures.
pub async fn cancellations(db: &Db, range: &Range) -> Result<Cancellations, StorageError> {
    let span = [Arg::I64(range.from_ms), Arg::I64(range.to_ms)];
    let reasons: Vec<&str> = CancelReason::ALL
        .iter()
        .map(|c| c.code())
        .chain(["unclassified"])
        .collect();
    let by_reason = in_order(
        &reasons,
        db.all::<Count>(
            "SELECT COALESCE(reason_code, 'unclassified') AS key, COUNT(*) AS count FROM appointment_history \
             WHERE event = 'cancel' AND at_ms >= ? AND at_ms < ? GROUP BY COALESCE(reason_code, 'unclassified')",
            &span,
        )
        .await?,
    );
    let by_who = in_order(
        &WHO,
        db.all::<Count>(
            "SELECT x.who AS key, COUNT(*) AS count FROM (SELECT CASE \
             WHEN actor LIKE 'call:%' THEN 'agent' WHEN actor LIKE 'staff:%' THEN 'staff' \
             WHEN actor = 'patient:sms' THEN 'patient_sms' ELSE 'ehr' END AS who FROM appointment_history \
             WHERE event = 'cancel' AND at_ms >= ? AND at_ms < ?) x GROUP BY x.who",
            &span,
        )
        .await?,
    );
    let late: Vec<One> = db
        .all(
            &format!(
                "SELECT COUNT(*) AS count FROM appointment_history h JOIN appointments a \
                 ON a.appointment_id = h.appointment_id WHERE h.event = 'cancel' AND h.at_ms >= ? AND h.at_ms < ? \
                 AND a.start_ms - h.at_ms < {LATE_MS}"
            ),
            &span,
        )
        .await?;
    Ok(Cancellations {
        total: by_reason.iter().map(|c| c.count).sum(),
        late: late.into_iter().next().map_or(0, |r| r.count),
        by_reason,
        by_who,
    })
}

/// A provider's open intervals inside the range, as UTC milliseconds, from the calendar the slot
/// finder uses (days off give none). Local days are the provider's own, so a provider in another
/// zone than the report's is counted over the same instants.
async fn open_intervals(db: &Db, provider_id: &str, range: &Range) -> Result<Vec<(i64, i64)>, StorageError> {
    let Some(record) = crate::tools::ehr::builtin::store::load_provider(db, provider_id).await? else {
        return Ok(Vec::new());
    };
    let cal = &record.calendar;
    let (Ok(first), Ok(last)) = (
        Timestamp::from_millisecond(range.from_ms),
        Timestamp::from_millisecond(range.to_ms),
    ) else {
        return Ok(Vec::new());
    };
    let mut day = first.to_zoned_datetime(cal.time_zone.clone()).date();
    let end = last.to_zoned_datetime(cal.time_zone.clone()).date();
    let mut out = Vec::new();
    while day <= end {
        for (a, b) in cal.open_intervals_on(day) {
            let (a, b) = (
                a.as_millisecond().max(range.from_ms),
                b.as_millisecond().min(range.to_ms),
            );
            if b > a {
                out.push((a, b));
            }
        }
        let Ok(next) = day.tomorrow() else { break };
        day = next;
    }
    Ok(out)
}
