//! The handling state of dead letters, kept in Kafka beside the DLT so every operator on every
//! machine sees the same state and no database is needed.
//!
//! Two topics per DLT, each with one partition (one total order):
//!
//! - `<dlt>.ledger`: one JSON entry per action, key = the dead letter (`3@17`, or `archive:0@5`
//!   for an archived copy). Actions: `claim` (a run is about to redrive it), `redriven` (the copy
//!   was acknowledged), `released` (a run gave its claim up unsent), `discarded` (archived, not to
//!   be redriven).
//! - `<dlt>.archive`: the copy of each discarded dead letter: same key, payload and headers, plus
//!   `rebound-discard-reason`, `-discarded-by`, `-discarded-at` and `rebound-dead-letter`.
//!
//! Two operators redriving the same selection at once: each run writes its claims, then reads the
//! ledger back. A claim is granted only if no claim of another run precedes it unanswered, and (for
//! a run without `--force`) no `redriven` or `discarded` entry precedes it. The ledger's single
//! partition orders all claims, so exactly one run wins each dead letter.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use rebound::naming::ledger_topic;
use rebound::{EpochMillis, KafkaConfig};

use crate::dead_letter::Status;
use crate::error::Error;
use crate::id::{DeadLetterId, Position};
use crate::reader;

/// A claim older than this without an answer is taken as abandoned (its run crashed).
pub const STALE_CLAIM: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Claim,
    Redriven,
    Released,
    Discarded,
}

/// One ledger entry, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Format version.
    pub v: u32,
    /// The dead letter: `p@o`, or `archive:p@o` (in the JSON).
    pub dead_letter: DeadLetterId,
    pub action: Action,
    /// The run (one redrive or discard command) that wrote it.
    pub run: String,
    pub by: String,
    /// When it was written (epoch ms in the JSON).
    pub at: EpochMillis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The copy's `p@o` in `to` (redriven) or in the archive (discarded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// What the ledger says about one dead letter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub status: Option<Status>,
    pub redrives: u32,
    pub last: Option<Entry>,
}

impl History {
    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::Pending)
    }
}

/// The whole ledger of a DLT, in order.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub entries: Vec<(i64, Entry)>,
}

impl Ledger {
    pub async fn read(kafka: &KafkaConfig, dlt: &str) -> Result<Ledger, Error> {
        let mut entries = Vec::new();
        let mut records = reader::scan(kafka, &ledger_topic(dlt));
        while let Some(record) = records.next().await {
            let record = record?;
            // A foreign or corrupt entry is skipped, not fatal: the ledger is append-only and
            // one bad line must not lock operators out.
            match record.payload().map(serde_json::from_slice::<Entry>) {
                Some(Ok(entry)) => entries.push((record.offset(), entry)),
                _ => tracing::warn!(
                    offset = record.offset(),
                    "skipping an unreadable ledger entry"
                ),
            }
        }
        Ok(Ledger { entries })
    }

    /// The history of every dead letter the ledger mentions.
    pub fn histories(&self) -> HashMap<DeadLetterId, History> {
        let mut histories: HashMap<DeadLetterId, History> = HashMap::new();
        for (_, entry) in &self.entries {
            let history = histories.entry(entry.dead_letter).or_default();
            match entry.action {
                Action::Redriven => {
                    history.status = Some(Status::Redriven);
                    history.redrives += 1;
                }
                Action::Discarded => history.status = Some(Status::Discarded),
                Action::Claim | Action::Released => {}
            }
            history.last = Some(entry.clone());
        }
        histories
    }

    /// The dead letters whose claim by `run` is granted (see the module docs).
    pub fn granted(&self, run: &str, now: EpochMillis) -> Vec<DeadLetterId> {
        #[derive(Default)]
        struct State {
            active: Option<(String, EpochMillis)>,
            done: bool,
        }
        let mut states: HashMap<DeadLetterId, State> = HashMap::new();
        let mut granted = Vec::new();
        for (_, entry) in &self.entries {
            let state = states.entry(entry.dead_letter).or_default();
            let active_elsewhere = state.active.as_ref().is_some_and(|(r, at)| {
                r != &entry.run && now.since(*at).is_none_or(|age| age < STALE_CLAIM)
            });
            match entry.action {
                Action::Claim => {
                    let blocked = active_elsewhere || (state.done && !entry.force);
                    if !blocked {
                        state.active = Some((entry.run.clone(), entry.at));
                        if entry.run == run {
                            granted.push(entry.dead_letter);
                        }
                    }
                }
                Action::Redriven | Action::Discarded => {
                    state.done = true;
                    if state.active.as_ref().is_some_and(|(r, _)| r == &entry.run) {
                        state.active = None;
                    }
                }
                Action::Released => {
                    if state.active.as_ref().is_some_and(|(r, _)| r == &entry.run) {
                        state.active = None;
                    }
                }
            }
        }
        granted
    }
}

/// A fresh identifier for one run of an operation: the `run` of the entries it writes.
pub(crate) fn run_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> DeadLetterId {
        text.parse().unwrap()
    }

    fn texts(ids: Vec<DeadLetterId>) -> Vec<String> {
        ids.iter().map(DeadLetterId::to_string).collect()
    }

    fn entry(dl: &str, action: Action, run: &str, at: i64) -> (i64, Entry) {
        (
            0,
            Entry {
                v: 1,
                dead_letter: id(dl),
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

    #[test]
    fn first_claim_wins() {
        let ledger = Ledger {
            entries: vec![
                entry("0@1", Action::Claim, "a", 0),
                entry("0@1", Action::Claim, "b", 1),
                entry("0@2", Action::Claim, "b", 1),
                entry("0@2", Action::Claim, "a", 2),
            ],
        };
        assert_eq!(texts(ledger.granted("a", EpochMillis::new(10))), ["0@1"]);
        assert_eq!(texts(ledger.granted("b", EpochMillis::new(10))), ["0@2"]);
    }

    #[test]
    fn a_claim_after_the_redrive_is_refused_without_force() {
        let mut entries = vec![
            entry("0@1", Action::Claim, "a", 0),
            entry("0@1", Action::Redriven, "a", 1),
            entry("0@1", Action::Claim, "b", 2),
        ];
        assert!(Ledger {
            entries: entries.clone()
        }
        .granted("b", EpochMillis::new(10))
        .is_empty());
        entries.push((
            0,
            Entry {
                force: true,
                ..entry("0@1", Action::Claim, "c", 3).1
            },
        ));
        assert_eq!(
            texts(Ledger { entries }.granted("c", EpochMillis::new(10))),
            ["0@1"]
        );
    }

    #[test]
    fn released_and_stale_claims_free_the_dead_letter() {
        let ledger = Ledger {
            entries: vec![
                entry("0@1", Action::Claim, "a", 0),
                entry("0@1", Action::Released, "a", 1),
                entry("0@1", Action::Claim, "b", 2),
                entry("0@2", Action::Claim, "crashed", 0),
                entry("0@2", Action::Claim, "b", 2),
            ],
        };
        let later = EpochMillis::new(STALE_CLAIM.as_millis() as i64 + 1);
        assert_eq!(texts(ledger.granted("b", later)), ["0@1", "0@2"]);
        assert_eq!(texts(ledger.granted("b", EpochMillis::new(10))), ["0@1"]);
    }

    #[test]
    fn entries_keep_their_json() {
        let redriven = Entry {
            to: Some("email.send".into()),
            copy: Some(Position {
                partition: 2,
                offset: 40,
            }),
            ..entry("3@17", Action::Redriven, "r1", 1_764_320_000_000).1
        };
        let json = r#"{"v":1,"dead_letter":"3@17","action":"redriven","run":"r1","by":"tester","at":1764320000000,"to":"email.send","copy":"2@40"}"#;
        assert_eq!(serde_json::to_string(&redriven).unwrap(), json);
        assert_eq!(serde_json::from_str::<Entry>(json).unwrap(), redriven);
        let discarded = Entry {
            reason: Some("탈퇴한 사용자".into()),
            force: true,
            ..entry("archive:0@5", Action::Discarded, "r2", 7).1
        };
        let json = r#"{"v":1,"dead_letter":"archive:0@5","action":"discarded","run":"r2","by":"tester","at":7,"reason":"탈퇴한 사용자","force":true}"#;
        assert_eq!(serde_json::to_string(&discarded).unwrap(), json);
        assert_eq!(serde_json::from_str::<Entry>(json).unwrap(), discarded);
        // An entry whose dead letter is not an id is unreadable (and skipped by `read`).
        let foreign = json.replace("archive:0@5", "somewhere");
        assert!(serde_json::from_str::<Entry>(&foreign).is_err());
    }

    #[test]
    fn histories_count_redrives() {
        let ledger = Ledger {
            entries: vec![
                entry("0@1", Action::Claim, "a", 0),
                entry("0@1", Action::Redriven, "a", 1),
                entry("0@2", Action::Discarded, "a", 1),
            ],
        };
        let h = ledger.histories();
        assert_eq!(h[&id("0@1")].status(), Status::Redriven);
        assert_eq!(h[&id("0@1")].redrives, 1);
        assert_eq!(h[&id("0@2")].status(), Status::Discarded);
    }
}
