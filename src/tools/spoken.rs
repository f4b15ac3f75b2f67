//! Times and dates as the agent should say them: words, in the location's time zone.
//!
//! The model reads what the tools return; a "2026-12-07T15:00:00Z" invites it to do time-zone
//! arithmetic aloud and get it wrong. Tools hand it "Monday, December seventh, at ten a.m." instead.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::domain::words::{MONTH_NAMES, WEEKDAY_NAMES as WEEKDAYS, cardinal, ordinal};

/// "Monday, December seventh, at ten thirty a.m." in `tz`.
pub fn when(t: Timestamp, tz: &TimeZone) -> String {
    let z = t.to_zoned_datetime(tz.clone());
    let weekday = WEEKDAYS[usize::from(z.weekday().to_monday_zero_offset().unsigned_abs())];
    let month = MONTH_NAMES[usize::from(z.month().unsigned_abs().saturating_sub(1)).min(11)];
    let day = ordinal(z.day().unsigned_abs()).unwrap_or_default();
    format!(
        "{weekday}, {month} {day}, at {}",
        clock_time(z.hour().unsigned_abs(), z.minute().unsigned_abs())
    )
}

/// "ten a.m.", "two thirty p.m.", "nine oh five a.m.", "twelve noon".
pub fn clock_time(hour: u8, minute: u8) -> String {
    if hour == 12 && minute == 0 {
        return "twelve noon".to_owned();
    }
    if hour == 0 && minute == 0 {
        return "midnight".to_owned();
    }
    let suffix = if hour < 12 { "a.m." } else { "p.m." };
    let h12 = match hour % 12 {
        0 => 12,
        h => h,
    };
    let hour_words = cardinal(h12).unwrap_or_default();
    match minute {
        0 => format!("{hour_words} {suffix}"),
        1..=9 => format!("{hour_words} oh {} {suffix}", cardinal(minute).unwrap_or_default()),
        _ => format!("{hour_words} {} {suffix}", cardinal(minute).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_spoken_in_the_location_zone() {
        let t: Timestamp = "2026-12-07T15:30:00Z".parse().unwrap();
        let ny = TimeZone::get("America/New_York").unwrap();
        assert_eq!(when(t, &ny), "Monday, December seventh, at ten thirty a.m.");
        let chicago = TimeZone::get("America/Chicago").unwrap();
        assert_eq!(when(t, &chicago), "Monday, December seventh, at nine thirty a.m.");
        let t: Timestamp = "2027-03-21T16:05:00Z".parse().unwrap();
        assert_eq!(
            when(t, &TimeZone::UTC),
            "Sunday, March twenty first, at four oh five p.m."
        );
    }

    #[test]
    fn clock_edges() {
        assert_eq!(clock_time(12, 0), "twelve noon");
        assert_eq!(clock_time(0, 0), "midnight");
        assert_eq!(clock_time(0, 30), "twelve thirty a.m.");
        assert_eq!(clock_time(12, 45), "twelve forty five p.m.");
        assert_eq!(clock_time(23, 59), "eleven fifty nine p.m.");
    }
}
