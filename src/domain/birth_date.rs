//! [`DateOfBirth`]: a calendar date as a caller says it or a model writes it, validated.
//!
//! Owns recognising the common spellings (ISO, US numeric, month names, spoken English), the
//! Gregorian calendar rules, and the two renderings we need (ISO for the EHR, spoken for reading
//! back). Does not own the clock: "today" is an input, so tests and the state machine stay pure.
//!
//! Deliberately refused because they are ambiguous: two-digit years ("4/9/61": 1961 or 2061?),
//! dotted dates with the year last ("09.04.1961" is 9 April in most of Europe, September 4 in the
//! US reading), and bare digit runs ("04091961" or "19610409"). The agent asks again instead.

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::{DomainError, deserialize_parsed, words};

/// Earliest accepted birth year: no living patient was born earlier, and older years are far
/// more likely a misheard year than a real one.
const MIN_YEAR: u16 = 1900;

/// Latest year `parse` accepts without knowing today's date; `parse_with_today` is the real check.
const MAX_YEAR: u16 = 2100;

/// Longest accepted input in bytes. "the twenty seventh of september nineteen hundred and
/// seventy seven" is 70; anything much longer is a sentence, not a date.
const MAX_DATE_INPUT: usize = 120;

/// Words dropped before reading a worded date ("the ninth of April", "two thousand and five").
const FILLER_WORDS: [&str; 3] = ["the", "of", "and"];

/// A date of birth. `Debug` and `Display` print `[redacted date of birth]`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DateOfBirth {
    /// 1900..=2100 (and not after today when parsed with [`DateOfBirth::parse_with_today`]).
    year: u16,
    /// 1..=12.
    month: u8,
    /// 1..=the length of the month in that year.
    day: u8,
}

impl DateOfBirth {
    /// Reads a date as a caller or a model writes it:
    /// - ISO `1961-04-09` (also `1961-4-9`, `1961/04/09`, `1961.04.09`);
    /// - US month first `04/09/1961`, `4/9/1961`, `4-9-1961`;
    /// - month names, full or abbreviated, either order: `April 9, 1961`, `9 April 1961`,
    ///   `April 9th 1961`, `Apr. 9 1961`, `the 9th of April, 1961`;
    /// - spoken: `april ninth nineteen sixty one`, `the twenty first of march nineteen sixty-one`,
    ///   `july fourth two thousand and five`, `june thirtieth twenty oh five`, `nineteen hundred`.
    ///
    /// Checks the calendar (leap years included) and the year range 1900..=2100. Use
    /// [`DateOfBirth::parse_with_today`] to also refuse future dates.
    ///
    /// # Errors
    /// [`DomainError::BirthDate`]; the error does not contain the input.
    pub fn parse(raw: &str) -> Result<DateOfBirth, DomainError> {
        let (year, month, day) = recognise(raw).ok_or(DomainError::BirthDate)?;
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) || !(1..=12).contains(&month) {
            return Err(DomainError::BirthDate);
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(DomainError::BirthDate);
        }
        Ok(DateOfBirth { year, month, day })
    }

    /// [`DateOfBirth::parse`], and the date must not be after `today` (`(year, month, day)` in the
    /// clinic's calendar; see [`utc_date_from_unix`]).
    ///
    /// # Errors
    /// [`DomainError::BirthDate`] as for `parse`; [`DomainError::FutureBirthDate`] for a valid date
    /// after `today`.
    pub fn parse_with_today(raw: &str, today: (u16, u8, u8)) -> Result<DateOfBirth, DomainError> {
        let date = DateOfBirth::parse(raw)?;
        if (date.year, date.month, date.day) > today {
            return Err(DomainError::FutureBirthDate);
        }
        Ok(date)
    }

    /// `1961-04-09`. Explicit so every use is greppable: for EHR queries.
    pub fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `April 9, 1961`. Explicit so every use is greppable: for reading back to a verified caller.
    pub fn spoken(&self) -> String {
        format!(
            "{} {}, {}",
            super::words::MONTH_NAMES[usize::from(self.month - 1)],
            self.day,
            self.year
        )
    }
}

impl fmt::Debug for DateOfBirth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted date of birth]")
    }
}

impl fmt::Display for DateOfBirth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted date of birth]")
    }
}

impl<'de> Deserialize<'de> for DateOfBirth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(
            deserializer,
            "a date of birth as a string",
            DateOfBirth::parse,
            DomainError::BirthDate,
            false,
        )
    }
}

/// The UTC calendar date `(year, month, day)` of a Unix timestamp, for
/// [`DateOfBirth::parse_with_today`] from `Clock::now_unix()`. UTC runs ahead of US clinics, so
/// near midnight this accepts a birth date of "tomorrow" local time, never refuses a real one.
pub fn utc_date_from_unix(unix_secs: u64) -> (u16, u8, u8) {
    // Howard Hinnant's civil_from_days, on days since 1970-01-01 (non-negative here).
    let z = unix_secs / 86_400 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    // Day and month are bounded by the algorithm (1..=31, 1..=12); the year saturates.
    (
        u16::try_from(year).unwrap_or(u16::MAX),
        day_or_month(month),
        day_or_month(day),
    )
}

fn day_or_month(v: u64) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}

/// Gregorian leap year: every 4th year, except centuries not divisible by 400 (1900 is not, 2000 is).
fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Days in `month` (1..=12) of `year`; 0 for a month that does not exist.
fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// `(year, month, day)` as written, not yet checked against the calendar.
fn recognise(raw: &str) -> Option<(u16, u8, u8)> {
    let s = raw.trim();
    if s.is_empty() || s.len() > MAX_DATE_INPUT {
        return None;
    }
    if s.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '/' | '.')) {
        numeric(s)
    } else {
        worded(&s.to_lowercase())
    }
}

/// `Y-M-D` with `-`, `/` or `.`; `M/D/Y` or `M-D-Y` (US order). Years have four digits, months
/// and days one or two, and the same separator is used twice.
fn numeric(s: &str) -> Option<(u16, u8, u8)> {
    let separator = s.chars().find(|c| !c.is_ascii_digit())?;
    let parts: Vec<&str> = s.split(separator).collect();
    let [a, b, c] = parts[..] else {
        return None;
    };
    if [a, b, c]
        .iter()
        .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let short = |p: &str| p.len() <= 2;
    if a.len() == 4 && short(b) && short(c) {
        Some((a.parse().ok()?, b.parse().ok()?, c.parse().ok()?))
    } else if c.len() == 4 && short(a) && short(b) && separator != '.' {
        Some((c.parse().ok()?, a.parse().ok()?, b.parse().ok()?))
    } else {
        None
    }
}

/// A date with a month name: `<day> <month> <year>` or `<month> <day> <year>`, where day and year
/// are digits or English words, after dropping punctuation and filler words.
fn worded(lower: &str) -> Option<(u16, u8, u8)> {
    let tokens: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && !FILLER_WORDS.contains(t))
        .collect();
    let mut months = tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| month_number(t).map(|m| (i, m)));
    let (at, month) = months.next()?;
    if months.next().is_some() {
        return None;
    }
    let (before, after) = (&tokens[..at], &tokens[at + 1..]);
    let (day, year) = if before.is_empty() {
        // Month first. Spoken, nothing separates the day from the year ("april twenty first
        // nineteen sixty one"), so try the day as one or two words and require a single reading.
        let mut reading = None;
        for day_words in 1..=2 {
            if day_words >= after.len() {
                break;
            }
            if let (Some(day), Some(year)) = (day_of_month(&after[..day_words]), year(&after[day_words..])) {
                if reading.is_some_and(|r| r != (day, year)) {
                    return None;
                }
                reading = Some((day, year));
            }
        }
        reading?
    } else {
        (day_of_month(before)?, year(after)?)
    };
    Some((year, month, day))
}

/// January..December, full or as the usual abbreviations (including "sept").
fn month_number(word: &str) -> Option<u8> {
    let month = match word {
        "january" | "jan" => 1,
        "february" | "feb" => 2,
        "march" | "mar" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" | "jun" => 6,
        "july" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sept" | "sep" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    };
    Some(month)
}

/// 1..=31 as `9`, `09`, `9th`, `21st`, `nine`, `ninth`, `twenty one`, `twenty first`.
fn day_of_month(tokens: &[&str]) -> Option<u8> {
    let day = match tokens {
        [t] if t.starts_with(|c: char| c.is_ascii_digit()) => {
            let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            let (digits, suffix) = t.split_at(digits_end);
            if digits.len() > 2 || !matches!(suffix, "" | "st" | "nd" | "rd" | "th") {
                return None;
            }
            digits.parse().ok()?
        }
        _ => words::ordinal_below_100(tokens).or_else(|| words::cardinal_below_100(tokens))?,
    };
    (1..=31).contains(&day).then_some(day)
}

/// Four digits, or a year said in words (see [`spoken_year`]).
fn year(tokens: &[&str]) -> Option<u16> {
    match tokens {
        [t] if t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()) => t.parse().ok(),
        _ => spoken_year(tokens),
    }
}

/// The ways English speakers say years: `nineteen sixty one`, `nineteen oh five`, `nineteen
/// hundred`, `nineteen hundred sixty one`, `two thousand`, `two thousand fifteen`, `twenty
/// fifteen`, `twenty oh five`. Not `nineteen five` or `one nine six one`.
fn spoken_year(tokens: &[&str]) -> Option<u16> {
    if let ["two", "thousand", rest @ ..] = tokens {
        return match rest {
            [] => Some(2000),
            _ => words::cardinal_below_100(rest).map(|n| 2000 + u16::from(n)),
        };
    }
    let (first, rest) = tokens.split_first()?;
    let century = match words::teen(first) {
        Some(c) => c,
        None if *first == "twenty" => 20,
        None => return None,
    };
    let within = match rest {
        ["hundred"] => 0,
        ["hundred", rest @ ..] => words::cardinal_below_100(rest)?,
        [zero, unit] if words::is_zero(zero) => words::unit(unit)?,
        _ => words::cardinal_below_100(rest).filter(|n| *n >= 10)?,
    };
    Some(u16::from(century) * 100 + u16::from(within))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{BytesDeserializer, Error as ValueError, StrDeserializer, U64Deserializer};

    fn ymd(raw: &str) -> (u16, u8, u8) {
        let d = DateOfBirth::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        (d.year, d.month, d.day)
    }

    #[test]
    fn accepts_every_documented_format() {
        for raw in [
            "1961-04-09",
            "1961-4-9",
            "1961/04/09",
            "1961.04.09",
            " 1961-04-09 ",
            "04/09/1961",
            "4/9/1961",
            "04-09-1961",
            "April 9, 1961",
            "april 9 1961",
            "APRIL 9, 1961",
            "9 April 1961",
            "9 April, 1961",
            "April 9th 1961",
            "April 9th, 1961.",
            "Apr 9 1961",
            "Apr. 9, 1961",
            "9-Apr-1961",
            "the 9th of April, 1961",
            "April the 9th, 1961",
            "april ninth nineteen sixty one",
            "april ninth nineteen sixty-one",
            "April nine, nineteen sixty-one",
            "the ninth of april nineteen sixty one",
            "nine april nineteen sixty one",
            "April 9, nineteen sixty-one",
            "april ninth 1961",
            "april nine nineteen hundred sixty one",
            "april nine nineteen hundred and sixty one",
        ] {
            assert_eq!(ymd(raw), (1961, 4, 9), "{raw:?}");
        }
    }

    #[test]
    fn spoken_days_and_years() {
        for (raw, want) in [
            (
                "the twenty first of september nineteen hundred and sixty one",
                (1961, 9, 21),
            ),
            ("march twenty first nineteen sixty one", (1961, 3, 21)),
            ("march twenty one nineteen sixty one", (1961, 3, 21)),
            ("may twenty nineteen ninety", (1990, 5, 20)),
            ("may twentieth nineteen ninety", (1990, 5, 20)),
            ("december thirty first nineteen ninety nine", (1999, 12, 31)),
            ("january first two thousand", (2000, 1, 1)),
            ("january 1st 2000", (2000, 1, 1)),
            ("july fourth two thousand and five", (2005, 7, 4)),
            ("july fourth two thousand five", (2005, 7, 4)),
            ("july fourth twenty oh five", (2005, 7, 4)),
            ("june thirtieth twenty o five", (2005, 6, 30)),
            ("june 30 twenty twenty", (2020, 6, 30)),
            ("june twenty twenty twenty", (2020, 6, 20)),
            ("june twenty one twenty twenty", (2020, 6, 21)),
            ("august second two thousand twenty three", (2023, 8, 2)),
            ("october tenth nineteen oh one", (1901, 10, 10)),
            ("february second nineteen hundred", (1900, 2, 2)),
            ("sept 3 1975", (1975, 9, 3)),
            ("3rd Sep 1975", (1975, 9, 3)),
            ("22nd of Feb 1980", (1980, 2, 22)),
            ("February 29, 2000", (2000, 2, 29)),
            ("2/29/2000", (2000, 2, 29)),
            ("2100-12-31", (2100, 12, 31)),
            ("1900-01-01", (1900, 1, 1)),
        ] {
            assert_eq!(ymd(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn rejects_invalid_and_ambiguous_dates() {
        for raw in [
            "",
            "   ",
            "hello",
            "yesterday",
            "1961-02-29",
            "02/29/1961",
            "February 29, 1961",
            "1900-02-29",
            "2000-02-30",
            "02/30/2000",
            "13/01/1961",
            "1961-13-01",
            "1961-00-10",
            "00/10/1961",
            "04/00/1961",
            "04/31/1961",
            "April 31, 1961",
            "April 32, 1961",
            "April 0, 1961",
            "1899-12-31",
            "2101-01-01",
            "4/9/61",
            "April 9, '61",
            "19610409",
            "04091961",
            "09.04.1961",
            "1961-04/09",
            "1961--04-09",
            "1961-04-09-01",
            "1961-004-09",
            "04/09/01961",
            "April 1961",
            "April 9",
            "9 1961",
            "April May 9 1961",
            "April 9 1961 April",
            "april ninth nineteen",
            "april ninth nineteen five",
            "april ninth one nine six one",
            "april ninth sixty one",
            "april 9x 1961",
            "april 123 1961",
            "1961 April 9",
            "April 9, 1961 at noon",
            "1961-04-09T00:00:00Z",
            "٠٤/٠٩/١٩٦١",
        ] {
            assert_eq!(DateOfBirth::parse(raw), Err(DomainError::BirthDate), "{raw:?}");
        }
        assert_eq!(
            DateOfBirth::parse(&format!("April 9, 1961{}", " ".repeat(MAX_DATE_INPUT))),
            Ok(DateOfBirth {
                year: 1961,
                month: 4,
                day: 9
            }),
            "surrounding whitespace is trimmed before the length check"
        );
        let long = format!("April 9, {} 1961", "and ".repeat(40));
        assert_eq!(DateOfBirth::parse(&long), Err(DomainError::BirthDate));
    }

    #[test]
    fn future_dates_are_refused_against_today() {
        let today = (2025, 6, 15);
        assert!(DateOfBirth::parse_with_today("2025-06-15", today).is_ok(), "born today");
        assert!(DateOfBirth::parse_with_today("1961-04-09", today).is_ok());
        for raw in ["2025-06-16", "2025-07-01", "2026-01-01", "December 31, 2099"] {
            assert_eq!(
                DateOfBirth::parse_with_today(raw, today),
                Err(DomainError::FutureBirthDate),
                "{raw:?}"
            );
        }
        assert_eq!(
            DateOfBirth::parse_with_today("2025-02-30", today),
            Err(DomainError::BirthDate),
            "an impossible date is invalid, not future"
        );
        assert!(
            DateOfBirth::parse("2099-12-31").is_ok(),
            "parse alone only bounds at 2100"
        );
    }

    #[test]
    fn renderings() {
        let d = DateOfBirth::parse("april ninth nineteen sixty one").unwrap();
        assert_eq!(d.iso(), "1961-04-09");
        assert_eq!(d.spoken(), "April 9, 1961");
        assert_eq!(DateOfBirth::parse("12/31/1999").unwrap().spoken(), "December 31, 1999");
    }

    #[test]
    fn leap_years() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(1996));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2100));
        assert!(!is_leap_year(1961));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2023, 13), 0);
    }

    /// Every day from 1900-01-01 through 2030-12-31, in order.
    fn every_day() -> impl Iterator<Item = (u16, u8, u8)> {
        (1900..=2030u16).flat_map(|y| (1..=12u8).flat_map(move |m| (1..=days_in_month(y, m)).map(move |d| (y, m, d))))
    }

    #[test]
    fn every_day_round_trips_through_each_rendering() {
        let mut count = 0;
        for (y, m, d) in every_day() {
            let date = DateOfBirth {
                year: y,
                month: m,
                day: d,
            };
            assert_eq!(DateOfBirth::parse(&date.iso()), Ok(date.clone()), "{y}-{m}-{d} iso");
            assert_eq!(
                DateOfBirth::parse(&date.spoken()),
                Ok(date.clone()),
                "{y}-{m}-{d} spoken"
            );
            assert_eq!(
                DateOfBirth::parse(&format!("{m}/{d}/{y}")),
                Ok(date.clone()),
                "{y}-{m}-{d} US"
            );
            count += 1;
        }
        // 131 years of 365 days plus the 32 leap days from 1904 to 2028 (1900 is not leap).
        assert_eq!(count, 131 * 365 + 32);
    }

    #[test]
    fn calendar_agrees_with_the_unix_day_count() {
        let days_since_1970 = every_day().skip_while(|&(y, _, _)| y < 1970);
        for (n, date) in days_since_1970.enumerate() {
            let secs = n as u64 * 86_400 + 86_399;
            assert_eq!(utc_date_from_unix(secs), date, "day {n}");
        }
        assert_eq!(utc_date_from_unix(0), (1970, 1, 1));
        assert_eq!(utc_date_from_unix(951_782_400), (2000, 2, 29));
    }

    fn assert_no_phi(what: &str, text: &str) {
        let lower = text.to_lowercase();
        for r in ["1961", "04/09", "4/9", "04-09", "april", "ninth", "sixty"] {
            assert!(!lower.contains(r), "{what} leaks the date ({r:?}): {text:?}");
        }
    }

    #[test]
    fn debug_display_and_errors_never_show_the_date() {
        let d = DateOfBirth::parse("1961-04-09").unwrap();
        assert_eq!(format!("{d:?}"), "[redacted date of birth]");
        assert_eq!(format!("{d}"), "[redacted date of birth]");
        assert_no_phi("pretty debug", &format!("{:#?}", Some(&d)));
        for bad in ["1961-02-30", "April 31, 1961", "april ninth nineteen sixty one hundred"] {
            let r = DateOfBirth::parse(bad);
            assert_no_phi("result", &format!("{r:?} {}", r.clone().unwrap_err()));
        }
        let r = DateOfBirth::parse_with_today("04/09/1961", (1961, 4, 8));
        assert_eq!(r, Err(DomainError::FutureBirthDate));
        assert_no_phi("future", &format!("{r:?} {}", r.clone().unwrap_err()));
    }

    #[test]
    fn deserializes_through_parse_without_echoing_input() {
        let d = DateOfBirth::deserialize(StrDeserializer::<ValueError>::new("April 9, 1961")).unwrap();
        assert_eq!(d.iso(), "1961-04-09");
        for bad in ["April 31, 1961", "04/09/61"] {
            let e = DateOfBirth::deserialize(StrDeserializer::<ValueError>::new(bad)).unwrap_err();
            assert_eq!(e.to_string(), "date of birth is not a valid date");
        }
        let e = DateOfBirth::deserialize(U64Deserializer::<ValueError>::new(19610409)).unwrap_err();
        assert_eq!(e.to_string(), "date of birth is not a valid date");
        let e = DateOfBirth::deserialize(BytesDeserializer::<ValueError>::new(b"1961-04-09")).unwrap_err();
        assert_no_phi("bytes", &format!("{e} {e:?}"));
    }
}
