//! A fixed category for each cancellation, for the clinic report.
//!
//! Why a category and not the text: a cancellation reason is typed by a caller (through the
//! agent) or by staff, and free text can hold anything, a name or a diagnosis included. The
//! report shows counts per category and never the text; the text stays in the appointment's own
//! history, behind the schedule's permissions. The categories are the ones a clinic owner acts
//! on (too many schedule conflicts: offer evening hours; transport: a telehealth option).
//!
//! The category is chosen once, when the cancellation is written, by keywords in English and
//! Spanish (the languages the agent speaks). Anything else is `other`; an empty or default reason
//! is `not_given`.

/// A cancellation's category, as stored in `appointment_history.reason_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// Work, travel, another commitment, "can't make it".
    ScheduleConflict,
    /// The patient feels better or the problem resolved.
    FeelingBetter,
    /// Cost, insurance or coverage.
    CostOrCoverage,
    /// No ride, car trouble, weather.
    Transport,
    /// Seen elsewhere, another provider, moved away.
    CareElsewhere,
    /// The clinic cancelled: provider out, clinic closed, double booked.
    ClinicInitiated,
    /// The patient is ill (too sick to come, contagious).
    Illness,
    /// No reason given.
    NotGiven,
    /// A reason that fits none of the above.
    Other,
}

impl CancelReason {
    /// Every category, in the report's order.
    pub const ALL: [CancelReason; 9] = [
        CancelReason::ScheduleConflict,
        CancelReason::FeelingBetter,
        CancelReason::CostOrCoverage,
        CancelReason::Transport,
        CancelReason::CareElsewhere,
        CancelReason::ClinicInitiated,
        CancelReason::Illness,
        CancelReason::NotGiven,
        CancelReason::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            CancelReason::ScheduleConflict => "schedule_conflict",
            CancelReason::FeelingBetter => "feeling_better",
            CancelReason::CostOrCoverage => "cost_or_coverage",
            CancelReason::Transport => "transport",
            CancelReason::CareElsewhere => "care_elsewhere",
            CancelReason::ClinicInitiated => "clinic_initiated",
            CancelReason::Illness => "illness",
            CancelReason::NotGiven => "not_given",
            CancelReason::Other => "other",
        }
    }

    /// The category of a typed reason. Checked in this order, so "provider out sick" is the
    /// clinic's doing, not the patient's illness.
    pub fn of(reason: &str) -> CancelReason {
        let text = crate::domain::fold_text(reason);
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() || text.trim() == "caller request" || text.trim() == "patient request" {
            return CancelReason::NotGiven;
        }
        let has = |keys: &[&str]| {
            keys.iter().any(|k| {
                if k.contains(' ') {
                    // A phrase: its words in a row.
                    let phrase: Vec<&str> = k.split(' ').collect();
                    words.windows(phrase.len()).any(|w| w == phrase.as_slice())
                } else {
                    words.contains(k)
                }
            })
        };
        const CLINIC: &[&str] = &[
            "provider",
            "doctor out",
            "dr out",
            "clinic closed",
            "office closed",
            "double booked",
            "overbooked",
            "staff",
            "holiday",
            "doctora",
            "clinica cerrada",
        ];
        const BETTER: &[&str] = &[
            "better",
            "resolved",
            "recovered",
            "fine now",
            "no longer needed",
            "not needed",
            "mejor",
        ];
        const COST: &[&str] = &[
            "cost",
            "costs",
            "price",
            "afford",
            "insurance",
            "coverage",
            "covered",
            "copay",
            "expensive",
            "bill",
            "seguro",
            "caro",
        ];
        const TRANSPORT: &[&str] = &[
            "ride",
            "car",
            "transport",
            "transportation",
            "bus",
            "weather",
            "snow",
            "traffic",
            "transporte",
            "carro",
        ];
        const ELSEWHERE: &[&str] = &[
            "elsewhere",
            "another doctor",
            "other doctor",
            "another clinic",
            "different doctor",
            "urgent care",
            "moved",
            "moving",
            "otro doctor",
            "otra clinica",
        ];
        const ILL: &[&str] = &["sick", "ill", "flu", "covid", "fever", "enfermo", "enferma"];
        const CONFLICT: &[&str] = &[
            "work",
            "working",
            "job",
            "conflict",
            "busy",
            "travel",
            "traveling",
            "trip",
            "vacation",
            "cant make",
            "can t make",
            "cannot make",
            "schedule",
            "school",
            "childcare",
            "trabajo",
            "viaje",
        ];
        if has(CLINIC) {
            CancelReason::ClinicInitiated
        } else if has(BETTER) {
            CancelReason::FeelingBetter
        } else if has(COST) {
            CancelReason::CostOrCoverage
        } else if has(TRANSPORT) {
            CancelReason::Transport
        } else if has(ELSEWHERE) {
            CancelReason::CareElsewhere
        } else if has(ILL) {
            CancelReason::Illness
        } else if has(CONFLICT) {
            CancelReason::ScheduleConflict
        } else {
            CancelReason::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CancelReason::{self, *};

    #[test]
    fn typed_reasons_fall_into_the_categories_an_owner_acts_on() {
        for (typed, expected) in [
            ("feeling better", FeelingBetter),
            ("I'm Feeling BETTER now!", FeelingBetter),
            ("I have to work that day", ScheduleConflict),
            ("can't make it", ScheduleConflict),
            ("no ride", Transport),
            ("my car broke down", Transport),
            ("insurance won't cover it", CostOrCoverage),
            ("seeing another doctor", CareElsewhere),
            ("moving to Ohio", CareElsewhere),
            ("provider out sick", ClinicInitiated),
            ("Dr. Patel's leave; clinic closed", ClinicInitiated),
            ("too sick to come", Illness),
            ("me siento mejor", FeelingBetter),
            ("", NotGiven),
            ("   ", NotGiven),
            ("caller request", NotGiven),
            ("asked by Jane Doe", Other),
        ] {
            assert_eq!(CancelReason::of(typed), expected, "{typed:?}");
        }
    }

    #[test]
    fn words_match_whole_never_inside_another_word() {
        // "carpet" holds "car", "billing" holds "bill": neither is transport or cost.
        assert_eq!(CancelReason::of("carpet cleaning"), Other);
        assert_eq!(CancelReason::of("rebilling question"), Other);
    }

    #[test]
    fn codes_are_distinct() {
        let mut codes: Vec<&str> = CancelReason::ALL.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CancelReason::ALL.len());
    }
}
