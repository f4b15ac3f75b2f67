//! English number words as speech recognition writes them, shared by the date and phone parsers.
//!
//! Owns only exact, lowercase word lookups and the few compositions a date or a phone needs
//! ("twenty first", "sixty one", "oh"). It does not do general number parsing ("one hundred and
//! five thousand"): nothing here needs it, and every extra form is an extra way to misread.

/// English month names, indexed by month - 1 (dates spoken and parsed).
pub const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// English weekday names, Monday first (ISO), indexed by the Monday-zero offset.
pub const WEEKDAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// `one`..`nine`, indexed by value - 1.
const UNITS: [&str; 9] = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/// `ten`..`nineteen`, indexed by value - 10.
const TEENS: [&str; 10] = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];

/// `twenty`..`ninety`, indexed by value / 10 - 2.
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// `first`..`ninth`, indexed by value - 1.
const ORDINAL_UNITS: [&str; 9] = [
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
];

/// `tenth`..`nineteenth`, indexed by value - 10.
const ORDINAL_TEENS: [&str; 10] = [
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
];

/// `twentieth`..`ninetieth`, indexed by value / 10 - 2.
const ORDINAL_TENS: [&str; 8] = [
    "twentieth",
    "thirtieth",
    "fortieth",
    "fiftieth",
    "sixtieth",
    "seventieth",
    "eightieth",
    "ninetieth",
];

fn index_of(table: &[&str], word: &str) -> Option<u8> {
    table.iter().position(|w| *w == word).and_then(|i| u8::try_from(i).ok())
}

/// `one`..`nine` → 1..=9.
pub(super) fn unit(word: &str) -> Option<u8> {
    index_of(&UNITS, word).map(|i| i + 1)
}

/// `ten`..`nineteen` → 10..=19.
pub(super) fn teen(word: &str) -> Option<u8> {
    index_of(&TEENS, word).map(|i| i + 10)
}

/// `twenty`..`ninety` → 20..=90.
pub(super) fn tens(word: &str) -> Option<u8> {
    index_of(&TENS, word).map(|i| (i + 2) * 10)
}

/// How a zero digit is said: `zero`, `oh`, or `o` as some recognisers write "oh".
pub(super) fn is_zero(word: &str) -> bool {
    matches!(word, "zero" | "oh" | "o")
}

/// A single spoken digit (phones): `zero`/`oh`/`o` → 0, `one`..`nine` → 1..=9.
pub(super) fn digit(word: &str) -> Option<u8> {
    if is_zero(word) { Some(0) } else { unit(word) }
}

/// A cardinal 1..=99 said as words: `nine`, `nineteen`, `sixty`, `sixty one`.
pub(super) fn cardinal_below_100(tokens: &[&str]) -> Option<u8> {
    match tokens {
        [w] => unit(w).or_else(|| teen(w)).or_else(|| tens(w)),
        [t, u] => Some(tens(t)? + unit(u)?),
        _ => None,
    }
}

/// An ordinal 1..=99 said as words: `ninth`, `nineteenth`, `twentieth`, `twenty first`.
pub(super) fn ordinal_below_100(tokens: &[&str]) -> Option<u8> {
    match tokens {
        [w] => index_of(&ORDINAL_UNITS, w)
            .map(|i| i + 1)
            .or_else(|| index_of(&ORDINAL_TEENS, w).map(|i| i + 10))
            .or_else(|| index_of(&ORDINAL_TENS, w).map(|i| (i + 2) * 10)),
        [t, u] => Some(tens(t)? + index_of(&ORDINAL_UNITS, u)? + 1),
        _ => None,
    }
}

/// `n` (1..=99) as cardinal words, for speaking times: `7` → "seven", `45` → "forty five".
pub fn cardinal(n: u8) -> Option<String> {
    Some(match n {
        1..=9 => UNITS[usize::from(n - 1)].to_owned(),
        10..=19 => TEENS[usize::from(n - 10)].to_owned(),
        20..=99 if n.is_multiple_of(10) => TENS[usize::from(n / 10 - 2)].to_owned(),
        20..=99 => format!("{} {}", TENS[usize::from(n / 10 - 2)], UNITS[usize::from(n % 10 - 1)]),
        _ => return None,
    })
}

/// `n` (1..=99) as ordinal words, for speaking dates: `7` → "seventh", `21` → "twenty first".
pub fn ordinal(n: u8) -> Option<String> {
    Some(match n {
        1..=9 => ORDINAL_UNITS[usize::from(n - 1)].to_owned(),
        10..=19 => ORDINAL_TEENS[usize::from(n - 10)].to_owned(),
        20..=99 if n.is_multiple_of(10) => ORDINAL_TENS[usize::from(n / 10 - 2)].to_owned(),
        20..=99 => format!(
            "{} {}",
            TENS[usize::from(n / 10 - 2)],
            ORDINAL_UNITS[usize::from(n % 10 - 1)]
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cardinals_and_ordinals_cover_1_to_99() {
        for n in 1..=99u8 {
            let words: Vec<&str> = match n {
                1..=9 => vec![UNITS[usize::from(n - 1)]],
                10..=19 => vec![TEENS[usize::from(n - 10)]],
                _ if n % 10 == 0 => vec![TENS[usize::from(n / 10 - 2)]],
                _ => vec![TENS[usize::from(n / 10 - 2)], UNITS[usize::from(n % 10 - 1)]],
            };
            assert_eq!(cardinal_below_100(&words), Some(n), "{words:?}");
        }
        assert_eq!(ordinal_below_100(&["ninth"]), Some(9));
        assert_eq!(ordinal_below_100(&["twelfth"]), Some(12));
        assert_eq!(ordinal_below_100(&["thirtieth"]), Some(30));
        assert_eq!(ordinal_below_100(&["twenty", "first"]), Some(21));
        assert_eq!(ordinal_below_100(&["thirty", "first"]), Some(31));
    }

    #[test]
    fn malformed_compositions_are_rejected() {
        assert_eq!(cardinal_below_100(&[]), None);
        assert_eq!(cardinal_below_100(&["twenty", "nineteen"]), None);
        assert_eq!(cardinal_below_100(&["nine", "twenty"]), None);
        assert_eq!(cardinal_below_100(&["twenty", "first"]), None);
        assert_eq!(ordinal_below_100(&["twenty", "one"]), None);
        assert_eq!(ordinal_below_100(&["twentieth", "first"]), None);
        assert_eq!(cardinal_below_100(&["one", "two", "three"]), None);
    }

    #[test]
    fn spoken_digits() {
        assert_eq!(digit("oh"), Some(0));
        assert_eq!(digit("o"), Some(0));
        assert_eq!(digit("zero"), Some(0));
        assert_eq!(digit("seven"), Some(7));
        assert_eq!(digit("ten"), None);
        assert_eq!(digit("seventh"), None);
    }
}
