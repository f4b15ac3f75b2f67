//! A provider's calendar as pure functions: which instants are bookable starts.
//!
//! Open hours are local wall-clock times in the location's IANA time zone; slots are generated
//! by walking *elapsed* time from the day's opening instant to its closing instant, one slot
//! interval at a time. On a DST change that means no slot is skipped and none is doubled: a
//! spring-forward night loses the hour that does not exist, a fall-back night keeps both
//! occurrences of the repeated hour as distinct instants, and a 9-to-5 day has the same slots at
//! the same wall-clock times every day of the week.
//!
//! No I/O and no clock: `now` comes in as an argument, so the booking path can re-validate a slot
//! id the model passes back with exactly the rules that produced it.

use std::collections::BTreeSet;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// The occupancy unit on SQLite; every duration, buffer and interval is a multiple of it (the
/// schema checks), and every UTC offset in use is a multiple of 15 minutes, so starts align.
pub const UNIT_MINUTES: i64 = 5;

/// Weekly open hours: ISO weekday (1 = Monday), local minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenHours {
    pub weekday: i8,
    pub opens_min: i32,
    pub closes_min: i32,
}

/// A kind of visit with its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentType {
    pub code: String,
    pub name: String,
    pub duration_min: i64,
    pub is_default: bool,
}

/// Everything that decides a provider's bookable starts.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub time_zone: TimeZone,
    pub open_hours: Vec<OpenHours>,
    /// Whole local days off.
    pub time_off: BTreeSet<Date>,
    pub slot_interval_min: i64,
    /// No start sooner than this after now.
    pub min_notice_min: i64,
    /// No start later than this many days after now.
    pub horizon_days: i64,
    pub buffer_before_min: i64,
    pub buffer_after_min: i64,
    /// How long a hold lasts.
    pub hold_minutes: i64,
    pub types: Vec<AppointmentType>,
}

/// A bookable start of one appointment type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Why a start cannot be booked by staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlotProblem {
    #[error("that time is in the past")]
    Past,
    #[error("that time is outside the provider's open hours or off the slot grid")]
    Closed,
    #[error("the provider is off that day")]
    DayOff,
    #[error("that time is beyond the booking horizon")]
    BeyondHorizon,
    /// Overridable: staff say so, with a reason.
    #[error("that time is sooner than the minimum notice")]
    ShortNotice,
}

impl Calendar {
    /// The type booked when the caller does not name one.
    pub fn default_type(&self) -> Option<&AppointmentType> {
        self.types.iter().find(|t| t.is_default).or_else(|| self.types.first())
    }

    pub fn appointment_type(&self, code: &str) -> Option<&AppointmentType> {
        self.types.iter().find(|t| t.code == code)
    }

    /// Bookable starts of `ty` in `[from, to)`, honouring notice and horizon relative to `now`,
    /// earliest first. Busy intervals are not considered here (the store filters them).
    pub fn candidates(&self, ty: &AppointmentType, from: Timestamp, to: Timestamp, now: Timestamp) -> Vec<Candidate> {
        let earliest = from.max(now + SignedDuration::from_mins(self.min_notice_min));
        let latest = to.min(now + SignedDuration::from_hours(24 * self.horizon_days));
        let mut out = Vec::new();
        if earliest >= latest || self.slot_interval_min <= 0 || ty.duration_min <= 0 {
            return out;
        }
        let duration = SignedDuration::from_mins(ty.duration_min);
        let step = SignedDuration::from_mins(self.slot_interval_min);
        // One day of slack each side: a local day can start before `earliest` in UTC.
        let Ok(mut day) = earliest.to_zoned_datetime(self.time_zone.clone()).date().yesterday() else {
            return out;
        };
        let last_day = latest.to_zoned_datetime(self.time_zone.clone()).date();
        while day <= last_day {
            for (open, close) in self.open_intervals(day) {
                let mut start = open;
                while start + duration <= close {
                    if start >= earliest && start < latest {
                        out.push(Candidate {
                            start,
                            end: start + duration,
                        });
                    }
                    start += step;
                }
            }
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
        out.sort_by_key(|c| c.start);
        out.dedup();
        out
    }

    /// Whether `start` is a bookable start of `ty` right now (the booking path re-validates every
    /// slot id the model passes back with this).
    pub fn is_candidate(&self, ty: &AppointmentType, start: Timestamp, now: Timestamp) -> Option<Candidate> {
        let window_end = start + SignedDuration::from_mins(1);
        self.candidates(ty, start, window_end, now)
            .into_iter()
            .find(|c| c.start == start)
    }

    /// Whether a staff member may book `ty` at `start`, and what it would override. Staff may go
    /// under the minimum notice when they say so (`allow_short_notice`); nothing overrides a start
    /// in the past, outside open hours or off the slot grid, on a day off, or past the horizon.
    ///
    /// # Errors
    /// The first [`SlotProblem`] found.
    pub fn check_staff_start(
        &self,
        ty: &AppointmentType,
        start: Timestamp,
        now: Timestamp,
        allow_short_notice: bool,
    ) -> Result<Candidate, SlotProblem> {
        if start < now {
            return Err(SlotProblem::Past);
        }
        let no_notice = Calendar {
            min_notice_min: 0,
            ..self.clone()
        };
        if let Some(c) = no_notice.is_candidate(ty, start, now) {
            let short = start < now + SignedDuration::from_mins(self.min_notice_min);
            return if short && !allow_short_notice {
                Err(SlotProblem::ShortNotice)
            } else {
                Ok(c)
            };
        }
        let day = start.to_zoned_datetime(self.time_zone.clone()).date();
        if self.time_off.contains(&day) {
            Err(SlotProblem::DayOff)
        } else if start >= now + SignedDuration::from_hours(24 * self.horizon_days) {
            Err(SlotProblem::BeyondHorizon)
        } else {
            Err(SlotProblem::Closed)
        }
    }

    /// Whether `[start, end)` lies inside one open interval of its local day (a booked visit still
    /// fits a changed calendar; off-grid starts are fine here, the visit exists already).
    pub fn fits_open_hours(&self, start: Timestamp, end: Timestamp) -> bool {
        let day = start.to_zoned_datetime(self.time_zone.clone()).date();
        [day.yesterday().ok(), Some(day)]
            .into_iter()
            .flatten()
            .flat_map(|d| self.open_intervals(d))
            .any(|(open, close)| open <= start && end <= close)
    }

    /// The open intervals of a local day as instants (none on a day off), for the week view.
    pub fn open_intervals_on(&self, day: Date) -> Vec<(Timestamp, Timestamp)> {
        self.open_intervals(day)
    }

    /// The interval the provider is busy for an appointment `[start, end)`: buffers included.
    pub fn busy_interval(&self, start: Timestamp, end: Timestamp) -> (Timestamp, Timestamp) {
        (
            start - SignedDuration::from_mins(self.buffer_before_min),
            end + SignedDuration::from_mins(self.buffer_after_min),
        )
    }

    /// The day's open intervals as instants (none on a day off).
    fn open_intervals(&self, day: Date) -> Vec<(Timestamp, Timestamp)> {
        if self.time_off.contains(&day) {
            return Vec::new();
        }
        let weekday = day.weekday().to_monday_one_offset();
        self.open_hours
            .iter()
            .filter(|h| h.weekday == weekday)
            .filter_map(|h| Some((self.instant(day, h.opens_min)?, self.instant(day, h.closes_min)?)))
            .filter(|(open, close)| open < close)
            .collect()
    }

    /// The instant of local `minutes` after midnight on `day`. A wall time inside a DST gap
    /// resolves to just after the gap, one inside a fold to its first occurrence (the
    /// "compatible" rule), so opening and closing instants always exist.
    fn instant(&self, day: Date, minutes: i32) -> Option<Timestamp> {
        let (day, minutes) = if minutes >= 1440 {
            (day.tomorrow().ok()?, minutes - 1440)
        } else {
            (day, minutes)
        };
        let time = Time::new(i8::try_from(minutes / 60).ok()?, i8::try_from(minutes % 60).ok()?, 0, 0).ok()?;
        self.time_zone.to_timestamp(DateTime::from_parts(day, time)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekdays_9_to_5(tz: &str) -> Calendar {
        Calendar {
            time_zone: TimeZone::get(tz).expect("tz"),
            open_hours: (1..=5)
                .map(|weekday| OpenHours {
                    weekday,
                    opens_min: 9 * 60,
                    closes_min: 17 * 60,
                })
                .collect(),
            time_off: BTreeSet::new(),
            slot_interval_min: 30,
            min_notice_min: 0,
            horizon_days: 365,
            buffer_before_min: 0,
            buffer_after_min: 0,
            hold_minutes: 5,
            types: vec![AppointmentType {
                code: "std".into(),
                name: "Visit".into(),
                duration_min: 30,
                is_default: true,
            }],
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn local(c: &Candidate, tz: &TimeZone) -> String {
        c.start
            .to_zoned_datetime(tz.clone())
            .strftime("%a %Y-%m-%d %H:%M")
            .to_string()
    }

    /// The week of the US spring-forward change (Sunday 2026-03-08): every weekday has the same 16
    /// wall-clock slots, all distinct instants, 30 minutes apart within a day.
    #[test]
    fn dst_spring_week_keeps_every_wall_clock_slot() {
        let cal = weekdays_9_to_5("America/New_York");
        let ty = cal.default_type().expect("type").clone();
        let slots = cal.candidates(
            &ty,
            ts("2026-03-02T00:00Z"),
            ts("2026-03-14T00:00Z"),
            ts("2026-01-01T00:00Z"),
        );
        assert_eq!(slots.len(), 10 * 16, "ten weekdays of sixteen slots");
        let times: BTreeSet<String> = slots
            .iter()
            .map(|c| {
                c.start
                    .to_zoned_datetime(cal.time_zone.clone())
                    .strftime("%H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(times.len(), 16);
        assert!(times.contains("09:00") && times.contains("16:30") && !times.contains("17:00"));
        // Friday before: 09:00 EST = 14:00Z; Monday after: 09:00 EDT = 13:00Z.
        assert!(slots.iter().any(|c| c.start == ts("2026-03-06T14:00Z")));
        assert!(slots.iter().any(|c| c.start == ts("2026-03-09T13:00Z")));
        let distinct: BTreeSet<Timestamp> = slots.iter().map(|c| c.start).collect();
        assert_eq!(distinct.len(), slots.len(), "no slot doubled");
    }

    /// A line open around the clock through both transitions: the spring night has an hour
    /// less of slots, the autumn night an hour more, and the slots tile elapsed time exactly.
    #[test]
    fn dst_nights_tile_elapsed_time() {
        let mut cal = weekdays_9_to_5("America/New_York");
        cal.open_hours = (1..=7)
            .map(|weekday| OpenHours {
                weekday,
                opens_min: 0,
                closes_min: 4 * 60,
            })
            .collect();
        let ty = cal.default_type().expect("type").clone();
        let tz = cal.time_zone.clone();
        let spring = cal.candidates(
            &ty,
            ts("2026-03-08T04:00Z"),
            ts("2026-03-08T12:00Z"),
            ts("2026-01-01T00:00Z"),
        );
        assert_eq!(
            spring.len(),
            6,
            "{:?}",
            spring.iter().map(|c| local(c, &tz)).collect::<Vec<_>>()
        );
        assert!(
            spring
                .windows(2)
                .all(|w| w[1].start - w[0].start == SignedDuration::from_mins(30))
        );
        let autumn = cal.candidates(
            &ty,
            ts("2026-11-01T03:00Z"),
            ts("2026-11-01T12:00Z"),
            ts("2026-01-01T00:00Z"),
        );
        assert_eq!(
            autumn.len(),
            10,
            "{:?}",
            autumn.iter().map(|c| local(c, &tz)).collect::<Vec<_>>()
        );
        assert!(
            autumn
                .windows(2)
                .all(|w| w[1].start - w[0].start == SignedDuration::from_mins(30))
        );
    }

    #[test]
    fn notice_horizon_and_time_off_are_honoured() {
        let mut cal = weekdays_9_to_5("Europe/Berlin");
        cal.min_notice_min = 120;
        cal.horizon_days = 2;
        let ty = cal.default_type().expect("type").clone();
        // Monday 2026-12-07 10:00 Berlin (09:00Z): notice pushes the first slot to 12:00 local.
        let now = ts("2026-12-07T09:00Z");
        let slots = cal.candidates(&ty, ts("2026-12-01T00:00Z"), ts("2026-12-31T00:00Z"), now);
        assert_eq!(slots.first().map(|c| c.start), Some(ts("2026-12-07T11:00Z")));
        assert!(slots.iter().all(|c| c.start < ts("2026-12-09T09:00Z")), "horizon");
        cal.time_off.insert("2026-12-08".parse().expect("date"));
        let slots = cal.candidates(&ty, ts("2026-12-01T00:00Z"), ts("2026-12-31T00:00Z"), now);
        assert!(
            slots.iter().all(|c| !local(c, &cal.time_zone).starts_with("Tue")),
            "Tuesday is off"
        );
        // The horizon (Wednesday 10:00 local) still leaves Wednesday's 09:00 and 09:30.
        assert_eq!(
            slots
                .iter()
                .filter(|c| local(c, &cal.time_zone).starts_with("Wed"))
                .count(),
            2
        );
    }

    #[test]
    fn is_candidate_rejects_off_grid_closed_and_past_starts() {
        let cal = weekdays_9_to_5("America/Chicago");
        let ty = cal.default_type().expect("type").clone();
        let now = ts("2026-12-01T00:00Z");
        // Monday 2026-12-07 09:30 CST = 15:30Z.
        assert!(cal.is_candidate(&ty, ts("2026-12-07T15:30Z"), now).is_some());
        assert!(
            cal.is_candidate(&ty, ts("2026-12-07T15:35Z"), now).is_none(),
            "off grid"
        );
        assert!(cal.is_candidate(&ty, ts("2026-12-06T15:30Z"), now).is_none(), "Sunday");
        assert!(
            cal.is_candidate(&ty, ts("2026-12-07T23:00Z"), now).is_none(),
            "after close"
        );
        assert!(cal.is_candidate(&ty, ts("2026-11-30T15:30Z"), now).is_none(), "past");
        let long = AppointmentType {
            duration_min: 60,
            ..ty.clone()
        };
        // 16:30 local + 60 min runs past 17:00.
        assert!(cal.is_candidate(&long, ts("2026-12-07T22:30Z"), now).is_none());
    }

    #[test]
    fn busy_interval_includes_buffers() {
        let mut cal = weekdays_9_to_5("UTC");
        cal.buffer_before_min = 5;
        cal.buffer_after_min = 10;
        let (s, e) = cal.busy_interval(ts("2026-12-07T10:00Z"), ts("2026-12-07T10:30Z"));
        assert_eq!((s, e), (ts("2026-12-07T09:55Z"), ts("2026-12-07T10:40Z")));
    }

    #[test]
    fn staff_starts_override_notice_only_when_asked_and_nothing_else() {
        let mut c = weekdays_9_to_5("America/New_York");
        c.min_notice_min = 120;
        c.horizon_days = 30;
        c.time_off.insert("2026-12-10".parse().expect("date"));
        let ty = c.types[0].clone();
        // Monday 2026-12-07 10:00 New York = 15:00Z.
        let now = ts("2026-12-07T15:00:00Z");
        let soon = ts("2026-12-07T16:00:00Z");
        assert_eq!(
            c.check_staff_start(&ty, soon, now, false),
            Err(SlotProblem::ShortNotice)
        );
        assert_eq!(c.check_staff_start(&ty, soon, now, true).map(|x| x.start), Ok(soon));
        let later = ts("2026-12-07T19:00:00Z");
        assert!(c.check_staff_start(&ty, later, now, false).is_ok());
        assert_eq!(
            c.check_staff_start(&ty, ts("2026-12-07T14:00:00Z"), now, true),
            Err(SlotProblem::Past)
        );
        assert_eq!(
            c.check_staff_start(&ty, ts("2026-12-07T23:00:00Z"), now, true),
            Err(SlotProblem::Closed)
        );
        assert_eq!(
            c.check_staff_start(&ty, ts("2026-12-07T19:10:00Z"), now, true),
            Err(SlotProblem::Closed)
        );
        assert_eq!(
            c.check_staff_start(&ty, ts("2026-12-10T15:00:00Z"), now, true),
            Err(SlotProblem::DayOff)
        );
        assert_eq!(
            c.check_staff_start(&ty, ts("2027-01-11T15:00:00Z"), now, true),
            Err(SlotProblem::BeyondHorizon)
        );
    }

    #[test]
    fn fits_open_hours_checks_the_whole_visit() {
        let c = weekdays_9_to_5("America/New_York");
        assert!(c.fits_open_hours(ts("2026-12-07T14:00:00Z"), ts("2026-12-07T14:30:00Z")));
        assert!(c.fits_open_hours(ts("2026-12-07T21:35:00Z"), ts("2026-12-07T22:00:00Z")));
        assert!(!c.fits_open_hours(ts("2026-12-07T21:45:00Z"), ts("2026-12-07T22:15:00Z")));
        assert!(!c.fits_open_hours(ts("2026-12-06T15:00:00Z"), ts("2026-12-06T15:30:00Z")));
    }
}
