//! The in-memory index of each DLT the console shows: its dead letters (summaries), failure
//! groups, ledger and histories (`store.rs`), kept current by threads that follow the DLT and
//! `<dlt>.ledger` from where they are (`follow.rs`), and queried without touching Kafka
//! ([`query`], [`ledger_query`]). The archive of discarded dead letters (`<dlt>.archive`) is
//! indexed the same way, in the same index (it shares the ledger), by a third follower started
//! when the archive is first asked for: most DLTs' archives are never looked at. A page never re-reads a topic: at 100,000 dead letters a filtered page is one
//! pass over compact summaries in memory. Only the dead letter being shown is read from Kafka,
//! by its position.
//!
//! An index starts when a DLT is first asked for (and for every DLT on the cluster when the
//! console starts), reads its topics from the beginning, and says whether it has caught up with
//! what they held when it started ([`IndexStatus`]), so a page can show "loading" and a
//! benchmark can measure time to ready.

pub(crate) mod follow;
pub mod ledger_query;
pub mod query;
pub(crate) mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use rebound::{KafkaConfig, Record};
use rebound_ops::ledger::Entry;
use rebound_ops::{Position, Source, Status};
use tokio::sync::broadcast;

use store::DltState;

/// How long without a new record before a follower that has not reached its start-time end
/// (a transaction marker as the last offset never arrives as a record) counts as caught up.
const IDLE_AS_CAUGHT_UP: Duration = Duration::from_secs(5);

/// Why a DLT cannot be indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The name is not a DLT's (`<main>-dlt`, `<main>.dlt`, …).
    NotADlt,
    /// No such topic on the cluster.
    NoSuchTopic,
    /// The cluster could not be asked.
    Kafka(String),
}

/// Which topic of a DLT a follower reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Dlt,
    Archive,
    Ledger,
}

impl Side {
    /// The side that reads `source`.
    fn of(source: Source) -> Side {
        match source {
            Source::Archive => Side::Archive,
            _ => Side::Dlt,
        }
    }
}

/// How far a follower is.
#[derive(Debug, Default)]
struct Progress {
    /// Per partition, the end (high watermark) when the follower started; `None` before.
    ends: Option<HashMap<i32, i64>>,
    /// Per partition, the next offset to read.
    next: HashMap<i32, i64>,
    last_record: Option<Instant>,
    started: Option<Instant>,
    error: Option<String>,
}

impl Progress {
    fn caught_up(&self) -> bool {
        let Some(ends) = &self.ends else {
            return false;
        };
        let reached = ends
            .iter()
            .all(|(p, end)| self.next.get(p).copied().unwrap_or(0) >= *end);
        let idle = self
            .last_record
            .or(self.started)
            .is_some_and(|at| at.elapsed() > IDLE_AS_CAUGHT_UP);
        reached || idle
    }
}

/// Whether an index has caught up, for pages and the admin view.
#[derive(Debug, Clone)]
pub struct IndexStatus {
    /// Both the DLT (or the archive) and its ledger were read up to where they were when their
    /// followers started.
    pub ready: bool,
    /// Dead letters (or archived copies) indexed.
    pub dead_letters: usize,
    /// Ledger entries indexed.
    pub ledger_entries: usize,
    /// The last error a follower met (it tries again).
    pub error: Option<String>,
}

/// A change the index saw, for the pages that show it live (server-sent events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Live {
    /// A new dead letter.
    Added(Position),
    /// The ledger changed a dead letter's handling status.
    Status(Position, Status),
}

/// How many changes a slow page may fall behind before it is told to reload.
const LIVE_BACKLOG: usize = 1024;

/// One DLT's index.
#[derive(Debug)]
pub(crate) struct DltIndex {
    pub dlt: String,
    state: RwLock<DltState>,
    dlt_progress: Mutex<Progress>,
    archive_progress: Mutex<Progress>,
    ledger_progress: Mutex<Progress>,
    /// The archive's follower was started.
    archive_followed: AtomicBool,
    live: broadcast::Sender<Live>,
}

impl DltIndex {
    fn new(dlt: &str) -> Self {
        DltIndex {
            dlt: dlt.to_string(),
            state: RwLock::new(DltState::default()),
            dlt_progress: Mutex::default(),
            archive_progress: Mutex::default(),
            ledger_progress: Mutex::default(),
            archive_followed: AtomicBool::new(false),
            live: broadcast::channel(LIVE_BACKLOG).0,
        }
    }

    /// The changes from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Live> {
        self.live.subscribe()
    }

    /// The state to read (held briefly: the followers wait while it is held).
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, DltState> {
        self.state.read().expect("index lock")
    }

    /// The status of the DLT's side.
    pub(crate) fn status(&self) -> IndexStatus {
        self.status_of(Source::Dlt)
    }

    /// The status of `source`'s side (with the ledger's).
    pub(crate) fn status_of(&self, source: Source) -> IndexStatus {
        let (letters, ledger) = (self.progress(Side::of(source)), self.progress(Side::Ledger));
        let ready = letters.caught_up() && ledger.caught_up();
        let error = letters.error.clone().or(ledger.error.clone());
        drop((letters, ledger));
        let state = self.read();
        IndexStatus {
            ready,
            dead_letters: state.letters(source).len(),
            ledger_entries: state.ledger.len(),
            error,
        }
    }

    fn progress(&self, side: Side) -> std::sync::MutexGuard<'_, Progress> {
        match side {
            Side::Dlt => &self.dlt_progress,
            Side::Archive => &self.archive_progress,
            Side::Ledger => &self.ledger_progress,
        }
        .lock()
        .expect("progress lock")
    }

    /// A follower starts (again) with these `(partition, low, high)` watermarks.
    pub(crate) fn starting(&self, side: Side, watermarks: &[(i32, i64, i64)]) {
        let mut progress = self.progress(side);
        progress.ends = Some(
            watermarks
                .iter()
                .filter(|(_, low, high)| high > low)
                .map(|(p, _, high)| (*p, *high))
                .collect(),
        );
        progress.started = Some(Instant::now());
    }

    pub(crate) fn failed(&self, side: Side, error: String) {
        self.progress(side).error = Some(error);
    }

    /// Takes a record a follower read. Records read again after a restart are skipped.
    pub(crate) fn take(&self, side: Side, record: Record) {
        {
            let mut progress = self.progress(side);
            let next = progress.next.entry(record.partition()).or_insert(0);
            if record.offset() < *next {
                return;
            }
            *next = record.offset() + 1;
            progress.last_record = Some(Instant::now());
            progress.error = None;
        }
        let mut state = self.state.write().expect("index lock");
        let live = match side {
            Side::Dlt => {
                let position = Position {
                    partition: record.partition(),
                    offset: record.offset(),
                };
                state.add_record(Source::Dlt, record);
                Some(Live::Added(position))
            }
            // The live events are the DLT page's: positions there.
            Side::Archive => {
                state.add_record(Source::Archive, record);
                None
            }
            Side::Ledger => {
                // A foreign or corrupt entry is skipped, as `Ledger::read` does.
                match record.payload().map(serde_json::from_slice::<Entry>) {
                    Some(Ok(entry)) => {
                        let statuses = state.add_entry(record.offset(), entry);
                        drop(state);
                        // A range entry changes many: one event each, as single entries did.
                        for (id, status) in statuses {
                            if id.source == Source::Dlt {
                                // Nobody watching is the common case, not an error.
                                let _ = self.live.send(Live::Status(id.position, status));
                            }
                        }
                        return;
                    }
                    _ => {
                        tracing::warn!(
                            dlt = %self.dlt,
                            offset = record.offset(),
                            "skipping an unreadable ledger entry"
                        );
                        None
                    }
                }
            }
        };
        drop(state);
        if let Some(live) = live {
            // Nobody watching is the common case, not an error.
            let _ = self.live.send(live);
        }
    }
}

/// Every index of the console, by DLT. Dropping it stops the followers.
#[derive(Debug)]
pub(crate) struct Indexes {
    kafka: KafkaConfig,
    stop: Arc<AtomicBool>,
    by_dlt: Mutex<HashMap<String, Arc<DltIndex>>>,
}

impl Indexes {
    pub(crate) fn new(kafka: KafkaConfig) -> Self {
        Indexes {
            kafka,
            stop: Arc::default(),
            by_dlt: Mutex::default(),
        }
    }

    /// The index of `dlt`, started now if it is not yet. Only DLT names are indexed, and only
    /// topics that exist: a request cannot make the console follow any topic it names.
    pub(crate) async fn get(&self, dlt: &str) -> Result<Arc<DltIndex>, Refusal> {
        let dlqs = rebound_ops::topics::dlqs_from_env();
        if !rebound_ops::topics::is_dead_letter_topic(dlt, &dlqs) || !legal_topic(dlt) {
            return Err(Refusal::NotADlt);
        }
        if let Some(index) = self.by_dlt.lock().expect("indexes lock").get(dlt) {
            return Ok(index.clone());
        }
        match rebound_ops::reader::partitions(&self.kafka, dlt).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(Refusal::NoSuchTopic),
            Err(e) => return Err(Refusal::Kafka(e.to_string())),
        }
        let mut by_dlt = self.by_dlt.lock().expect("indexes lock");
        if let Some(index) = by_dlt.get(dlt) {
            return Ok(index.clone());
        }
        let index = Arc::new(DltIndex::new(dlt));
        follow::start(&self.kafka, &index, &[Side::Dlt, Side::Ledger], &self.stop);
        by_dlt.insert(dlt.to_string(), index.clone());
        Ok(index)
    }

    /// The index of `dlt` with `source` followed: [`Indexes::get`], and for the archive its
    /// follower started if it was not yet.
    pub(crate) async fn get_with(
        &self,
        dlt: &str,
        source: Source,
    ) -> Result<Arc<DltIndex>, Refusal> {
        let index = self.get(dlt).await?;
        if source == Source::Archive && !index.archive_followed.swap(true, Ordering::SeqCst) {
            follow::start(&self.kafka, &index, &[Side::Archive], &self.stop);
        }
        Ok(index)
    }

    /// Every index started so far, by name.
    pub(crate) fn all(&self) -> Vec<Arc<DltIndex>> {
        let mut all: Vec<_> = self
            .by_dlt
            .lock()
            .expect("indexes lock")
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.dlt.cmp(&b.dlt));
        all
    }
}

impl Drop for Indexes {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Kafka's legal topic names: 1 to 249 of `[a-zA-Z0-9._-]`.
fn legal_topic(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dlt_names_are_indexed() {
        let indexes = Indexes::new(KafkaConfig::new("127.0.0.1:1"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for name in [
            "email.send",
            "email.send-retry-1000",
            "email.send.dlt.ledger",
            "email.send.dlt.archive",
            "../etc.dlt",
            "<script>.dlt",
            "",
        ] {
            assert_eq!(
                runtime.block_on(indexes.get(name)).unwrap_err(),
                Refusal::NotADlt,
                "{name:?}"
            );
        }
        assert!(legal_topic("email.send.dlt"));
    }
}
