//! Labelled corpora and their scoring: what `voicegate redflag eval` and the CI gate run.
//!
//! A corpus is a TSV file, one utterance per row: `label<TAB>kind<TAB>utterance`, `#` comments and
//! blank lines allowed. Labels are `EMERGENCY_911`, `CRISIS_988`, `NONE`; kinds say what the row
//! tests (see [`EMERGENCY_KINDS`], [`NONE_KINDS`]). An emergency row is caught when the detector
//! raises its script (a transcript with both an emergency and a crisis raises both, and the
//! session plays both); a `NONE` row is a false positive when anything is raised.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Detector, Script};

/// Kinds of emergency rows.
pub const EMERGENCY_KINDS: &[&str] = &["must_catch", "third_party", "spanish", "asr_noise"];
/// Kinds of non-emergency rows.
pub const NONE_KINDS: &[&str] = &[
    "negated",
    "past_resolved",
    "hypothetical",
    "family_history",
    "benign_lookalike",
    "routine",
];

/// What a row expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expected {
    Raise(Script),
    Nothing,
}

impl Expected {
    fn label(self) -> &'static str {
        match self {
            Expected::Raise(s) => s.label(),
            Expected::Nothing => "NONE",
        }
    }
}

/// One corpus row.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line number in the file.
    pub line: usize,
    pub expected: Expected,
    pub kind: &'static str,
    pub text: String,
}

/// A row that cannot be read; the file must be fixed (never skipped: a skipped row is a test
/// that cannot fail).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorpusError {
    #[error("line {0}: expected three tab-separated columns (label, kind, utterance)")]
    Columns(usize),
    #[error("line {0}: unknown label {1:?} (EMERGENCY_911, CRISIS_988 or NONE)")]
    Label(usize, String),
    #[error("line {0}: unknown kind {1:?}")]
    Kind(usize, String),
    #[error("line {0}: kind {1:?} does not go with label {2}")]
    Mismatch(usize, String, &'static str),
    #[error("line {0}: empty utterance")]
    Empty(usize),
    #[error("the corpus has no rows")]
    NoRows,
}

/// Parse a corpus file's text.
///
/// # Errors
/// The first malformed row, or an empty corpus.
pub fn parse(text: &str) -> Result<Vec<Row>, CorpusError> {
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim_end_matches('\r');
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let mut cols = raw.splitn(3, '\t');
        let (Some(label), Some(kind), Some(utterance)) = (cols.next(), cols.next(), cols.next()) else {
            return Err(CorpusError::Columns(line));
        };
        let expected = match label {
            "EMERGENCY_911" => Expected::Raise(Script::Emergency911),
            "CRISIS_988" => Expected::Raise(Script::Crisis988),
            "NONE" => Expected::Nothing,
            other => return Err(CorpusError::Label(line, other.to_owned())),
        };
        let kind = EMERGENCY_KINDS
            .iter()
            .chain(NONE_KINDS)
            .find(|k| **k == kind)
            .copied()
            .ok_or_else(|| CorpusError::Kind(line, kind.to_owned()))?;
        if EMERGENCY_KINDS.contains(&kind) == (expected == Expected::Nothing) {
            return Err(CorpusError::Mismatch(line, kind.to_owned(), expected.label()));
        }
        if utterance.trim().is_empty() {
            return Err(CorpusError::Empty(line));
        }
        rows.push(Row {
            line,
            expected,
            kind,
            text: utterance.to_owned(),
        });
    }
    if rows.is_empty() {
        return Err(CorpusError::NoRows);
    }
    Ok(rows)
}

/// Counts for one group of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub rows: usize,
    /// Caught (emergency groups) or flagged (non-emergency groups).
    pub hits: usize,
}

impl Tally {
    fn rate(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.hits as f64 / self.rows as f64
        }
    }
}

/// A row the detector got wrong.
#[derive(Debug, Clone)]
pub struct Miss {
    pub line: usize,
    pub kind: &'static str,
    pub expected: &'static str,
    pub got: &'static str,
    pub text: String,
}

/// The pass mark CI holds the test half to (the "done when").
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Recall every emergency kind and label must reach (1.0 = every row).
    pub min_recall: f64,
    /// False-positive rate over all `NONE` rows must stay *under* this.
    pub max_false_positive: f64,
    /// … and under this in every non-emergency kind.
    pub max_false_positive_per_kind: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_recall: 1.0,
            max_false_positive: 0.03,
            max_false_positive_per_kind: 0.05,
        }
    }
}

/// The score of a corpus.
#[derive(Debug, Clone, Default)]
pub struct Score {
    pub per_label: BTreeMap<&'static str, Tally>,
    pub per_kind: BTreeMap<&'static str, Tally>,
    pub none: Tally,
    pub misses: Vec<Miss>,
    pub false_positives: Vec<Miss>,
}

/// Score `rows` with `detector`.
pub fn score(detector: &Detector, rows: &[Row]) -> Score {
    let mut s = Score::default();
    for row in rows {
        let a = detector.assess(&row.text);
        let raised: Vec<Script> = a.flags().map(|c| c.script()).collect();
        let kind = s.per_kind.entry(row.kind).or_default();
        kind.rows += 1;
        match row.expected {
            Expected::Raise(script) => {
                let caught = raised.contains(&script);
                let label = s.per_label.entry(script.label()).or_default();
                label.rows += 1;
                label.hits += usize::from(caught);
                kind.hits += usize::from(caught);
                if !caught {
                    s.misses.push(miss(row, a.label()));
                }
            }
            Expected::Nothing => {
                s.none.rows += 1;
                if !raised.is_empty() {
                    s.none.hits += 1;
                    kind.hits += 1;
                    s.false_positives.push(miss(row, a.label()));
                }
            }
        }
    }
    s
}

fn miss(row: &Row, got: &'static str) -> Miss {
    Miss {
        line: row.line,
        kind: row.kind,
        expected: row.expected.label(),
        got,
        text: row.text.clone(),
    }
}

impl Score {
    /// Whether the score meets `t`: recall on every emergency label and kind, false positives
    /// under both limits.
    pub fn passes(&self, t: &Thresholds) -> bool {
        let recall_ok = self.per_label.values().all(|x| x.rate() >= t.min_recall)
            && EMERGENCY_KINDS
                .iter()
                .filter_map(|k| self.per_kind.get(k))
                .all(|x| x.rate() >= t.min_recall);
        let fp_ok = self.none.rate() < t.max_false_positive
            && NONE_KINDS
                .iter()
                .filter_map(|k| self.per_kind.get(k))
                .all(|x| x.rate() < t.max_false_positive_per_kind);
        recall_ok && fp_ok
    }

    /// The report `voicegate redflag eval` prints: recall per label and kind, false-positive
    /// rate per kind and overall, then every miss and false positive with its line.
    pub fn render(&self, t: &Thresholds) -> String {
        let pct = |x: &Tally| 100.0 * x.rate();
        let mut out = String::new();
        let _ = writeln!(out, "recall by label:");
        for (label, x) in &self.per_label {
            let _ = writeln!(out, "  {label:<16} {:>4}/{:<4} {:6.2}%", x.hits, x.rows, pct(x));
        }
        let _ = writeln!(out, "recall by kind:");
        for kind in EMERGENCY_KINDS {
            if let Some(x) = self.per_kind.get(kind) {
                let _ = writeln!(out, "  {kind:<16} {:>4}/{:<4} {:6.2}%", x.hits, x.rows, pct(x));
            }
        }
        let _ = writeln!(out, "false positives by kind:");
        for kind in NONE_KINDS {
            if let Some(x) = self.per_kind.get(kind) {
                let _ = writeln!(out, "  {kind:<16} {:>4}/{:<4} {:6.2}%", x.hits, x.rows, pct(x));
            }
        }
        let _ = writeln!(
            out,
            "false positives overall: {}/{} {:.2}%",
            self.none.hits,
            self.none.rows,
            pct(&self.none)
        );
        for (title, list) in [("missed", &self.misses), ("false positive", &self.false_positives)] {
            for m in list {
                let _ = writeln!(
                    out,
                    "{title} line {} [{}] expected {} got {}: {}",
                    m.line, m.kind, m.expected, m.got, m.text
                );
            }
        }
        let _ = writeln!(
            out,
            "{} (recall >= {:.0}% on every emergency label and kind, false positives < {:.0}% overall and < {:.0}% per kind)",
            if self.passes(t) { "PASS" } else { "FAIL" },
            t.min_recall * 100.0,
            t.max_false_positive * 100.0,
            t.max_false_positive_per_kind * 100.0
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_rows_are_refused_with_their_line() {
        for (text, err) in [
            ("EMERGENCY_911\tmust_catch", CorpusError::Columns(1)),
            ("# c\nURGENT\tmust_catch\tx", CorpusError::Label(2, "URGENT".into())),
            ("NONE\tweird\tx", CorpusError::Kind(1, "weird".into())),
            (
                "NONE\tmust_catch\tx",
                CorpusError::Mismatch(1, "must_catch".into(), "NONE"),
            ),
            (
                "CRISIS_988\troutine\tx",
                CorpusError::Mismatch(1, "routine".into(), "CRISIS_988"),
            ),
            ("NONE\troutine\t  ", CorpusError::Empty(1)),
            ("# only comments\n\n", CorpusError::NoRows),
        ] {
            assert_eq!(parse(text).unwrap_err(), err, "{text:?}");
        }
    }

    #[test]
    fn scoring_counts_catches_misses_and_false_positives() {
        let rows = parse(
            "EMERGENCY_911\tmust_catch\tI can't breathe\n\
             EMERGENCY_911\tmust_catch\tI would like to book a cleaning\n\
             CRISIS_988\tmust_catch\tI want to kill myself\n\
             NONE\troutine\tcan I book a checkup\n\
             NONE\tnegated\tmy chest hurts so much\n",
        )
        .unwrap();
        let s = score(Detector::builtin(), &rows);
        assert_eq!(s.per_label["EMERGENCY_911"], Tally { rows: 2, hits: 1 });
        assert_eq!(s.per_label["CRISIS_988"], Tally { rows: 1, hits: 1 });
        assert_eq!(s.none, Tally { rows: 2, hits: 1 });
        assert_eq!(s.misses.iter().map(|m| m.line).collect::<Vec<_>>(), [2]);
        assert_eq!(s.false_positives.iter().map(|m| m.line).collect::<Vec<_>>(), [5]);
        assert!(!s.passes(&Thresholds::default()));
        let report = s.render(&Thresholds::default());
        assert!(
            report.contains("missed line 2 [must_catch] expected EMERGENCY_911 got NONE"),
            "{report}"
        );
        assert!(report.contains("false positive line 5 [negated]"), "{report}");
        assert!(
            report.trim_end().ends_with("per kind)") && report.contains("FAIL"),
            "{report}"
        );
    }
}
