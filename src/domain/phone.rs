//! [`PhoneNumber`]: a phone number as typed or spoken, normalised to E.164.
//!
//! Owns recognising the usual written forms and spoken digits, and the NANP default (the clinic
//! is in the US: a bare 10-digit number is `+1`). Does not own carrier lookups or whether a number
//! is in service, and does not guess at international dialling prefixes (`011 …`).

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::{DomainError, deserialize_parsed, words};

/// Longest accepted input in bytes: "plus one five five five zero one three two seven four
/// eight" is 62; spoken with "double"/"triple" and separators it stays well under this.
const MAX_PHONE_INPUT: usize = 160;

/// Fewest digits (country code included) of a `+` number: the shortest numbering plans in use.
const MIN_E164_DIGITS: usize = 8;

/// Most digits (country code included) of any number: the E.164 maximum.
const MAX_E164_DIGITS: usize = 15;

/// A phone number in E.164 (`+15550132748`). `Debug` and `Display` print `[redacted phone]`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    /// `+` and 8..=15 digits; for country code 1, exactly 11 digits with an area code that does
    /// not start with 0 or 1.
    e164: String,
}

impl PhoneNumber {
    /// Reads a phone number: `(555) 013-2748`, `555.013.2748`, `555-013-2748`, `5550132748`,
    /// `1 555 013 2748`, `+1 555 013 2748`, `+44 20 7946 0958`, and spoken digits such as
    /// `five five five zero one three two seven four eight` (`oh`/`o` for zero, `double`/`triple`
    /// before a digit, `plus` for `+`), also mixed with written digits.
    ///
    /// Without `+`: 10 digits are a NANP number (`+1…`), 11 digits starting with 1 likewise; with
    /// `+`: 8..=15 digits, the country code not starting with 0. NANP numbers must have an area
    /// code starting with 2..9 (a leading 0 or 1 is a misheard or misplaced digit).
    ///
    /// # Errors
    /// [`DomainError::Phone`] for any other digit count and for letters that are not digit words
    /// (`1-800-FLOWERS`, extensions); the error does not contain the input.
    pub fn parse(raw: &str) -> Result<PhoneNumber, DomainError> {
        if raw.len() > MAX_PHONE_INPUT {
            return Err(DomainError::Phone);
        }
        let (plus, digits) = read_digits(raw).ok_or(DomainError::Phone)?;
        let national = if plus {
            if !(MIN_E164_DIGITS..=MAX_E164_DIGITS).contains(&digits.len()) || digits.starts_with('0') {
                return Err(DomainError::Phone);
            }
            digits
        } else {
            match digits.len() {
                10 => format!("1{digits}"),
                11 if digits.starts_with('1') => digits,
                _ => return Err(DomainError::Phone),
            }
        };
        if let Some(nanp) = national.strip_prefix('1')
            && (nanp.len() != 10 || nanp.starts_with(['0', '1']))
        {
            return Err(DomainError::Phone);
        }
        Ok(PhoneNumber {
            e164: format!("+{national}"),
        })
    }

    /// `+15550132748`. Explicit so every use is greppable.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// The last four digits, for the staff UI only.
    pub fn last4(&self) -> &str {
        // E.164 here always has at least MIN_E164_DIGITS ASCII digits after the '+'.
        &self.e164[self.e164.len() - 4..]
    }
}

/// Whether the input started with `+` (or the word `plus`), and its digits in order. `None` for
/// anything that is not a digit, a digit word, `double`/`triple` before a digit, or a separator.
fn read_digits(raw: &str) -> Option<(bool, String)> {
    let lower = raw.trim().to_ascii_lowercase();
    let mut plus = false;
    let mut digits = String::new();
    // How many times the next digit counts ("double five").
    let mut repeat: Option<usize> = None;
    let mut rest = lower.as_str();
    while let Some(c) = rest.chars().next() {
        if c.is_ascii_alphabetic() {
            let end = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
            let (word, after) = rest.split_at(end);
            rest = after;
            match word {
                "plus" if !plus && digits.is_empty() && repeat.is_none() => plus = true,
                "double" if repeat.is_none() => repeat = Some(2),
                "triple" if repeat.is_none() => repeat = Some(3),
                _ => push_digit(&mut digits, words::digit(word)?, repeat.take()),
            }
        } else {
            rest = &rest[c.len_utf8()..];
            match c {
                '0'..='9' => push_digit(&mut digits, c as u8 - b'0', repeat.take()),
                '+' if !plus && digits.is_empty() && repeat.is_none() => plus = true,
                ' ' | '\t' | '(' | ')' | '-' | '.' | ',' => {}
                _ => return None,
            }
        }
        if digits.len() > MAX_E164_DIGITS {
            return None;
        }
    }
    if repeat.is_some() {
        return None;
    }
    Some((plus, digits))
}

/// Appends `digit` once, or `repeat` times after "double"/"triple".
fn push_digit(digits: &mut String, digit: u8, repeat: Option<usize>) {
    for _ in 0..repeat.unwrap_or(1) {
        digits.push(char::from(b'0' + digit));
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted phone]")
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted phone]")
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    /// Accepts a string, or an unsigned integer (a model may write the digits unquoted).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(
            deserializer,
            "a phone number as a string",
            PhoneNumber::parse,
            DomainError::Phone,
            true,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{BytesDeserializer, Error as ValueError, F64Deserializer, StrDeserializer, U64Deserializer};

    fn e164(raw: &str) -> String {
        PhoneNumber::parse(raw)
            .unwrap_or_else(|e| panic!("{raw:?}: {e}"))
            .e164()
            .to_owned()
    }

    #[test]
    fn accepts_written_and_spoken_forms() {
        for raw in [
            "(555) 013-2748",
            "555.013.2748",
            "555-013-2748",
            "555 013 2748",
            "5550132748",
            " 5550132748 ",
            "15550132748",
            "1-555-013-2748",
            "1 (555) 013-2748",
            "+1 555 013 2748",
            "+1 (555) 013-2748",
            "+15550132748",
            "+1-555-013-2748",
            "five five five zero one three two seven four eight",
            "Five Five Five, Oh One Three, Two Seven Four Eight",
            "five-five-five o-one-three two-seven-four-eight",
            "triple five oh one three two seven four eight",
            "555 oh one three 2748",
            "one five five five zero one three two seven four eight",
            "plus one five five five zero one three two seven four eight",
        ] {
            assert_eq!(e164(raw), "+15550132748", "{raw:?}");
        }
        assert_eq!(e164("double five five 013 2748"), "+15550132748");
        assert_eq!(e164("+44 20 7946 0958"), "+442079460958");
        assert_eq!(e164("+49 30 901820"), "+4930901820");
        assert_eq!(e164("+493456789012345"), "+493456789012345");
        assert_eq!(e164("+49309012"), "+49309012");
    }

    #[test]
    fn rejects_wrong_lengths_letters_and_impossible_numbers() {
        for raw in [
            "",
            "   ",
            "555-0132",
            "555 013 274",
            "555 013 27489",
            "25550132748",
            "555013274899",
            "+1 555 013 274",
            "+1 555 013 27489",
            "+1234567",
            "+1234567890123456",
            "+0 555 013 2748",
            "055 013 2748",
            "155 013 2748",
            "1 055 013 2748",
            "555-013-CALL",
            "1-800-FLOWERS",
            "555 013 2748 x12",
            "555 013 2748 ext 12",
            "five five five zero one three two seven four ate",
            "fivefive five zero one three two seven four eight",
            "five five five zero one three two seven four",
            "555 013 2748 double",
            "double double 5 013 2748",
            "555 013 2748 +",
            "5+55 013 2748",
            "++1 555 013 2748",
            "plus plus 1 555 013 2748",
            "555_013_2748",
            "555/013/2748",
            "５５５０１３２７４８",
            "٥٥٥٠١٣٢٧٤٨",
            "tel:+15550132748",
        ] {
            assert_eq!(PhoneNumber::parse(raw), Err(DomainError::Phone), "{raw:?}");
        }
        assert_eq!(
            PhoneNumber::parse(&"5".repeat(10_000)),
            Err(DomainError::Phone),
            "long input is refused early"
        );
    }

    #[test]
    fn accessors() {
        let p = PhoneNumber::parse("(555) 013-2748").unwrap();
        assert_eq!(p.e164(), "+15550132748");
        assert_eq!(p.last4(), "2748");
        assert_eq!(
            p,
            PhoneNumber::parse("five five five zero one three two seven four eight").unwrap()
        );
    }

    fn assert_no_phi(what: &str, text: &str) {
        for r in ["5550132748", "555", "013", "2748", "0132748"] {
            assert!(!text.contains(r), "{what} leaks the phone ({r:?}): {text:?}");
        }
    }

    #[test]
    fn debug_display_and_errors_never_show_the_number() {
        let p = PhoneNumber::parse("+1 555 013 2748").unwrap();
        assert_eq!(format!("{p:?}"), "[redacted phone]");
        assert_eq!(format!("{p}"), "[redacted phone]");
        assert_no_phi("pretty debug", &format!("{:#?}", Some(&p)));
        for bad in ["555 013 27480", "555-013-2748 x555", "+0 555 013 2748"] {
            let r = PhoneNumber::parse(bad);
            assert_no_phi("result", &format!("{r:?} {}", r.clone().unwrap_err()));
        }
    }

    #[test]
    fn deserializes_strings_and_integers_without_echoing_input() {
        let p = PhoneNumber::deserialize(StrDeserializer::<ValueError>::new("(555) 013-2748")).unwrap();
        assert_eq!(p.e164(), "+15550132748");
        let p = PhoneNumber::deserialize(U64Deserializer::<ValueError>::new(5550132748)).unwrap();
        assert_eq!(p.e164(), "+15550132748");

        let e = PhoneNumber::deserialize(StrDeserializer::<ValueError>::new("555 013 27480")).unwrap_err();
        assert_eq!(e.to_string(), "phone number is not valid");
        let e = PhoneNumber::deserialize(U64Deserializer::<ValueError>::new(55501327480)).unwrap_err();
        assert_no_phi("integer", &format!("{e} {e:?}"));
        let e = PhoneNumber::deserialize(F64Deserializer::<ValueError>::new(5550132748.0)).unwrap_err();
        assert_no_phi("float", &format!("{e} {e:?}"));
        let e = PhoneNumber::deserialize(BytesDeserializer::<ValueError>::new(b"5550132748")).unwrap_err();
        assert_no_phi("bytes", &format!("{e} {e:?}"));
    }
}
