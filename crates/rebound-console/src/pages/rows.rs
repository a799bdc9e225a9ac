//! A dead letter as a row of a list (the DLT page, the live tail): its summary from the index in
//! words, every text from the dead letter made visible (`rebound_ops::visible`) before the
//! template escapes it.

use rebound::headers::DiscardMarks;
use rebound::EpochMillis;
use rebound_ops::visible::line;
use rebound_ops::{DeadLetterId, Position, Source};

use super::time;
use crate::index::store::{Letters, Summary};

/// One dead letter's row.
pub(crate) struct Row {
    pub(crate) position: String,
    /// Its id as the ledger and the detail page's address write it (`0@5`, `archive:0@5`).
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) origin: String,
    pub(crate) attempts: String,
    pub(crate) died: String,
    pub(crate) class: String,
    pub(crate) status: &'static str,
    pub(crate) error: String,
    /// An archive copy's discard stamp.
    pub(crate) discard: Option<DiscardCells>,
}

/// An archive copy's discard stamp, for a row.
pub(crate) struct DiscardCells {
    pub(crate) reason: String,
    pub(crate) by: String,
    pub(crate) at: String,
    /// The dead letter it copies, as the stamp names it (`<dlt>-<p>@<o>`).
    pub(crate) dead_letter: String,
    /// That dead letter's page, when the stamp names one of this DLT.
    pub(crate) link: Option<String>,
}

impl DiscardCells {
    pub(crate) fn new(dlt: &str, marks: &DiscardMarks, archived: Option<EpochMillis>) -> Self {
        let dead_letter = marks.dead_letter.as_deref().unwrap_or("-");
        let link = dead_letter
            .strip_prefix(dlt)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|position| position.parse::<Position>().ok())
            .map(|position| format!("/dlt/{dlt}/{position}"));
        DiscardCells {
            reason: line(marks.reason.as_deref().unwrap_or("-")).into_owned(),
            by: line(marks.by.as_deref().unwrap_or("-")).into_owned(),
            at: time(marks.at.or(archived)),
            dead_letter: line(dead_letter).into_owned(),
            link,
        }
    }
}

/// A key for a page: its UTF-8 text (lossy), `-` without one.
pub(crate) fn key_text(key: Option<&[u8]>) -> String {
    key.map_or("-".into(), |k| String::from_utf8_lossy(k).into_owned())
}

/// The rows of `summaries` (of `source` in `dlt`), their messages read from `letters` (the
/// summaries keep an index).
pub(crate) fn rows(
    letters: &Letters,
    dlt: &str,
    source: Source,
    summaries: &[Summary],
) -> Vec<Row> {
    summaries
        .iter()
        .map(|s| Row {
            position: s.position.to_string(),
            id: DeadLetterId::new(source, s.position).to_string(),
            key: line(&key_text(s.key.as_deref())).into_owned(),
            origin: line(s.origin.as_deref().unwrap_or("-")).into_owned(),
            attempts: s.attempts.map_or("-".into(), |a| a.to_string()),
            died: time(s.died_at),
            class: line(&s.class).into_owned(),
            status: s.status.as_str(),
            error: line(&letters.first_line(s)).into_owned(),
            discard: s
                .discard
                .as_deref()
                .map(|marks| DiscardCells::new(dlt, marks, s.died_at)),
        })
        .collect()
}
