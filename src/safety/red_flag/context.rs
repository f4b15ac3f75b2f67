//! Context scoping in the manner of NegEx/ConText: is a symptom the caller mentions denied, over,
//! imagined, a relative's history — or happening now?
//!
//! Trigger phrases ([`Cue`]) are found once per transcript with the same phrase engine as the
//! symptoms, then each symptom mention is classified by the triggers around it:
//!
//! | cue | scope | effect |
//! |---|---|---|
//! | negation ("no", "denies", "without", "ruled out", "sin", "nunca") | forward, 6 words, stops at "and"/"so"/"just", a comma (unless the list goes on with "or"), a clause end | negated |
//! | pseudo-negation ("not sure", "no idea", "no, he…", "never felt anything like") | voids a negation it overlaps | — |
//! | hypothetical ("if", "in case", "signs of", "si alguna vez") | forward to the clause end | hypothetical |
//! | not-hypothetical ("if it's", "if this is", "I don't know if she's") | voids a hypothetical it overlaps | — |
//! | family ("runs in the family", "died of", "family history") | clause | family history |
//! | resolved ("went away", "fine now", "turned out to be") | after the mention in its clause, and the whole clause before | over |
//! | historical ("last year", "in 2019", "when I was a kid", "history of") | clause | over |
//! | past event ("had a", "has had") | forward, 3 words | over |
//! | chronic ("lately", "for months", "on and off") | clause, 911 symptoms only | not acute |
//! | ongoing ("still", "right now", "again", "since this morning", "getting worse") | clause | overrides historical, past event and chronic |
//!
//! A person present now is not "another experiencer": "my husband collapsed" is an emergency; only
//! the family-history cues make someone else's illness history. Chronic cues never cancel a crisis
//! (988): suicidal thoughts "lately" are still a crisis.

use super::pattern::{PatternError, Span, WordClasses};
use super::text::{HARD, SOFT};

/// A context trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    Negation,
    PseudoNegation,
    /// Ends a negation's scope.
    ScopeEnd,
    /// A list goes on ("or", "nor"): a negation reaches past commas.
    ListGoesOn,
    Hypothetical,
    NotHypothetical,
    /// After a mention: the clause asks about the symptom in general ("… ever an emergency",
    /// "… something to worry about", "… make you feel").
    Generic,
    /// Present tense, happening now ("is having", "right now"): overrides a hypothetical.
    Present,
    /// The recent past ("last night", "yesterday"): over for a 911 symptom, but a suicide plan or
    /// attempt from last night is a crisis now.
    RecentPast,
    /// "And I mean it", "I'm not joking": an idiom ("I could kill him") is not one here.
    Serious,
    Family,
    Resolved,
    Historical,
    PastEvent,
    Chronic,
    Ongoing,
}

/// How far a negation reaches forward, in words.
const NEGATION_WINDOW: usize = 6;
/// How far "had a" reaches forward, in words.
const PAST_EVENT_WINDOW: usize = 3;
/// How far a hypothetical reaches forward, in words (within its clause).
const HYPOTHETICAL_WINDOW: usize = 12;
/// Words that open a new clause after a comma.
const NEW_SUBJECTS: &[&str] = &[
    "i", "im", "ive", "id", "ill", "he", "hes", "she", "shes", "we", "were", "weve", "they", "theyre",
];
/// How far back from a generic-question cue a mention may be, in words (within its clause).
const GENERIC_WINDOW: usize = 8;
/// How far back from a resolution cue a negator turns it around ("hasn't gone away").
const RESOLVED_NEGATION_WINDOW: usize = 2;
/// How far an ongoing cue ("still", "started") reaches either side, in words: "I had a seizure
/// last year, the scans were fine, I need the form so I can drive again" is not a seizure now.
const ONGOING_WINDOW: usize = 8;
/// How far back a recent-past cue reaches, in words ("he had a fever yesterday").
const RECENT_PAST_BACK_WINDOW: usize = 6;
/// Words that bring a story back to the present: a past-time cue before them does not reach past
/// them ("got off the plane yesterday, leg swelled up, now I'm short of breath").
/// Words that join two clauses when a new subject follows.
const JOINERS: &[&str] = &["and", "y", "so", "then"];
/// Words that open a relative clause: a time cue after one belongs to it.
const RELATIVE: &[&str] = &["who", "whom", "which", "que", "quien", "quienes"];
const PRESENT_SHIFT: &[&str] = &["now", "ahora", "ahorita", "today", "hoy", "tonight"];

/// The trigger phrases, per cue, in the phrase language of [`super::pattern`].
#[rustfmt::skip] // One cue per block, many short phrases per line: reads as a table.
pub const CUES: &[(Cue, &[&str])] = &[
    (Cue::Negation, &[
        "no", "not", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "havent", "hasnt", "hadnt",
        "never", "denies", "deny", "denied", "denying", "without", "none", "nor", "neither", "negative for",
        "free of", "ruled out", "rule out", "rules out", "no longer", "nothing like", "wouldnt",
        "sin", "nunca", "ni", "tampoco", "ya no", "descartaron", "descarto", "descartar", "nada de", "wont", "nobody", "nadie",
    ]),
    (Cue::PseudoNegation, &[
        "not (sure|certain|only|just|kidding)", "no (idea|clue|way|matter|one)", "never mind", "(dont|doesnt|didnt) (know|understand)", "not know",
        "not even sure", "dont think its", "no se que|si|como|lo|porque|donde|cuando|por|quien|nada|ni",
        "ni idea", "no sabemos",
        "no my|his|her|he|she|they|it|its|we|you|i|im|hes|shes|the|this|that|wait|please|help|mi|su|el|ella|ayuda|mire|oiga",
        "never ~3 like (this|that|before)", "never ~3 (this bad|this badly|this much)", "nunca ~3 asi",
        "no no", "not not", "cant tell if|whether", "no puedo decir", "(puede|puedo|podia|pudo) ni", "(sabe|se|recuerda|acuerda|sabia) ni", "(not|no|isnt|aint) making ~1 (no|any) sense", "nothing like (them|it|that|my usual|my normal|usual|normal|my other|the others|before|my migraines|my headaches|any other|anything)",
    ]),
    (Cue::ScopeEnd, &[
        "and", "y", "so", "then", "because", "cause", "cuz", "while", "until", "except", "besides", "aside",
        "now", "just", "only", "instead", "entonces", "porque", "mientras", "luego", "solo", "solamente", "ahora",
        "ahorita", "nomas", "which", "when", "cuando", "que",
    ]),
    (Cue::ListGoesOn, &["or", "nor", "o", "ni"]),
    (Cue::Hypothetical, &[
        "if", "in case", "in the event", "what are the (signs|symptoms|warning)", "(signs|symptoms) of", "warning signs",
        "(risk|risks|chance|chances) of", "prevent*", "avoid*",
        "(worried|afraid|scared) ~3 might|could|will|would", "what happens when", "when should (i|we|you)", "should i ever",
        "someday", "one day", "in the future", "ever (get|gets|has|have|had)", "how do (i|you) know", "how can (i|you) tell", "how would (i|you)",
        "(could i be|am i) at risk", "at risk (for|of)", "supposed to do", "what (do i do|to do) (when|if)",
        "si alguna vez", "que (hago|pasa|debo hacer|hacer) si", "en caso de", "por si", "y si", "(senales|sintomas|riesgo) de", "prevenir",
        "si (le|me) (da|dan|pasa|vuelve)", "si (llega a|llegara)", "si (tiene|tengo|tuviera|tuviese)", "cuando debo", "como (saber|se) si",
        "si (mi|su|el|ella|se|le|me|usted|alguien|algun|alguna|tu|uno|los|las|la|nuestro|nuestra)",
        "(can|could|may|might|will) cause", "side effect*", "when (is|are|does|do|would)", "which (kind|kinds|type|types|sort|sorts|signs|symptoms) of",
        "what would", "(handout|handouts|pamphlet|pamphlets|brochure|brochures|leaflet|leaflets|information|info|literature|class|classes|course|video|videos|article|articles|reading) (on|about|for)",
        "(said|says|explained) (if|when|whenever)", "(said|says) that (if|when|whenever)", "(told|tells|warned|advised) (me|us) (if|when|whenever|that if)",
        "learn ~1 (about|more)", "(read|reading|heard|hearing|seen|saw) ~1 (about|an article|a video|online)", "(curious|wondering) (about|if|whether)",
        "just in case", "be prepared", "(want|wanted|need|needed) to know (which|what|when|how|if)", "(is|are) (it|they) normal",
        "(if|when) (someone|somebody|anyone|a person|people|a child|a kid|a baby|you|your|kids|children)",
        "(if|when) (someone|somebody|anyone|a person|people|a child|a kid|a baby|you|kids|children) (is|are|youre) (having|going)",
        "what (should|do|would|can|could|must) (i|we|she|he|they|you) do (if|when|in case)",
        "(if|when) you (think|feel|believe|suspect) (youre|you are|someone is|theyre|they are) (having|going)", "(if|when) (my|his|her|he|she|i|we|they|you|someone|anyone) ~2 ever", "ever (give|gives|cause|causes|make|makes|lead|leads|trigger|triggers|turn|turns|happen|happens|cant|stops|starts|be)", "is it true", "(whats|what is|what are|whats the) ~1 difference*", "difference* between", "tell the difference", "tell (if|whether) (its|it is|someone|a person)", "(for|writing|doing) (a|my) (paper|report|essay|class|project|assignment|thesis|presentation)", "first aid", "how (fast|soon|quickly|long) (do|does) (you|someone|a person|people|they) (have|need) to", "how (do|does|can|would) (you|i|we|someone|one|a person) (tell|recognize|recognise|spot)", "can (you|someone|somebody|a person|people|anyone|kids|children|a child|a kid|a baby) (overdose|od|die from|die of|choke on|bleed out|have a stroke|have a heart attack|get a stroke|get a heart attack|go into|be allergic)", "(if|when) (i|you|he|she|we|they|someone|anyone) ever ~2 (think|feel|believe|suspect) (im|youre|hes|shes|theyre|were|i am|he is|she is) (having|going)", "what (does|do) (a|an|having|your|it|that|this)", "(if|when) (my|his|her|he|she|i|we|they|you|someone|our) ~2 (has|have|gets|get|goes|starts|stops) (another|a|an|any)", "(cutoff|threshold|point) for (calling|going|call)",
    ]),
    (Cue::NotHypothetical, &[
        "if (its|thats|this|it|he|she|hes|shes|im|i am|they|theyre|my|his|her|we|were|is|these|that|what)",
        "if (he|she|it|this|they|hes|shes|theyre|its) ~1 (having|going|happening|getting)",
        "if (i|he|she) (got|get|was|were|died|didnt|never|just) ~6 (relieved|wouldnt mind|be glad|be happy|be okay|be fine|not care)", "what if (its|this|thats|he|she|hes|shes|im)", "(ive|shes|hes|i|she|he|weve|youve|have|has|theyve|had) ever", "(wondering|thinking|wonder) (if|whether) (i|im) (should|could|ought|just|might)", "if i should", "(know|sure|tell|wondering|wonder|check|see|seeing|certain) (if|whether) ~1 (my|his|her|he|she|i|we|they|you|someone|our|this|it|its|thats)",
    ]),
    (Cue::Generic, &[
        "ever (an|a) (emergency|problem|concern|sign)", "(be|is|are|considered) (something|anything) (to worry|serious|to be worried)",
        "(something|anything) to worry about", "worth (worrying|calling|going in)", "(look|looks|sound|sounds) like (over|on|in)",
        "(make|makes|give|gives|cause|causes) (you|someone|somebody|people|a person) (feel|to)", "mean (go|going|you|i|we|someone) ~2 (to|the)",
        "(what|how) (does|do) ~1 (it|that|they) (look|feel|mean)", "(an emergency|serious) or (not|just)", "(do|should|would) (we|i) (call|go to|come in|head|come) ~3 (first|or)", "(or is|is) (that|it|this) (a myth|true|real|safe|an old wives tale|just a myth)",
    ]),
    (Cue::RecentPast, &[
        "last (night|week|weekend)", "the other (day|night)", "yesterday", "ayer", "anoche", "la semana pasada",
    ]),
    (Cue::Serious, &[
        "(i|he|she|they) (mean|means|meant) it", "not (joking|kidding)", "(im|hes|shes|i am|he is|she is) ~1 serious", "for real",
        "(hablo|habla|lo digo|lo dice) en serio", "no (estoy|esta) (bromeando|jugando)", "(might|could|will|going to|gonna) actually do it", "on purpose", "a proposito", "intentionally", "deliberately", "purposely",
    ]),
    (Cue::Present, &[
        "(is|are|am|im|hes|shes|theyre|were|youre|its) (having|happening|going on)", "right now", "as we speak", "at this (moment|minute|second)",
        "ahora mismo", "en este momento", "(esta|estoy|estan) (teniendo|pasando)",
    ]),
    (Cue::Family, &[
        "family history", "(runs|run) in (my|the|our) family", "in (my|our) family", "hereditary", "genetic*", "(died|dead) (of|from)",
        "passed away", "my late", "family member had", "both my parents",
        "passed (from|of)", "passed away (from|of)", "lost (my|his|her|our) ~2 (to|from)", "(runs|run|common|happened) on (my|his|her|our) ~2 side",
        "(dads|moms|fathers|mothers|paternal|maternal) side", "(grandpa|grandma|grandfather|grandmother|granny|nana|uncle|aunt|auntie|cousin|great grandma|great grandpa|ancestors) ~3 (had|died|passed|suffered)", "(in|at) (his|her|their) (twenties|thirties|forties|fifties|sixties|seventies|eighties|30s|40s|50s|60s|70s|80s)",
        "antecedentes familiares", "en (mi|la) familia", "hereditari*", "murio de", "fallecio", "se murio", "a los (treinta|cuarenta|cincuenta|sesenta|setenta|ochenta)",
    ]),
    (Cue::Resolved, &[
        "(went|gone|go) away", "all gone", "(is|its|was|are|were) gone (now|completely|already|totally)",
        "(pain|ache|swelling|numbness|tingling|rash|bleeding|symptoms|weakness|dizziness|that|everything|it) ~1 (is|was|are|were) gone", "stopped", "resolved", "recovered", "cleared up", "healed", "passed",
        "(fine|ok|okay|better|good|normal|alright|all right) now", "all better", "back to normal",
        "doing (fine|better|well|good|great)", "(feels|feel) (fine|better)",
        "(turned|turn) out to be", "turned out", "(it|that|this|which) was (just|only|nothing)", "it was nothing", "nothing (serious|wrong)",
        "came back (normal|negative|clear|fine)", "(was|were) negative", "all clear", "cleared me",
        "(said|told me) it was", "they said", "false alarm",
        "ya paso", "ya se (le|me) paso", "se (le|me) quito", "se quito", "ya (esta|estoy) bien", "esta bien ahora",
        "ya esta mejor", "se recupero", "me recupere", "(salio|salieron) (normal|bien|normales)", "dijeron que (era|no)", "fue (solo|nada)", "no fue nada", "(hospital|er|doctor|doctors|urgent care|they|paramedics) ~4 said (i|he|she|it) (was|were|had)", "(ran|did|done|run) ~1 tests ~4 (said|fine|normal|nothing|negative)",
    ]),
    (Cue::Historical, &[
        "last (year|month|summer|winter|spring|fall|autumn|christmas|time|visit)",
        "(year|years|month|months|week|weeks|day|days|yrs) ago", "a while (back|ago)", "way back", "back when",
        "in {year}", "back in", "since {year}", "in {month}", "on {month}",
        "(history|hx) of", "historia de", "antecedentes", "used to", "as a (kid|child|baby|teen|teenager|toddler)",
        "when (i|he|she|we) ~1 (was|were|had)", "years (back|prior)", "previous*", "prior", "once before", "afterward", "afterwards", "for (weeks|months|years) after",
        "earlier this (year|month)",
        "(after|since) (my|his|her|their) ~1 stroke|heart|seizure|attack|overdose|episode|concussion|miscarriage",
        "followup*", "checkup*", "rehab*", "recovery", "recovering", "discharged", "released from",
        "el (ano|mes) pasado", "la (semana|vez) pasada", "hace ~2 ano|anos|mes|meses|semana|semanas|dias",
        "cuando era ~1 nino|nina|joven|chico|chica", "de (nino|nina|chico|chica)", "en {year}", "despues de (mi|su)",
        "seguimiento", "chequeo", "rehabilitacion", "(me|le) dieron de alta",
    ]),
    (Cue::PastEvent, &[
        "had (a|an|his|her|my|their|two|three|several|another|multiple|some)",
        "(grandma|grandmother|grandpa|grandfather|granny|nana|uncle|aunt|auntie|cousin|cousins|ancestors|relatives|great) ~4 had",
        "both had", "tuvieron (un|una|dos|varios)",
        "(have|has|ive|hes|shes|weve|theyve) had", "(tuvo|tuve) (un|una|dos|varios)", "(ha|he) tenido",
    ]),
    (Cue::Chronic, &[
        "lately", "for (months|years|weeks)", "for the (past|last) ~2 months|years|weeks", "(on and off|off and on|comes and goes|come and go)",
        "every (now and then|once in a while)", "sometimes", "occasionally", "from time to time", "for (a while|a long time|ages)", "always",
        "chronic*", "every (day|morning|night|week)", "whenever", "(all|my|his|her|their) (whole|entire) life", "all (my|his|her|their) life", "dementia", "alzheimer*",
        "a veces", "de vez en cuando", "desde hace ~2 meses|anos|semanas", "hace (meses|anos)", "siempre", "cronic*", "ultimamente", "todos los dias",
    ]),
    (Cue::Ongoing, &[
        "still", "again", "currently", "right now", "at the moment", "as we speak", "this (minute|second)",
        "started|starting|began|begun", "keeps|keep|kept", "getting worse", "worse and worse", "worsening",
        "(is|hes|shes|im) having", "happening", "just (had|now|started)",
        "(minute|minutes|hour|hours) ago", "an hour", "for ~2 (days|hours)", "past ~2 (days|hours)",
        "since ~2 yesterday|night|morning|week|hour|hours|minutes|lunch|dinner|breakfast|noon|today|tonight|monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend",
        "this (morning|afternoon|evening)", "today", "tonight", "back again", "came back", "(is|its) back",
        "todavia", "aun", "sigue", "sigo", "de nuevo", "otra vez", "ahorita", "en este momento", "ahora mismo", "empezo", "comenzo",
        "hoy", "esta (manana|noche)", "desde (ayer|anoche|hoy|esta)", "hace ~1 minutos|hora|horas|rato", "cada vez peor", "came on", "(just|suddenly) came on", "desde hace ~2 (dias|horas|rato|minutos|un rato|una hora)", "nothing like (them|it|that|my usual|my normal|usual|normal|my other|the others|before|my migraines|my headaches|any other)",
    ]),
];

/// Month names in both languages, for "in March", "en marzo".
const MONTHS: &str = "january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|\
                      mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|enero|febrero|marzo|abril|mayo|junio|julio|agosto|\
                      septiembre|setiembre|octubre|noviembre|diciembre";

/// Classes the cue phrases use: four-digit years from 1940 to 2039, and month names.
pub fn define_classes(classes: &mut WordClasses) -> Result<(), PatternError> {
    let years = (1940..2040).map(|y| y.to_string()).collect::<Vec<_>>().join("|");
    classes.define("year", &years)?;
    classes.define("month", MONTHS)
}

/// How a symptom mention stands in its context, with the cue that decided it (for `--explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Happening now (to the caller or someone with them).
    Affirmed,
    Negated(Span),
    Hypothetical(Span),
    FamilyHistory(Span),
    /// Over: past, resolved, or a past event.
    Historical(Span),
    /// Long-standing and not acute (911 symptoms only).
    Chronic(Span),
}

impl Standing {
    /// The context rule's name, as `--explain` prints it.
    pub fn rule(&self) -> &'static str {
        match self {
            Standing::Affirmed => "affirmed",
            Standing::Negated(_) => "negated",
            Standing::Hypothetical(_) => "hypothetical",
            Standing::FamilyHistory(_) => "family_history",
            Standing::Historical(_) => "historical",
            Standing::Chronic(_) => "chronic",
        }
    }

    /// The cue's words, when a cue decided.
    pub fn cue(&self) -> Option<Span> {
        match *self {
            Standing::Affirmed => None,
            Standing::Negated(s)
            | Standing::Hypothetical(s)
            | Standing::FamilyHistory(s)
            | Standing::Historical(s)
            | Standing::Chronic(s) => Some(s),
        }
    }
}

/// The cues of one transcript, and its clause layout.
pub struct Cues<'t> {
    tokens: &'t [&'t str],
    found: Vec<(Cue, Span)>,
    /// Clause number of each token (clauses end at [`HARD`]).
    clause_of: Vec<u32>,
}

impl<'t> Cues<'t> {
    /// The cues found in `tokens` (by the detector's one pass over them), minus negations and
    /// hypotheticals that a pseudo-trigger voids.
    pub fn new(tokens: &'t [&'t str], found: Vec<(Cue, Span)>) -> Cues<'t> {
        let voids = |voider: Cue, span: &Span, found: &[(Cue, Span)]| {
            found.iter().any(|(c, s)| *c == voider && s.overlaps(span))
        };
        // Negations first, so that a voided one ("nothing like them" is not a denial) voids
        // nothing in turn.
        let found: Vec<(Cue, Span)> = found
            .iter()
            .filter(|(cue, span)| *cue != Cue::Negation || !voids(Cue::PseudoNegation, span, &found))
            .copied()
            .collect();
        let kept: Vec<(Cue, Span)> = found
            .iter()
            .filter(|(cue, span)| match cue {
                // "if my…" is not a hypothetical, but "if my dad ever…" and "what should I do if
                // my…" still are: a not-hypothetical voids a cue inside it, or one that starts
                // inside it after its own start ("I've ever had").
                Cue::Hypothetical => !found.iter().any(|(c, s)| {
                    *c == Cue::NotHypothetical
                        && span.start >= s.start
                        && (span.end <= s.end || span.start > s.start && span.start < s.end)
                }),
                // "fine now" is a resolution, not "now"; "no longer" is a negation, not a list.
                // "if someone is having a seizure" is not happening now.
                Cue::Present => !voids(Cue::Hypothetical, span, &found),
                Cue::Ongoing | Cue::ScopeEnd => {
                    !voids(Cue::Resolved, span, &found) && !voids(Cue::Negation, span, &found)
                }
                _ => true,
            })
            .copied()
            .collect();
        let mut clause = 0u32;
        let clause_of = tokens
            .iter()
            .map(|t| {
                if *t == HARD {
                    clause = clause.saturating_add(1);
                }
                clause
            })
            .collect();
        Cues {
            tokens,
            found: kept,
            clause_of,
        }
    }

    fn clause(&self, i: usize) -> u32 {
        self.clause_of.get(i).copied().unwrap_or(u32::MAX)
    }

    fn in_clause(&self, cue: Cue, clause: u32) -> impl Iterator<Item = &Span> {
        self.found
            .iter()
            .filter(move |(c, s)| *c == cue && self.clause(s.start) == clause)
            .map(|(_, s)| s)
    }

    /// A negator within [`RESOLVED_NEGATION_WINDOW`] words before `at` ("hasn't gone away").
    fn negated_at(&self, at: usize) -> bool {
        self.found.iter().any(|(c, s)| {
            *c == Cue::Negation
                && s.end <= at
                && at - s.end <= RESOLVED_NEGATION_WINDOW
                && s.end > 0
                && self.clause(s.start) == self.clause(at)
        }) || self
            .found
            .iter()
            .any(|(c, s)| *c == Cue::Negation && s.start < at && at < s.end)
    }

    /// A comma followed by a new subject ("if I got hit by a bus, I've stopped wanting to live"):
    /// a new clause the hypothetical does not reach.
    fn new_subject_between(&self, from: usize, to: usize) -> bool {
        (from..to).any(|i| self.tokens[i] == SOFT && self.tokens.get(i + 1).is_some_and(|t| NEW_SUBJECTS.contains(t)))
    }

    /// A comma or a scope-ending word ("and", "so") between two positions of one clause.
    fn scope_ends_between(&self, from: usize, to: usize) -> bool {
        self.tokens[from..to].contains(&SOFT)
            || self
                .found
                .iter()
                .any(|(c, s)| *c == Cue::ScopeEnd && s.start >= from && s.start < to)
    }

    /// Within `window` words of the mention, either side (positions in one clause).
    fn near(&self, cue: Span, span: Span, window: usize) -> bool {
        if cue.end <= span.start {
            self.words_between(cue.end, span.start) <= window
        } else if cue.start >= span.end {
            self.words_between(span.end, cue.start) <= window
        } else {
            true
        }
    }

    /// A word that brings the story back to the present ("now", "today") between two positions;
    /// false when `from` is not before `to` (the cue comes after the mention).
    fn back_to_present_between(&self, from: usize, to: usize) -> bool {
        from < to && self.tokens[from..to].iter().any(|t| PRESENT_SHIFT.contains(t))
    }

    /// A relative clause ("…people who died years ago", "gente que murió hace años") or a new
    /// subject after a comma or "and" ("…blotchy blue and he had a fever yesterday") between a mention and a later cue: the cue is about something else.
    fn relative_clause_between(&self, from: usize, to: usize) -> bool {
        from < to
            && (self.tokens[from..to].iter().any(|t| RELATIVE.contains(t))
                || (from..to).any(|i| {
                    (self.tokens[i] == SOFT || JOINERS.contains(&self.tokens[i]))
                        && self.tokens.get(i + 1).is_some_and(|t| NEW_SUBJECTS.contains(t))
                }))
    }

    /// An idiom veto does not hold in a clause that says it is meant ("and I mean it").
    pub fn is_serious(&self, span: Span) -> bool {
        self.in_clause(Cue::Serious, self.clause(span.start)).next().is_some()
    }

    /// Words (not commas) between two positions.
    fn words_between(&self, from: usize, to: usize) -> usize {
        self.tokens[from..to].iter().filter(|t| **t != SOFT).count()
    }

    /// How the mention at `span` stands. `crisis` mentions (988) ignore chronic cues.
    pub fn classify(&self, span: Span, crisis: bool) -> Standing {
        let clause = self.clause(span.start);
        if let Some(cue) = self.negation_of(span, clause) {
            return Standing::Negated(cue);
        }
        let present = self.in_clause(Cue::Present, clause).next().is_some();
        if !present {
            // A cue may take the mention in ("can you overdose on…").
            if let Some(cue) = self.in_clause(Cue::Hypothetical, clause).find(|h| {
                h.start < span.start
                    && (h.end > span.start
                        || self.words_between(h.end, span.start) <= HYPOTHETICAL_WINDOW
                            && !self.new_subject_between(h.end, span.start))
            }) {
                return Standing::Hypothetical(*cue);
            }
            if let Some(cue) = self
                .in_clause(Cue::Generic, clause)
                .find(|g| g.start >= span.end && self.words_between(span.end, g.start) <= GENERIC_WINDOW)
            {
                return Standing::Hypothetical(*cue);
            }
        }
        let ongoing = self
            .in_clause(Cue::Ongoing, clause)
            .any(|o| self.near(*o, span, ONGOING_WINDOW));
        if !ongoing && let Some(cue) = self.in_clause(Cue::Family, clause).next() {
            return Standing::FamilyHistory(*cue);
        }
        // A resolution after the mention in its clause, or anywhere in the next clause ("he
        // fainted. he's fine now") — unless negated ("it hasn't gone away").
        let resolved = self
            .in_clause(Cue::Resolved, clause)
            .chain(self.in_clause(Cue::Resolved, clause.saturating_add(1)))
            .filter(|r| self.clause(r.start) > clause || r.start >= span.end)
            .find(|r| !self.negated_at(r.start));
        if let Some(cue) = resolved {
            return Standing::Historical(*cue);
        }
        if !ongoing {
            if let Some(cue) = self.in_clause(Cue::Historical, clause).find(|h| {
                !self.back_to_present_between(h.end, span.start) && !self.relative_clause_between(span.end, h.start)
            }) {
                return Standing::Historical(*cue);
            }
            if !crisis
                && let Some(cue) = self.in_clause(Cue::RecentPast, clause).find(|r| {
                    if r.start >= span.end {
                        let between = span.end..r.start;
                        self.words_between(between.start, between.end) <= RECENT_PAST_BACK_WINDOW
                            && !self.relative_clause_between(between.start, between.end)
                            && !self.tokens[between].contains(&SOFT)
                    } else {
                        !self.back_to_present_between(r.end, span.start)
                    }
                })
            {
                return Standing::Historical(*cue);
            }
            if let Some(cue) = self.in_clause(Cue::PastEvent, clause).find(|p| {
                p.end <= span.start
                    && self.words_between(p.end, span.start) <= PAST_EVENT_WINDOW
                    && !self.scope_ends_between(p.end, span.start)
            }) {
                return Standing::Historical(*cue);
            }
            if !crisis
                && let Some(cue) = self
                    .in_clause(Cue::Chronic, clause)
                    .find(|c| !self.relative_clause_between(span.end, c.start))
            {
                return Standing::Chronic(*cue);
            }
        }
        Standing::Affirmed
    }

    /// A negation that reaches the mention: inside its gaps, or before it within the window with
    /// nothing that ends the scope in between.
    fn negation_of(&self, span: Span, clause: u32) -> Option<Span> {
        let negations = || self.in_clause(Cue::Negation, clause);
        if let Some(inside) = negations().find(|n| span.in_gap(n.start)) {
            return Some(*inside);
        }
        let list_goes_on = self.in_clause(Cue::ListGoesOn, clause).next().is_some();
        negations()
            .filter(|n| n.end <= span.start && self.words_between(n.end, span.start) <= NEGATION_WINDOW)
            .filter(|n| {
                let between = n.end..span.start;
                let comma = self.tokens[between.clone()].contains(&SOFT);
                let ended = self
                    .in_clause(Cue::ScopeEnd, clause)
                    .any(|e| e.start >= n.end && e.start < span.start);
                !(ended || comma && !list_goes_on)
            })
            .last()
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::super::pattern::Lexicon;
    use super::super::text::{normalise, tokenise};
    use super::*;

    fn standing_of(text: &str, word: &str) -> &'static str {
        let mut classes = WordClasses::default();
        define_classes(&mut classes).unwrap();
        let mut lex = Lexicon::new();
        for (cue, forms) in CUES {
            for form in *forms {
                lex.add(&classes, form, *cue).unwrap();
            }
        }
        let normal = normalise(text);
        let tokens = tokenise(&normal);
        let at = tokens.iter().position(|t| *t == word).expect("word in text");
        let mut found = Vec::new();
        lex.find_all(&tokens, &mut found);
        let cues = Cues::new(&tokens, found);
        cues.classify(
            Span {
                start: at,
                end: at + 1,
                gaps: [(0, 0); 2],
            },
            false,
        )
        .rule()
    }

    #[test]
    fn negation_reaches_forward_within_its_scope() {
        assert_eq!(standing_of("no chest pain", "chest"), "negated");
        assert_eq!(standing_of("I do not have any kind of chest pain", "chest"), "negated");
        assert_eq!(standing_of("no fever and chest pain", "chest"), "affirmed");
        assert_eq!(standing_of("no fever, chest pain", "chest"), "affirmed");
        assert_eq!(standing_of("no fever, cough, or chest pain", "chest"), "negated");
        assert_eq!(
            standing_of("I'm not sure what's going on, chest pain", "chest"),
            "affirmed"
        );
        assert_eq!(standing_of("no, he is choking", "choking"), "affirmed");
        assert_eq!(standing_of("no he is choking", "choking"), "affirmed");
        assert_eq!(
            standing_of("I've never had pain like this in my chest", "chest"),
            "affirmed"
        );
        assert_eq!(standing_of("no tengo dolor en el pecho", "pecho"), "negated");
        assert_eq!(standing_of("the ER ruled out a stroke", "stroke"), "negated");
    }

    #[test]
    fn hypotheticals_are_scoped_but_present_uncertainty_is_not_one() {
        assert_eq!(
            standing_of("what should I do if I get chest pain", "chest"),
            "hypothetical"
        );
        assert_eq!(standing_of("what are the signs of a stroke", "stroke"), "hypothetical");
        assert_eq!(standing_of("I don't know if this is a stroke", "stroke"), "affirmed");
        assert_eq!(standing_of("what if it's a stroke", "stroke"), "affirmed");
        assert_eq!(
            standing_of("if he gets a seizure. he is seizing", "seizing"),
            "affirmed"
        );
        assert_eq!(standing_of("que hago si me da un infarto", "infarto"), "hypothetical");
    }

    #[test]
    fn history_resolution_and_ongoing_cues() {
        assert_eq!(standing_of("I had a stroke in 2019", "stroke"), "historical");
        assert_eq!(standing_of("I had a stroke", "stroke"), "historical");
        assert_eq!(standing_of("I think he just had a stroke", "stroke"), "affirmed");
        assert_eq!(
            standing_of("he collapsed yesterday and is still unconscious", "unconscious"),
            "affirmed"
        );
        assert_eq!(standing_of("he fainted, but he is fine now", "fainted"), "historical");
        assert_eq!(standing_of("the bleeding stopped", "bleeding"), "historical");
        assert_eq!(standing_of("the bleeding hasn't stopped", "bleeding"), "affirmed");
        assert_eq!(standing_of("he stopped breathing", "breathing"), "affirmed");
        assert_eq!(standing_of("chest pain since last week", "chest"), "affirmed");
        assert_eq!(standing_of("strokes run in my family", "strokes"), "family_history");
        assert_eq!(standing_of("my dad died of a heart attack", "heart"), "family_history");
        assert_eq!(standing_of("I get out of breath lately", "breath"), "chronic");
    }
}
