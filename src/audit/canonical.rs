//! RFC 8785 JSON Canonicalization Scheme (JCS): one byte string per JSON value.
//!
//! The audit chain hashes these bytes and stores them verbatim, so an auditor can recompute every
//! hash with any JCS implementation (Python, Go, JavaScript, ...) instead of trusting ours. That only
//! works if we match RFC 8785 exactly, so this module follows the RFC rather than "close enough":
//!
//! - no insignificant whitespace;
//! - object members sorted by the UTF-16 code units of their names (§3.2.3), which differs from
//!   UTF-8/code-point order once names mix non-BMP characters with U+E000..U+FFFF;
//! - strings escaped minimally (§3.2.2.2): `"`, `\` and U+0000..U+001F only, everything else raw UTF-8;
//! - numbers written as ECMAScript `Number.prototype.toString` writes an IEEE-754 double (§3.2.2.3).
//!
//! It owns only the serialisation. It deliberately does not parse: callers parse with `serde_json`,
//! whose build must be
//! - *without* `arbitrary_precision`: with it, numbers keep their source spelling and integers beyond
//!   2^53 could not be told apart from doubles;
//! - *with* `float_roundtrip`: without it, serde_json's fast float parser can land one ULP off on
//!   17-digit input, so re-canonicalizing a correctly written record (as the chain verifier does)
//!   would print different digits and flag it as not canonical.
//!
//! Tests below pin both. It also does not decide what goes into an audit record; that belongs to
//! `audit::log`.

use serde_json::{Map, Number, Value};

/// The largest magnitude up to which every integer is an exact IEEE-754 double (2^53), printed as its
/// own digits. Beyond it a JCS implementation, which as RFC 8785 requires reads numbers as doubles,
/// prints most `u64`/`i64` values with other digits (2^53 + 1 as `9007199254740992`), so an auditor's
/// recomputed bytes would describe a different number. Those we refuse instead of rounding; the
/// wider integers whose double prints as exactly their own digits (10^19, or the integer spelling
/// of any double beyond 2^53) are written as they are, which keeps the output of every double a fixed
/// point: re-parsing `[1.1142453923781206e16]`'s canonical `[11142453923781206]` gives an integer
/// that must canonicalize to the same bytes.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// Why a value has no RFC 8785 form. Neither variant is retryable: the same value fails the same way,
/// so the caller has to change what it records. Neither carries the offending value, because audit
/// values can be PHI and errors end up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// NaN or ±Infinity. JSON has no spelling for them and RFC 8785 §3.2.2.3 makes them an error.
    /// (`serde_json::Value` cannot normally hold them; this guards builds and callers that can.)
    #[error("number is NaN or infinite, which JSON cannot represent")]
    NonFiniteNumber,
    /// An integer with magnitude above 2^53 whose nearest IEEE-754 double prints with other digits
    /// (see [`MAX_EXACT_INTEGER`]). Record such values (e.g. 64-bit identifiers) as strings.
    #[error("integer magnitude exceeds 2^53 and would not survive as an IEEE-754 double")]
    InexactInteger,
}

/// Serialises `value` into its RFC 8785 canonical bytes.
///
/// # Errors
/// [`CanonicalError::InexactInteger`] for integers beyond ±2^53 (anywhere in the value) that a
/// double would print differently, and
/// [`CanonicalError::NonFiniteNumber`] for NaN/Infinity. Nothing is partially returned.
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out)?,
    }
    Ok(())
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    // serde_json's map iterates in UTF-8 byte order (or insertion order with `preserve_order`);
    // RFC 8785 §3.2.3 wants UTF-16 code-unit order, so always sort explicitly.
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push(b'{');
    for (i, (name, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_value(value, out)?;
    }
    out.push(b'}');
    Ok(())
}

/// RFC 8785 §3.2.2.2: escape only what JSON requires, with the short forms where JSON has them and
/// lowercase `\u00xx` otherwise. Rust strings are valid UTF-8, so lone surrogates cannot occur.
/// Crate-visible for `chain`, which writes the fixed-shape checkpoint message without a fallible detour
/// through `Value`.
pub(crate) fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Copy runs of unescaped bytes in one go; every byte that needs escaping is ASCII, so splitting
    // at them never cuts a multi-byte character.
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            b'\t' => Some(b"\\t"),
            b'\n' => Some(b"\\n"),
            0x0c => Some(b"\\f"),
            b'\r' => Some(b"\\r"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..i]);
        run_start = i + 1;
        match short {
            Some(esc) => out.extend_from_slice(esc),
            None => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0x0f)],
            ]),
        }
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

fn write_number(n: &Number, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    // Within ±2^53 the decimal integer is exactly what ECMAScript prints. Beyond, the integer's own
    // digits are compared with what ECMAScript prints for its nearest double (`as` rounds to nearest,
    // ties to even, as a JSON reader does), so a value that would be rounded is refused, not written.
    if let Some(u) = n.as_u64() {
        if u > MAX_EXACT_INTEGER {
            return write_wide_integer(u as f64, &u.to_string(), out);
        }
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_EXACT_INTEGER {
            return write_wide_integer(i as f64, &i.to_string(), out);
        }
        out.extend_from_slice(i.to_string().as_bytes());
    } else {
        // Without `arbitrary_precision` every other Number is an f64, so `as_f64` is always `Some`.
        let f = n.as_f64().ok_or(CanonicalError::NonFiniteNumber)?;
        write_f64(f, out)?;
    }
    Ok(())
}

/// An integer beyond ±2^53: written only if ECMAScript prints its nearest double as exactly `digits`.
fn write_wide_integer(nearest: f64, digits: &str, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    let mut es = Vec::with_capacity(digits.len());
    write_f64(nearest, &mut es)?;
    if es != digits.as_bytes() {
        return Err(CanonicalError::InexactInteger);
    }
    out.extend_from_slice(&es);
    Ok(())
}

/// Lays out a double the way ECMAScript `Number::toString(x)` does (ECMA-262, radix 10).
///
/// ES defines the output from the shortest decimal `s × 10^(n−k)` (k digits) that reads back as `x`,
/// choosing the closest such `s` and, on an exact tie, the even one. Rust's `{:e}` formatting gives the
/// same shortest, closest digits except on exact ties (see [`tie_to_even`]), so we take digits and
/// exponent from it, fix ties, and apply the ES layout rules ourselves. (Cross-checked against
/// Node.js `String(x)` on two million doubles, tie-heavy ranges included, during development.)
fn write_f64(f: f64, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    if !f.is_finite() {
        return Err(CanonicalError::NonFiniteNumber);
    }
    if f == 0.0 {
        // Covers -0 as well: ES prints "0" for both.
        out.push(b'0');
        return Ok(());
    }
    if f < 0.0 {
        out.push(b'-');
    }

    // `{:e}` of a finite, non-zero magnitude is `d[.ddd]e[-]x`. Scan it rather than parse it, so that
    // there is no failure path to handle.
    let sci = format!("{:e}", f.abs());
    let mut digits: Vec<u8> = Vec::with_capacity(17);
    let mut exp: i32 = 0;
    let mut exp_negative = false;
    let mut in_exponent = false;
    for b in sci.bytes() {
        match b {
            b'e' => in_exponent = true,
            b'-' if in_exponent => exp_negative = true,
            b'0'..=b'9' if in_exponent => exp = exp * 10 + i32::from(b - b'0'),
            b'0'..=b'9' => digits.push(b),
            _ => {} // the decimal point after the first digit
        }
    }
    if exp_negative {
        exp = -exp;
    }
    if let Some(even) = tie_to_even(f.abs(), &digits, exp) {
        digits = even;
    }

    // ES names: k = number of digits, n = position of the decimal point relative to the digits
    // (value = 0.d1d2...dk × 10^n). At most 17 digits, so the cast cannot truncate.
    let k = digits.len() as i32;
    let n = exp + 1;
    if k <= n && n <= 21 {
        // Integer-valued and below 10^21: all digits, then zeros. No exponent, no point.
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        // Point falls inside the digits.
        let (int_part, frac_part) = digits.split_at(n as usize);
        out.extend_from_slice(int_part);
        out.push(b'.');
        out.extend_from_slice(frac_part);
    } else if -6 < n && n <= 0 {
        // Small magnitudes down to 1e-6 are written out as 0.000ddd.
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(&digits);
    } else {
        // Exponent form: d[.ddd]e±x, with an explicit '+' as ES writes it.
        let (first, rest) = digits.split_at(1);
        out.extend_from_slice(first);
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_from_slice(rest);
        }
        out.push(b'e');
        out.push(if n >= 1 { b'+' } else { b'-' });
        out.extend_from_slice((n - 1).unsigned_abs().to_string().as_bytes());
    }
    Ok(())
}

/// ES breaks a tie between two equally close shortest candidates towards the even one; Rust's
/// shortest formatting rounds the tie up instead (RFC 8785 Appendix B has the example
/// 1424953923781206.25, which ES prints as ...206.2 and Rust as ...206.3). Returns the even
/// neighbour's digits when `f` lies exactly halfway between it and `digits` and it also reads back
/// as `f`; `None` when `digits` already is what ES prints.
///
/// A tie needs both neighbours within half an ULP, which takes at least 16 digits for normal doubles
/// (subnormals' exact expansions are hundreds of digits long, so they are never exactly halfway).
fn tie_to_even(f: f64, digits: &[u8], exp: i32) -> Option<Vec<u8>> {
    if digits.len() < 16 {
        return None;
    }
    let d = digits.iter().fold(0_u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
    if d.is_multiple_of(2) {
        return None;
    }
    // `digits` means d × 10^(exp − k + 1); the midpoint to a neighbour is (10·lower + 5) × 10^(exp − k).
    let point = exp - digits.len() as i32;
    for neighbour in [d - 1, d + 1] {
        let midpoint = 10 * d.min(neighbour) + 5;
        if !equals_decimal(f, midpoint, point) {
            continue;
        }
        let mut text = neighbour.to_string();
        if text.len() != digits.len() {
            continue; // carried into another digit count; never the shorter candidate here
        }
        let reads_back = format!("{text}e{}", point + 1).parse::<f64>().is_ok_and(|g| g == f);
        if reads_back {
            while text.len() > 1 && text.ends_with('0') {
                text.pop();
            }
            return Some(text.into_bytes());
        }
    }
    None
}

/// Whether the positive finite double `f` is exactly `mantissa × 10^point`, by comparing prime
/// factorisations: f = m·2^q, and both sides are reduced to (part coprime to 10, power of 2, power of 5).
fn equals_decimal(f: f64, mantissa: u64, point: i32) -> bool {
    fn strip(mut n: u64, p: u64) -> (u64, i32) {
        let mut count = 0;
        while n != 0 && n.is_multiple_of(p) {
            n /= p;
            count += 1;
        }
        (n, count)
    }
    let bits = f.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (m, q) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    let (m, twos_f) = strip(m, 2);
    let (m, fives_f) = strip(m, 5);
    let (r, twos_d) = strip(mantissa, 2);
    let (r, fives_d) = strip(r, 5);
    m == r && q + twos_f == twos_d + point && fives_f == fives_d + point
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jcs(value: &Value) -> String {
        String::from_utf8(canonicalize(value).expect("test values are canonicalizable")).expect("JCS output is UTF-8")
    }

    fn number(f: f64) -> String {
        let mut out = Vec::new();
        write_f64(f, &mut out).expect("finite test number");
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn serde_json_is_built_without_arbitrary_precision() {
        // With `arbitrary_precision` the number would keep its source spelling "1E2"; our integer range
        // checks depend on serde_json having classified it as an f64 instead.
        let v: Value = serde_json::from_str("1E2").expect("valid JSON");
        assert!(v.is_f64());
        assert_eq!(v.to_string(), "100.0");
    }

    #[test]
    fn serde_json_parses_floats_with_correct_rounding() {
        // Without serde_json's `float_roundtrip` feature its parser can land one ULP off for 17-digit
        // inputs, so a correctly stored record would re-canonicalize differently and the audit
        // verifier would flag it NotCanonical. These inputs are misparsed without the feature.
        for (text, bits) in [
            ("333333333.33333329", 0x41b3_de43_5555_5555_u64),
            ("90.28571428571429", 0x4056_9249_2492_4925),
        ] {
            let v: Value = serde_json::from_str(text).expect("valid JSON");
            assert_eq!(
                v.as_f64().map(f64::to_bits),
                Some(bits),
                "{text}: enable serde_json/float_roundtrip"
            );
        }
    }

    /// RFC 8785 Appendix B, the finite rows: IEEE-754 bit pattern → expected text.
    #[test]
    fn rfc8785_appendix_b_numbers() {
        let cases: &[(u64, &str)] = &[
            (0x0000_0000_0000_0000, "0"),
            (0x8000_0000_0000_0000, "0"),
            (0x0000_0000_0000_0001, "5e-324"),
            (0x8000_0000_0000_0001, "-5e-324"),
            (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
            (0xffef_ffff_ffff_ffff, "-1.7976931348623157e+308"),
            (0x4340_0000_0000_0000, "9007199254740992"),
            (0xc340_0000_0000_0000, "-9007199254740992"),
            (0x4430_0000_0000_0000, "295147905179352830000"),
            (0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22"),
            (0x44b5_2d02_c7e1_4af6, "1e+23"),
            (0x44b5_2d02_c7e1_4af7, "1.0000000000000001e+23"),
            (0x444b_1ae4_d6e2_ef4e, "999999999999999700000"),
            (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
            (0x444b_1ae4_d6e2_ef50, "1e+21"),
            (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
            (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
            (0x41b3_de43_5555_5553, "333333333.3333332"),
            (0x41b3_de43_5555_5554, "333333333.33333325"),
            (0x41b3_de43_5555_5555, "333333333.3333333"),
            (0x41b3_de43_5555_5556, "333333333.3333334"),
            (0x41b3_de43_5555_5557, "333333333.33333343"),
            (0xbecb_f647_612f_3696, "-0.0000033333333333333333"),
            (0x4314_3ff3_c1cb_0959, "1424953923781206.2"),
        ];
        for &(bits, want) in cases {
            assert_eq!(number(f64::from_bits(bits)), want, "bits {bits:016x}");
        }
    }

    #[test]
    // The halfway cases are written with every digit of their exact value on purpose.
    #[allow(clippy::excessive_precision)]
    fn es_layout_boundaries() {
        let cases: &[(f64, &str)] = &[
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (0.0000015, "0.0000015"),
            (-0.0, "0"),
            (0.3, "0.3"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (100.0, "100"),
            (123.456, "123.456"),
            (9007199254740991.0, "9007199254740991"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (333333333.3333333, "333333333.3333333"),
            (1e300, "1e+300"),
            (2.5e-300, "2.5e-300"),
            // Exactly halfway between two 17-digit candidates: ES picks the even one.
            (1424953923781206.25, "1424953923781206.2"),
            (1424953923781206.75, "1424953923781206.8"),
            (-1424953923781206.25, "-1424953923781206.2"),
        ];
        for &(f, want) in cases {
            assert_eq!(number(f), want, "{f:e}");
        }
    }

    #[test]
    fn non_finite_numbers_are_errors() {
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(write_f64(f, &mut Vec::new()), Err(CanonicalError::NonFiniteNumber));
        }
    }

    #[test]
    fn integers_print_exactly_and_beyond_2_pow_53_are_rejected() {
        assert_eq!(jcs(&json!(9007199254740991_u64)), "9007199254740991");
        assert_eq!(jcs(&json!(9007199254740992_u64)), "9007199254740992");
        assert_eq!(jcs(&json!(-9007199254740992_i64)), "-9007199254740992");
        assert_eq!(jcs(&json!(0)), "0");
        assert_eq!(jcs(&json!(-7)), "-7");
        for bad in [
            json!(9007199254740993_u64),
            json!(u64::MAX),
            json!(-9007199254740993_i64),
            json!(i64::MIN),
            json!({"nested": [1, {"deep": u64::MAX}]}),
        ] {
            assert_eq!(canonicalize(&bad), Err(CanonicalError::InexactInteger), "{bad}");
        }
        // Parsed input takes the same path: an integer literal beyond 2^53 is a u64 to serde_json.
        let parsed: Value = serde_json::from_str("[9007199254740993]").expect("valid JSON");
        assert_eq!(canonicalize(&parsed), Err(CanonicalError::InexactInteger));
        // ...while the same magnitude written as a double is just a double, printed the ES way.
        let parsed: Value = serde_json::from_str("[1e21, 123456789012345680000]").expect("valid JSON");
        assert_eq!(jcs(&parsed), "[1e+21,123456789012345680000]");
    }

    /// RFC 8785 §3.2.3: members sorted by UTF-16 code units. The emoji (a surrogate pair starting
    /// 0xD83D) sorts before U+FB33 although its code point is larger.
    #[test]
    fn rfc8785_sorting_example() {
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let value: Value = serde_json::from_str(input).expect("valid JSON");
        let want = concat!(
            "{\"\\r\":\"Carriage Return\",",
            "\"1\":\"One\",",
            "\"\u{80}\":\"Control\",",
            "\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",",
            "\"\u{20ac}\":\"Euro Sign\",",
            "\"\u{1f600}\":\"Emoji: Grinning Face\",",
            "\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
        assert_eq!(jcs(&value), want);
    }

    /// RFC 8785 §3.2.4, the worked example of the whole transformation.
    #[test]
    fn rfc8785_full_example() {
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        let value: Value = serde_json::from_str(input).expect("valid JSON");
        let want = concat!(
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"#,
            "\"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
        );
        assert_eq!(jcs(&value), want);
    }

    #[test]
    fn string_escaping() {
        let all_controls: String = (0u8..0x20).map(char::from).collect();
        assert_eq!(
            jcs(&Value::String(all_controls)),
            concat!(
                r#""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f"#,
                r#"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f""#
            )
        );
        assert_eq!(
            jcs(&json!("quote \" backslash \\ slash /")),
            r#""quote \" backslash \\ slash /""#
        );
        // DEL, non-ASCII, the JS line/paragraph separators and non-BMP characters stay raw UTF-8.
        let raw = "\u{7f} é € \u{2028}\u{2029} 😀";
        assert_eq!(jcs(&json!(raw)), format!("\"{raw}\""));
        assert_eq!(jcs(&json!("")), r#""""#);
    }

    #[test]
    fn structure_has_no_whitespace_and_nests() {
        let value = json!({"b": [1, 2.5, {"z": null, "a": true}], "a": {}, "c": []});
        assert_eq!(jcs(&value), r#"{"a":{},"b":[1,2.5,{"a":true,"z":null}],"c":[]}"#);
    }

    /// Found by `fuzz/fuzz_targets/canonical_json.rs` (minimised input `[11142453923781206.2]`): a
    /// double beyond 2^53 is written in integer digits, which re-parse as a `u64`; that integer was
    /// refused, so the verifier would have called an intact record `NotCanonical`.
    #[test]
    fn doubles_beyond_2_pow_53_are_a_fixed_point() {
        for text in [
            "[11142453923781206.2]",
            "[1e19]",
            "[-1e18]",
            "[1152921504606846976.0]",
            "[18446744073709549568.0]",
            "[-9223372036854774784.0]",
        ] {
            let value: Value = serde_json::from_str(text).expect("valid JSON");
            let once = canonicalize(&value).expect("a double is canonicalizable");
            let reparsed: Value = serde_json::from_slice(&once).expect("JCS output is JSON");
            assert_eq!(canonicalize(&reparsed).as_ref(), Ok(&once), "{text}");
        }
        assert_eq!(
            jcs(&serde_json::from_str("[11142453923781206.2]").expect("valid JSON")),
            "[11142453923781206]"
        );
        // Wide integers whose double prints as their own digits are written; others are refused.
        assert_eq!(jcs(&json!(10_000_000_000_000_000_000_u64)), "10000000000000000000");
        assert_eq!(jcs(&json!(-1_000_000_000_000_000_000_i64)), "-1000000000000000000");
        assert_eq!(jcs(&json!(1_152_921_504_606_847_000_u64)), "1152921504606847000");
        assert_eq!(canonicalize(&json!(1_u64 << 60)), Err(CanonicalError::InexactInteger));
        assert_eq!(
            canonicalize(&json!(9007199254740994_u64)),
            Ok(b"9007199254740994".to_vec())
        );
    }

    #[test]
    fn output_is_a_fixed_point() {
        let value = json!({"n": [0.1, 1e-7, 1e21, -0.0, 42], "s": "x\u{1}y", "o": {"\u{e000}": 1, "\u{10000}": 2}});
        let once = canonicalize(&value).expect("canonicalizable");
        let reparsed: Value = serde_json::from_slice(&once).expect("JCS output is JSON");
        assert_eq!(canonicalize(&reparsed).expect("canonicalizable"), once);
    }
}
