//! [`PersonName`]: one part of a person's name (given or family), as spoken or typed.
//!
//! Owns what counts as a name and how two spellings are compared (case- and accent-folded, exact).
//! Does not split full names into parts or guess at nicknames: "Bill" is not "William".

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::{DomainError, deserialize_parsed, fold};

/// Longest accepted name part, in characters after whitespace is collapsed. Longer than any real
/// name part, short enough that a transcript pasted into a name field is refused.
const MAX_NAME_CHARS: usize = 100;

/// A person's name part as spoken or typed. `Debug` and `Display` print `[redacted name]`.
///
/// Equality (`==`) is exact on the stored spelling; use [`PersonName::matches`] to compare what a
/// caller said with a record.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName {
    /// The spelling as given, trimmed, with each run of whitespace collapsed to one space. Kept
    /// (rather than the folded key) because the EHR query wants the caller's own spelling.
    original: String,
}

impl PersonName {
    /// Validates a name part: trimmed, inner whitespace collapsed, 1..=100 characters of letters
    /// (any script, with their combining marks), spaces, hyphens, apostrophes (`'` and `’`) and
    /// periods, with at least one letter.
    ///
    /// # Errors
    /// [`DomainError::Name`] for anything else; the error does not contain the input.
    pub fn parse(raw: &str) -> Result<PersonName, DomainError> {
        let mut original = String::new();
        let mut chars = 0usize;
        let mut has_letter = false;
        for word in raw.split_whitespace() {
            if !original.is_empty() {
                original.push(' ');
                chars += 1;
            }
            // A combining mark must follow a letter (or another mark) within the word.
            let mut after_letter = false;
            for c in word.chars() {
                let allowed = if c.is_alphabetic() {
                    has_letter = true;
                    after_letter = true;
                    true
                } else if is_separator(c) {
                    after_letter = false;
                    true
                } else {
                    after_letter && fold::is_name_mark(c)
                };
                if !allowed {
                    return Err(DomainError::Name);
                }
                original.push(c);
                chars += 1;
                if chars > MAX_NAME_CHARS {
                    return Err(DomainError::Name);
                }
            }
        }
        if !has_letter {
            return Err(DomainError::Name);
        }
        Ok(PersonName { original })
    }

    /// The comparison key: lowercase, diacritics removed (José→jose, Müller→muller,
    /// Łukasz→lukasz, Ñ→n, ß→ss, æ→ae, ø→o), apostrophes and periods removed, hyphens and runs
    /// of spaces → one space. "O'Brien" folds like "obrien", "Mary-Jane" like "mary jane".
    ///
    /// This is still PHI: it is for comparison, not for logging.
    pub fn folded(&self) -> String {
        let mut out = String::with_capacity(self.original.len());
        let mut pending_space = false;
        for c in self.original.chars() {
            if c.is_whitespace() || is_hyphen(c) {
                pending_space = !out.is_empty();
                continue;
            }
            if is_apostrophe(c) || c == '.' || fold::is_ignorable_mark(c) {
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            match fold::fold_letter(c) {
                Some(folded) => out.push_str(folded),
                None => out.extend(c.to_lowercase()),
            }
        }
        out
    }

    /// Whether both spellings fold to the same key: exact after folding, no prefix and no fuzzy
    /// matching ("Jo" does not match "Joanne"; "JOSÉ" matches "jose").
    pub fn matches(&self, other: &PersonName) -> bool {
        self.folded() == other.folded()
    }

    /// The name as given. Explicit so every use is greppable: for the EHR query only.
    pub fn expose(&self) -> &str {
        &self.original
    }
}

/// Hyphens that join double-barrelled names: ASCII, and the Unicode hyphen and non-breaking
/// hyphen that word processors substitute.
fn is_hyphen(c: char) -> bool {
    matches!(c, '-' | '\u{2010}' | '\u{2011}')
}

/// `'`, `’` (the typographic apostrophe keyboards substitute) and `ʼ` (a letter in Unicode, but
/// written in names like an apostrophe, so folding drops it too).
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{02BC}')
}

/// The non-letter characters a name may contain.
fn is_separator(c: char) -> bool {
    is_hyphen(c) || is_apostrophe(c) || c == '.'
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted name]")
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted name]")
    }
}

impl<'de> Deserialize<'de> for PersonName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(
            deserializer,
            "a person's name as a string",
            PersonName::parse,
            DomainError::Name,
            false,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{BytesDeserializer, Error as ValueError, MapDeserializer, StrDeserializer, U64Deserializer};

    fn name(raw: &str) -> PersonName {
        PersonName::parse(raw).expect("valid name")
    }

    #[test]
    fn accepts_names_and_normalises_whitespace() {
        for (raw, kept) in [
            ("Marisol", "Marisol"),
            ("  Quintanilla-Ortega ", "Quintanilla-Ortega"),
            ("Mary \t  Jane", "Mary Jane"),
            ("O'Brien", "O'Brien"),
            ("O’Brien", "O’Brien"),
            ("St. John", "St. John"),
            ("J.", "J."),
            ("José", "José"),
            ("Łukasz", "Łukasz"),
            ("Nguyễn", "Nguyễn"),
            ("Jose\u{301}", "Jose\u{301}"),
            ("Владимир", "Владимир"),
            ("Σωκράτης", "Σωκράτης"),
            ("李小龍", "李小龍"),
            ("ヨーコ", "ヨーコ"),
            ("محمد", "محمد"),
            ("שָׁלוֹם", "שָׁלוֹם"),
            ("कृष्ण", "कृष्ण"),
            ("கிருஷ்ணன்", "கிருஷ்ணன்"),
            ("สมศักดิ์", "สมศักดิ์"),
            ("می\u{200C}خواهم", "می\u{200C}خواهم"),
            ("x", "x"),
        ] {
            assert_eq!(name(raw).expose(), kept, "{raw:?}");
        }
    }

    #[test]
    fn length_is_counted_in_characters_after_collapsing() {
        assert!(PersonName::parse(&"é".repeat(MAX_NAME_CHARS)).is_ok());
        assert_eq!(
            PersonName::parse(&"é".repeat(MAX_NAME_CHARS + 1)),
            Err(DomainError::Name)
        );
        let spaced = format!("{}      {}", "a".repeat(49), "b".repeat(50));
        assert_eq!(name(&spaced).expose().chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn rejects_non_names() {
        for raw in [
            "",
            "   ",
            "\t\n",
            "-",
            "'.",
            "Marisol4",
            "R2D2",
            "555",
            "Mary_Jane",
            "Mary/Jane",
            "Mary,Jane",
            "Robert\"); DROP TABLE",
            "Ana😀",
            "\u{301}Jose",
            "Jose -\u{301}",
            "Jose\u{0}",
        ] {
            assert_eq!(PersonName::parse(raw), Err(DomainError::Name), "{raw:?}");
        }
    }

    #[test]
    fn folding_table_cases() {
        for (raw, folded) in [
            ("José", "jose"),
            ("Müller", "muller"),
            ("Łukasz", "lukasz"),
            ("Ñúñez", "nunez"),
            ("Strauß", "strauss"),
            ("Ærø", "aero"),
            ("Søren", "soren"),
            ("Œuvray", "oeuvray"),
            ("Þórr", "thorr"),
            ("Dvořák", "dvorak"),
            ("Gonçalves", "goncalves"),
            ("Čapek-Říha", "capek riha"),
            ("Şerban Țiriac", "serban tiriac"),
            ("İnönü", "inonu"),
            ("Nguyễn Đức", "nguyen duc"),
            ("Jose\u{301}", "jose"),
            ("O'Brien", "obrien"),
            ("O’Brien", "obrien"),
            ("Mary-Jane", "mary jane"),
            ("Mary - Jane", "mary jane"),
            ("St. John", "st john"),
            ("J.R.", "jr"),
            ("ΣΩΚΡΆΤΗΣ", "σωκρατησ"),
            ("Σωκράτης", "σωκρατησ"),
            ("Фёдор", "федор"),
            ("مُحَمَّد", "محمد"),
        ] {
            assert_eq!(name(raw).folded(), folded, "{raw:?}");
        }
    }

    #[test]
    fn matches_is_exact_after_folding() {
        assert!(name("José").matches(&name("JOSE")));
        assert!(name("jose").matches(&name("José")));
        assert!(name("Jose\u{301}").matches(&name("José")));
        assert!(name("Müller").matches(&name("MULLER")));
        assert!(name("O'Brien").matches(&name("obrien")));
        assert!(name("Mary-Jane").matches(&name("mary jane")));
        assert!(name("Quintanilla-Ortega").matches(&name("quintanilla ortega")));
        assert!(!name("Jo").matches(&name("Joanne")), "no prefix matching");
        assert!(!name("Joanne").matches(&name("Jo")));
        assert!(!name("Jon").matches(&name("John")), "no fuzzy matching");
        assert!(
            !name("Müller").matches(&name("Mueller")),
            "umlauts fold to the bare vowel"
        );
        assert!(!name("Mary Jane").matches(&name("Maryjane")), "word breaks count");
        assert!(!name("Quintanilla").matches(&name("Quintanilla-Ortega")));
    }

    #[test]
    fn equality_is_on_the_spelling_as_given() {
        assert_eq!(name(" Marisol "), name("Marisol"));
        assert_ne!(name("marisol"), name("Marisol"));
    }

    const DISTINCTIVE: &str = "Marisol Quintanilla-Ortega";

    fn assert_no_phi(what: &str, text: &str) {
        let lower = text.to_lowercase();
        for part in ["marisol", "quintanilla", "ortega"] {
            assert!(!lower.contains(part), "{what} leaks the name: {text:?}");
        }
    }

    #[test]
    fn debug_display_and_errors_never_show_the_name() {
        let n = name(DISTINCTIVE);
        assert_eq!(format!("{n:?}"), "[redacted name]");
        assert_eq!(format!("{n}"), "[redacted name]");
        assert_no_phi("pretty debug", &format!("{:#?}", Some(vec![n.clone()])));
        assert_no_phi("folded debug", &format!("{n:?} {n}"));
        for bad in ["Marisol Quintanilla-Ortega 4", "Marisol😀Quintanilla-Ortega"] {
            let e = PersonName::parse(bad).unwrap_err();
            assert_no_phi("error", &format!("{e} {e:?}"));
            let r: Result<PersonName, _> = PersonName::parse(bad);
            assert_no_phi("result debug", &format!("{r:?}"));
        }
    }

    #[test]
    fn deserializes_through_parse() {
        let ok = PersonName::deserialize(StrDeserializer::<ValueError>::new("  Marisol ")).unwrap();
        assert_eq!(ok.expose(), "Marisol");

        #[derive(Debug, Deserialize)]
        struct Args {
            first_name: PersonName,
        }
        let map = MapDeserializer::<_, ValueError>::new([("first_name", "Marisol")].into_iter());
        let args = Args::deserialize(map).unwrap();
        assert!(args.first_name.matches(&name("marisol")));
        assert_no_phi("struct debug", &format!("{args:?}"));

        let bad = MapDeserializer::<_, ValueError>::new([("first_name", "Marisol Quintanilla-Ortega 4")].into_iter());
        let e = Args::deserialize(bad).unwrap_err();
        assert_eq!(e.to_string(), "name is empty or not a name");
    }

    #[test]
    fn deserialization_errors_never_show_the_input() {
        let e =
            PersonName::deserialize(StrDeserializer::<ValueError>::new("Marisol Quintanilla-Ortega 4")).unwrap_err();
        assert_eq!(e.to_string(), "name is empty or not a name");
        let e = PersonName::deserialize(BytesDeserializer::<ValueError>::new(DISTINCTIVE.as_bytes())).unwrap_err();
        assert_no_phi("bytes error", &e.to_string());
        assert_no_phi("bytes error", &format!("{e:?}"));
        let e = PersonName::deserialize(U64Deserializer::<ValueError>::new(19610409)).unwrap_err();
        assert!(!e.to_string().contains("19610409"), "{e}");
        let e = PersonName::deserialize(true.into_deserializer() as serde::de::value::BoolDeserializer<ValueError>);
        assert_eq!(e.unwrap_err().to_string(), "name is empty or not a name");
    }
}
