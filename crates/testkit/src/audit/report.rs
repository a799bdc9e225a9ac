//! The audit's figures as a Markdown table: the rows every audit has, then the test's own.

use super::Audit;

/// `extra` of `of`, with its rate when `of` is not 0.
pub fn rate(extra: usize, of: usize) -> String {
    if of == 0 {
        extra.to_string()
    } else {
        format!("{extra} ({:.2} %)", 100.0 * extra as f64 / of as f64)
    }
}

impl Audit {
    /// The audit's rows: `(measure, value)`.
    pub fn rows(&self) -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = vec![
            ("records produced".into(), self.produced.to_string()),
            (
                "records in the main topic".into(),
                self.main_records.to_string(),
            ),
            (
                "expected handled / handled (distinct ids)".into(),
                format!("{} / {}", self.expected_handled, self.handled),
            ),
            (
                "expected dead letters (exhausted + permanent) / in the DLT (distinct)".into(),
                format!(
                    "{} ({} + {}) / {}",
                    self.expected_dead(),
                    self.expected_exhausted,
                    self.expected_permanent,
                    self.dlt_distinct
                ),
            ),
            ("LOST (must be 0)".into(), self.lost.len().to_string()),
            (
                "wrongly dead-lettered (must be 0)".into(),
                self.wrongly_dead_lettered.len().to_string(),
            ),
            (
                "handled though it always fails (must be 0)".into(),
                self.handled_but_doomed.len().to_string(),
            ),
            (
                "handled on another attempt than its fate's (must be 0)".into(),
                self.wrong_attempt.len().to_string(),
            ),
            (
                "dead letters with wrong headers (must be 0)".into(),
                self.dlt_bad_headers.to_string(),
            ),
            ("journal lines".into(), self.journal_lines.to_string()),
            (
                "duplicate handlings (rate of handled)".into(),
                rate(self.duplicate_handlings(), self.handled),
            ),
            (
                "duplicate dead letters (rate of dead letters)".into(),
                rate(self.dlt_records - self.dlt_distinct, self.dlt_distinct),
            ),
            (
                "ids in the journal or DLT never produced (must be 0)".into(),
                self.invented.to_string(),
            ),
        ];
        for (name, expected, written) in &self.retries {
            let short = name.rsplit('-').next().unwrap_or(name);
            rows.push((
                format!("copies in -retry-{short}: expected / written"),
                format!("{expected} / {written}"),
            ));
        }
        rows
    }

    /// Prints `title` and a table of the audit's rows followed by `extra` (the test's own).
    pub fn print<K: AsRef<str>>(&self, title: &str, extra: impl IntoIterator<Item = (K, String)>) {
        let mut rows = self.rows();
        rows.extend(extra.into_iter().map(|(k, v)| (k.as_ref().to_string(), v)));
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        println!("\n{title}");
        println!("| {:width$} | value |", "measure");
        println!("|{}|-------|", "-".repeat(width + 2));
        for (k, v) in &rows {
            println!("| {k:width$} | {v} |");
        }
    }
}
