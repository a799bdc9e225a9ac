//! The handling state of dead letters, kept in Kafka beside the DLT so every operator on every
//! machine sees the same state and no database is needed.
//!
//! Two topics per DLT, each with one partition (one total order):
//!
//! - `<dlt>.ledger`: one JSON entry per action, key = the dead letter (`3@17`, or `archive:0@5`
//!   for an archived copy). Actions: `claim` (a run is about to redrive it), `redriven` (the copy
//!   was acknowledged), `released` (a run gave its claim up unsent), `discarded` (archived, not to
//!   be redriven). An entry is about one dead letter, or (a range entry, `v: 2`) about runs of
//!   offsets of one partition, keyed by the first: a redrive claims and releases its selection
//!   by range (see [`Entry`]). Every reader here reads both forms through
//!   [`Entry::dead_letters`] and [`Entry::singles`].
//! - `<dlt>.archive`: the copy of each discarded dead letter: same key, payload and headers, plus
//!   `rebound-discard-reason`, `-discarded-by`, `-discarded-at` and `rebound-dead-letter`.
//!
//! Two operators redriving the same selection at once: each run writes its claims, then reads the
//! ledger on, from where its first read ended to its own last claim. A claim is granted only if
//! no claim of another run precedes it unanswered, and (for a run that is not forced) no
//! `redriven` or `discarded` entry precedes it. The ledger's single partition orders all claims,
//! so exactly one run wins each dead letter ([`Ledger::granted`]).

mod claims;
mod entry;
mod range;

use std::collections::HashMap;

use rebound::naming::ledger_topic;
use rebound::KafkaConfig;

use crate::dead_letter::Status;
use crate::error::Error;
use crate::id::DeadLetterId;
use crate::reader;

pub use claims::STALE_CLAIM;
pub use entry::{Action, Entry, MAX_NAMED};
pub(crate) use range::ranged;

/// What the ledger says about one dead letter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// The state its last `redriven` or `discarded` entry set; `None` without one.
    pub status: Option<Status>,
    /// How many `redriven` entries it has.
    pub redrives: u32,
    /// Its latest entry, whatever the action.
    pub last: Option<Entry>,
}

impl History {
    /// Its handling state: pending unless an entry said otherwise.
    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::Pending)
    }

    /// Takes the next ledger entry about this dead letter into account (entries in ledger
    /// order): what [`Ledger::histories`] does for each, for a reader that follows the ledger.
    /// `entry` is about this dead letter alone: a range entry's readers apply each of its
    /// [`singles`](Entry::singles) to the history of its dead letter.
    pub fn apply(&mut self, entry: &Entry) {
        match entry.action {
            Action::Redriven => {
                self.status = Some(Status::Redriven);
                self.redrives += 1;
            }
            Action::Discarded => self.status = Some(Status::Discarded),
            Action::Claim | Action::Released => {}
        }
        self.last = Some(entry.clone());
    }
}

/// The whole ledger of a DLT, in order.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Every readable entry with its offset in the ledger topic, in order.
    pub entries: Vec<(i64, Entry)>,
}

impl Ledger {
    /// Reads the ledger of `dlt` as it is now (empty when there is none yet). Unreadable entries
    /// are skipped with a warning.
    pub async fn read(kafka: &KafkaConfig, dlt: &str) -> Result<Ledger, Error> {
        let (ledger, _) = Ledger::read_all(reader::scan(kafka, &ledger_topic(dlt))).await?;
        Ok(ledger)
    }

    /// [`Ledger::read`], keeping its consumer where the read ended, to read on from there
    /// ([`Ledger::read_on`]).
    pub(crate) async fn read_resumable(
        kafka: &KafkaConfig,
        dlt: &str,
    ) -> Result<(Ledger, reader::Resume), Error> {
        let records = reader::scan_resumable(kafka, &ledger_topic(dlt));
        let (ledger, records) = Ledger::read_all(records).await?;
        let resume = records
            .resume()
            .expect("a resumable read that reached its end keeps its consumer");
        Ok((ledger, resume))
    }

    /// Every entry `records` reads, and the read, at its end.
    async fn read_all(mut records: reader::Scan) -> Result<(Ledger, reader::Scan), Error> {
        let mut ledger = Ledger::default();
        while let Some(record) = records.next().await {
            ledger.push(&record?);
        }
        Ok((ledger, records))
    }

    /// Appends the entries written since the read `resume` comes from ended, up to `until`
    /// (exclusive) of the ledger's partition: the same ledger a new read from the start would
    /// give up to there, every entry in the partition's order. A run that wrote its claims up to
    /// `until - 1` sees every claim written before its own.
    pub(crate) async fn read_on(
        &mut self,
        resume: reader::Resume,
        until: i64,
    ) -> Result<(), Error> {
        // The ledger has one partition (one order); every writer here writes to it.
        for record in resume.read_to(0, until).await? {
            self.push(&record);
        }
        Ok(())
    }

    /// Takes one ledger record.
    fn push(&mut self, record: &rebound::Record) {
        // A foreign or corrupt entry is skipped, not fatal: the ledger is append-only and
        // one bad line must not lock operators out.
        match record.payload().map(serde_json::from_slice::<Entry>) {
            Some(Ok(entry)) => self.entries.push((record.offset(), entry)),
            _ => tracing::warn!(
                offset = record.offset(),
                "skipping an unreadable ledger entry"
            ),
        }
    }

    /// The history of every dead letter the ledger mentions.
    pub fn histories(&self) -> HashMap<DeadLetterId, History> {
        let mut histories: HashMap<DeadLetterId, History> = HashMap::new();
        for (_, entry) in &self.entries {
            for (id, single) in entry.singles() {
                histories.entry(id).or_default().apply(&single);
            }
        }
        histories
    }
}

/// A fresh identifier for one run of an operation: the `run` of the entries it writes.
pub(crate) fn run_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::entry::test_entry as entry;

    fn id(text: &str) -> DeadLetterId {
        text.parse().unwrap()
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
