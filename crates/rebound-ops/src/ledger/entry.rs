//! A ledger entry as it is on disk: one JSON object per record of `<dlt>.ledger`, keyed by the
//! dead letter's id. Other tools read these (and older Rebound versions wrote them), so fields are
//! only ever added, optional, and the text of every existing one stays.

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
}

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
