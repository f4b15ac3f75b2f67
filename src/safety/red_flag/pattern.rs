//! Surface forms: a tiny phrase language, compiled once into an index, matched over tokens.
//!
//! A form is written as space-separated positions, each of which is:
//! - `word` — that token exactly; `stem*` — any token starting with `stem`;
//! - `a|b|c` — any of the alternatives (each may be a stem);
//! - `{class}` — any word of a named class (see [`WordClasses`]), mixable with alternatives
//!   (`{pain}|sore`);
//! - `(all over|face|hot water)` — a group: any of the word sequences (each word plain, a stem
//!   or a class), for alternatives that are longer than one word;
//! - `~N` — up to N tokens of anything in between (never across a clause boundary).
//!
//! Forms are what the concept lexicon, the context triggers and a clinic's own phrases are all
//! written in, so one engine (and one set of tests) serves them all. The index keys each form by
//! its first position (exact words in a hash map, stems in a second one probed with each prefix
//! of the token), so a transcript costs a few lookups per token rather than a scan of every form.

use std::collections::HashMap;

use super::text::{HARD, SOFT};

/// Why a form could not be compiled (a mistake in a built-in table or in a clinic's phrase).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The form has no word positions at all.
    #[error("phrase {0:?} has no words")]
    Empty(String),
    /// A gap was written first or last, or two gaps follow each other: it would match nothing new.
    #[error("phrase {0:?}: a gap (~N) must stand between two words")]
    MisplacedGap(String),
    /// A `(` without its `)`, or groups inside groups.
    #[error("phrase {0:?}: unbalanced or nested parentheses")]
    Unbalanced(String),
    /// `()` or `(a||b)`.
    #[error("phrase {0:?}: a group has an empty alternative")]
    EmptyGroup(String),
    /// `~` not followed by a number from 1 to 9.
    #[error("phrase {0:?}: a gap is written ~1 to ~9")]
    BadGap(String),
    /// `{name}` that no class defines.
    #[error("phrase {0:?}: unknown word class {1:?}")]
    UnknownClass(String, String),
    /// A word with characters the normaliser never produces (so it could never match).
    #[error("phrase {0:?}: {1:?} can never match (words are lowercase letters and digits, no accents)")]
    Unmatchable(String, String),
}

/// One alternative at one position.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Alt {
    Exact(Box<str>),
    Stem(Box<str>),
}

impl Alt {
    fn matches(&self, token: &str) -> bool {
        match self {
            Alt::Exact(w) => token == &**w,
            Alt::Stem(s) => token.starts_with(&**s),
        }
    }
}

/// One position's alternatives.
type Alts = Box<[Alt]>;
/// A word sequence inside a group.
type Sequence = Box<[Alts]>;

/// One position of a compiled form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Word(Alts),
    /// Alternative word sequences; the first that matches is taken.
    Group(Box<[Sequence]>),
    Gap(u8),
}

/// A compiled form.
#[derive(Debug, Clone)]
struct Form {
    steps: Box<[Step]>,
}

/// Where a form matched: token range, and the gap ranges inside it (a negator there counts: "my
/// chest doesn't hurt" is `chest ~3 hurt*` with "doesnt" in the gap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    /// Up to two gaps, as (start, end) token ranges; `(0, 0)` when unused.
    pub gaps: [(usize, usize); 2],
}

impl Span {
    /// Whether token `i` is one the form skipped over rather than matched.
    pub fn in_gap(&self, i: usize) -> bool {
        self.gaps.iter().any(|&(s, e)| s <= i && i < e)
    }

    /// Whether two spans share a token.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// This span overlaps at least half of `other`: a two-word look-alike ("blood pressure")
    /// vetoes the symptom it explains ("blood"), not a long phrase that merely contains it.
    pub fn covers_most_of(&self, other: &Span) -> bool {
        let overlap = self.end.min(other.end).saturating_sub(self.start.max(other.start));
        overlap > 0 && overlap * 2 >= other.end - other.start
    }
}

/// Named word classes, so forms stay short: `{pain}` instead of twelve alternatives.
#[derive(Debug, Default, Clone)]
pub struct WordClasses {
    classes: HashMap<&'static str, Vec<Alt>>,
}

impl WordClasses {
    /// Define classes from `(name, "alt|alt|stem*")` pairs. A class may use classes defined before it.
    ///
    /// # Errors
    /// An unknown class inside a definition, or an unmatchable word.
    pub fn new(defs: &[(&'static str, &str)]) -> Result<WordClasses, PatternError> {
        let mut classes = WordClasses::default();
        for (name, alts) in defs {
            classes.define(name, alts)?;
        }
        Ok(classes)
    }

    /// Define (or redefine) one class.
    ///
    /// # Errors
    /// An unknown class inside the definition, or an unmatchable word.
    pub fn define(&mut self, name: &'static str, alts: &str) -> Result<(), PatternError> {
        let parsed = self.parse_alts(alts, alts)?;
        self.classes.insert(name, parsed);
        Ok(())
    }

    fn parse_alts(&self, text: &str, whole: &str) -> Result<Vec<Alt>, PatternError> {
        let mut out = Vec::new();
        for alt in text.split('|').filter(|a| !a.is_empty()) {
            if let Some(name) = alt.strip_prefix('{').and_then(|a| a.strip_suffix('}')) {
                let class = self
                    .classes
                    .get(name)
                    .ok_or_else(|| PatternError::UnknownClass(whole.to_owned(), name.to_owned()))?;
                out.extend(class.iter().cloned());
                continue;
            }
            let (word, stem) = match alt.strip_suffix('*') {
                Some(w) => (w, true),
                None => (alt, false),
            };
            if word.is_empty() || !word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
                return Err(PatternError::Unmatchable(whole.to_owned(), alt.to_owned()));
            }
            out.push(if stem {
                Alt::Stem(word.into())
            } else {
                Alt::Exact(word.into())
            });
        }
        Ok(out)
    }

    /// A set of single-word alternatives (`a|stem*|{class}`), for checks of one token.
    ///
    /// # Errors
    /// An unknown class or an unmatchable word.
    pub fn word_set(&self, alts: &str) -> Result<WordSet, PatternError> {
        Ok(WordSet {
            alts: self.parse_alts(alts, alts)?,
        })
    }

    fn compile(&self, text: &str) -> Result<Form, PatternError> {
        let mut steps = Vec::new();
        for part in split_positions(text)? {
            if let Some(inner) = part.strip_prefix('(').and_then(|p| p.strip_suffix(')')) {
                let mut seqs = Vec::new();
                for seq in inner.split('|') {
                    let words = seq
                        .split_whitespace()
                        .map(|w| self.parse_alts(w, text).map(Vec::into_boxed_slice))
                        .collect::<Result<Vec<_>, _>>()?;
                    if words.is_empty() {
                        return Err(PatternError::EmptyGroup(text.to_owned()));
                    }
                    seqs.push(words.into_boxed_slice());
                }
                steps.push(Step::Group(seqs.into()));
            } else if let Some(n) = part.strip_prefix('~') {
                let n: u8 = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=9).contains(n))
                    .ok_or_else(|| PatternError::BadGap(text.to_owned()))?;
                if !matches!(steps.last(), Some(Step::Word(_) | Step::Group(_))) {
                    return Err(PatternError::MisplacedGap(text.to_owned()));
                }
                steps.push(Step::Gap(n));
            } else {
                steps.push(Step::Word(self.parse_alts(part, text)?.into()));
            }
        }
        match steps.last() {
            None => Err(PatternError::Empty(text.to_owned())),
            Some(Step::Gap(_)) => Err(PatternError::MisplacedGap(text.to_owned())),
            Some(Step::Word(_) | Step::Group(_)) => Ok(Form { steps: steps.into() }),
        }
    }
}

/// Splits a form into positions at whitespace outside parentheses.
fn split_positions(text: &str) -> Result<Vec<&str>, PatternError> {
    let mut out = Vec::new();
    let (mut start, mut depth) = (None::<usize>, 0u32);
    for (i, ch) in text.char_indices() {
        match ch {
            '(' if depth == 0 => {
                depth = 1;
                start.get_or_insert(i);
            }
            '(' => return Err(PatternError::Unbalanced(text.to_owned())),
            ')' if depth == 1 => depth = 0,
            ')' => return Err(PatternError::Unbalanced(text.to_owned())),
            c if c.is_whitespace() && depth == 0 => {
                if let Some(s) = start.take() {
                    out.push(&text[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if depth != 0 {
        return Err(PatternError::Unbalanced(text.to_owned()));
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    Ok(out)
}

/// Alternatives for one token (see [`WordClasses::word_set`]).
#[derive(Debug, Clone)]
pub struct WordSet {
    alts: Vec<Alt>,
}

impl WordSet {
    /// Whether `token` is one of the alternatives.
    pub fn contains(&self, token: &str) -> bool {
        self.alts.iter().any(|a| a.matches(token))
    }
}

/// A set of forms, each carrying a tag `T` (a concept, a context trigger), indexed by first word.
#[derive(Debug, Clone)]
pub struct Lexicon<T> {
    forms: Vec<(Form, T)>,
    exact: HashMap<Box<str>, Vec<u32>>,
    stems: HashMap<Box<str>, Vec<u32>>,
    /// Longest stem in `stems`, to bound the prefixes probed per token.
    longest_stem: usize,
}

impl<T: Copy> Lexicon<T> {
    /// An empty lexicon.
    pub fn new() -> Lexicon<T> {
        Lexicon {
            forms: Vec::new(),
            exact: HashMap::new(),
            stems: HashMap::new(),
            longest_stem: 0,
        }
    }

    /// Compile `text` and add it with `tag`.
    ///
    /// # Errors
    /// A malformed form (see [`PatternError`]).
    pub fn add(&mut self, classes: &WordClasses, text: &str, tag: T) -> Result<(), PatternError> {
        let form = classes.compile(text)?;
        let id = self.forms.len() as u32;
        let firsts: Vec<&Alt> = match form.steps.first() {
            Some(Step::Word(first)) => first.iter().collect(),
            Some(Step::Group(seqs)) => seqs.iter().flat_map(|seq| seq[0].iter()).collect(),
            _ => Vec::new(),
        };
        for alt in firsts {
            match alt {
                Alt::Exact(w) => self.exact.entry(w.clone()).or_default().push(id),
                Alt::Stem(s) => {
                    self.longest_stem = self.longest_stem.max(s.len());
                    self.stems.entry(s.clone()).or_default().push(id);
                }
            }
        }
        self.forms.push((form, tag));
        Ok(())
    }

    /// Number of forms.
    pub fn len(&self) -> usize {
        self.forms.len()
    }

    /// Whether there are no forms.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// Every match of every form in `tokens`, as (tag, span), in order of start position. At one
    /// start a form reports its shortest match once; different forms may overlap.
    pub fn find_all(&self, tokens: &[&str], out: &mut Vec<(T, Span)>) {
        let mut candidates: Vec<u32> = Vec::with_capacity(8);
        for (i, token) in tokens.iter().enumerate() {
            if *token == HARD || *token == SOFT {
                continue;
            }
            candidates.clear();
            if let Some(ids) = self.exact.get(*token) {
                candidates.extend_from_slice(ids);
            }
            for len in 1..=token.len().min(self.longest_stem) {
                if let Some(ids) = self.stems.get(&token[..len]) {
                    candidates.extend_from_slice(ids);
                }
            }
            // A form listed under two of its first alternatives would report the same match twice.
            candidates.sort_unstable();
            candidates.dedup();
            for &id in &candidates {
                let (form, tag) = &self.forms[id as usize];
                let mut gaps = [(0, 0); 2];
                if let Some(end) = match_from(&form.steps, tokens, i, &mut gaps, 0) {
                    out.push((*tag, Span { start: i, end, gaps }));
                }
            }
        }
    }
}

impl<T: Copy> Default for Lexicon<T> {
    fn default() -> Self {
        Lexicon::new()
    }
}

/// Match `steps` starting at token `at`; returns one past the last matched token. Gaps may skip a
/// soft boundary (a comma) but never a hard one, and never end on a boundary.
fn match_from(
    steps: &[Step],
    tokens: &[&str],
    at: usize,
    gaps: &mut [(usize, usize); 2],
    gap_no: usize,
) -> Option<usize> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(at);
    };
    match step {
        Step::Word(alts) => {
            let token = tokens.get(at)?;
            if *token == HARD || *token == SOFT || !alts.iter().any(|a| a.matches(token)) {
                return None;
            }
            match_from(rest, tokens, at + 1, gaps, gap_no)
        }
        Step::Group(seqs) => {
            for seq in seqs.iter() {
                let fits = seq.iter().enumerate().all(|(k, alts)| {
                    tokens
                        .get(at + k)
                        .is_some_and(|t| *t != HARD && *t != SOFT && alts.iter().any(|a| a.matches(t)))
                });
                if fits && let Some(end) = match_from(rest, tokens, at + seq.len(), gaps, gap_no) {
                    return Some(end);
                }
            }
            None
        }
        Step::Gap(max) => {
            for skip in 0..=usize::from(*max) {
                let next = at + skip;
                if skip > 0 && tokens.get(next - 1).is_none_or(|t| *t == HARD) {
                    return None;
                }
                if gap_no < 2 {
                    gaps[gap_no] = (at, next);
                }
                if let Some(end) = match_from(rest, tokens, next, gaps, gap_no + 1) {
                    return Some(end);
                }
            }
            if gap_no < 2 {
                gaps[gap_no] = (0, 0);
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon(forms: &[&str]) -> Lexicon<usize> {
        let classes = WordClasses::new(&[("pain", "pain*|hurt*|ache*"), ("body", "chest|{pain}")]).unwrap();
        let mut lex = Lexicon::new();
        for (i, f) in forms.iter().enumerate() {
            lex.add(&classes, f, i).unwrap();
        }
        lex
    }

    fn spans(lex: &Lexicon<usize>, text: &str) -> Vec<(usize, usize, usize)> {
        let tokens: Vec<&str> = text.split(' ').collect();
        let mut out = Vec::new();
        lex.find_all(&tokens, &mut out);
        out.into_iter().map(|(t, s)| (t, s.start, s.end)).collect()
    }

    #[test]
    fn exact_stem_alternatives_and_classes_match() {
        let lex = lexicon(&["chest {pain}", "cant breath*|breathe"]);
        assert_eq!(spans(&lex, "my chest hurts"), [(0, 1, 3)]);
        assert_eq!(spans(&lex, "i cant breathing"), [(1, 1, 3)]);
        assert_eq!(spans(&lex, "i cant see"), []);
        assert_eq!(spans(&lex, "chest"), []);
    }

    #[test]
    fn gaps_skip_words_and_commas_but_not_clause_ends() {
        let lex = lexicon(&["chest ~3 {pain}"]);
        assert_eq!(spans(&lex, "chest pain"), [(0, 0, 2)]);
        assert_eq!(spans(&lex, "my chest really really hurts"), [(0, 1, 5)]);
        assert_eq!(spans(&lex, "chest , it hurts"), [(0, 0, 4)]);
        assert_eq!(spans(&lex, "chest | it hurts"), []);
        assert_eq!(spans(&lex, "chest a b c d hurts"), [], "the gap is at most 3");
    }

    #[test]
    fn gap_ranges_are_reported_for_negation_inside_a_match() {
        let lex = lexicon(&["chest ~3 {pain}"]);
        let tokens = ["my", "chest", "doesnt", "hurt"];
        let mut out = Vec::new();
        lex.find_all(&tokens, &mut out);
        let span = out[0].1;
        assert!(span.in_gap(2) && !span.in_gap(1) && !span.in_gap(3));
    }

    #[test]
    fn groups_hold_alternatives_of_several_words() {
        let lex = lexicon(&[
            "bleeding ~2 (a lot|everywhere|like {pain} crazy)",
            "(passed out|fainted) again",
        ]);
        assert_eq!(spans(&lex, "bleeding a lot"), [(0, 0, 3)]);
        assert_eq!(spans(&lex, "bleeding so everywhere"), [(0, 0, 3)]);
        assert_eq!(spans(&lex, "bleeding like hurting crazy"), [(0, 0, 4)]);
        assert_eq!(spans(&lex, "bleeding a little"), []);
        assert_eq!(spans(&lex, "she passed out again"), [(1, 1, 4)]);
        assert_eq!(spans(&lex, "fainted again"), [(1, 0, 2)]);
        assert_eq!(spans(&lex, "passed again"), []);
    }

    #[test]
    fn a_form_reachable_by_two_first_words_reports_once() {
        let lex = lexicon(&["pain*|{pain} chest"]);
        assert_eq!(spans(&lex, "pain chest"), [(0, 0, 2)]);
    }

    #[test]
    fn malformed_forms_are_refused_with_the_reason() {
        let classes = WordClasses::new(&[]).unwrap();
        let mut lex: Lexicon<()> = Lexicon::new();
        for (form, expected) in [
            ("", PatternError::Empty(String::new())),
            ("~2 pain", PatternError::MisplacedGap("~2 pain".into())),
            ("pain ~2", PatternError::MisplacedGap("pain ~2".into())),
            ("pain ~0 chest", PatternError::BadGap("pain ~0 chest".into())),
            ("pain ~x chest", PatternError::BadGap("pain ~x chest".into())),
            ("{nope}", PatternError::UnknownClass("{nope}".into(), "nope".into())),
            ("Chest", PatternError::Unmatchable("Chest".into(), "Chest".into())),
            ("dolór", PatternError::Unmatchable("dolór".into(), "dolór".into())),
            ("(a|b c", PatternError::Unbalanced("(a|b c".into())),
            ("((a))", PatternError::Unbalanced("((a))".into())),
            ("(a||b)", PatternError::EmptyGroup("(a||b)".into())),
        ] {
            assert_eq!(lex.add(&classes, form, ()), Err(expected), "{form:?}");
        }
        assert!(lex.is_empty());
    }
}
