//! Character tables for names: diacritic folding and the combining marks a name may contain.
//!
//! Owns a hand-written folding table for the Latin-1 Supplement and Latin Extended-A letters
//! (Spanish, French, German, Portuguese, Polish, Czech, Nordic, Turkish, Hungarian, Baltic names),
//! plus the Romanian comma-below letters, Vietnamese (Latin Extended Additional), Greek tonos and
//! Cyrillic ё. It is not Unicode normalisation: letters outside these tables are only lowercased.
//! Decomposed input (a base letter followed by U+0301 and friends, as macOS keyboards produce)
//! folds the same as precomposed input because the combining marks are dropped.

/// The ASCII (or, for Greek and Cyrillic, unaccented lowercase) spelling of `c` with its
/// diacritics removed, for letters in the tables; `None` for everything else.
///
/// Multi-letter results follow common transliteration: ß→ss, æ→ae, œ→oe, þ→th, ĳ→ij. Umlauts
/// fold to the bare vowel (ü→u, not ue), so "Müller" matches "Muller" but not "Mueller".
pub(super) fn fold_letter(c: char) -> Option<&'static str> {
    match c {
        // Latin-1 Supplement and Latin Extended-A, grouped by result.
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'Ā' | 'ā' | 'Ă' | 'ă' | 'Ą' | 'ą'
        | 'ª' => Some("a"),
        'Æ' | 'æ' => Some("ae"),
        'Ç' | 'ç' | 'Ć' | 'ć' | 'Ĉ' | 'ĉ' | 'Ċ' | 'ċ' | 'Č' | 'č' => Some("c"),
        'Ð' | 'ð' | 'Ď' | 'ď' | 'Đ' | 'đ' => Some("d"),
        'È' | 'É' | 'Ê' | 'Ë' | 'è' | 'é' | 'ê' | 'ë' | 'Ē' | 'ē' | 'Ĕ' | 'ĕ' | 'Ė' | 'ė' | 'Ę' | 'ę' | 'Ě' | 'ě' => {
            Some("e")
        }
        'Ĝ' | 'ĝ' | 'Ğ' | 'ğ' | 'Ġ' | 'ġ' | 'Ģ' | 'ģ' => Some("g"),
        'Ĥ' | 'ĥ' | 'Ħ' | 'ħ' => Some("h"),
        'Ì' | 'Í' | 'Î' | 'Ï' | 'ì' | 'í' | 'î' | 'ï' | 'Ĩ' | 'ĩ' | 'Ī' | 'ī' | 'Ĭ' | 'ĭ' | 'Į' | 'į' | 'İ' | 'ı' => {
            Some("i")
        }
        'Ĳ' | 'ĳ' => Some("ij"),
        'Ĵ' | 'ĵ' => Some("j"),
        'Ķ' | 'ķ' | 'ĸ' => Some("k"),
        'Ĺ' | 'ĺ' | 'Ļ' | 'ļ' | 'Ľ' | 'ľ' | 'Ŀ' | 'ŀ' | 'Ł' | 'ł' => Some("l"),
        'Ñ' | 'ñ' | 'Ń' | 'ń' | 'Ņ' | 'ņ' | 'Ň' | 'ň' | 'ŉ' | 'Ŋ' | 'ŋ' => Some("n"),
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ō' | 'ō' | 'Ŏ' | 'ŏ' | 'Ő' | 'ő'
        | 'º' => Some("o"),
        'Œ' | 'œ' => Some("oe"),
        'Ŕ' | 'ŕ' | 'Ŗ' | 'ŗ' | 'Ř' | 'ř' => Some("r"),
        'Ś' | 'ś' | 'Ŝ' | 'ŝ' | 'Ş' | 'ş' | 'Š' | 'š' | 'ſ' => Some("s"),
        'ß' | 'ẞ' => Some("ss"),
        'Ţ' | 'ţ' | 'Ť' | 'ť' | 'Ŧ' | 'ŧ' => Some("t"),
        'Þ' | 'þ' => Some("th"),
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'ù' | 'ú' | 'û' | 'ü' | 'Ũ' | 'ũ' | 'Ū' | 'ū' | 'Ŭ' | 'ŭ' | 'Ů' | 'ů' | 'Ű' | 'ű'
        | 'Ų' | 'ų' => Some("u"),
        'Ŵ' | 'ŵ' => Some("w"),
        'Ý' | 'ý' | 'ÿ' | 'Ŷ' | 'ŷ' | 'Ÿ' => Some("y"),
        'Ź' | 'ź' | 'Ż' | 'ż' | 'Ž' | 'ž' => Some("z"),
        // Latin Extended-B: Romanian comma below, Vietnamese horned vowels.
        'Ș' | 'ș' => Some("s"),
        'Ț' | 'ț' => Some("t"),
        'Ơ' | 'ơ' => Some("o"),
        'Ư' | 'ư' => Some("u"),
        // Latin Extended Additional: the Vietnamese block, in code point order.
        '\u{1EA0}'..='\u{1EB7}' => Some("a"),
        '\u{1EB8}'..='\u{1EC7}' => Some("e"),
        '\u{1EC8}'..='\u{1ECB}' => Some("i"),
        '\u{1ECC}'..='\u{1EE3}' => Some("o"),
        '\u{1EE4}'..='\u{1EF1}' => Some("u"),
        '\u{1EF2}'..='\u{1EF9}' => Some("y"),
        // Greek tonos/dialytika and final sigma; Cyrillic ё is usually written е.
        'Ά' | 'ά' => Some("α"),
        'Έ' | 'έ' => Some("ε"),
        'Ή' | 'ή' => Some("η"),
        'Ί' | 'ί' | 'Ϊ' | 'ϊ' | 'ΐ' => Some("ι"),
        'Ό' | 'ό' => Some("ο"),
        'Ύ' | 'ύ' | 'Ϋ' | 'ϋ' | 'ΰ' => Some("υ"),
        'Ώ' | 'ώ' => Some("ω"),
        'ς' => Some("σ"),
        'Ё' | 'ё' => Some("е"),
        _ => None,
    }
}

/// Marks that are optional in writing and dropped when folding: generic combining diacritics
/// (decomposed accents), Hebrew points, Arabic harakat, and the zero-width (non-)joiners.
pub(super) fn is_ignorable_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'   // Combining Diacritical Marks
        | '\u{1AB0}'..='\u{1AFF}' // … Extended
        | '\u{1DC0}'..='\u{1DFF}' // … Supplement
        | '\u{20D0}'..='\u{20FF}' // … for Symbols
        | '\u{FE20}'..='\u{FE2F}' // Combining Half Marks
        | '\u{0591}'..='\u{05BD}' | '\u{05BF}' | '\u{05C1}' | '\u{05C2}' | '\u{05C4}' | '\u{05C5}' | '\u{05C7}' // Hebrew points
        | '\u{064B}'..='\u{065F}' // Arabic harakat
        | '\u{0670}'              // Arabic superscript alef
        | '\u{200C}' | '\u{200D}' // zero-width non-joiner / joiner
    )
}

/// Combining marks that `char::is_alphabetic` does not count as letters but that names contain:
/// the ignorable marks above, Indic viramas and nuktas, Thai and Lao tone marks, Myanmar asat.
/// A name may contain one only right after a letter or another mark.
pub(super) fn is_name_mark(c: char) -> bool {
    is_ignorable_mark(c)
        || matches!(
            c,
            '\u{093C}' | '\u{094D}' // Devanagari nukta, virama
            | '\u{09BC}' | '\u{09CD}' // Bengali
            | '\u{0A3C}' | '\u{0A4D}' // Gurmukhi
            | '\u{0ABC}' | '\u{0ACD}' // Gujarati
            | '\u{0B3C}' | '\u{0B4D}' // Oriya
            | '\u{0BCD}' // Tamil pulli
            | '\u{0C3C}' | '\u{0C4D}' // Telugu
            | '\u{0CBC}' | '\u{0CCD}' // Kannada
            | '\u{0D3B}' | '\u{0D3C}' | '\u{0D4D}' // Malayalam
            | '\u{0DCA}' // Sinhala al-lakuna
            | '\u{0E47}'..='\u{0E4E}' // Thai tone marks, thanthakhat
            | '\u{0EC8}'..='\u{0ECD}' // Lao tone marks
            | '\u{1037}' | '\u{1039}' | '\u{103A}' // Myanmar dot below, virama, asat
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_latin1_and_extended_a_letter_folds_to_lowercase_ascii() {
        let latin1 = ('\u{00C0}'..='\u{00FF}').filter(|c| !matches!(c, '×' | '÷'));
        let extended_a = '\u{0100}'..='\u{017F}';
        for c in latin1.chain(extended_a) {
            let folded = fold_letter(c).unwrap_or_else(|| panic!("U+{:04X} has no folding", u32::from(c)));
            assert!(
                !folded.is_empty() && folded.bytes().all(|b| b.is_ascii_lowercase()),
                "U+{:04X} folds to {folded:?}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn vietnamese_block_folds_by_base_letter() {
        assert_eq!(fold_letter('ễ'), Some("e"));
        assert_eq!(fold_letter('Ạ'), Some("a"));
        assert_eq!(fold_letter('ặ'), Some("a"));
        assert_eq!(fold_letter('ọ'), Some("o"));
        assert_eq!(fold_letter('ự'), Some("u"));
        assert_eq!(fold_letter('ỹ'), Some("y"));
        assert_eq!(fold_letter('ị'), Some("i"));
    }

    #[test]
    fn letters_outside_the_tables_are_left_to_lowercasing() {
        assert_eq!(fold_letter('a'), None);
        assert_eq!(fold_letter('Z'), None);
        assert_eq!(fold_letter('Ж'), None);
        assert_eq!(fold_letter('李'), None);
        assert_eq!(fold_letter('×'), None);
    }

    #[test]
    fn marks() {
        assert!(is_ignorable_mark('\u{0301}'));
        assert!(is_name_mark('\u{0301}'));
        assert!(is_name_mark('\u{094D}'));
        assert!(!is_ignorable_mark('\u{094D}'), "a virama changes the letter; keep it");
        assert!(!is_name_mark('-'));
        assert!(!is_name_mark('1'));
    }
}
