//! RFC 8785 canonical JSON (`audit::canonical`): arbitrary bytes; whatever `serde_json` parses is
//! canonicalized, and the output is checked the way the audit verifier and an outside auditor use it.
//!
//! Properties, beyond "never panics":
//! - the only refusal is `InexactInteger`, and only for a value holding an integer beyond ±2^53;
//! - the output is UTF-8 JSON that re-parses to an equal value (numbers compared as the IEEE-754
//!   doubles RFC 8785 reads them as), and canonicalizing that again gives the same bytes (the fixed
//!   point the chain verifier relies on when it re-canonicalizes stored records);
//! - checked independently of the implementation: object members appear in strictly increasing
//!   UTF-16 order (so no duplicates), there is no whitespace outside strings, no control character
//!   appears raw, and every number is spelled the way ECMAScript `Number.prototype.toString` spells
//!   one (no `+` but in exponents, no leading or trailing zeros, no `-0`, exponent form exactly
//!   outside [1e-6, 1e21), at most 17 significant digits).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use voicegate::audit::canonical::{CanonicalError, canonicalize};

/// 2^53: integers up to this magnitude are exact doubles.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let once = match canonicalize(&value) {
        Ok(bytes) => bytes,
        Err(CanonicalError::InexactInteger) => {
            assert!(has_big_integer(&value), "InexactInteger without a big integer");
            return;
        }
        Err(e) => panic!("unexpected refusal of parsed JSON: {e}"),
    };
    let text = std::str::from_utf8(&once).expect("canonical output is UTF-8");
    let reparsed: Value = serde_json::from_str(text).expect("canonical output is JSON");
    assert!(same(&value, &reparsed), "re-parse changed the value:\n{value}\n{text}");
    let twice = canonicalize(&reparsed).expect("canonical output canonicalizes");
    assert_eq!(twice, once, "not a fixed point");
    serde_json::from_str::<Ordered>(text).expect("members in UTF-16 order");
    check_lexical(text);
});

fn has_big_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.as_u64().is_some_and(|u| u > MAX_EXACT_INTEGER)
                || n.as_i64().is_some_and(|i| i.unsigned_abs() > MAX_EXACT_INTEGER)
        }
        Value::Array(items) => items.iter().any(has_big_integer),
        Value::Object(map) => map.values().any(has_big_integer),
        _ => false,
    }
}

/// Equality as RFC 8785 sees it: numbers are doubles (so `1`, `1.0` and `-0` vs `0` compare by value).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| same(p, q)))
        }
        _ => a == b,
    }
}

/// Deserialises any JSON, asserting on the way that each object's member names strictly increase in
/// UTF-16 code-unit order (which `Value` cannot show: it re-sorts its maps).
struct Ordered;

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
                Ok(Ordered)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
                Ok(Ordered)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
                Ok(Ordered)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
                Ok(Ordered)
            }
            fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
                Ok(Ordered)
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                while seq.next_element::<Ordered>()?.is_some() {}
                Ok(Ordered)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut previous: Option<Vec<u16>> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let units: Vec<u16> = key.encode_utf16().collect();
                    if let Some(p) = &previous {
                        assert!(*p < units, "member {key:?} out of UTF-16 order or repeated");
                    }
                    previous = Some(units);
                    map.next_value::<Ordered>()?;
                }
                Ok(Ordered)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Scans the canonical text: no whitespace or raw control characters outside strings, no raw
/// control characters inside them, and every number token in ECMAScript's spelling.
fn check_lexical(text: &str) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                i += 1;
                while bytes[i] != b'"' {
                    assert!(bytes[i] >= 0x20, "raw control character in a string");
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                check_number(&text[start..i]);
            }
            b'{' | b'}' | b'[' | b']' | b':' | b',' => i += 1,
            b't' | b'f' | b'n' => {
                let word = ["true", "false", "null"]
                    .into_iter()
                    .find(|w| text[i..].starts_with(w))
                    .expect("a literal");
                i += word.len();
            }
            _ => panic!("byte {b:#04x} outside a string"),
        }
    }
}

/// ECMAScript `Number::toString` spelling (ECMA-262 §6.1.6.1.20, radix 10).
fn check_number(token: &str) {
    let digits = token.strip_prefix('-').unwrap_or(token);
    assert!(token != "-0", "negative zero spelled -0");
    assert!(!digits.starts_with('-') && !digits.contains('E'), "{token}");
    let (mantissa, exponent) = match digits.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (digits, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    assert!(
        !int_part.is_empty() && int_part.bytes().all(|b| b.is_ascii_digit()),
        "{token}"
    );
    assert!(int_part == "0" || !int_part.starts_with('0'), "leading zero: {token}");
    if let Some(f) = frac_part {
        assert!(!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()), "{token}");
        assert!(!f.ends_with('0'), "trailing zero: {token}");
    }
    let significant = format!("{int_part}{}", frac_part.unwrap_or(""));
    let significant = significant.trim_start_matches('0').trim_end_matches('0');
    assert!(
        significant.len() <= 17,
        "{} significant digits: {token}",
        significant.len()
    );
    let value: f64 = token.parse().expect("a number");
    match exponent {
        Some(e) => {
            // d[.ddd]e±x: one non-zero digit before the point, a signed exponent without leading zeros.
            assert!(int_part.len() == 1 && int_part != "0", "{token}");
            let (sign, x) = e.split_at(1);
            assert!(sign == "+" || sign == "-", "exponent sign: {token}");
            assert!(
                !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()) && !x.starts_with('0'),
                "{token}"
            );
            let x: i32 = x.parse().expect("exponent");
            let n = if sign == "+" { x + 1 } else { 1 - x };
            assert!(n > 21 || n <= -6, "exponent form inside [1e-6, 1e21): {token}");
        }
        None => {
            assert!(
                value == 0.0 || (1e-6..1e21).contains(&value.abs()),
                "plain form out of range: {token}"
            );
            if int_part == "0" && frac_part.is_none() {
                assert_eq!(token, "0");
            }
        }
    }
}
