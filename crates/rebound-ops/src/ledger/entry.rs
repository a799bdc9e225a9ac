//! A ledger entry as it is on disk: one JSON object per record of `<dlt>.ledger`, keyed by the
//! dead letter's id. Other tools read these (and older Rebound versions wrote them), so fields are
//! only ever added, optional, and the text of every existing one stays.
//!
//! Two forms. A single entry (`v: 1`) is about its `dead_letter`. A range entry (`v: 2`) adds
//! `runs`, runs of offsets `[first, last]` of `dead_letter`'s partition (and source), and is about
//! every offset in them, in order; its `dead_letter` is the first of them, so a reader that knows
//! only single entries sees the first. A ranged `redriven` or `discarded` entry has `copies`, the
//! copy of each dead letter it names, in the same order, instead of `copy`. A redrive claims its
//! selection by range and releases what it did not send by range: a few entries per partition
//! instead of one per dead letter (BENCHMARKS.md, redrive). It still writes one `redriven` entry
//! per copy, and discard one `discarded` entry per dead letter: the consumer's
//! `hold_until_redriven` reads those two actions from the ledger with a reader of its own (in
//! `rebound`, which knows single entries only), so a key would stay held behind a dead letter
//! named only in a range. Claims and releases it does not read.
//!
//! An older Rebound reads a range entry as about its first dead letter only: runs of different
//! versions at once on one DLT are not arbitrated beyond that first one.

use serde::{Deserialize, Serialize};

use rebound::EpochMillis;

use crate::id::{DeadLetterId, Position};

/// What an entry records (lower-case in the JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Action {
    /// A run is about to redrive the dead letter (see [`Ledger::granted`](super::Ledger::granted)).
    Claim,
    /// The redriven copy was acknowledged.
    Redriven,
    /// A run gave its claim up without sending.
    Released,
    /// The dead letter was archived, not to be redriven from the DLT.
    Discarded,
}

/// One ledger entry, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Format version.
    pub v: u32,
    /// The dead letter: `p@o`, or `archive:p@o` (in the JSON).
    pub dead_letter: DeadLetterId,
    /// What happened.
    pub action: Action,
    /// The run (one redrive or discard command) that wrote it.
    pub run: String,
    /// Who ran it (the operator the caller named).
    pub by: String,
    /// When it was written (epoch ms in the JSON).
    pub at: EpochMillis,
    /// The topic a claim or redrive sends to, or the archive a discard copied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The copy's `p@o` in `to` (redriven) or in the archive (discarded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<Position>,
    /// Why it was discarded, or why a run released it (a redrive that paused itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The run was forced: its claims count even after a `redriven` or `discarded` entry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// A range entry (`v: 2`): the runs of offsets `[first, last]` (both included, ascending,
    /// apart) of `dead_letter`'s partition it names, instead of `dead_letter` alone. Empty for a
    /// single entry. An entry whose runs are out of order, overlap or name more than
    /// [`MAX_NAMED`] dead letters is unreadable.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "super::range::runs"
    )]
    pub runs: Vec<[i64; 2]>,
    /// A range entry's copies (`redriven`, `discarded`): one per dead letter it names, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<Position>,
}

/// The most dead letters one range entry may name: a corrupt entry cannot make its readers
/// count to a billion.
pub const MAX_NAMED: u64 = 1 << 20;

/// An entry for tests: `action` on `dead_letter` by run `run` at `at` ms, at offset 0.
#[cfg(test)]
pub(crate) fn test_entry(dead_letter: &str, action: Action, run: &str, at: i64) -> (i64, Entry) {
    (
        0,
        Entry {
            v: 1,
            dead_letter: dead_letter.parse().unwrap(),
            action,
            run: run.into(),
            by: "tester".into(),
            at: EpochMillis::new(at),
            to: None,
            copy: None,
            reason: None,
            force: false,
            runs: Vec::new(),
            copies: Vec::new(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_their_json() {
        let redriven = Entry {
            to: Some("email.send".into()),
            copy: Some(Position {
                partition: 2,
                offset: 40,
            }),
            ..test_entry("3@17", Action::Redriven, "r1", 1_764_320_000_000).1
        };
        let json = r#"{"v":1,"dead_letter":"3@17","action":"redriven","run":"r1","by":"tester","at":1764320000000,"to":"email.send","copy":"2@40"}"#;
        assert_eq!(serde_json::to_string(&redriven).unwrap(), json);
        assert_eq!(serde_json::from_str::<Entry>(json).unwrap(), redriven);
        let discarded = Entry {
            reason: Some("탈퇴한 사용자".into()),
            force: true,
            ..test_entry("archive:0@5", Action::Discarded, "r2", 7).1
        };
        let json = r#"{"v":1,"dead_letter":"archive:0@5","action":"discarded","run":"r2","by":"tester","at":7,"reason":"탈퇴한 사용자","force":true}"#;
        assert_eq!(serde_json::to_string(&discarded).unwrap(), json);
        assert_eq!(serde_json::from_str::<Entry>(json).unwrap(), discarded);
        // An entry whose dead letter is not an id is unreadable (and skipped by `read`).
        let foreign = json.replace("archive:0@5", "somewhere");
        assert!(serde_json::from_str::<Entry>(&foreign).is_err());
    }
}
