//! Red-flag matcher: a deterministic, server-side check of every caller transcript for symptoms that
//! mean "call 911 now" or words that mean "call or text 988 now".
//!
//! It runs on every caller transcript (each finished caller turn) *beside* the model's own
//! `flag_emergency` tool, so the 911/988 script does not depend on the model noticing. Either source
//! may raise the flag; this one cannot be talked out of it.
//!
//! **What it catches** ([`check`]), in English and Spanish, whoever the patient is ("my father has
//! chest pain" triggers just like "I have chest pain": the caller may be phoning for someone in
//! danger):
//! - [`Category::ChestPain`]: chest pain/pressure/tightness, pain down the left arm, "heart attack".
//! - [`Category::Breathing`]: can't breathe, short of breath, choking, turning blue, not breathing.
//! - [`Category::Stroke`]: facial droop, slurred speech, sudden one-sided weakness or numbness, the
//!   worst headache of one's life, "stroke".
//! - [`Category::Bleeding`]: heavy or unstoppable bleeding, coughing or vomiting blood.
//! - [`Category::AllergicReaction`]: throat/tongue/lip swelling, anaphylaxis, an EpiPen just used.
//! - [`Category::Unconscious`]: passed out, unresponsive, won't wake up, collapsed, seizure.
//! - [`RedFlag::SelfHarm988`]: suicidal thoughts, wanting to die, self-injury. It wins over any 911
//!   category in the same transcript, because the 988 script also covers "if you are in danger now,
//!   call 911".
//!
//! **What it deliberately doesn't flag**, clause by clause (a clause ends at `. , ; ! ? "`, "but",
//! "pero", "and now"):
//! - negated symptoms ("no chest pain", "I'm not having trouble breathing", "no tengo dolor en el
//!   pecho", "I'm not suicidal"): a negator a few words before the symptom, or between its words, in
//!   the same clause. Phrases whose meaning *is* the negation ("can't breathe", "won't wake up",
//!   "no puedo respirar", "I don't want to be alive") are patterns in their own right;
//! - past history and follow-ups ("I had a stroke in 2019", "last year", "history of", "it's fine
//!   now"); non-acute complaints ("lately", "on and off") cancel 911 but never 988;
//! - look-alikes, where the symptom word names a service ("chest pain clinic", "seizure medication",
//!   "heart attack risk") or only looks like one ("chest x-ray", "blood test", "allergy shots");
//! - idioms of death and killing ("dying to get in", "this wait is killing me", "kill two birds").
//!
//! It is a keyword matcher, not a classifier: it errs towards flagging (a caller told to dial 911
//! needlessly is inconvenienced; one who isn't may die), and it is measured against
//! `tests/red_flags/corpus.tsv`, which requires 100% recall on the must-catch rows.
//!
//! **Deterministic**: no state, no clock, no randomness; the same text always gives the same answer.
//! The only allocations are the normalised text and its token index.

/// What [`check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedFlag {
    /// A medical emergency: tell the caller to hang up and dial 911.
    Emergency911(Category),
    /// Suicidal thoughts or self-harm: give the 988 Suicide & Crisis Lifeline.
    SelfHarm988,
}

/// Which kind of medical emergency was heard, for the audit record and the spoken script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Chest pain or pressure, a heart attack.
    ChestPain,
    /// Can't breathe, choking, turning blue.
    Breathing,
    /// Facial droop, slurred speech, sudden one-sided weakness, worst headache of one's life.
    Stroke,
    /// Heavy or unstoppable bleeding, coughing or vomiting blood.
    Bleeding,
    /// Throat or tongue swelling, anaphylaxis, EpiPen used.
    AllergicReaction,
    /// Passed out, unresponsive, seizure.
    Unconscious,
}

/// Checks one caller transcript. Returns the red flag it contains, if any; self-harm wins over 911
/// if both are present, and otherwise the first emergency in speech order is reported.
pub fn check(transcript: &str) -> Option<RedFlag> {
    let text = normalise(transcript);
    let tokens = tokenise(&text);
    let mut clauses = tokens.split(|t| *t == BOUNDARY).filter(|c| !c.is_empty()).peekable();
    let mut emergency = None;
    while let Some(clause) = clauses.next() {
        let next = clauses.peek().copied();
        let past = has_cue(clause, PAST_CUES) && !has_cue(clause, ONGOING_CUES);
        if past || has_cue(clause, RESOLVED_CUES) || next.is_some_and(|n| has_cue(n, RESOLVED_CUES)) {
            continue;
        }
        let chronic = has_cue(clause, CHRONIC_CUES);
        for pattern in PATTERNS {
            // After the first emergency (or in a non-acute clause) only self-harm can still change the answer.
            let wanted = pattern.flag == RedFlag::SelfHarm988 || emergency.is_none() && !chronic;
            if wanted && matches(clause, pattern) {
                match pattern.flag {
                    RedFlag::SelfHarm988 => return Some(RedFlag::SelfHarm988),
                    RedFlag::Emergency911(category) => emergency = Some(category),
                }
            }
        }
    }
    emergency.map(RedFlag::Emergency911)
}

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

/// Token that marks a clause boundary in the token stream. It cannot come from the caller: a `|` in
/// the transcript is turned into a space like any other symbol.
const BOUNDARY: &str = "|";

/// Lowercases, strips Spanish/Latin accents, drops apostrophes ("can't" → "cant", "mom's" →
/// "moms", so the transcriber's choice of apostrophe doesn't matter), turns clause punctuation into
/// [`BOUNDARY`] and every other symbol into a space.
fn normalise(transcript: &str) -> String {
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
            '.' | ',' | ';' | ':' | '!' | '?' | '"' | '“' | '”' | '¿' | '¡' | '…' | '(' | ')' | '[' | ']' | '\n' => {
                out.push_str(" | ")
            }
            _ => out.push(' '),
        }
    }
    out
}

/// Speech fillers the transcriber writes out; dropped so they don't use up a proximity window.
const FILLERS: &[&str] = &[
    "uh", "uhh", "um", "umm", "uhm", "er", "erm", "ah", "ahh", "hmm", "mm", "mmm",
];

/// One-word rewrites: clause splitters, contractions the transcriber spells out, and common
/// mis-transcriptions of red-flag words (speech-to-text hears "chest pane", "seizer", "hart attack").
const WORD_FIXES: &[(&str, &[&str])] = &[
    ("but", &[BOUNDARY]),
    ("pero", &[BOUNDARY]),
    ("though", &[BOUNDARY]),
    ("although", &[BOUNDARY]),
    ("cannot", &["cant"]),
    ("gonna", &["going", "to"]),
    ("wanna", &["want", "to"]),
    ("pane", &["pain"]),
    ("panes", &["pains"]),
    ("chestpain", &["chest", "pain"]),
    ("chestpains", &["chest", "pains"]),
    ("hart", &["heart"]),
    ("strokelike", &["stroke", "like"]),
    ("seizer", &["seizure"]),
    ("seizers", &["seizures"]),
    ("sezure", &["seizure"]),
    ("siezure", &["seizure"]),
    ("seasure", &["seizure"]),
    ("unconscience", &["unconscious"]),
    ("unconcious", &["unconscious"]),
    ("unconsious", &["unconscious"]),
    ("suicidle", &["suicidal"]),
    ("anaphalaxis", &["anaphylaxis"]),
    ("anaphylaxsis", &["anaphylaxis"]),
];

/// Two-word rewrites, same purpose as [`WORD_FIXES`]; "and now" starts a new clause so that "I had a
/// heart attack in 2019 and now my chest hurts" is not cancelled by its own past history.
const PAIR_FIXES: &[(&str, &str, &[&str])] = &[
    ("and", "now", &[BOUNDARY, "now"]),
    ("y", "ahora", &[BOUNDARY, "ahora"]),
    ("can", "not", &["cant"]),
    ("epi", "pen", &["epipen"]),
    ("epi", "pens", &["epipens"]),
    ("x", "ray", &["xray"]),
    ("x", "rays", &["xrays"]),
    ("my", "self", &["myself"]),
    ("him", "self", &["himself"]),
    ("her", "self", &["herself"]),
    ("suicide", "all", &["suicidal"]),
    ("past", "out", &["passed", "out"]),
    ("follow", "up", &["followup"]),
    ("follow", "ups", &["followups"]),
    ("check", "up", &["checkup"]),
    ("heart", "attach", &["heart", "attack"]),
    ("hart", "attach", &["heart", "attack"]),
    ("blood", "pressure", &["bloodpressure"]),
];

/// Splits normalised text into tokens, applying [`FILLERS`], [`PAIR_FIXES`], [`WORD_FIXES`] and
/// collapsing stutters ("my my chest", "to to") and empty clauses.
fn tokenise(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::with_capacity(text.len() / 4 + 1);
    let mut words = text.split_whitespace().filter(|w| !FILLERS.contains(w)).peekable();
    while let Some(word) = words.next() {
        let pair = words
            .peek()
            .and_then(|next| PAIR_FIXES.iter().find(|(a, b, _)| *a == word && b == next));
        if let Some((_, _, replacement)) = pair {
            words.next();
            replacement.iter().for_each(|w| push_token(&mut out, w));
        } else if let Some((_, replacement)) = WORD_FIXES.iter().find(|(w, _)| *w == word) {
            replacement.iter().for_each(|w| push_token(&mut out, w));
        } else {
            push_token(&mut out, word);
        }
    }
    if out.last() == Some(&BOUNDARY) {
        out.pop();
    }
    out
}

fn push_token<'a>(out: &mut Vec<&'a str>, token: &'a str) {
    let leading_boundary = token == BOUNDARY && out.is_empty();
    if leading_boundary || out.last() == Some(&token) {
        return;
    }
    out.push(token);
}

// ---------------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------------

/// One token position: any of these words. A trailing `*` matches by prefix ("bleed*" → bleeding,
/// bleeds); `#year` matches a four-digit year 1900–2099.
type Word = &'static [&'static str];

/// A phrase: consecutive token positions.
type Phrase = &'static [Word];

/// How a pattern's words must sit in a clause.
enum Rule {
    /// The phrase, word after word.
    Seq(Phrase),
    /// Both phrases, in either order, with at most `usize` tokens between them.
    Near(Phrase, Phrase, usize),
    /// The first phrase, then the second, with at most `usize` tokens between them.
    Then(Phrase, Phrase, usize),
}

/// A red-flag pattern and the flag it raises.
struct Pattern {
    /// Raised when `rule` matches a clause and the match survives negation, look-alike and idiom checks.
    flag: RedFlag,
    /// Where the words must be.
    rule: Rule,
}

const fn seq(flag: RedFlag, phrase: Phrase) -> Pattern {
    Pattern {
        flag,
        rule: Rule::Seq(phrase),
    }
}
const fn near(flag: RedFlag, a: Phrase, b: Phrase, gap: usize) -> Pattern {
    Pattern {
        flag,
        rule: Rule::Near(a, b, gap),
    }
}
const fn then(flag: RedFlag, a: Phrase, b: Phrase, gap: usize) -> Pattern {
    Pattern {
        flag,
        rule: Rule::Then(a, b, gap),
    }
}

/// Short names for the flags, so the pattern table below fits one pattern per line.
const CHEST: RedFlag = RedFlag::Emergency911(Category::ChestPain);
/// See [`CHEST`].
const BREATH: RedFlag = RedFlag::Emergency911(Category::Breathing);
/// See [`CHEST`].
const STROKE: RedFlag = RedFlag::Emergency911(Category::Stroke);
/// See [`CHEST`].
const BLEED: RedFlag = RedFlag::Emergency911(Category::Bleeding);
/// See [`CHEST`].
const ALLERGY: RedFlag = RedFlag::Emergency911(Category::AllergicReaction);
/// See [`CHEST`].
const UNCONSCIOUS: RedFlag = RedFlag::Emergency911(Category::Unconscious);
/// See [`CHEST`].
const SELF_HARM: RedFlag = RedFlag::SelfHarm988;

/// Words that describe chest pain when they sit near "chest" (includes "killing", as in "my chest is
/// killing me", which is why the death idioms only veto self-harm matches).
const PAIN_WORDS: Word = &[
    "pain*",
    "hurt*",
    "pressure",
    "tight*",
    "heav*",
    "crush*",
    "squeez*",
    "ache*",
    "aching",
    "killing",
    "sharp",
    "discomfort",
];
/// Words that make bleeding an emergency when they sit near "bleeding"/"sangrando".
const BLEEDING_HARD: Word = &[
    "lot",
    "heav*",
    "badly",
    "bad",
    "profuse*",
    "everywhere",
    "much",
    "mucho",
    "bastante",
];
/// How a drooping face is described.
const DROOP: Word = &["droop*", "crooked", "sagg*", "caida", "caido", "torcida"];
/// Limbs and sides a stroke can take away ("can't lift my arm").
const LIMB: Word = &["arm*", "leg*", "side", "hand*", "face"];
/// Ways of bringing blood up ("coughing up blood", "vomitando sangre").
const BRING_UP: Word = &[
    "cough*",
    "vomit*",
    "throw*",
    "spit*",
    "tosiendo",
    "tose",
    "vomitando",
    "vomita",
];
/// Words that make a throat, tongue or lips an airway emergency.
const SWELLING: Word = &["swell*", "swollen", "clos*", "tight*", "hinch*", "cerr*"];
/// Third-person and first-person possessives, for "catch my/his/her breath".
const POSSESSIVE: Word = &["my", "his", "her", "their", "your", "our"];
/// Reflexive pronouns, for "kill myself/himself/herself".
const REFLEXIVE: Word = &["myself", "himself", "herself", "themselves", "themself", "yourself"];

/// Every red-flag pattern. Self-harm patterns are checked in every clause even after a 911 match,
/// because 988 wins; 911 patterns are checked in order and the first match in speech order is kept.
#[rustfmt::skip] // One pattern per line reads as a table; rustfmt would spread most of them over five lines.
const PATTERNS: &[Pattern] = &[
    // --- chest pain ---
    near(CHEST, &[&["chest"]], &[PAIN_WORDS], 5),
    seq(CHEST, &[&["heart"], &["attack*"]]),
    seq(CHEST, &[&["heart"], &["hurts", "hurting", "pain", "pains"]]),
    then(CHEST, &[&["grab*", "clutch*", "holding"]], &[&["chest"]], 2),
    then(CHEST, &[&["sitting", "sits"], &["on"]], &[&["chest"]], 1),
    near(CHEST, &[&["left"], &["arm"]], &[&["pain*", "hurt*", "numb*", "tingl*", "ache*", "aching"]], 4),
    near(CHEST, &[&["pecho"]], &[&["dolor*", "duele", "presion", "opresion", "apret*"]], 3),
    seq(CHEST, &[&["ataque"], &["al"], &["corazon"]]),
    seq(CHEST, &[&["ataque"], &["cardiaco"]]),
    seq(CHEST, &[&["infarto"]]),
    // --- breathing ---
    seq(BREATH, &[&["cant", "couldnt", "barely", "hardly"], &["breath*"]]),
    seq(BREATH, &[&["cant", "couldnt"], &["catch"], POSSESSIVE, &["breath*"]]),
    then(BREATH, &[&["cant", "couldnt"]], &[&["air"]], 2),
    then(BREATH, &[&["trouble", "difficult*", "struggl*", "hard", "harder"]], &[&["breath*"]], 2),
    seq(BREATH, &[&["not", "isnt", "wasnt", "stopped", "quit"], &["breathing"]]),
    seq(BREATH, &[&["not"], &["able"], &["to"], &["breath*"]]),
    seq(BREATH, &[&["short", "shortness"], &["of"], &["breath*"]]),
    seq(BREATH, &[&["out"], &["of"], &["breath*"]]),
    seq(BREATH, &[&["gasp*", "suffocat*", "chok*", "ahog*"]]),
    near(BREATH, &[&["wheez*"]], &[&["bad", "badly", "severe*", "cant"]], 3),
    near(BREATH, &[&["lips", "lip", "face", "skin"]], &[&["blue"]], 2),
    seq(BREATH, &[&["turning", "turned", "going"], &["blue", "purple", "gray", "grey"]]),
    seq(BREATH, &[&["asthma"], &["attack*"]]),
    then(BREATH, &[&["inhaler"]], &[&["not", "isnt", "doesnt", "wont", "aint"], &["work*", "help*"]], 1),
    seq(BREATH, &[&["no"], &["puedo", "puede", "podia", "pueden"], &["respirar"]]),
    seq(BREATH, &[&["no"], &["respira"]]),
    near(BREATH, &[&["falta", "faltando"]], &[&["aire"]], 2),
    seq(BREATH, &[&["dificultad"], &["para"], &["respirar"]]),
    // --- stroke ---
    near(STROKE, &[&["face", "smile", "mouth", "cara", "boca"]], &[DROOP], 3),
    seq(STROKE, &[&["slurr*", "garbled"]]),
    near(STROKE, &[&["sudden*"]], &[&["weak*", "numb*", "paraly*"]], 3),
    near(STROKE, &[&["sudden*"]], &[&["cant", "couldnt"], &["speak", "talk", "see", "move"]], 3),
    seq(STROKE, &[&["cant", "couldnt"], &["speak", "talk"], &["properly", "clearly", "straight", "normally"]]),
    near(STROKE, &[&["one", "left", "right"], &["side"]], &[&["numb*", "weak*", "paraly*", "droop*", "dead"]], 4),
    then(STROKE, &[&["cant", "couldnt"], &["move", "lift", "raise", "feel"]], &[LIMB], 3),
    seq(STROKE, &[&["worst"], &["headache*"]]),
    seq(STROKE, &[&["thunderclap", "stroke*", "derrame", "embolia"]]),
    // --- bleeding ---
    near(BLEED, &[&["bleed*", "sangr*"]], &[BLEEDING_HARD], 3),
    near(BLEED, &[&["bleed*", "blood", "sangr*"]], &[&["gush*", "soak*", "pour*", "spurt*"]], 6),
    seq(BLEED, &[&["wont", "cant", "doesnt", "wouldnt", "not", "never"], &["stop*"], &["bleed*"]]),
    then(BLEED, &[&["bleed*"]], &[&["wont", "not", "cant", "doesnt"], &["stop*"]], 4),
    seq(BLEED, &[&["no"], &["para", "deja"], &["de"], &["sangrar"]]),
    then(BLEED, &[&["sangr*"]], &[&["no"], &["para"]], 3),
    seq(BLEED, &[&["blood"], &["everywhere"]]),
    seq(BLEED, &[&["hemorrhag*", "haemorrhag*", "hemorrag*"]]),
    then(BLEED, &[&["much", "lot", "lots", "mucha", "tons", "pool"]], &[&["blood", "sangre"]], 2),
    then(BLEED, &[BRING_UP], &[&["blood", "sangre"]], 1),
    then(BLEED, &[&["blood"]], &[&["vomit*"]], 3),
    // --- allergic reaction ---
    near(ALLERGY, &[&["throat", "tongue", "lips", "lip", "garganta", "lengua", "labios"]], &[SWELLING], 3),
    near(ALLERGY, &[&["face", "cara"]], &[&["swelling", "hinchando"]], 3),
    seq(ALLERGY, &[&["anaphyla*", "anafila*", "anafala*"]]),
    then(ALLERGY, &[&["use", "used", "using", "uses", "gave", "give", "giving", "inject*"]], &[&["epipen*"]], 2),
    seq(ALLERGY, &[&["severe", "serious", "bad", "terrible", "major"], &["allerg*"], &["reaction*"]]),
    then(ALLERGY, &[&["cant", "couldnt", "trouble", "difficult*"]], &[&["swallow*"]], 1),
    seq(ALLERGY, &[&["reaccion"], &["alergica"], &["grave", "fuerte", "severa"]]),
    seq(ALLERGY, &[&["no"], &["puedo", "puede"], &["tragar"]]),
    // --- loss of consciousness, seizure ---
    seq(UNCONSCIOUS, &[&["passed", "pass", "passing", "passes", "blacked", "blacking"], &["out"]]),
    seq(UNCONSCIOUS, &[&["out"], &["cold"]]),
    seq(UNCONSCIOUS, &[&["fainted", "fainting", "faints", "collaps*", "unconscious*", "unresponsive"]]),
    seq(UNCONSCIOUS, &[&["not", "isnt", "wasnt", "stopped"], &["responding", "responsive", "conscious"]]),
    seq(UNCONSCIOUS, &[&["wont", "cant", "isnt", "not", "couldnt"], &["wak*"]]),
    seq(UNCONSCIOUS, &[&["lost", "losing"], &["consciousness"]]),
    seq(UNCONSCIOUS, &[&["seiz*", "convuls*", "desmay*", "inconsciente"]]),
    seq(UNCONSCIOUS, &[&["no"], &["despierta", "reacciona", "responde"]]),
    seq(UNCONSCIOUS, &[&["no"], &["se"], &["despierta", "mueve"]]),
    seq(UNCONSCIOUS, &[&["ataque"], &["epileptico"]]),
    // --- self-harm ---
    seq(SELF_HARM, &[&["kill*", "shoot", "shooting", "hang", "hanging", "drown", "drowning"], REFLEXIVE]),
    seq(SELF_HARM, &[&["end", "ending", "ended"], POSSESSIVE, &["life", "own"]]),
    seq(SELF_HARM, &[&["take", "taking", "took"], POSSESSIVE, &["own"], &["life"]]),
    seq(SELF_HARM, &[&["suicid*"]]),
    then(SELF_HARM, &[&["want", "wants", "wanted"]], &[&["die", "dead"]], 2),
    seq(SELF_HARM, &[&["think*", "thought"], &["about", "of"], &["dying", "death"]]),
    then(SELF_HARM, &[&["wish"]], &[&["dead"]], 3),
    then(SELF_HARM, &[&["better"], &["off"]], &[&["dead"]], 4),
    then(SELF_HARM, &[&["rather"]], &[&["dead", "die"]], 2),
    seq(SELF_HARM, &[&["to"], &["hurt", "harm", "cut"], REFLEXIVE]),
    seq(SELF_HARM, &[&["hurting", "harming", "cutting"], REFLEXIVE]),
    seq(SELF_HARM, &[&["end"], &["it"], &["all"]]),
    seq(SELF_HARM, &[&["end", "ending"], &["things", "everything"]]),
    seq(SELF_HARM, &[&["point", "reason"], &["in", "of", "to", "for"], &["living", "live", "life"]]),
    seq(SELF_HARM, &[&["dont", "doesnt", "cant"], &["see"], &["the", "any", "a"], &["point", "reason"]]),
    seq(SELF_HARM, &[&["no"], &["point", "reason"], &["in", "to", "for"], &["living", "live", "going"]]),
    then(SELF_HARM, &[&["pills", "overdos*"]], &[&["end", "die", "kill*", "purpose"]], 4),
    then(SELF_HARM, &[&["plan*", "going", "want*", "think*"]], &[&["overdos*"]], 3),
    then(SELF_HARM, &[&["swallowed"]], &[&["all", "whole", "entire", "bunch", "handful"]], 2),
    seq(SELF_HARM, &[&["whole", "entire"], &["bottle"]]),
    then(SELF_HARM, &[&["jump*"]], &[&["bridge", "building", "roof", "train"]], 4),
    then(SELF_HARM, &[&["gun", "rope", "noose"]], &[&["myself", "kill*", "end", "die", "shoot*"]], 8),
    seq(SELF_HARM, &[&["dont", "doesnt"], &["want"], &["to"], &["live", "exist"]]),
    seq(SELF_HARM, &[&["dont", "doesnt"], &["want"], &["to"], &["be"], &["alive"]]),
    seq(SELF_HARM, &[&["dont", "doesnt"], &["want"], &["to"], &["be"], &["here"], &["anymore"]]),
    seq(SELF_HARM, &[&["quiero", "quiere"], &["matar*", "morir*"]]),
    seq(SELF_HARM, &[&["matarme", "matarse", "lastimarme", "lastimarse", "cortarme", "cortarse"]]),
    then(SELF_HARM, &[&["no"], &["quiero", "quiere"]], &[&["vivir", "viviendo"]], 1),
    seq(SELF_HARM, &[&["quitarme", "quitarse"], &["la"], &["vida"]]),
    seq(SELF_HARM, &[&["hacerme", "hacerse"], &["dano"]]),
];

// ---------------------------------------------------------------------------------------------
// Vetoes
// ---------------------------------------------------------------------------------------------

/// How many tokens before a match a negator still applies ("I do not have any kind of chest pain").
const NEGATION_WINDOW: usize = 5;

/// Words that negate a symptom after them. Inability words ("can't", "won't") are not here: they
/// are part of patterns ("can't breathe", "won't wake up").
const NEGATORS: &[&str] = &[
    "no", "not", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "havent", "hasnt", "hadnt", "never",
    "denies", "deny", "denied", "denying", "without", "none", "nor", "neither", "negative", "sin", "nunca", "ni",
];

/// A negator followed by one of these is not negating a symptom: "I don't know what's happening, my
/// chest hurts", "not sure", "no one is home and he collapsed".
const PSEUDO_NEGATION_NEXT: &[&str] = &[
    "know", "sure", "idea", "clue", "kidding", "matter", "doubt", "think", "one", "way", "se", "sabe",
];

/// "no" followed by a pronoun or possessive is an interjection ("no, he can't breathe" transcribed
/// without the comma), not a negator.
const INTERJECTION_NEXT: &[&str] = &[
    "my", "his", "her", "their", "our", "your", "he", "she", "they", "i", "it", "we", "you", "hes", "shes", "its",
    "im", "theyre", "the", "this", "that", "yes", "wait", "sorry", "please", "help", "mi", "su",
];

/// A negator's scope ends at these words: "no fever and chest pain" still reports chest pain.
const SCOPE_BREAKERS: &[&str] = &[
    "and", "y", "then", "so", "because", "now", "entonces", "ahora", "porque",
];

/// A match followed directly by one of these names a service, not a symptom: "chest pain clinic",
/// "seizure medication", "heart attack risk", "choking hazard", "can't breathe through my nose".
const LOOK_ALIKE_NEXT: Word = &[
    "clinic*",
    "medication*",
    "medicine*",
    "meds",
    "refill*",
    "prescription*",
    "test*",
    "screening",
    "risk*",
    "prevention",
    "specialist*",
    "appointment*",
    "xray*",
    "ct",
    "scan*",
    "mri",
    "rehab*",
    "center",
    "unit",
    "hazard*",
    "kit",
    "program*",
    "class*",
    "group",
    "treatment*",
    "results",
    "awareness",
    "hotline",
    "survivor*",
    "monitor*",
    "through",
    "action",
    "plan",
    "insurance",
    "followup*",
    "free",
];

/// Figures of speech that contain a symptom word; they veto any match they overlap.
const FIGURES_OF_SPEECH: &[Phrase] = &[&[&["stroke"], &["of"], &["luck", "genius", "fortune", "midnight"]]];

/// Idioms of death and killing (and "dyeing" transcribed as "dying"). They veto only self-harm matches
/// they overlap: the symptom patterns need a body part, and "my chest is killing me" is chest pain.
const DEATH_IDIOMS: &[Phrase] = &[
    &[&["dying"], &["my", "her", "his", "the"], &["hair"]],
    &[&["dying"], &["to", "for"]],
    &[&["killing"], &["me", "time"]],
    &[&["kill"], &["two"], &["birds"]],
    &[&["kill"], &["for"]],
    &[&["to"], &["death"]],
    &[&["to"], &["die"], &["for"]],
    &[&["die"], &["laughing"]],
    &[&["die"], &["of"], &["embarrassment", "shame", "boredom"]],
    &[&["could"], &["just"], &["die"]],
    &[&["dead"], &["tired", "end"]],
    &[&["me"], &["muero"], &["de"]],
];

/// Past-history cues: a clause that contains one is about the past (or a routine follow-up), so
/// nothing in it is flagged. Voided by a preceding "since" ("chest pain since yesterday").
const PAST_CUES: &[Phrase] = &[
    &[
        &["last"],
        &["year", "month", "week", "summer", "winter", "spring", "fall"],
    ],
    &[&["year", "years", "month", "months", "week", "weeks"], &["ago"]],
    &[&["in", "en", "back"], &["#year"]],
    &[&["history", "hx", "historia"], &["of", "de"]],
    &[&["antecedentes"]],
    &[&["used"], &["to"]],
    &[&["a"], &["while"], &["back", "ago"]],
    &[&["as"], &["a"], &["kid", "child", "baby", "teen", "teenager"]],
    &[&["when"], &["i", "he", "she"], &["was"]],
    &[&[
        "followup*",
        "checkup*",
        "annual",
        "previous*",
        "prior",
        "yesterday",
        "ayer",
        "seguimiento",
        "chequeo",
    ]],
    &[&["on"], &["file"]],
    &[&["in"], &["my", "the", "our"], &["family"]],
    &[&["family"], &["history"]],
    &[&["el"], &["ano"], &["pasado"]],
    &[&["hace"], &["*"], &["ano", "anos", "mes", "meses"]],
];

/// Ongoing cues: they keep a clause with a past-history cue live ("he collapsed yesterday and is still
/// unconscious", "I attempted suicide last year and I'm thinking about it again").
const ONGOING_CUES: &[Phrase] = &[
    &[&["still", "again", "currently", "todavia", "sigue", "sigo"]],
    &[&["right"], &["now"]],
    &[&["otra"], &["vez"]],
    &[&["de"], &["nuevo"]],
];

/// Resolution cues: they cancel their own clause and the one before it ("he fainted, but he's fine
/// now").
const RESOLVED_CUES: &[Phrase] = &[
    &[&["fine", "better", "ok", "okay", "good", "normal"], &["now"]],
    &[&["all"], &["better"]],
    &[&["went", "gone"], &["away"]],
    &[&["resolved", "recovered"]],
    &[&["doing"], &["better"]],
];

/// Non-acute cues: a long-standing complaint is for an appointment, not 911. They never cancel 988:
/// suicidal thoughts "lately" are still a crisis.
const CHRONIC_CUES: &[Phrase] = &[
    &[&["lately", "sometimes"]],
    &[&["on"], &["and"], &["off"]],
    &[&["for"], &["months", "weeks", "years"]],
];

/// Words that turn a cue right after them into the start of something still going on ("since last
/// week", "desde ayer").
const CUE_VOIDERS: &[&str] = &["since", "desde"];

// ---------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------

/// One occurrence of a rule in a clause.
#[derive(Debug, Clone, Copy)]
struct Hit {
    /// First token of the match.
    start: usize,
    /// One past the last token of the match.
    end: usize,
    /// Tokens between the two phrases of a `Near`/`Then` rule (empty for `Seq`), where a negator
    /// also cancels ("my chest doesn't hurt").
    gap: (usize, usize),
}

fn word_is(token: &str, word: Word) -> bool {
    word.iter().any(|alt| match *alt {
        "*" => true,
        "#year" => {
            token.len() == 4
                && (token.starts_with("19") || token.starts_with("20"))
                && token.bytes().all(|b| b.is_ascii_digit())
        }
        _ => match alt.strip_suffix('*') {
            Some(prefix) => token.starts_with(prefix),
            None => token == *alt,
        },
    })
}

fn phrase_at(clause: &[&str], at: usize, phrase: Phrase) -> bool {
    at + phrase.len() <= clause.len()
        && phrase
            .iter()
            .zip(&clause[at..])
            .all(|(word, token)| word_is(token, word))
}

/// Calls `accept` on each occurrence of `rule` in `clause` until it returns true.
fn any_hit(clause: &[&str], rule: &Rule, mut accept: impl FnMut(Hit) -> bool) -> bool {
    let starts = |phrase: Phrase| (0..clause.len()).filter(move |&i| phrase_at(clause, i, phrase));
    match *rule {
        Rule::Seq(p) => starts(p).any(|i| {
            accept(Hit {
                start: i,
                end: i + p.len(),
                gap: (i, i),
            })
        }),
        Rule::Near(a, b, max) | Rule::Then(a, b, max) => {
            let either_order = matches!(rule, Rule::Near(..));
            starts(a).any(|i| {
                // Only look for the second phrase inside the window, so a long unpunctuated transcript
                // stays linear in its length.
                let from = if either_order {
                    i.saturating_sub(max + b.len())
                } else {
                    i + a.len()
                };
                let to = (i + a.len() + max + 1).min(clause.len());
                (from..to).filter(|&j| phrase_at(clause, j, b)).any(|j| {
                    let (a_end, b_end) = (i + a.len(), j + b.len());
                    if j >= a_end && j - a_end <= max {
                        accept(Hit {
                            start: i,
                            end: b_end,
                            gap: (a_end, j),
                        })
                    } else if either_order && i >= b_end && i - b_end <= max {
                        accept(Hit {
                            start: j,
                            end: a_end,
                            gap: (b_end, i),
                        })
                    } else {
                        false
                    }
                })
            })
        }
    }
}

fn matches(clause: &[&str], pattern: &Pattern) -> bool {
    any_hit(clause, &pattern.rule, |hit| {
        let look_alike = clause.get(hit.end).is_some_and(|next| word_is(next, LOOK_ALIKE_NEXT));
        let idiom = in_idiom(clause, hit, FIGURES_OF_SPEECH)
            || pattern.flag == RedFlag::SelfHarm988 && in_idiom(clause, hit, DEATH_IDIOMS);
        !(negated(clause, hit) || look_alike || idiom)
    })
}

fn is_negator(clause: &[&str], at: usize) -> bool {
    let word = clause[at];
    if !NEGATORS.contains(&word) {
        return false;
    }
    let next = clause.get(at + 1).copied().unwrap_or("");
    if PSEUDO_NEGATION_NEXT.contains(&next) || word == "no" && INTERJECTION_NEXT.contains(&next) {
        return false;
    }
    // "I've never had pain like this" is a new symptom, not a denial.
    let like_this = |i: usize| phrase_at(clause, i, &[&["like"], &["this", "that"]]);
    !(word == "never" && (at..clause.len()).any(like_this))
}

fn negated(clause: &[&str], hit: Hit) -> bool {
    if (hit.gap.0..hit.gap.1).any(|i| is_negator(clause, i)) {
        return true;
    }
    for i in (hit.start.saturating_sub(NEGATION_WINDOW)..hit.start).rev() {
        if SCOPE_BREAKERS.contains(&clause[i]) {
            return false;
        }
        if is_negator(clause, i) {
            return true;
        }
    }
    false
}

fn in_idiom(clause: &[&str], hit: Hit, idioms: &[Phrase]) -> bool {
    idioms.iter().any(|idiom| {
        (0..clause.len()).any(|i| phrase_at(clause, i, idiom) && i < hit.end && hit.start < i + idiom.len())
    })
}

fn has_cue(clause: &[&str], cues: &[Phrase]) -> bool {
    cues.iter().any(|cue| {
        (0..clause.len()).any(|i| phrase_at(clause, i, cue) && !(i > 0 && CUE_VOIDERS.contains(&clause[i - 1])))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> String {
        tokenise(&normalise(text)).join(" ")
    }

    fn emergency(category: Category) -> Option<RedFlag> {
        Some(RedFlag::Emergency911(category))
    }

    // --- normalisation ---

    #[test]
    fn normalise_lowercases_strips_accents_and_apostrophes() {
        assert_eq!(tokens("I CAN'T Breathe"), "i cant breathe");
        assert_eq!(
            tokens("Se desmayó y no despierta, está inconsciente"),
            "se desmayo y no despierta | esta inconsciente"
        );
        assert_eq!(tokens("my mom’s face"), "my moms face");
        assert_eq!(tokens("¿Mañana?"), "manana");
    }

    #[test]
    fn normalise_splits_clauses_and_drops_noise() {
        assert_eq!(
            tokens("uh, um. . I have, I have chest pain"),
            "i have | i have chest pain"
        );
        assert_eq!(
            tokens("no chest pain but my my my arm is numb"),
            "no chest pain | my arm is numb"
        );
        assert_eq!(
            tokens("I had a stroke in 2019 and now this"),
            "i had a stroke in 2019 | now this"
        );
        assert_eq!(tokens("a | pipe is not a boundary"), "a pipe is not a boundary");
        assert_eq!(tokens(""), "");
        assert_eq!(tokens(" ?!... "), "");
    }

    #[test]
    fn normalise_fixes_common_mis_transcriptions() {
        assert_eq!(tokens("chest pane"), "chest pain");
        assert_eq!(tokens("chestpain"), "chest pain");
        assert_eq!(tokens("i think it's a hart attach"), "i think its a heart attack");
        assert_eq!(tokens("used my epi-pen"), "used my epipen");
        assert_eq!(tokens("stroke-like"), "stroke like");
        assert_eq!(tokens("she past out"), "she passed out");
        assert_eq!(tokens("can not breath"), "cant breath");
        assert_eq!(tokens("I'm gonna kill my self"), "im going to kill myself");
        assert_eq!(tokens("feeling suicide all"), "feeling suicidal");
        assert_eq!(tokens("blood pressure check"), "bloodpressure check");
    }

    #[test]
    fn mis_transcriptions_still_flag() {
        assert_eq!(check("chest pane since this morning"), emergency(Category::ChestPain));
        assert_eq!(check("he's having a seizer"), emergency(Category::Unconscious));
        assert_eq!(check("i cant breath"), emergency(Category::Breathing));
        assert_eq!(check("she's unconcious"), emergency(Category::Unconscious));
    }

    // --- negation scope ---

    #[test]
    fn negator_before_symptom_cancels_it() {
        for text in [
            "no chest pain",
            "I do not have any kind of chest pain",
            "I don't have a fever or chest pain",
            "patient denies shortness of breath",
            "without any chest pain",
            "no tengo dolor en el pecho",
            "sin dolor de pecho",
            "I'm not suicidal",
            "he never had a seizure",
        ] {
            assert_eq!(check(text), None, "{text}");
        }
    }

    #[test]
    fn negator_between_the_words_cancels_it() {
        assert_eq!(check("my chest doesn't hurt"), None);
        assert_eq!(check("my throat isn't swelling, it's sore"), None);
    }

    #[test]
    fn negation_does_not_cross_clauses_or_conjunctions() {
        assert_eq!(check("no fever and chest pain"), emergency(Category::ChestPain));
        assert_eq!(check("No. My chest hurts."), emergency(Category::ChestPain));
        assert_eq!(
            check("I don't have chest pain but I can't breathe"),
            emergency(Category::Breathing)
        );
        assert_eq!(
            check("no tengo fiebre y me duele el pecho"),
            emergency(Category::ChestPain)
        );
    }

    #[test]
    fn negation_built_into_a_symptom_is_not_a_denial() {
        assert_eq!(check("I can't breathe"), emergency(Category::Breathing));
        assert_eq!(check("he's not breathing"), emergency(Category::Breathing));
        assert_eq!(check("she won't wake up"), emergency(Category::Unconscious));
        assert_eq!(check("it won't stop bleeding"), emergency(Category::Bleeding));
        assert_eq!(check("no puedo respirar"), emergency(Category::Breathing));
        assert_eq!(check("I don't want to be alive anymore"), Some(RedFlag::SelfHarm988));
    }

    #[test]
    fn pseudo_negations_and_interjections_do_not_cancel() {
        assert_eq!(
            check("i don't know what's happening my chest hurts"),
            emergency(Category::ChestPain)
        );
        assert_eq!(
            check("i'm not sure what is going on he collapsed"),
            emergency(Category::Unconscious)
        );
        assert_eq!(
            check("there's no one home and my dad collapsed"),
            emergency(Category::Unconscious)
        );
        assert_eq!(check("no he can't breathe"), emergency(Category::Breathing));
        assert_eq!(check("no no no my chest hurts"), emergency(Category::ChestPain));
        assert_eq!(
            check("i've never had pain like this in my chest"),
            emergency(Category::ChestPain)
        );
    }

    // --- third parties ---

    #[test]
    fn third_parties_trigger() {
        assert_eq!(check("my father has chest pain"), emergency(Category::ChestPain));
        assert_eq!(check("my wife can't breathe"), emergency(Category::Breathing));
        assert_eq!(check("my husband stopped breathing"), emergency(Category::Breathing));
        assert_eq!(check("my son is unconscious"), emergency(Category::Unconscious));
        assert_eq!(check("my mom's face is drooping"), emergency(Category::Stroke));
        assert_eq!(
            check("my daughter says she wants to kill herself"),
            Some(RedFlag::SelfHarm988)
        );
        // Someone else dying is a 911 call, not a 988 one.
        assert_eq!(
            check("i think he's dying, he's not breathing"),
            emergency(Category::Breathing)
        );
    }

    // --- Spanish ---

    #[test]
    fn spanish_red_flags() {
        assert_eq!(check("me duele el pecho"), emergency(Category::ChestPain));
        assert_eq!(check("Mi papá tiene un infarto"), emergency(Category::ChestPain));
        assert_eq!(check("mi esposa no puede respirar"), emergency(Category::Breathing));
        assert_eq!(check("se desmayó y no despierta"), emergency(Category::Unconscious));
        assert_eq!(check("está sangrando mucho"), emergency(Category::Bleeding));
        assert_eq!(
            check("se le está hinchando la lengua"),
            emergency(Category::AllergicReaction)
        );
        assert_eq!(check("creo que es un derrame cerebral"), emergency(Category::Stroke));
        assert_eq!(check("quiero suicidarme"), Some(RedFlag::SelfHarm988));
        assert_eq!(check("me quiero matar"), Some(RedFlag::SelfHarm988));
        assert_eq!(check("no me duele el pecho"), None);
        assert_eq!(check("quisiera hacer una cita"), None);
        assert_eq!(check("me muero de ganas de ver al doctor"), None);
    }

    // --- past history, look-alikes, idioms ---

    #[test]
    fn past_history_cancels_but_ongoing_symptoms_do_not() {
        assert_eq!(check("I had a stroke in 2019 and need my annual checkup"), None);
        assert_eq!(check("I had chest pain last year"), None);
        assert_eq!(check("he fainted, but he's fine now"), None);
        assert_eq!(
            check("I've had chest pain since yesterday"),
            emergency(Category::ChestPain)
        );
        assert_eq!(check("chest pain since last week"), emergency(Category::ChestPain));
        assert_eq!(
            check("I had a heart attack in 2019 and now my chest hurts"),
            emergency(Category::ChestPain)
        );
        assert_eq!(
            check("I had a stroke in 2020. Now my face is drooping"),
            emergency(Category::Stroke)
        );
    }

    #[test]
    fn ongoing_cues_keep_a_past_clause_live() {
        assert_eq!(
            check("he collapsed yesterday and is still unconscious"),
            emergency(Category::Unconscious)
        );
        assert_eq!(
            check("I attempted suicide last year and I'm thinking about it again"),
            Some(RedFlag::SelfHarm988)
        );
        assert_eq!(check("he collapsed yesterday"), None);
    }

    #[test]
    fn chronic_cues_cancel_911_but_not_988() {
        assert_eq!(check("i get out of breath on stairs lately"), None);
        assert_eq!(
            check("i've been thinking about suicide lately"),
            Some(RedFlag::SelfHarm988)
        );
    }

    #[test]
    fn look_alikes_do_not_trigger() {
        for text in [
            "I need a chest x-ray",
            "is the chest pain clinic open",
            "my seizure medication refill",
            "stroke rehab appointment",
            "blood pressure check",
            "blood test",
            "i can't breathe through my nose",
            "is this toy a choking hazard",
            "my heart attack risk",
        ] {
            assert_eq!(check(text), None, "{text}");
        }
    }

    #[test]
    fn idioms_do_not_trigger_self_harm() {
        for text in [
            "I'm dying to get an appointment",
            "this wait is killing me",
            "kill two birds with one stone",
        ] {
            assert_eq!(check(text), None, "{text}");
        }
        assert_eq!(check("my chest is killing me"), emergency(Category::ChestPain));
        assert_eq!(
            check("this wait is killing me and i want to kill myself"),
            Some(RedFlag::SelfHarm988)
        );
        assert_eq!(check("i keep thinking about dying my hair red"), None);
        assert_eq!(check("it was a stroke of luck"), None);
    }

    // --- precedence, determinism ---

    #[test]
    fn self_harm_wins_over_911() {
        assert_eq!(
            check("my chest hurts and i want to kill myself"),
            Some(RedFlag::SelfHarm988)
        );
        assert_eq!(
            check("I took a bunch of pills to end it and now I can't breathe"),
            Some(RedFlag::SelfHarm988)
        );
    }

    #[test]
    fn first_emergency_in_speech_order_is_reported() {
        assert_eq!(
            check("he collapsed. he's bleeding a lot"),
            emergency(Category::Unconscious)
        );
        assert_eq!(
            check("he's bleeding a lot. he collapsed"),
            emergency(Category::Bleeding)
        );
    }

    #[test]
    fn long_unpunctuated_transcripts_stay_fast_and_still_match() {
        let mut text = "and then we went to the store and ".repeat(2_000);
        text.push_str("my chest hurts");
        let started = std::time::Instant::now();
        assert_eq!(check(&text), emergency(Category::ChestPain));
        // Generous bound for an unoptimised build on a loaded CI box; a quadratic scan takes seconds.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn deterministic_and_total() {
        let text = "uh my dad, he uh, he collapsed and isn't responding";
        assert_eq!(check(text), check(text));
        for text in ["", "   ", "...", "||||", "\u{0}\u{7f}", "🙂 🙂", "no", "not not not"] {
            assert_eq!(check(text), None, "{text:?}");
        }
    }

    // --- the corpus ---

    /// Every must-catch row of `tests/red_flags/corpus.tsv` is flagged with the right kind (100%
    /// recall); the false-positive rate on `none` rows is printed and held at or under 10%.
    #[test]
    fn corpus_recall_is_total_and_false_positives_are_rare() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/red_flags/corpus.tsv");
        let corpus = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let (mut must_catch, mut none, mut false_positives) = (0usize, 0usize, 0usize);
        let mut misses = Vec::new();
        for (number, line) in corpus.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut columns = line.splitn(3, '\t');
            let (Some(expected), Some(_category), Some(text)) = (columns.next(), columns.next(), columns.next()) else {
                panic!("{path}:{}: expected 3 tab-separated columns", number + 1);
            };
            let got = check(text);
            match expected {
                "none" => {
                    none += 1;
                    if let Some(flag) = got {
                        false_positives += 1;
                        eprintln!("false positive {path}:{}: {text:?} -> {flag:?}", number + 1);
                    }
                }
                "emergency_911" | "self_harm_988" => {
                    must_catch += 1;
                    let right_kind = match got {
                        Some(RedFlag::SelfHarm988) => expected == "self_harm_988",
                        Some(RedFlag::Emergency911(_)) => expected == "emergency_911",
                        None => false,
                    };
                    if !right_kind {
                        misses.push(format!(
                            "{path}:{}: {text:?} expected {expected}, got {got:?}",
                            number + 1
                        ));
                    }
                }
                other => panic!("{path}:{}: unknown expected value {other:?}", number + 1),
            }
        }
        let rate = false_positives as f64 / none.max(1) as f64;
        eprintln!(
            "red-flag corpus: must-catch {must_catch}, missed {}; none {none}, false positives {false_positives} ({:.1}%)",
            misses.len(),
            rate * 100.0
        );
        assert!(must_catch > 0 && none > 0, "the corpus is empty");
        assert!(misses.is_empty(), "missed must-catch rows:\n{}", misses.join("\n"));
        assert!(rate <= 0.10, "false-positive rate {:.1}% is over 10%", rate * 100.0);
    }
}
