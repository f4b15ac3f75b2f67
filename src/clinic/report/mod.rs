//! The clinic owner's report: does the phone agent work, and how is the schedule used?
//!
//! Counts only. The report reads PHI-free columns (labels, codes, instants, provider and
//! location names) and never a patient's id, name, reason text or phone number, so a report on
//! the screen or in a CSV download discloses no patient: a role that may not read calls or the
//! schedule's names (the front desk's charts included) may still see it.
//!
//! Aggregation runs in SQL, the same text on SQLite and PostgreSQL ([`crate::storage::sql`]):
//! integer counts and sums only (`COUNT`, `CAST(SUM(..) AS BIGINT)`), so both backends decode
//! the same numbers and ratios are divided here. Two things SQL cannot do portably are done here
//! on its results: a time zone's hour of day (SQLite has no zones), and intersecting blocked time
//! with a provider's open hours (the calendar, the same code the slot finder uses).

pub mod calls;
pub mod csv;
pub mod schedule;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::storage::StorageError;

/// The longest range one report covers (a year, leap day included).
pub const MAX_DAYS: i64 = 366;

/// The days a report covers: `from` to `to` inclusive, local days in `zone`.
#[derive(Debug, Clone)]
pub struct Range {
    pub from: Date,
    pub to: Date,
    pub zone: TimeZone,
    pub zone_name: String,
    /// `from`'s local midnight.
    pub from_ms: i64,
    /// The local midnight after `to` (exclusive end).
    pub to_ms: i64,
}

/// Why a range was refused (the message is shown to staff as is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("dates are YYYY-MM-DD between 2000 and 2200")]
    BadDate,
    #[error("`to` is before `from`")]
    Reversed,
    #[error("a report covers at most 366 days")]
    TooLong,
    #[error("unknown time zone; use an IANA name such as America/New_York")]
    BadZone,
}

impl Range {
    /// Parse the report's filter. Empty dates default to the 30 days that end today (in `zone`).
    ///
    /// # Errors
    /// [`RangeError`] for anything malformed, reversed or longer than [`MAX_DAYS`].
    pub fn parse(from: &str, to: &str, zone_name: &str, now: Timestamp) -> Result<Range, RangeError> {
        let zone = TimeZone::get(zone_name).map_err(|_| RangeError::BadZone)?;
        let today = now.to_zoned_datetime(zone.clone()).date();
        let day = |raw: &str| -> Result<Date, RangeError> {
            let d: Date = raw.parse().map_err(|_| RangeError::BadDate)?;
            if (2000..=2200).contains(&d.year()) {
                Ok(d)
            } else {
                Err(RangeError::BadDate)
            }
        };
        let to = if to.is_empty() { today } else { day(to)? };
        let from = if from.is_empty() {
            to.checked_sub(jiff::Span::new().days(29))
                .map_err(|_| RangeError::BadDate)?
        } else {
            day(from)?
        };
        if to < from {
            return Err(RangeError::Reversed);
        }
        let days = from.until(to).map_err(|_| RangeError::BadDate)?.get_days();
        if i64::from(days) >= MAX_DAYS {
            return Err(RangeError::TooLong);
        }
        let midnight = |d: Date| {
            zone.to_timestamp(d.at(0, 0, 0, 0))
                .map(|t| t.as_millisecond())
                .map_err(|_| RangeError::BadDate)
        };
        let after = to.tomorrow().map_err(|_| RangeError::BadDate)?;
        Ok(Range {
            from,
            to,
            from_ms: midnight(from)?,
            to_ms: midnight(after)?,
            zone,
            zone_name: zone_name.to_owned(),
        })
    }

    /// The local days of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = Date> + '_ {
        self.from
            .series(jiff::Span::new().days(1))
            .take_while(|d| *d <= self.to)
    }
}

/// One labelled count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Count {
    pub key: String,
    pub count: i64,
}

/// `part / whole`, rounded to four places; `None` when there is nothing to divide.
pub fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0)
}

/// Counts in a fixed key order, zeros included, so charts and CSVs always have the same rows;
/// keys the order does not know (from a newer version's rows) follow in their own order.
pub fn in_order(order: &[&str], counted: Vec<Count>) -> Vec<Count> {
    let mut out: Vec<Count> = order
        .iter()
        .map(|k| Count {
            key: (*k).to_owned(),
            count: counted.iter().filter(|c| c.key == *k).map(|c| c.count).sum(),
        })
        .collect();
    out.extend(counted.into_iter().filter(|c| !order.contains(&c.key.as_str())));
    out
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub calls: calls::CallsReport,
    /// `None` when the schedule lives in an external EHR (its own reports cover it).
    pub schedule: Option<schedule::ScheduleReport>,
    /// Cancellations recorded here (by the agent, staff or a patient's reply), on any EHR.
    pub cancellations: schedule::Cancellations,
}

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Build the report for `range` as of `now`. `schedule_here` says the schedule is the built-in
/// store's (with an external EHR, the utilization and no-show halves are the EHR's to report).
///
/// # Errors
/// Storage failures.
pub async fn build(
    db: &crate::storage::Db,
    range: &Range,
    now: Timestamp,
    schedule_here: bool,
) -> Result<Report, ReportError> {
    let calls = calls::build(db, range).await?;
    let schedule = if schedule_here {
        Some(schedule::build(db, range, now).await?)
    } else {
        None
    };
    let cancellations = schedule::cancellations(db, range).await?;
    Ok(Report {
        from: range.from.to_string(),
        to: range.to.to_string(),
        time_zone: range.zone_name.clone(),
        calls,
        schedule,
        cancellations,
    })
}

/// The report's zone when staff do not pick one: the zone most of the clinic's locations are in
/// (a tie goes to the zone of the first location by id, the clinic's main one in seed data),
/// else UTC.
///
/// # Errors
/// Storage failures.
pub async fn default_zone(db: &crate::storage::Db) -> Result<String, StorageError> {
    let zones: Vec<Count> = db
        .all(
            "SELECT time_zone AS key, COUNT(*) AS count FROM locations GROUP BY time_zone \
             ORDER BY COUNT(*) DESC, MIN(location_id)",
            &[],
        )
        .await?;
    Ok(zones.into_iter().next().map_or_else(|| "UTC".to_owned(), |z| z.key))
}
