//! From a transcript to tokens: the one place that knows how speech-to-text writes speech.
//!
//! Lowercase ASCII words, accents stripped (the transcriber writes "está" or "esta" at random),
//! apostrophes dropped ("can't" → "cant", "mom's" → "moms"), fillers and stutters removed, and
//! clause structure kept as two marker tokens:
//! - [`HARD`] ends a clause: `. ! ? ;`, "but", "however", "pero", "and now"; context (a time in the
//!   past, an "if") never reaches across it, and no phrase spans it;
//! - [`SOFT`] is a comma, colon, dash or bracket: transcribers put commas anywhere ("I have this
//!   pain, in my chest"), so phrases with a gap may span one, but a negation stops at it ("no
//!   fever, chest pain").
//!
//! Homophones that only make sense in one reading ("epi pen", "x ray", "past out") are rewritten
//! here; those that need context ("chess pain", "my face is dropping") live in the lexicon's word
//! classes instead, where they only match next to the right words.

/// Ends a clause. Cannot come from the caller: a `|` in the transcript becomes a space.
pub const HARD: &str = "|";
/// A comma-like pause inside a clause.
pub const SOFT: &str = ",";

/// Speech fillers the transcriber writes out; dropped so they do not use up a phrase's gap.
const FILLERS: &[&str] = &[
    "uh", "uhh", "uhhh", "um", "umm", "ummm", "uhm", "er", "erm", "ah", "ahh", "hmm", "hm", "mm", "mmm", "eh", "pues",
];

/// One-word rewrites: clause breaks, spelled-out contractions, unambiguous mis-hearings.
const WORD_FIXES: &[(&str, &[&str])] = &[
    ("but", &[HARD]),
    // Spoken contractions, so a phrase written "want to" also matches "wanna".
    ("wanna", &["want", "to"]),
    ("gonna", &["going", "to"]),
    ("gotta", &["got", "to"]),
    ("however", &[HARD]),
    ("although", &[HARD]),
    ("though", &[HARD]),
    ("pero", &[HARD]),
    ("aunque", &[HARD]),
    ("cannot", &["cant"]),
    // Dropped g's, as transcribers write casual speech.
    ("throwin", &["throwing"]),
    ("breathin", &["breathing"]),
    ("bleedin", &["bleeding"]),
    ("shakin", &["shaking"]),
    ("pukin", &["puking"]),
    ("chokin", &["choking"]),
    ("talkin", &["talking"]),
    ("sayin", &["saying"]),
    ("goin", &["going"]),
    ("comin", &["coming"]),
    ("havin", &["having"]),
    ("gettin", &["getting"]),
    ("feelin", &["feeling"]),
    ("hurtin", &["hurting"]),
    ("burnin", &["burning"]),
    ("killin", &["killing"]),
    ("tryin", &["trying"]),
    ("nothin", &["nothing"]),
    ("somethin", &["something"]),
    ("wakin", &["waking"]),
    ("movin", &["moving"]),
    ("swellin", &["swelling"]),
    ("kinda", &["kind", "of"]),
    ("outta", &["out", "of"]),
    ("aint", &["isnt"]),
    ("chestpain", &["chest", "pain"]),
    ("chestpains", &["chest", "pains"]),
    ("heartattack", &["heart", "attack"]),
    ("strokelike", &["stroke", "like"]),
    ("suicidle", &["suicidal"]),
    ("sucidal", &["suicidal"]),
    ("unconcious", &["unconscious"]),
    ("unconsious", &["unconscious"]),
    ("unconscience", &["unconscious"]),
    ("anaphalaxis", &["anaphylaxis"]),
    ("anaphylaxsis", &["anaphylaxis"]),
];

/// Two-word rewrites, same purpose.
const PAIR_FIXES: &[(&str, &str, &[&str])] = &[
    ("and", "now", &[HARD, "now"]),
    ("y", "ahora", &[HARD, "ahora"]),
    ("sin", "embargo", &[HARD]),
    ("can", "not", &["cant"]),
    // Recogniser splits and homophones.
    ("to", "many", &["too", "many"]),
    ("every", "body", &["everybody"]),
    ("every", "one", &["everyone"]),
    ("with", "out", &["without"]),
    ("could", "not", &["couldnt"]),
    ("will", "not", &["wont"]),
    ("would", "not", &["wouldnt"]),
    ("do", "not", &["dont"]),
    ("does", "not", &["doesnt"]),
    ("did", "not", &["didnt"]),
    ("is", "not", &["isnt"]),
    ("was", "not", &["wasnt"]),
    ("has", "not", &["hasnt"]),
    ("have", "not", &["havent"]),
    ("epi", "pen", &["epipen"]),
    ("epi", "pens", &["epipen"]),
    ("x", "ray", &["xray"]),
    ("x", "rays", &["xray"]),
    ("my", "self", &["myself"]),
    ("him", "self", &["himself"]),
    ("her", "self", &["herself"]),
    ("them", "selves", &["themselves"]),
    ("suicide", "all", &["suicidal"]),
    ("past", "out", &["passed", "out"]),
    ("pass", "doubt", &["passed", "out"]),
    ("follow", "up", &["followup"]),
    ("check", "up", &["checkup"]),
    ("you", "know", &[]),
    ("i", "mean", &[]),
    ("o", "sea", &[]),
    ("nine", "eleven", &["911"]),
];

/// Three-word rewrites.
const TRIPLE_FIXES: &[(&str, &str, &str, &[&str])] = &[
    ("nine", "one", "one", &["911"]),
    ("9", "1", "1", &["911"]),
    ("nueve", "uno", "uno", &["911"]),
    // "I mean" is a filler, "I mean it" is not: it says a threat is serious.
    ("i", "mean", "it", &["i", "mean", "it"]),
];

/// Lowercases, strips accents and apostrophes, and turns punctuation into [`HARD`] / [`SOFT`]
/// markers and every other symbol into a space.
pub fn normalise(transcript: &str) -> String {
    let mut out = String::with_capacity(transcript.len() + 16);
    for ch in transcript.chars().flat_map(char::to_lowercase) {
        match ch {
            'a'..='z' | '0'..='9' => out.push(ch),
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => out.push('a'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'í' | 'ì' | 'î' | 'ï' => out.push('i'),
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => out.push('o'),
            'ú' | 'ù' | 'û' | 'ü' => out.push('u'),
            'ñ' => out.push('n'),
            'ç' => out.push('c'),
            '\'' | '’' | '‘' | '`' | '´' | 'ʼ' => {}
            '.' | ';' | '!' | '?' | '¿' | '¡' | '…' | '\n' => out.push_str(" | "),
            ',' | ':' | '"' | '“' | '”' | '(' | ')' | '[' | ']' | '—' | '–' => out.push_str(" , "),
            _ => out.push(' '),
        }
    }
    out
}

/// Splits normalised text into tokens, applying the fixes above, dropping fillers and collapsing
/// stutters ("my my chest") and repeated markers.
pub fn tokenise(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::with_capacity(text.len() / 4 + 2);
    let words: Vec<&str> = text.split_whitespace().filter(|w| !FILLERS.contains(w)).collect();
    let mut i = 0;
    while i < words.len() {
        let (a, b, c) = (words[i], words.get(i + 1).copied(), words.get(i + 2).copied());
        if let Some((.., replacement)) = TRIPLE_FIXES
            .iter()
            .find(|(x, y, z, _)| *x == a && Some(*y) == b && Some(*z) == c)
        {
            replacement.iter().for_each(|w| push(&mut out, w));
            i += 3;
        } else if let Some((.., replacement)) = PAIR_FIXES.iter().find(|(x, y, _)| *x == a && Some(*y) == b) {
            replacement.iter().for_each(|w| push(&mut out, w));
            i += 2;
        } else if let Some((_, replacement)) = WORD_FIXES.iter().find(|(w, _)| *w == a) {
            replacement.iter().for_each(|w| push(&mut out, w));
            i += 1;
        } else {
            push(&mut out, a);
            i += 1;
        }
    }
    while out.last().is_some_and(|t| *t == HARD || *t == SOFT) {
        out.pop();
    }
    out
}

fn push<'a>(out: &mut Vec<&'a str>, token: &'a str) {
    let marker = token == HARD || token == SOFT;
    match out.last() {
        None if marker => {}
        Some(last) if *last == token => {}
        // A hard break absorbs a comma next to it.
        Some(last) if token == HARD && *last == SOFT => {
            out.pop();
            out.push(HARD);
        }
        Some(last) if token == SOFT && *last == HARD => {}
        _ => {
            out.push(token);
            // A two-word stutter ("i dont i dont want"): keep one.
            let n = out.len();
            if n >= 4 && out[n - 2..] == out[n - 4..n - 2] && !out[n - 2..].iter().any(|t| *t == HARD || *t == SOFT) {
                out.truncate(n - 2);
            }
        }
    }
}

/// The language a caller spoke, for the script they hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    English,
    Spanish,
}

impl Language {
    /// BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Spanish => "es",
        }
    }
}

/// Function words only one of the two languages uses (no "a", "me", "no": both have them).
const SPANISH_WORDS: &[&str] = &[
    "el", "la", "los", "las", "que", "de", "del", "y", "mi", "mis", "es", "esta", "estoy", "se", "le", "por", "con",
    "para", "una", "un", "tiene", "tengo", "puede", "puedo", "muy", "mucho", "pecho", "duele", "ella", "el", "usted",
    "porque", "como", "pero", "cuando", "donde", "hijo", "hija", "esposo", "esposa", "mama", "papa", "bebe", "ayuda",
];
const ENGLISH_WORDS: &[&str] = &[
    "the", "and", "my", "is", "i", "to", "of", "it", "he", "she", "can", "cant", "im", "have", "has", "with", "this",
    "that", "in", "on", "for", "was", "hes", "shes", "its", "just", "like", "her", "his", "you", "dont", "not", "help",
];

/// The transcript's language by function words; ties (and empty text) are English.
pub fn language_of(tokens: &[&str]) -> Language {
    let (mut es, mut en) = (0usize, 0usize);
    for t in tokens {
        es += usize::from(SPANISH_WORDS.contains(t));
        en += usize::from(ENGLISH_WORDS.contains(t));
    }
    if es > en { Language::Spanish } else { Language::English }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> String {
        tokenise(&normalise(text)).join(" ")
    }

    #[test]
    fn lowercases_strips_accents_and_apostrophes() {
        assert_eq!(tokens("I CAN'T Breathe"), "i cant breathe");
        assert_eq!(tokens("Se desmayó y no despierta"), "se desmayo y no despierta");
        assert_eq!(tokens("my mom’s face"), "my moms face");
        assert_eq!(tokens("¿Mañana?"), "manana");
    }

    #[test]
    fn clause_markers_hard_and_soft() {
        assert_eq!(
            tokens("uh, um. . I have, I have chest pain"),
            "i have , i have chest pain"
        );
        assert_eq!(
            tokens("no chest pain but my my my arm is numb"),
            "no chest pain | my arm is numb"
        );
        assert_eq!(
            tokens("I had a stroke in 2019 and now this"),
            "i had a stroke in 2019 | now this"
        );
        assert_eq!(
            tokens("pain | in my chest"),
            "pain in my chest",
            "a pipe is not a boundary"
        );
        assert_eq!(tokens("it hurts, . okay"), "it hurts | okay");
        assert_eq!(tokens(""), "");
        assert_eq!(tokens(" ?!... ,,, "), "");
    }

    #[test]
    fn fixes_spelled_out_contractions_and_mis_hearings() {
        assert_eq!(tokens("I can not breathe"), "i cant breathe");
        assert_eq!(tokens("she does not respond"), "she doesnt respond");
        assert_eq!(tokens("used my epi-pen"), "used my epipen");
        assert_eq!(tokens("she past out"), "she passed out");
        assert_eq!(tokens("I'm gonna kill my self"), "im going to kill myself");
        assert_eq!(tokens("feeling suicide all"), "feeling suicidal");
        assert_eq!(tokens("should I call nine one one"), "should i call 911");
        assert_eq!(tokens("it's, you know, my chest"), "its , my chest");
    }

    #[test]
    fn language_by_function_words() {
        let lang = |t: &str| language_of(&tokenise(&normalise(t)));
        assert_eq!(lang("me duele mucho el pecho"), Language::Spanish);
        assert_eq!(lang("my chest hurts"), Language::English);
        assert_eq!(lang("mi mamá can't talk, no puede hablar bien"), Language::Spanish);
        assert_eq!(lang(""), Language::English);
    }
}
