//! Clinical presentations: which concepts, alone or together, make an emergency.
//!
//! Each presentation is a [`Category`] with rules; a rule is a set of concepts that must all be
//! affirmed somewhere in the transcript (in any order, any clause: "my calf is swollen. Now I can't
//! get my breath" is a pulmonary embolism picture across two sentences). A rule of one concept means
//! that concept is enough on its own — every BE FAST sign is; "headache" is not, "sudden" +
//! "headache" is.

/// Which script an emergency gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Script {
    /// Hang up and call 911.
    Emergency911,
    /// Call or text 988, the Suicide & Crisis Lifeline.
    Crisis988,
}

impl Script {
    /// The CLI's label.
    pub fn label(self) -> &'static str {
        match self {
            Script::Emergency911 => "EMERGENCY_911",
            Script::Crisis988 => "CRISIS_988",
        }
    }
}

/// What kind of emergency was heard: for the audit record (category only, never the words), the
/// metrics label and `--explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    ChestPain,
    Stroke,
    Breathing,
    PulmonaryEmbolism,
    Anaphylaxis,
    SevereBleeding,
    LossOfConsciousness,
    ThunderclapHeadache,
    VisionLoss,
    Confusion,
    OverdosePoisoning,
    SevereBurn,
    HeadInjury,
    Meningitis,
    Sepsis,
    ChildWarning,
    AcuteAbdomen,
    Diabetic,
    /// "Call an ambulance", "I think I'm dying": an emergency without a named presentation.
    AcuteIllness,
    Suicidal,
    SelfHarm,
    HarmToOthers,
    /// Raised by the model's `flag_emergency` tool without a category we know.
    ReportedEmergency,
    /// Raised by the model's `flag_emergency` tool as a crisis.
    ReportedCrisis,
}

impl Category {
    /// Every category, for configuration errors and docs.
    pub const ALL: &'static [Category] = &[
        Category::ChestPain,
        Category::Stroke,
        Category::Breathing,
        Category::PulmonaryEmbolism,
        Category::Anaphylaxis,
        Category::SevereBleeding,
        Category::LossOfConsciousness,
        Category::ThunderclapHeadache,
        Category::VisionLoss,
        Category::Confusion,
        Category::OverdosePoisoning,
        Category::SevereBurn,
        Category::HeadInjury,
        Category::Meningitis,
        Category::Sepsis,
        Category::ChildWarning,
        Category::AcuteAbdomen,
        Category::Diabetic,
        Category::AcuteIllness,
        Category::Suicidal,
        Category::SelfHarm,
        Category::HarmToOthers,
        Category::ReportedEmergency,
        Category::ReportedCrisis,
    ];

    /// Stable snake_case id (audit records, metrics, configuration).
    pub fn id(self) -> &'static str {
        match self {
            Category::ChestPain => "chest_pain",
            Category::Stroke => "stroke",
            Category::Breathing => "breathing",
            Category::PulmonaryEmbolism => "pulmonary_embolism",
            Category::Anaphylaxis => "anaphylaxis",
            Category::SevereBleeding => "severe_bleeding",
            Category::LossOfConsciousness => "loss_of_consciousness",
            Category::ThunderclapHeadache => "thunderclap_headache",
            Category::VisionLoss => "vision_loss",
            Category::Confusion => "confusion",
            Category::OverdosePoisoning => "overdose_poisoning",
            Category::SevereBurn => "severe_burn",
            Category::HeadInjury => "head_injury",
            Category::Meningitis => "meningitis",
            Category::Sepsis => "sepsis",
            Category::ChildWarning => "child_warning",
            Category::AcuteAbdomen => "acute_abdomen",
            Category::Diabetic => "diabetic",
            Category::AcuteIllness => "acute_illness",
            Category::Suicidal => "suicidal",
            Category::SelfHarm => "self_harm",
            Category::HarmToOthers => "harm_to_others",
            Category::ReportedEmergency => "reported_emergency",
            Category::ReportedCrisis => "reported_crisis",
        }
    }

    /// The category with this id.
    pub fn from_id(id: &str) -> Option<Category> {
        Category::ALL.iter().copied().find(|c| c.id() == id)
    }

    /// Which script this category gets.
    pub fn script(self) -> Script {
        match self {
            Category::Suicidal | Category::SelfHarm | Category::HarmToOthers | Category::ReportedCrisis => {
                Script::Crisis988
            }
            _ => Script::Emergency911,
        }
    }
}

/// A presentation: a category and the concept sets that raise it.
pub struct Presentation {
    pub category: Category,
    /// Each rule is a set of concept ids; any rule whose concepts are all affirmed raises it.
    pub rules: &'static [&'static [&'static str]],
}

const fn p(category: Category, rules: &'static [&'static [&'static str]]) -> Presentation {
    Presentation { category, rules }
}

/// Every built-in presentation. Crisis presentations come first so that, when a transcript has
/// both, `--explain` lists the crisis first (the session plays both scripts).
#[rustfmt::skip]
pub const PRESENTATIONS: &[Presentation] = &[
    p(Category::Suicidal, &[&["suicidal"]]),
    p(Category::SelfHarm, &[&["self_harm"]]),
    p(Category::HarmToOthers, &[&["harm_others"]]),

    p(Category::ChestPain, &[
        &["chest_pain"], &["heart_attack"],
        &["radiating_pain", "sweating"], &["radiating_pain", "nausea"], &["radiating_pain", "short_of_breath"], &["radiating_pain", "chest_discomfort"],
        &["chest_discomfort", "sweating"], &["chest_discomfort", "nausea"], &["chest_discomfort", "short_of_breath"], &["chest_discomfort", "dizzy_or_faint"],
    ]),
    p(Category::Stroke, &[
        &["face_droop"], &["limb_deficit"], &["speech_trouble"], &["stroke_word"],
        &["limb_numb", "sudden"], &["balance_loss", "sudden"], &["vision_blur", "sudden"],
        &["limb_numb", "face_droop"], &["balance_loss", "headache"],
    ]),
    p(Category::Breathing, &[
        &["cant_breathe"], &["short_of_breath"], &["grunting"],
    ]),
    p(Category::PulmonaryEmbolism, &[
        &["calf_swelling", "short_of_breath"], &["calf_swelling", "chest_discomfort"], &["calf_swelling", "cant_breathe"],
        &["clot_word", "short_of_breath"], &["clot_word", "chest_discomfort"], &["clot_word", "chest_pain"],
    ]),
    p(Category::Anaphylaxis, &[
        &["airway_swelling"], &["anaphylaxis_word"],
        &["hives", "short_of_breath"], &["hives", "allergen_exposure", "dizzy_or_faint"], &["allergen_exposure", "short_of_breath"],
        &["allergen_exposure", "cant_breathe"], &["wheezing", "hives"], &["wheezing", "allergen_exposure"], &["wheezing", "airway_swelling"],
    ]),
    p(Category::SevereBleeding, &[
        &["bleeding_severe"], &["blood_up"], &["black_stool", "dizzy_or_faint"], &["pregnant", "bleeding"],
        &["bleeding", "dizzy_or_faint"], &["black_stool", "severe"],
    ]),
    p(Category::LossOfConsciousness, &[&["unresponsive"], &["seizure"]]),
    p(Category::ThunderclapHeadache, &[
        &["headache_worst"], &["headache", "sudden", "severe"], &["headache", "stiff_neck"], &["headache", "severe", "vomiting"],
        &["headache", "severe", "confused"], &["headache", "sudden", "vomiting"],
        &["headache", "sudden", "vision_blur"],
    ]),
    p(Category::VisionLoss, &[&["vision_loss"]]),
    p(Category::Confusion, &[&["confused"]]),
    p(Category::OverdosePoisoning, &[
        &["overdose"], &["extra_dose", "drowsy"], &["extra_dose", "confused"], &["extra_dose", "unresponsive"], &["extra_dose", "short_of_breath"],
        &["extra_dose", "cant_breathe"],
    ]),
    p(Category::SevereBurn, &[&["burn_severe"], &["burn", "baby"]]),
    p(Category::HeadInjury, &[
        &["head_hit", "vomiting"], &["head_hit", "confused"], &["head_hit", "unresponsive"], &["head_hit", "blood_thinner"],
        &["head_hit", "drowsy"], &["head_hit", "seizure"], &["head_hit", "headache_worst"], &["head_hit", "fluid_ear_nose"],
        &["head_hit", "bleeding"], &["head_hit", "baby"], &["fluid_ear_nose"],
    ]),
    p(Category::Meningitis, &[&["fever", "stiff_neck"], &["rash_nonblanching"]]),
    p(Category::Sepsis, &[
        &["sepsis_word"], &["fever", "confused"], &["fever", "mottled"], &["infection", "confused"], &["infection", "mottled"],
        &["fever", "feels_dying"], &["infection", "feels_dying"], &["fever", "rigors", "short_of_breath"], &["mottled", "confused"],
        &["infection", "rigors"], &["fever", "low_urine"], &["fever", "drowsy"], &["infection", "short_of_breath", "fever"],
    ]),
    p(Category::ChildWarning, &[
        &["baby", "not_feeding"], &["baby", "floppy"], &["child", "floppy"], &["young_infant", "fever"], &["baby", "low_urine"],
        &["child", "grunting"], &["baby", "drowsy"],
    ]),
    p(Category::AcuteAbdomen, &[
        &["testicle_pain", "sudden"], &["testicle_pain", "severe"], &["testicle_pain", "vomiting"], &["testicle_pain", "nausea"],
        &["belly_pain", "severe", "sudden"], &["rigid_belly"], &["belly_pain", "pregnant"], &["belly_pain", "dizzy_or_faint"],
        &["belly_pain", "blood_up"], &["belly_pain", "severe", "vomiting"],
    ]),
    p(Category::Diabetic, &[
        &["sugar_bad", "confused"], &["sugar_bad", "unresponsive"], &["sugar_bad", "shaky"], &["sugar_bad", "vomiting"],
        &["sugar_bad", "drowsy"], &["sugar_bad", "seizure"], &["sugar_bad", "speech_trouble"], &["sugar_bad", "dizzy_or_faint"],
        &["fruity_breath"], &["sugar_bad", "short_of_breath"], &["sugar_bad", "sweating"],
    ]),
    p(Category::AcuteIllness, &[&["ambulance"], &["feels_dying"]]),
];
