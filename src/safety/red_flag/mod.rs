//! Red-flag detection: a deterministic, server-side check of every final caller transcript for an
//! emergency (say "hang up and call 911") or a crisis (say "call or text 988").
//!
//! It runs beside the model's own `flag_emergency` tool, so the script never depends on the model
//! noticing; either may raise the flag, neither can lower it. It is a safety net under the
//! conversation, not a triage tool: it errs towards flagging, and it never tells a caller that
//! something is *not* an emergency.
//!
//! How a transcript is read, module by module:
//! 1. [`text`]: normalised to lowercase ASCII words with clause markers, fillers and stutters
//!    dropped, common mis-hearings fixed.
//! 2. [`pattern`]: one pass of an indexed phrase matcher finds every *concept* mention
//!    ([`concepts`]: "face drooping", "can't lift an arm", "sugar very low", in English and
//!    Spanish), every benign look-alike ("out of breath from the stairs", "my car seized up") and
//!    every context cue.
//! 3. [`context`]: each mention is classified in the manner of NegEx/ConText — negated,
//!    hypothetical, a relative's history, over, chronic — or affirmed. Someone present now ("my
//!    husband collapsed") is affirmed.
//! 4. [`presentation`]: clinical presentations combine affirmed concepts (BE FAST: any one sign is
//!    a stroke; "sudden" + "headache"; swollen calf + breathless). The first complete
//!    presentation in speech order is reported, one for 911 and one for 988.
//!
//! Deterministic (no state, no clock, no randomness) and bounded: cost is linear in the
//! transcript, a few microseconds for a sentence (`cargo bench --bench red_flag`).
//!
//! A clinic adds its own phrases by configuration (`safety.red_flag.phrases`, in the phrase
//! language of [`pattern`]), to an existing concept or straight to a category, and its own benign
//! look-alikes (`safety.red_flag.benign`); [`Detector::new`] refuses a malformed one at start-up.

mod concepts;
mod context;
pub mod corpus;
mod pattern;
mod presentation;
mod text;

use std::fmt::Write as _;
use std::sync::LazyLock;

pub use pattern::PatternError;
pub use presentation::{Category, Script};
pub use text::Language;

use concepts::VetoScope;
use context::{Cue, Cues, Standing};
use pattern::{Lexicon, Span, WordClasses, WordSet};

/// A clinic's own phrase, from `safety.red_flag.phrases`: added either to a built-in concept (so
/// it combines like the built-in forms: a new way to say "face drooping") or straight to a
/// category (enough on its own).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClinicPhrase {
    /// The phrase, in the phrase language (`my words ~2 jumbled|scrambled`).
    pub phrase: String,
    /// A built-in concept id (`face_droop`, `cant_breathe`, …).
    #[serde(default)]
    pub concept: Option<String>,
    /// A category id (`stroke`, `suicidal`, …).
    #[serde(default)]
    pub category: Option<String>,
}

/// Why the detector could not be built from a clinic's configuration. Not retryable: the
/// configuration is wrong, and the server refuses to start rather than run without it.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("safety.red_flag.phrases[{index}]: {source}")]
    Phrase { index: usize, source: PatternError },
    #[error("safety.red_flag.phrases[{index}]: give exactly one of `concept` or `category`")]
    Target { index: usize },
    #[error("safety.red_flag.phrases[{index}]: unknown concept {id:?}")]
    UnknownConcept { index: usize, id: String },
    #[error("safety.red_flag.phrases[{index}]: unknown category {id:?}")]
    UnknownCategory { index: usize, id: String },
    #[error("safety.red_flag.benign[{index}]: {source}")]
    Benign { index: usize, source: PatternError },
    /// A built-in table is inconsistent (caught by the unit tests before it ships).
    #[error("built-in red-flag tables: {0}")]
    Builtin(String),
}

/// What one transcript raised: at most one 911 category and one 988 category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assessment {
    pub emergency: Option<Category>,
    pub crisis: Option<Category>,
    /// The language the caller spoke, for the script they hear.
    pub language: Language,
}

impl Assessment {
    /// `CRISIS_988` when a crisis was heard (its script also says "if you are in danger, call
    /// 911"), else `EMERGENCY_911` when an emergency was, else `NONE`.
    pub fn label(&self) -> &'static str {
        match (self.crisis, self.emergency) {
            (Some(_), _) => Script::Crisis988.label(),
            (None, Some(_)) => Script::Emergency911.label(),
            (None, None) => "NONE",
        }
    }

    /// Nothing raised.
    pub fn is_clear(&self) -> bool {
        self.crisis.is_none() && self.emergency.is_none()
    }

    /// What was raised, 911 first: the emergency script plays before the crisis script.
    pub fn flags(&self) -> impl Iterator<Item = Category> {
        self.emergency.into_iter().chain(self.crisis)
    }
}

/// What `--explain` shows: the verdict, the presentations raised and by which rule, and every
/// concept mention with the context rule that kept or dropped it.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub assessment: Assessment,
    /// (category, the concept ids of the rule that raised it).
    pub raised: Vec<(Category, Vec<String>)>,
    pub mentions: Vec<Mention>,
}

/// One concept mention, for `--explain`. Holds the caller's words: never logged.
#[derive(Debug, Clone)]
pub struct Mention {
    pub concept: String,
    pub words: String,
    /// `affirmed`, `negated`, `hypothetical`, `family_history`, `historical`, `chronic`, `look_alike`.
    pub rule: &'static str,
    /// The words of the cue that decided, if any.
    pub cue: Option<String>,
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.assessment.label())?;
        for (category, rule) in &self.raised {
            write!(f, "\t{} <- {}", category.id(), rule.join(" + "))?;
        }
        let mut mentions = String::new();
        for m in &self.mentions {
            let _ = write!(
                mentions,
                "{}{}=\"{}\" [{}",
                if mentions.is_empty() { "" } else { "; " },
                m.concept,
                m.words,
                m.rule
            );
            if let Some(cue) = &m.cue {
                let _ = write!(mentions, " by \"{cue}\"");
            }
            mentions.push(']');
        }
        if !mentions.is_empty() {
            write!(f, "\t{mentions}")?;
        }
        Ok(())
    }
}

/// What a phrase found in one pass stands for.
#[derive(Debug, Clone, Copy)]
enum Tag {
    Concept(u16),
    Veto(VetoScope),
    Cue(Cue),
}

struct ConceptInfo {
    id: String,
    /// Used by a 988 presentation: chronic cues do not cancel it.
    crisis: bool,
}

struct CompiledPresentation {
    category: Category,
    rules: Vec<Vec<u16>>,
}

/// How one mention stands after context and look-alike checks.
#[derive(Debug, Clone, Copy)]
enum Status {
    Context(Standing),
    LookAlike(Option<Span>),
}

/// The compiled detector: built-in knowledge plus a clinic's phrases. Immutable once built, so
/// one instance serves every call.
pub struct Detector {
    /// Number of forms, for `Debug` (the tables themselves are long).
    forms: usize,
    lexicon: Lexicon<Tag>,
    concepts: Vec<ConceptInfo>,
    presentations: Vec<CompiledPresentation>,
    service_next: WordSet,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("concepts", &self.concepts.len())
            .field("forms", &self.forms)
            .finish_non_exhaustive()
    }
}

/// The built-in detector, compiled once. Its tables are constants checked by the unit tests.
static BUILTIN: LazyLock<Detector> = LazyLock::new(|| {
    // The built-in tables are constants of this crate, compiled by `builtin_tables_compile` in
    // every test run; a failure here is a bug we ship, never something a caller causes.
    Detector::new(&[], &[]).expect("built-in red-flag tables compile")
});

/// Assess one transcript with the built-in detector.
pub fn check(transcript: &str) -> Assessment {
    BUILTIN.assess(transcript)
}

impl Detector {
    /// The built-in detector (no clinic phrases).
    pub fn builtin() -> &'static Detector {
        &BUILTIN
    }

    /// Build the built-in knowledge plus a clinic's phrases and benign look-alikes.
    ///
    /// # Errors
    /// A malformed phrase, a phrase naming no (or both a) concept and category, an unknown id.
    pub fn new(phrases: &[ClinicPhrase], benign: &[String]) -> Result<Detector, DetectorError> {
        let builtin = |e: PatternError| DetectorError::Builtin(e.to_string());
        let mut classes = WordClasses::new(concepts::CLASSES).map_err(builtin)?;
        context::define_classes(&mut classes).map_err(builtin)?;
        let mut lexicon = Lexicon::new();
        let mut infos: Vec<ConceptInfo> = Vec::new();
        for (index, def) in concepts::CONCEPTS.iter().enumerate() {
            if infos.iter().any(|c| c.id == def.id) {
                return Err(DetectorError::Builtin(format!("concept {:?} defined twice", def.id)));
            }
            infos.push(ConceptInfo {
                id: def.id.to_owned(),
                crisis: false,
            });
            for form in def.forms {
                lexicon
                    .add(&classes, form, Tag::Concept(index as u16))
                    .map_err(|e| DetectorError::Builtin(format!("concept {}: {e}", def.id)))?;
            }
        }
        for (scope, forms) in concepts::BENIGN {
            for form in *forms {
                lexicon.add(&classes, form, Tag::Veto(*scope)).map_err(builtin)?;
            }
        }
        for (cue, forms) in context::CUES {
            for form in *forms {
                lexicon.add(&classes, form, Tag::Cue(*cue)).map_err(builtin)?;
            }
        }
        let find = |infos: &[ConceptInfo], id: &str| infos.iter().position(|c| c.id == id).map(|i| i as u16);
        let mut presentations = Vec::new();
        for p in presentation::PRESENTATIONS {
            let mut rules = Vec::new();
            for rule in p.rules {
                let ids = rule
                    .iter()
                    .map(|id| {
                        find(&infos, id).ok_or_else(|| {
                            DetectorError::Builtin(format!("{} uses unknown concept {id:?}", p.category.id()))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                rules.push(ids);
            }
            presentations.push(CompiledPresentation {
                category: p.category,
                rules,
            });
        }
        if let Some(unused) = infos.iter().enumerate().find(|(i, _)| {
            !presentations
                .iter()
                .any(|p| p.rules.iter().any(|r| r.contains(&(*i as u16))))
        }) {
            return Err(DetectorError::Builtin(format!(
                "concept {:?} is used by no presentation",
                unused.1.id
            )));
        }
        for (index, phrase) in phrases.iter().enumerate() {
            let concept = match (&phrase.concept, &phrase.category) {
                (Some(id), None) => {
                    find(&infos, id).ok_or_else(|| DetectorError::UnknownConcept { index, id: id.clone() })?
                }
                (None, Some(id)) => {
                    let category = Category::from_id(id)
                        .ok_or_else(|| DetectorError::UnknownCategory { index, id: id.clone() })?;
                    let concept_id = format!("clinic:{}", category.id());
                    match find(&infos, &concept_id) {
                        Some(existing) => existing,
                        None => {
                            infos.push(ConceptInfo {
                                id: concept_id,
                                crisis: false,
                            });
                            let new = (infos.len() - 1) as u16;
                            match presentations.iter_mut().find(|p| p.category == category) {
                                Some(p) => p.rules.push(vec![new]),
                                None => presentations.push(CompiledPresentation {
                                    category,
                                    rules: vec![vec![new]],
                                }),
                            }
                            new
                        }
                    }
                }
                _ => return Err(DetectorError::Target { index }),
            };
            lexicon
                .add(&classes, &phrase.phrase, Tag::Concept(concept))
                .map_err(|source| DetectorError::Phrase { index, source })?;
        }
        for (index, form) in benign.iter().enumerate() {
            lexicon
                .add(&classes, form, Tag::Veto(VetoScope::All))
                .map_err(|source| DetectorError::Benign { index, source })?;
        }
        for p in &presentations {
            if p.category.script() == Script::Crisis988 {
                for id in p.rules.iter().flatten() {
                    infos[usize::from(*id)].crisis = true;
                }
            }
        }
        let service_next = classes.word_set(concepts::SERVICE_NEXT).map_err(builtin)?;
        Ok(Detector {
            forms: lexicon.len(),
            lexicon,
            concepts: infos,
            presentations,
            service_next,
        })
    }

    /// Assess one transcript.
    pub fn assess(&self, transcript: &str) -> Assessment {
        let normal = text::normalise(transcript);
        let tokens = text::tokenise(&normal);
        self.analyse(&tokens, |_, _, _| {}).0
    }

    /// Assess one transcript and say why.
    pub fn explain(&self, transcript: &str) -> Explanation {
        let normal = text::normalise(transcript);
        let tokens = text::tokenise(&normal);
        let words = |s: Span| tokens[s.start..s.end].join(" ");
        let mut mentions = Vec::new();
        let (assessment, raised) = self.analyse(&tokens, |concept, span, status| {
            let (rule, cue) = match status {
                Status::Context(standing) => (standing.rule(), standing.cue()),
                Status::LookAlike(cue) => ("look_alike", cue),
            };
            mentions.push(Mention {
                concept: self.concepts[usize::from(concept)].id.clone(),
                words: words(span),
                rule,
                cue: cue.map(words),
            });
        });
        Explanation {
            assessment,
            raised: raised
                .into_iter()
                .map(|(category, rule)| {
                    (
                        category,
                        rule.iter().map(|c| self.concepts[usize::from(*c)].id.clone()).collect(),
                    )
                })
                .collect(),
            mentions,
        }
    }

    /// The core: one matching pass, context per mention, presentations. `report` sees every
    /// mention and how it stood (for `--explain`; a no-op otherwise).
    fn analyse(
        &self,
        tokens: &[&str],
        mut report: impl FnMut(u16, Span, Status),
    ) -> (Assessment, Vec<(Category, Vec<u16>)>) {
        let mut found = Vec::with_capacity(32);
        self.lexicon.find_all(tokens, &mut found);
        let mut cues = Vec::with_capacity(found.len());
        let mut vetoes = Vec::new();
        let mut mentions = Vec::with_capacity(found.len());
        for (tag, span) in found {
            match tag {
                Tag::Concept(c) => mentions.push((c, span)),
                Tag::Veto(scope) => vetoes.push((scope, span)),
                Tag::Cue(cue) => cues.push((cue, span)),
            }
        }
        let cues = Cues::new(tokens, cues);
        // Earliest affirmed start per concept.
        let mut first: Vec<Option<usize>> = vec![None; self.concepts.len()];
        for (concept, span) in mentions {
            let crisis = self.concepts[usize::from(concept)].crisis;
            let veto = vetoes
                .iter()
                .find(|(scope, v)| (crisis || *scope == VetoScope::All) && v.covers_most_of(&span))
                .map(|(_, v)| *v)
                .filter(|_| !cues.is_serious(span));
            let service = tokens
                .get(span.end)
                .is_some_and(|next| self.service_next.contains(next));
            let status = if veto.is_some() || service {
                Status::LookAlike(veto)
            } else {
                Status::Context(cues.classify(span, crisis))
            };
            report(concept, span, status);
            if matches!(status, Status::Context(Standing::Affirmed)) {
                let slot = &mut first[usize::from(concept)];
                *slot = Some(slot.map_or(span.start, |s| s.min(span.start)));
            }
        }
        let mut best: [Option<(usize, Category)>; 2] = [None, None];
        let mut raised = Vec::new();
        for p in &self.presentations {
            // A rule completes when its last concept is first affirmed; the earliest rule wins.
            let complete = p
                .rules
                .iter()
                .filter_map(|rule| {
                    rule.iter()
                        .map(|c| first[usize::from(*c)])
                        .try_fold(0usize, |acc, at| at.map(|at| acc.max(at)))
                        .map(|at| (at, rule))
                })
                .min_by_key(|(at, _)| *at);
            if let Some((at, rule)) = complete {
                raised.push((p.category, rule.clone()));
                let slot = &mut best[usize::from(p.category.script() == Script::Crisis988)];
                if slot.is_none_or(|(best_at, _)| at < best_at) {
                    *slot = Some((at, p.category));
                }
            }
        }
        let assessment = Assessment {
            emergency: best[0].map(|(_, c)| c),
            crisis: best[1].map(|(_, c)| c),
            language: text::language_of(tokens),
        };
        (assessment, raised)
    }
}

#[cfg(test)]
mod tests;
