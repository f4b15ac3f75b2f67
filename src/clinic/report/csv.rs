//! The report as one CSV: long format, `section,metric,key,value`, so a spreadsheet pivots it
//! and a new metric is a new row rather than a new column.
//!
//! Text cells are escaped for RFC 4180 (quotes doubled, fields with commas, quotes or line breaks
//! quoted) and for spreadsheets: a cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
//! tab, carriage return) gets a leading apostrophe. Provider and location names are typed by
//! staff, so they are the cells that need it.

use std::fmt::Write as _;

use super::{Count, Report};

/// The report as CSV text (with a header row).
pub fn render(r: &Report) -> String {
    let mut out = String::from("section,metric,key,value\r\n");
    let mut row = |section: &str, metric: &str, key: &str, value: String| {
        let _ = write!(
            out,
            "{},{},{},{}\r\n",
            cell(section),
            cell(metric),
            cell(key),
            cell(&value)
        );
    };
    row("report", "range", "from", r.from.clone());
    row("report", "range", "to", r.to.clone());
    row("report", "range", "time_zone", r.time_zone.clone());

    let c = &r.calls;
    row("calls", "total", "", c.total.to_string());
    counts(&mut row, "calls", "outcome", &c.outcomes);
    counts(&mut row, "calls", "transport", &c.by_transport);
    for (hour, n) in c.by_hour.iter().enumerate() {
        row("calls", "hour_of_day", &format!("{hour:02}"), n.to_string());
    }
    row("calls", "after_hours", "count", opt(c.after_hours));
    row("calls", "after_hours", "share", optf(c.after_hours_share));
    let b = &c.booking_time;
    row("calls", "booking_time", "bookings", b.bookings.to_string());
    row("calls", "booking_time", "average_seconds", opt(b.average_seconds));
    row("calls", "booking_time", "fastest_seconds", opt(b.fastest_seconds));
    row("calls", "booking_time", "slowest_seconds", opt(b.slowest_seconds));
    counts(&mut row, "calls", "booking_time_bucket", &b.buckets);
    for t in &c.could_not.tools {
        row(
            "calls",
            "could_not",
            &format!("{}:{}", t.tool, t.outcome),
            t.count.to_string(),
        );
    }
    row(
        "calls",
        "could_not",
        "callbacks_requested",
        c.could_not.callbacks_requested.to_string(),
    );
    row("calls", "could_not", "transfers", c.could_not.transfers.to_string());

    if let Some(s) = &r.schedule {
        for p in &s.providers {
            let key = format!("{} ({})", p.name, p.provider_id);
            row("provider", "open_minutes", &key, p.open_minutes.to_string());
            row("provider", "blocked_minutes", &key, p.blocked_minutes.to_string());
            row("provider", "booked_minutes", &key, p.booked_minutes.to_string());
            row("provider", "utilization", &key, optf(p.utilization));
            row("provider", "visits", &key, p.visits.to_string());
            row("provider", "completed", &key, p.no_shows.completed.to_string());
            row("provider", "no_shows", &key, p.no_shows.no_shows.to_string());
            row("provider", "unmarked", &key, p.no_shows.unmarked.to_string());
            row("provider", "no_show_rate", &key, optf(p.no_shows.rate));
        }
        for l in &s.locations {
            let key = format!("{} ({})", l.name, l.location_id);
            row("location", "open_minutes", &key, l.open_minutes.to_string());
            row("location", "blocked_minutes", &key, l.blocked_minutes.to_string());
            row("location", "booked_minutes", &key, l.booked_minutes.to_string());
            row("location", "utilization", &key, optf(l.utilization));
        }
        row("visits", "completed", "", s.no_shows.completed.to_string());
        row("visits", "no_shows", "", s.no_shows.no_shows.to_string());
        row("visits", "unmarked", "", s.no_shows.unmarked.to_string());
        row("visits", "no_show_rate", "", optf(s.no_shows.rate));
        counts(&mut row, "bookings", "source", &s.bookings_by_source);
    }
    let x = &r.cancellations;
    row("cancellations", "total", "", x.total.to_string());
    row("cancellations", "late", "", x.late.to_string());
    counts(&mut row, "cancellations", "reason", &x.by_reason);
    counts(&mut row, "cancellations", "who", &x.by_who);
    out
}

fn counts(row: &mut impl FnMut(&str, &str, &str, String), section: &str, metric: &str, counts: &[Count]) {
    for c in counts {
        row(section, metric, &c.key, c.count.to_string());
    }
}

fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn optf(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// One escaped cell.
pub fn cell(raw: &str) -> String {
    let guarded = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_never_run_as_formulas() {
        assert_eq!(cell("Dr. Patel"), "Dr. Patel");
        assert_eq!(cell("Patel, Asha"), "\"Patel, Asha\"");
        assert_eq!(cell("the \"north\" office"), "\"the \"\"north\"\" office\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("@sum"), "'@sum");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("12"), "12");
        assert_eq!(cell("0.25"), "0.25");
    }
}
