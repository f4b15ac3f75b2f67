//! A provider's calendar as staff edit it: open hours, days off, visit types, slot interval,
//! buffers, minimum notice, horizon and hold length.
//!
//! A change never drops a booked visit silently. Visits from now on that the new calendar would
//! not allow (outside the new hours, on a new day off, of a removed type) are *orphans*: the
//! change is refused with their list, or — when staff confirm — applied with the visits kept on
//! the books and listed, so someone moves or cancels each one with the patient.

use std::collections::BTreeSet;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::calendar::{AppointmentType, Calendar, OpenHours, UNIT_MINUTES};
use super::desk::DeskError;
use super::{BuiltinEhr, store, timestamp};
use crate::storage::sql::Arg;

const MAX_HOURS_ROWS: usize = 28;
const MAX_DAYS_OFF: usize = 400;
const MAX_TYPES: usize = 20;

/// One weekly opening, local wall-clock `HH:MM` (ISO weekday 1 = Monday).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoursConfig {
    pub weekday: i64,
    pub opens: String,
    pub closes: String,
}

/// One kind of visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeConfig {
    pub code: String,
    pub name: String,
    pub duration_min: i64,
    #[serde(default)]
    pub default: bool,
}

/// A provider's whole calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarConfig {
    pub slot_interval_min: i64,
    pub min_notice_min: i64,
    pub horizon_days: i64,
    pub buffer_before_min: i64,
    pub buffer_after_min: i64,
    pub hold_minutes: i64,
    pub open_hours: Vec<HoursConfig>,
    /// ISO local dates (holidays, leave days).
    pub days_off: Vec<String>,
    pub types: Vec<TypeConfig>,
}

/// A booked visit the new calendar would not allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    pub appointment_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// `outside_open_hours`, `day_off` or `type_removed`.
    pub why: &'static str,
}

/// What a change did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub before: CalendarConfig,
    pub after: CalendarConfig,
    /// Visits kept on the books that the new calendar would not allow.
    pub orphans: Vec<Orphan>,
}

fn minutes(hhmm: &str) -> Option<i64> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 1440).then_some(h * 60 + m)
}

fn hhmm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn unit_multiple(v: i64, range: std::ops::RangeInclusive<i64>) -> bool {
    range.contains(&v) && v % UNIT_MINUTES == 0
}

impl CalendarConfig {
    /// Check every field; the message names the first problem.
    ///
    /// # Errors
    /// [`DeskError::Invalid`].
    pub fn validate(&self) -> Result<(), DeskError> {
        let bad = |m: &'static str| Err(DeskError::Invalid(m));
        if !unit_multiple(self.slot_interval_min, 5..=240) {
            return bad("slot_interval_min is 5 to 240, a multiple of 5");
        }
        if !(0..=60 * 24 * 30).contains(&self.min_notice_min) {
            return bad("min_notice_min is 0 to 43200 (30 days)");
        }
        if !(1..=730).contains(&self.horizon_days) {
            return bad("horizon_days is 1 to 730");
        }
        if !unit_multiple(self.buffer_before_min, 0..=120) || !unit_multiple(self.buffer_after_min, 0..=120) {
            return bad("buffers are 0 to 120 minutes, multiples of 5");
        }
        if !(1..=30).contains(&self.hold_minutes) {
            return bad("hold_minutes is 1 to 30");
        }
        if self.open_hours.len() > MAX_HOURS_ROWS {
            return bad("at most 28 opening rows");
        }
        let mut spans: Vec<(i64, i64, i64)> = Vec::new();
        for h in &self.open_hours {
            let (Some(o), Some(c)) = (minutes(&h.opens), minutes(&h.closes)) else {
                return bad("open hours are HH:MM, 00:00 to 24:00");
            };
            if !(1..=7).contains(&h.weekday) {
                return bad("weekday is 1 (Monday) to 7 (Sunday)");
            }
            if o >= c || o % UNIT_MINUTES != 0 || c % UNIT_MINUTES != 0 {
                return bad("each opening closes after it opens, on 5-minute boundaries");
            }
            if spans.iter().any(|&(d, so, sc)| d == h.weekday && o < sc && so < c) {
                return bad("two openings on the same weekday overlap");
            }
            spans.push((h.weekday, o, c));
        }
        if self.days_off.len() > MAX_DAYS_OFF {
            return bad("at most 400 days off");
        }
        if self.days_off.iter().any(|d| d.parse::<Date>().is_err()) {
            return bad("days off are YYYY-MM-DD dates");
        }
        if self.types.is_empty() || self.types.len() > MAX_TYPES {
            return bad("a provider has 1 to 20 visit types");
        }
        let mut codes = BTreeSet::new();
        for t in &self.types {
            let code_ok = (1..=32).contains(&t.code.len())
                && t.code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !code_ok {
                return bad("visit type codes are 1-32 of a-z, 0-9, '-', '_'");
            }
            if !codes.insert(t.code.as_str()) {
                return bad("visit type codes are unique");
            }
            if t.name.trim().is_empty() || t.name.chars().count() > 60 || t.name.chars().any(char::is_control) {
                return bad("visit type names are 1 to 60 characters");
            }
            if !unit_multiple(t.duration_min, 5..=480) {
                return bad("visit durations are 5 to 480 minutes, multiples of 5");
            }
        }
        if self.types.iter().filter(|t| t.default).count() > 1 {
            return bad("at most one visit type is the default");
        }
        Ok(())
    }

    /// As the calendar the slot search uses, in `time_zone`.
    fn calendar(&self, time_zone: jiff::tz::TimeZone) -> Calendar {
        Calendar {
            time_zone,
            open_hours: self
                .open_hours
                .iter()
                .filter_map(|h| {
                    Some(OpenHours {
                        weekday: i8::try_from(h.weekday).ok()?,
                        opens_min: i32::try_from(minutes(&h.opens)?).ok()?,
                        closes_min: i32::try_from(minutes(&h.closes)?).ok()?,
                    })
                })
                .collect(),
            time_off: self.days_off.iter().filter_map(|d| d.parse().ok()).collect(),
            slot_interval_min: self.slot_interval_min,
            min_notice_min: self.min_notice_min,
            horizon_days: self.horizon_days,
            buffer_before_min: self.buffer_before_min,
            buffer_after_min: self.buffer_after_min,
            hold_minutes: self.hold_minutes,
            types: self
                .types
                .iter()
                .map(|t| AppointmentType {
                    code: t.code.clone(),
                    name: t.name.clone(),
                    duration_min: t.duration_min,
                    is_default: t.default,
                })
                .collect(),
        }
    }

    fn of(cal: &Calendar) -> CalendarConfig {
        let mut open_hours: Vec<HoursConfig> = cal
            .open_hours
            .iter()
            .map(|h| HoursConfig {
                weekday: i64::from(h.weekday),
                opens: hhmm(i64::from(h.opens_min)),
                closes: hhmm(i64::from(h.closes_min)),
            })
            .collect();
        open_hours.sort_by(|a, b| (a.weekday, &a.opens).cmp(&(b.weekday, &b.opens)));
        CalendarConfig {
            slot_interval_min: cal.slot_interval_min,
            min_notice_min: cal.min_notice_min,
            horizon_days: cal.horizon_days,
            buffer_before_min: cal.buffer_before_min,
            buffer_after_min: cal.buffer_after_min,
            hold_minutes: cal.hold_minutes,
            open_hours,
            days_off: cal.time_off.iter().map(ToString::to_string).collect(),
            types: cal
                .types
                .iter()
                .map(|t| TypeConfig {
                    code: t.code.clone(),
                    name: t.name.clone(),
                    duration_min: t.duration_min,
                    default: t.is_default,
                })
                .collect(),
        }
    }
}

/// The visits from `now` on that `cal` would not allow.
fn orphans(cal: &Calendar, visits: &[store::AppointmentRow]) -> Vec<Orphan> {
    visits
        .iter()
        .filter_map(|v| {
            let (start, end) = (timestamp(v.start_ms), timestamp(v.end_ms));
            let day = start.to_zoned_datetime(cal.time_zone.clone()).date();
            let why = if cal.appointment_type(&v.type_code).is_none() {
                "type_removed"
            } else if cal.time_off.contains(&day) {
                "day_off"
            } else if !cal.fits_open_hours(start, end) {
                "outside_open_hours"
            } else {
                return None;
            };
            Some(Orphan {
                appointment_id: v.appointment_id.clone(),
                start_ms: v.start_ms,
                end_ms: v.end_ms,
                why,
            })
        })
        .collect()
}

impl BuiltinEhr {
    /// A provider's calendar as staff edit it.
    ///
    /// # Errors
    /// `NotFound`; storage.
    pub async fn calendar_config(&self, provider_id: &str) -> Result<CalendarConfig, DeskError> {
        let record = store::load_provider(&self.db, provider_id)
            .await?
            .ok_or(DeskError::NotFound("provider"))?;
        Ok(CalendarConfig::of(&record.calendar))
    }

    /// Replace a provider's calendar. Refused with [`DeskError::Orphans`] when booked visits would
    /// fall outside it, unless `accept_orphans` (they are then kept and listed). New bookings use
    /// the new buffers; booked visits keep the busy time they were booked with.
    ///
    /// # Errors
    /// `Invalid`, `NotFound`, `Orphans`; storage.
    pub async fn set_calendar(
        &self,
        provider_id: &str,
        config: &CalendarConfig,
        accept_orphans: bool,
    ) -> Result<Applied, DeskError> {
        config.validate()?;
        let record = store::load_provider(&self.db, provider_id)
            .await?
            .ok_or(DeskError::NotFound("provider"))?;
        let before = CalendarConfig::of(&record.calendar);
        let mut after = config.clone();
        after.days_off.sort();
        after.days_off.dedup();
        after
            .open_hours
            .sort_by(|a, b| (a.weekday, &a.opens).cmp(&(b.weekday, &b.opens)));
        let cal = after.calendar(record.calendar.time_zone.clone());
        let now_ms = self.now().as_millisecond();
        let mut tx = self.db.begin_write().await?;
        let visits = store::provider_visits_from(&mut tx, provider_id, now_ms).await?;
        let orphans = orphans(&cal, &visits);
        if !orphans.is_empty() && !accept_orphans {
            return Err(DeskError::Orphans(orphans));
        }
        let id = Arg::Text(provider_id);
        tx.exec(
            "UPDATE providers SET slot_interval_min = ?, min_notice_min = ?, horizon_days = ?, buffer_before_min = ?, \
             buffer_after_min = ?, hold_minutes = ? WHERE provider_id = ?",
            &[
                Arg::I64(after.slot_interval_min),
                Arg::I64(after.min_notice_min),
                Arg::I64(after.horizon_days),
                Arg::I64(after.buffer_before_min),
                Arg::I64(after.buffer_after_min),
                Arg::I64(after.hold_minutes),
                id,
            ],
        )
        .await?;
        for table in ["open_hours", "time_off", "appointment_types"] {
            tx.exec(&format!("DELETE FROM {table} WHERE provider_id = ?"), &[id])
                .await?;
        }
        for h in &cal.open_hours {
            tx.exec(
                "INSERT INTO open_hours (provider_id, weekday, opens_min, closes_min) VALUES (?, ?, ?, ?)",
                &[
                    id,
                    Arg::I64(i64::from(h.weekday)),
                    Arg::I64(i64::from(h.opens_min)),
                    Arg::I64(i64::from(h.closes_min)),
                ],
            )
            .await?;
        }
        for day in &after.days_off {
            tx.exec(
                "INSERT INTO time_off (provider_id, day) VALUES (?, ?)",
                &[id, Arg::Text(day)],
            )
            .await?;
        }
        for t in &after.types {
            tx.exec(
                "INSERT INTO appointment_types (provider_id, type_code, name, duration_min, is_default) \
                 VALUES (?, ?, ?, ?, ?)",
                &[
                    id,
                    Arg::Text(&t.code),
                    Arg::Text(t.name.trim()),
                    Arg::I64(t.duration_min),
                    Arg::I64(i64::from(t.default)),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Applied { before, after, orphans })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn config() -> CalendarConfig {
        CalendarConfig {
            slot_interval_min: 30,
            min_notice_min: 120,
            horizon_days: 60,
            buffer_before_min: 0,
            buffer_after_min: 10,
            hold_minutes: 5,
            open_hours: vec![HoursConfig {
                weekday: 1,
                opens: "09:00".into(),
                closes: "17:00".into(),
            }],
            days_off: vec!["2026-12-25".into()],
            types: vec![TypeConfig {
                code: "visit".into(),
                name: "Visit".into(),
                duration_min: 30,
                default: true,
            }],
        }
    }

    #[test]
    fn a_good_calendar_passes_and_each_mistake_is_named() {
        assert!(config().validate().is_ok());
        type Change = Box<dyn Fn(&mut CalendarConfig)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|c| c.slot_interval_min = 7), "slot_interval_min"),
            (Box::new(|c| c.horizon_days = 0), "horizon_days"),
            (Box::new(|c| c.buffer_after_min = 3), "buffers"),
            (Box::new(|c| c.hold_minutes = 0), "hold_minutes"),
            (Box::new(|c| c.open_hours[0].opens = "9:00".into()), "HH:MM"),
            (Box::new(|c| c.open_hours[0].closes = "24:30".into()), "HH:MM"),
            (Box::new(|c| c.open_hours[0].weekday = 8), "weekday"),
            (Box::new(|c| c.open_hours[0].closes = "08:00".into()), "closes after"),
            (
                Box::new(|c| {
                    c.open_hours.push(HoursConfig {
                        weekday: 1,
                        opens: "16:00".into(),
                        closes: "18:00".into(),
                    })
                }),
                "overlap",
            ),
            (Box::new(|c| c.days_off.push("2026-02-30".into())), "days off"),
            (Box::new(|c| c.types.clear()), "1 to 20"),
            (Box::new(|c| c.types[0].code = "Visit Type".into()), "codes"),
            (Box::new(|c| c.types[0].duration_min = 0), "durations"),
            (
                Box::new(|c| {
                    let mut t = c.types[0].clone();
                    t.code = "new".into();
                    c.types.push(t);
                }),
                "one visit type is the default",
            ),
        ];
        for (change, expect) in cases {
            let mut c = config();
            change(&mut c);
            let err = c.validate().expect_err(expect).to_string();
            assert!(err.contains(expect), "{err:?} should mention {expect:?}");
        }
    }

    #[test]
    fn orphans_name_why_each_visit_no_longer_fits() {
        let mut c = config();
        c.open_hours[0].closes = "12:00".into();
        let cal = c.calendar(jiff::tz::TimeZone::get("America/New_York").expect("tz"));
        let visit = |id: &str, start: &str, minutes: i64, ty: &str| {
            let s: Timestamp = start.parse().expect("ts");
            store::AppointmentRow {
                appointment_id: id.into(),
                provider_id: "p".into(),
                patient_id: "x".into(),
                type_code: ty.into(),
                start_ms: s.as_millisecond(),
                end_ms: s.as_millisecond() + minutes * 60_000,
                status: "booked".into(),
                display_name: String::new(),
                time_zone: String::new(),
            }
        };
        // Mondays 2026-12-14 and 2026-12-28 (New York is UTC-5).
        let visits = [
            visit("fits", "2026-12-14T14:00:00Z", 30, "visit"),
            visit("late", "2026-12-14T18:00:00Z", 30, "visit"),
            visit("gone-type", "2026-12-14T14:30:00Z", 30, "new"),
            visit("christmas", "2026-12-25T15:00:00Z", 30, "visit"),
        ];
        let found = orphans(&cal, &visits);
        let found: Vec<(&str, &str)> = found.iter().map(|o| (o.appointment_id.as_str(), o.why)).collect();
        assert_eq!(
            found,
            [
                ("late", "outside_open_hours"),
                ("gone-type", "type_removed"),
                ("christmas", "day_off")
            ]
        );
    }
}
