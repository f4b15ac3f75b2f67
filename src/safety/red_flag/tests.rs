//! The detector as the session uses it: one transcript in, categories out. The corpus under
//! `tests/red_flags/` measures recall and false positives at scale; these tests pin the behaviour
//! each piece of the design promises, so a change that breaks one says which.

use super::*;

fn category(text: &str) -> Option<Category> {
    let a = Detector::builtin().assess(text);
    a.crisis.or(a.emergency)
}

/// Every category a transcript raises (the assessment reports one per script).
fn raised(text: &str) -> Vec<Category> {
    Detector::builtin()
        .explain(text)
        .raised
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

/// A clinic phrase as the configuration gives it.
fn phrase(phrase: &str, concept: Option<&str>, category: Option<&str>) -> ClinicPhrase {
    ClinicPhrase {
        phrase: phrase.into(),
        concept: concept.map(Into::into),
        category: category.map(Into::into),
    }
}

fn label(text: &str) -> &'static str {
    Detector::builtin().assess(text).label()
}

#[test]
fn builtin_tables_compile() {
    if let Err(e) = Detector::new(&[], &[]) {
        panic!("{e}");
    }
}

/// One plain-words description per presentation, none using the diagnosis word.
#[test]
fn every_presentation_is_raised_by_plain_words() {
    use Category::*;
    for (text, want) in [
        ("there's an elephant sitting on my chest", ChestPain),
        (
            "my jaw aches and it's going down my left arm and I'm all sweaty",
            ChestPain,
        ),
        ("I woke up and my face looks lopsided", Stroke),
        ("half my body just went numb out of nowhere", Stroke),
        ("he's talking gibberish all of a sudden", Stroke),
        ("I can't finish a sentence without stopping for air", Breathing),
        ("her lips are turning blue", Breathing),
        (
            "my calf is swollen and now I suddenly can't catch my breath",
            PulmonaryEmbolism,
        ),
        ("he ate a shrimp and his throat is closing up", Anaphylaxis),
        (
            "my son ate a peanut cookie, he has hives and he's wheezing",
            Anaphylaxis,
        ),
        ("I'm pregnant and I'm bleeding", SevereBleeding),
        ("I threw up and there was a lot of blood in it", SevereBleeding),
        ("my wife collapsed and she won't wake up", LossOfConsciousness),
        (
            "it's the worst headache of my life and it came on in a second",
            ThunderclapHeadache,
        ),
        ("I suddenly can't see out of my left eye", VisionLoss),
        ("my mom suddenly doesn't know where she is", Confusion),
        ("my toddler swallowed a button battery", OverdosePoisoning),
        (
            "I spilled boiling water all over my chest and the skin is peeling",
            SevereBurn,
        ),
        (
            "he hit his head on the concrete and now he keeps throwing up",
            HeadInjury,
        ),
        (
            "high fever and his neck is so stiff he can't put his chin to his chest",
            Meningitis,
        ),
        ("she has a fever and her skin is mottled and cold", Sepsis),
        ("my six week old baby has a fever of 100.8", ChildWarning),
        ("my baby is floppy and won't feed", ChildWarning),
        ("sudden terrible pain in my testicle and I'm throwing up", AcuteAbdomen),
        ("my sugar is 45 and I'm shaking and sweating", Diabetic),
        ("I don't want to be here anymore", Suicidal),
        ("everyone would be better off without me", Suicidal),
        ("I have the pills ready", Suicidal),
        ("I've been cutting my arms again", SelfHarm),
        ("I'm going to kill my neighbor tonight", HarmToOthers),
    ] {
        assert!(raised(text).contains(&want), "{text:?}: {:?}", raised(text));
    }
}

/// NegEx/ConText scoping: denied, over, imagined, a relative's history — none is an emergency.
#[test]
fn context_drops_what_is_not_happening_now() {
    for text in [
        "no chest pain, no shortness of breath, I just need a refill",
        "I had a heart attack in March and need my cardiology follow-up",
        "the ER ruled out a stroke last week",
        "what should I do if I ever get chest pain",
        "what does a curtain over your vision mean",
        "my dad died of a heart attack at fifty, can I get my cholesterol checked",
        "strokes run in my family",
        "he fainted at the game, but he's fine now",
        "I had a seizure in my sleep last year, the scans were fine, and I need the form so I can drive again",
        "a mi papa le dio un infarto a los cincuenta y quiero que me revisen el colesterol",
    ] {
        assert_eq!(label(text), "NONE", "{text:?}");
    }
}

/// A third party present now is an emergency, and "right now" beats a hypothetical.
#[test]
fn a_third_party_now_and_the_present_tense_stay_emergencies() {
    for text in [
        "my husband collapsed in the kitchen",
        "my daughter is having a seizure right now",
        "I don't know if this is a stroke but my arm won't move",
        "I had a stroke in 2019 and now my face is drooping again",
        "got off the plane yesterday leg swelled up now im short of breath outta nowhere",
        "mi papá de repente no sabe dónde está, pregunta por gente que murió hace años",
    ] {
        assert_eq!(label(text), "EMERGENCY_911", "{text:?}");
    }
}

/// Past-time cues reach a few words back and forward until the story returns to the present.
#[test]
fn recent_past_is_scoped_not_clause_wide() {
    assert_eq!(
        label("he had chest pain yesterday, the doctor said it was reflux"),
        "NONE"
    );
    assert_eq!(
        label("my grandpa is ice cold and his skin is blotchy blue and he had a fever yesterday"),
        "EMERGENCY_911"
    );
    // A suicide plan from last night is a crisis now.
    assert_eq!(label("last night I took all my pills to end it"), "CRISIS_988");
}

/// Idioms are not emergencies, unless the caller says they mean it.
#[test]
fn benign_look_alikes_and_serious_idioms() {
    for text in [
        "I'm out of breath from the stairs",
        "my car seized up on the highway",
        "I'm dying to get an appointment",
        "that bill nearly gave me a heart attack",
        "I laughed so hard at my sister's joke I couldn't breathe",
        "the unresponsive one is your website",
        "the cake was to die for",
        "I could kill my brother for forgetting the dog",
    ] {
        assert_eq!(label(text), "NONE", "{text:?}");
    }
    assert_eq!(label("I could kill my brother and I mean it"), "CRISIS_988");
    assert_eq!(label("I've been wanting to die for weeks"), "CRISIS_988");
}

/// Spanish, and callers who switch languages mid-sentence; the language is reported for the
/// script.
#[test]
fn spanish_and_mixed_speech() {
    let a = Detector::builtin().assess("a mi mamá se le cayó un lado de la cara de repente");
    assert_eq!((a.emergency, a.language), (Some(Category::Stroke), Language::Spanish));
    assert_eq!(
        category("I'm diabetic y tengo el azúcar en cuarenta, estoy temblando"),
        Some(Category::Diabetic)
    );
    assert_eq!(label("quiero dormirme y ya no despertar nunca"), "CRISIS_988");
    assert_eq!(label("no tengo dolor de pecho, solo necesito una cita"), "NONE");
}

/// Transcription noise: no punctuation, fillers, stutters, dropped g's, homophones.
#[test]
fn transcription_noise_is_normalised() {
    for text in [
        "um my my husband he he cant breeth",
        "uh he hit his head and now hes throwin up",
        "she's got chestpain and she's all sweaty",
        "i wanna kill my self",
    ] {
        assert_ne!(label(text), "NONE", "{text:?}");
    }
}

/// The same words give the same answer every time, and a long call transcript is assessed in
/// full (a red flag at the end of a long booking conversation is still heard).
#[test]
fn long_transcripts_and_determinism() {
    let filler = "I would like to book a cleaning for next Tuesday afternoon if that works ".repeat(20);
    let text = format!("{filler} and actually my face just started drooping on one side");
    let first = Detector::builtin().assess(&text);
    assert_eq!(first.emergency, Some(Category::Stroke));
    for _ in 0..3 {
        assert_eq!(Detector::builtin().assess(&text), first);
    }
    assert_eq!(label(&filler), "NONE");
    assert_eq!(label(""), "NONE");
}

/// A clinic's phrase joins a concept (so context still applies to it) or raises a category
/// directly; a clinic's benign look-alike vetoes what it covers.
#[test]
fn clinic_phrases_and_benign_entries() {
    let d = Detector::new(
        &[
            phrase("gone all wonky ~2 face|mouth", Some("face_droop"), None),
            phrase("code purple", None, Some("harm_to_others")),
        ],
        &["stroke ~1 club".into()],
    )
    .unwrap();
    assert_eq!(
        d.assess("she's gone all wonky in the face").emergency,
        Some(Category::Stroke)
    );
    assert_eq!(d.assess("she's not gone all wonky in the face").label(), "NONE");
    assert_eq!(
        d.assess("we have a code purple in the lobby").crisis,
        Some(Category::HarmToOthers)
    );
    assert_eq!(d.assess("I want to join the stroke club").label(), "NONE");
    assert_eq!(
        Detector::builtin().assess("I want to join the stroke club").label(),
        "EMERGENCY_911"
    );
}

#[test]
fn clinic_configuration_errors_name_the_entry() {
    let err = |phrases: &[ClinicPhrase], benign: &[String]| match Detector::new(phrases, benign) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err(&[phrase("(open ~2 face", Some("face_droop"), None)], &[]).starts_with("safety.red_flag.phrases[0]"));
    assert!(err(&[phrase("x", None, None)], &[]).contains("exactly one of"));
    assert!(err(&[phrase("x", Some("face_droop"), Some("stroke"))], &[]).contains("exactly one of"));
    assert!(err(&[phrase("x", Some("no_such"), None)], &[]).contains("unknown concept \"no_such\""));
    assert!(err(&[phrase("x", None, Some("no_such"))], &[]).contains("unknown category \"no_such\""));
    assert!(err(&[], &["a ~99 b".into()]).starts_with("safety.red_flag.benign[0]"));
}

/// The explanation names the rule that raised the category and the cue that dropped a mention.
#[test]
fn explanations_name_rules_and_cues() {
    let e = Detector::builtin().explain("my calf is swollen and I'm short of breath");
    let (_, rule) = e
        .raised
        .iter()
        .find(|(c, _)| *c == Category::PulmonaryEmbolism)
        .unwrap();
    assert!(rule.iter().any(|c| c == "calf_swelling"), "{rule:?}");
    let e = Detector::builtin().explain("no chest pain");
    let m = e.mentions.iter().find(|m| m.concept == "chest_pain").unwrap();
    assert_eq!((m.rule, m.cue.as_deref()), ("negated", Some("no")));
}
