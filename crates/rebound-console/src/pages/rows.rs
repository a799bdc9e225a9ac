//! A dead letter as a row of a list (the DLT page, the live tail): its summary from the index in
//! words, every text from the dead letter made visible (`rebound_ops::visible`) before the
//! template escapes it.

use rebound_ops::visible::line;

use super::time;
use crate::index::store::{DltState, Summary};

/// One dead letter's row.
pub(crate) struct Row {
    pub(crate) position: String,
    pub(crate) key: String,
    pub(crate) origin: String,
    pub(crate) attempts: String,
    pub(crate) died: String,
    pub(crate) class: String,
    pub(crate) status: &'static str,
    /// The first line of its failure message.
    pub(crate) error: String,
}

/// A key for a page: its UTF-8 text (lossy), `-` without one.
pub(crate) fn key_text(key: Option<&[u8]>) -> String {
    key.map_or("-".into(), |k| String::from_utf8_lossy(k).into_owned())
}

/// The rows of `summaries`, their messages read from `state` (the summaries keep an index).
pub(crate) fn rows(state: &DltState, summaries: &[Summary]) -> Vec<Row> {
    summaries
        .iter()
        .map(|s| {
            let message = &state.messages[s.message as usize];
            let error = message.lines().next().unwrap_or("");
            Row {
                position: s.position.to_string(),
                key: line(&key_text(s.key.as_deref())).into_owned(),
                origin: line(s.origin.as_deref().unwrap_or("-")).into_owned(),
                attempts: s.attempts.map_or("-".into(), |a| a.to_string()),
                died: time(s.died_at),
                class: line(&s.class).into_owned(),
                status: s.status.as_str(),
                error: line(error).into_owned(),
            }
        })
        .collect()
}
