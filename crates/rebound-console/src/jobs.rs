//! Actions run as jobs, so a redrive of ten thousand dead letters at `--rate 20` does not hold a
//! browser request open: the POST starts the job and redirects to its page, which shows its
//! progress and, when it ends, a result per dead letter. The job is where later work plugs in
//! (progress by server-sent events, canaries, pausing on a rising share of dead letters coming
//! back): it holds the cancellation token and the counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rebound::EpochMillis;
use rebound_ops::discard::DiscardReport;
use rebound_ops::redrive::RedriveReport;
use tokio_util::sync::CancellationToken;

/// Finished jobs kept for their pages; older ones are forgotten (the ledger keeps the record).
const KEEP_FINISHED: usize = 200;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Redrive.
    Redrive,
    /// Discard into the archive.
    Discard,
}

impl Kind {
    /// `redrive` or `discard`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Redrive => "redrive",
            Kind::Discard => "discard",
        }
    }
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A redrive's report.
    Redrive(RedriveReport),
    /// A discard's report.
    Discard(DiscardReport),
    /// It failed; what was done is in the ledger.
    Failed(String),
}

/// One action being run, or run.
#[derive(Debug)]
pub struct Job {
    /// Its id, in its page's address.
    pub id: String,
    /// What it does.
    pub kind: Kind,
    /// On which DLT.
    pub dlt: String,
    /// Who started it.
    pub by: String,
    /// The equivalent command.
    pub command: String,
    /// When it started.
    pub started: EpochMillis,
    /// Records done so far.
    pub done: AtomicUsize,
    /// Records to do (known once the claims are granted).
    pub total: AtomicUsize,
    /// Stops a redrive between records (what was sent is recorded, the rest released).
    pub cancel: CancellationToken,
    outcome: Mutex<Option<Outcome>>,
}

impl Job {
    /// How it ended, `None` while it runs.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome.lock().expect("job lock").clone()
    }

    /// Records its end.
    pub(crate) fn finish(&self, outcome: Outcome) {
        *self.outcome.lock().expect("job lock") = Some(outcome);
    }

    /// The progress callback for `rebound_ops::redrive::redrive`.
    pub(crate) fn progress(&self, done: usize, total: usize) {
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
}

/// The console's jobs.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    by_id: Mutex<HashMap<String, Arc<Job>>>,
}

impl Jobs {
    /// Registers a new job (not yet running).
    pub(crate) fn create(&self, kind: Kind, dlt: &str, by: &str, command: String) -> Arc<Job> {
        let job = Arc::new(Job {
            id: format!("{:016x}", rand::random::<u64>()),
            kind,
            dlt: dlt.to_string(),
            by: by.to_string(),
            command,
            started: EpochMillis::now(),
            done: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
            cancel: CancellationToken::new(),
            outcome: Mutex::new(None),
        });
        let mut jobs = self.by_id.lock().expect("jobs lock");
        if jobs.len() >= KEEP_FINISHED {
            let mut finished: Vec<_> = jobs
                .values()
                .filter(|j| j.outcome().is_some())
                .map(|j| (j.started, j.id.clone()))
                .collect();
            finished.sort();
            for (_, id) in finished.iter().take(jobs.len() + 1 - KEEP_FINISHED) {
                jobs.remove(id);
            }
        }
        jobs.insert(job.id.clone(), job.clone());
        job
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.by_id.lock().expect("jobs lock").get(id).cloned()
    }

    /// Jobs still running.
    pub(crate) fn running(&self) -> usize {
        self.by_id
            .lock()
            .expect("jobs lock")
            .values()
            .filter(|j| j.outcome().is_none())
            .count()
    }
}
