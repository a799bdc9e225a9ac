//! The audit of a run of the test workers (`chain-worker`, `chaos-worker`) over records
//! `{"id": N}` whose [`Fate`] is known: from the journal, the DLT and the topics' counts, what
//! was lost, handled twice, handled on the wrong attempt, or dead-lettered that should not be.
//! The chaos and network-fault tests share it, so both judge a run by the same rules.

mod dead_letters;
mod report;
mod run;
mod verdict;

use std::collections::BTreeMap;
use std::path::Path;

use rebound::naming::TopicChain;

pub use dead_letters::{read_dead_letters, DeadLetter};
pub use report::rate;
pub use run::WorkerRun;

use crate::{Cluster, Fate};

/// What the audit found.
#[derive(Debug, Default)]
pub struct Audit {
    /// Ids produced (`0..n`).
    pub produced: usize,
    /// Records in the main topic (its watermarks).
    pub main_records: usize,
    /// Ids whose fate is to succeed within the chain.
    pub expected_handled: usize,
    /// Distinct ids in the journal.
    pub handled: usize,
    /// Lines in the journal: one a handling, duplicates included.
    pub journal_lines: usize,
    /// `(id, attempt)` of each handling on another attempt than `fail_times + 1`.
    pub wrong_attempt: Vec<(u64, u32)>,
    /// Ids whose fate is to be dead-lettered after every attempt.
    pub expected_exhausted: usize,
    /// Ids whose fate is to be dead-lettered at once (a permanent failure).
    pub expected_permanent: usize,
    /// Ids of those two found in the DLT.
    pub dead_lettered_as_expected: usize,
    /// Records in the DLT, duplicates included.
    pub dlt_records: usize,
    /// Distinct ids in the DLT.
    pub dlt_distinct: usize,
    /// Dead letters whose payload has no id, or whose class or attempts header is not the one
    /// their fate calls for.
    pub dlt_bad_headers: usize,
    /// Ids neither handled nor dead-lettered as their fate says.
    pub lost: Vec<u64>,
    /// Ids in the DLT that should have succeeded.
    pub wrongly_dead_lettered: Vec<u64>,
    /// Ids in the journal that always fail.
    pub handled_but_doomed: Vec<u64>,
    /// Ids at or above `produced` in the journal or the DLT.
    pub invented: usize,
    /// Per retry topic: its name, the copies expected, the copies written.
    pub retries: Vec<(String, usize, usize)>,
}

impl Audit {
    /// Handlings beyond the first of each id.
    pub fn duplicate_handlings(&self) -> usize {
        self.journal_lines - self.handled
    }

    /// Dead letters the fates call for.
    pub fn expected_dead(&self) -> usize {
        self.expected_exhausted + self.expected_permanent
    }
}

/// Audits ids `0..n` produced to `chain.main` under a chain of `attempts` deliveries: reads the
/// journal at `journal` and the DLT in full, and counts the main and retry topics (their
/// watermarks; reading them in full is slow on a slow broker, and the ids produced are known).
pub fn audit(
    cluster: &Cluster,
    chain: &TopicChain,
    journal: &Path,
    n: u64,
    attempts: u32,
) -> Audit {
    let mut audit = Audit {
        produced: n as usize,
        main_records: cluster.count(&chain.main) as usize,
        ..Audit::default()
    };
    let entries = crate::journal::read(journal);
    audit.journal_lines = entries.len();
    let mut handled: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for entry in &entries {
        handled.entry(entry.id).or_default().push(entry.attempt);
    }
    audit.handled = handled.len();

    let letters = read_dead_letters(cluster, chain.dlt.as_deref().expect("a chain with a DLT"));
    audit.dlt_records = letters.len();
    let mut dead: BTreeMap<u64, Vec<&DeadLetter>> = BTreeMap::new();
    for letter in &letters {
        match letter.id {
            Some(id) => dead.entry(id).or_default().push(letter),
            None => audit.dlt_bad_headers += 1,
        }
    }
    audit.dlt_distinct = dead.len();

    for id in 0..n {
        let fate = Fate::of(id);
        if fate.dead_letters(attempts) {
            match fate.permanent {
                true => audit.expected_permanent += 1,
                false => audit.expected_exhausted += 1,
            }
            match dead.get(&id) {
                Some(copies) => {
                    audit.dead_lettered_as_expected += 1;
                    // `retry_topic-attempts` on a DLT copy is deliveries + 1, as Spring writes it.
                    let (class, deliveries) = match fate.permanent {
                        true => ("permanent", 1),
                        false => ("transient", attempts as i32),
                    };
                    let header = (deliveries + 1).to_be_bytes();
                    let bad = copies.iter().any(|letter| {
                        letter.class.as_deref() != Some(class)
                            || letter.attempts.as_deref() != Some(&header[..])
                    });
                    audit.dlt_bad_headers += bad as usize;
                }
                None => audit.lost.push(id),
            }
            if handled.contains_key(&id) {
                audit.handled_but_doomed.push(id);
            }
        } else {
            audit.expected_handled += 1;
            match handled.get(&id) {
                Some(tries) => audit.wrong_attempt.extend(
                    tries
                        .iter()
                        .filter(|a| **a != fate.fail_times + 1)
                        .map(|a| (id, *a)),
                ),
                None => audit.lost.push(id),
            }
            if dead.contains_key(&id) {
                audit.wrongly_dead_lettered.push(id);
            }
        }
    }
    audit.invented = dead
        .keys()
        .chain(handled.keys())
        .filter(|id| **id >= n)
        .count();

    for (i, retry) in chain.retries.iter().enumerate() {
        // Retry topic i (from 0) delivers attempt i + 2: a copy of every record that failed
        // attempt i + 1 transiently.
        let expected = (0..n)
            .filter(|id| {
                let fate = Fate::of(*id);
                !fate.permanent && fate.fail_times > i as u32
            })
            .count();
        audit.retries.push((
            retry.name.clone(),
            expected,
            cluster.count(&retry.name) as usize,
        ));
    }
    audit
}
