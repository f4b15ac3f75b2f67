//! Validated patient identifiers: [`PersonName`], [`DateOfBirth`], [`PhoneNumber`].
//!
//! Owns parsing what a caller says (or what the model writes into a tool call) into typed values,
//! and comparing them. Does not own verification itself (`call::state`), nor the EHR lookup.
//!
//! # Redaction policy
//! These values are PHI, so every type here is built to stay out of logs, panics and errors:
//! - `Debug` and `Display` print a fixed placeholder (`[redacted name]`, `[redacted date of
//!   birth]`, `[redacted phone]`), so `?value` in a span or `{value}` in a panic shows nothing.
//! - The value is reachable only through explicit, greppable accessors: [`PersonName::expose`],
//!   [`DateOfBirth::iso`] / [`DateOfBirth::spoken`], [`PhoneNumber::e164`] / [`PhoneNumber::last4`].
//! - [`DomainError`] variants are fixed strings and never carry the rejected input.
//! - `Deserialize` goes through `parse` (tool arguments arrive already validated), and its errors
//!   are fixed strings too, including for values of the wrong JSON type. There is deliberately no
//!   `Serialize`, so a value cannot slip into a JSON log line or response by derive.
//!
//! Constructors are `parse`; there is no other way to build these types.

mod birth_date;
mod fold;
mod name;
mod phone;
pub mod words;

use std::fmt;

/// Free text lowercased with diacritics removed by the same tables names use ("Mejoré" →
/// "mejore"), for keyword matching (cancellation categories). Not a redaction: still the text.
pub fn fold_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match fold::fold_letter(c) {
            Some(folded) => out.push_str(folded),
            None => out.extend(c.to_lowercase()),
        }
    }
    out
}
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};

pub use birth_date::{DateOfBirth, utc_date_from_unix};
pub use name::PersonName;
pub use phone::PhoneNumber;

/// Why a caller-supplied identifier was rejected. Never carries the input.
///
/// None is retryable as is: the agent asks the caller again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Empty, too long, or containing something other than letters, spaces, hyphens, apostrophes
    /// and periods. Not retryable; ask again.
    #[error("name is empty or not a name")]
    Name,
    /// Not a recognisable date, not a real calendar day, or outside 1900..=2100. Not retryable; ask again.
    #[error("date of birth is not a valid date")]
    BirthDate,
    /// A real date, but after today. Not retryable; ask again.
    #[error("date of birth is in the future")]
    FutureBirthDate,
    /// Not 10 NANP digits (optionally with a leading 1) nor a `+` number of 8..=15 digits, or
    /// contains something other than digits, digit words and separators. Not retryable; ask again.
    #[error("phone number is not valid")]
    Phone,
}

/// Deserializes a `T` through its `parse`, with errors that never echo the input.
///
/// Uses `deserialize_any` rather than `deserialize_str`: asked for a string, serde_json reports a
/// mistyped value in its own words ("invalid type: integer `5550132748`, expected …"), which would
/// put PHI into an error string. Every visitor method that receives a value answers with the fixed
/// text of `invalid` instead. Deserializers that cannot do `deserialize_any` are not used for
/// these types (tool arguments are JSON).
fn deserialize_parsed<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, DomainError>,
    invalid: DomainError,
    integers: bool,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_any(ParseVisitor {
        expecting,
        parse,
        invalid,
        integers,
        marker: PhantomData,
    })
}

/// The visitor behind [`deserialize_parsed`].
struct ParseVisitor<T> {
    /// Fixed description for serde's "expected …" messages.
    expecting: &'static str,
    /// The type's validating constructor.
    parse: fn(&str) -> Result<T, DomainError>,
    /// The error to report for any input of the wrong type (its text is fixed).
    invalid: DomainError,
    /// Whether an unsigned integer is accepted as its decimal digits (phone numbers: a model may
    /// write `5550132748` unquoted).
    integers: bool,
    /// `T` is only produced, never stored.
    marker: PhantomData<fn() -> T>,
}

impl<T> ParseVisitor<T> {
    fn reject<E: de::Error>(&self) -> Result<T, E> {
        Err(E::custom(self.invalid.clone()))
    }
}

impl<'de, T> Visitor<'de> for ParseVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        if self.integers {
            (self.parse)(&v.to_string()).map_err(E::custom)
        } else {
            self.reject()
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => self.reject(),
        }
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<T, E> {
        self.reject()
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<T, E> {
        self.reject()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        self.reject()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        self.reject()
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<T, E> {
        self.reject()
    }
}
