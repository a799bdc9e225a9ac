//! Actions run as jobs, so a redrive of ten thousand dead letters at `--rate 20` does not hold a
//! browser request open: the POST starts the job and redirects to its page, which shows its
//! progress (live by server-sent events, or by reloading without JavaScript) and, when it ends,
//! a result per dead letter. The job holds the cancellation token, the latest progress and a
//! channel that tells the event streams of its page that something changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rebound::EpochMillis;
use rebound_ops::discard::DiscardReport;
use rebound_ops::redrive::{RedriveProgress, RedriveReport};
use rebound_ops::Source;
use tokio::sync::watch;
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
    /// Where it reads: the DLT, or (a redrive) the archive of discarded dead letters.
    pub source: Source,
    /// Who started it.
    pub by: String,
    /// The equivalent command.
    pub command: String,
    /// The action's form for the same selection (run it again: the rest of a paused redrive).
    pub again: String,
    /// When it started.
    pub started: EpochMillis,
    /// Stops a redrive between records (what was sent is recorded, the rest released).
    pub cancel: CancellationToken,
    progress: Mutex<RedriveProgress>,
    outcome: Mutex<Option<Outcome>>,
    /// Bumped on every change of progress or outcome.
    changes: watch::Sender<u64>,
}

impl Job {
    /// How it ended, `None` while it runs.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome.lock().expect("job lock").clone()
    }

    /// Records its end.
    pub(crate) fn finish(&self, outcome: Outcome) {
        *self.outcome.lock().expect("job lock") = Some(outcome);
        self.changes.send_modify(|n| *n += 1);
    }

    /// The progress callback for `rebound_ops::redrive::redrive`.
    pub(crate) fn progress(&self, now: RedriveProgress) {
        *self.progress.lock().expect("job lock") = now;
        self.changes.send_modify(|n| *n += 1);
    }

    /// The latest progress.
    pub fn latest(&self) -> RedriveProgress {
        *self.progress.lock().expect("job lock")
    }

    /// Wakes when the progress or the outcome changes.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// The console's jobs.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    by_id: Mutex<HashMap<String, Arc<Job>>>,
}

impl Jobs {
    /// Registers a new job (not yet running).
    pub(crate) fn create(
        &self,
        kind: Kind,
        dlt: &str,
        by: &str,
        source: Source,
        command: String,
        again: String,
    ) -> Arc<Job> {
        let job = Arc::new(Job {
            id: format!("{:016x}", rand::random::<u64>()),
            kind,
            dlt: dlt.to_string(),
            source,
            by: by.to_string(),
            command,
            again,
            started: EpochMillis::now(),
            cancel: CancellationToken::new(),
            progress: Mutex::new(RedriveProgress::default()),
            outcome: Mutex::new(None),
            changes: watch::Sender::new(0),
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

    /// Stops every running job between records (a redrive records what it sent and releases the
    /// rest in the ledger) and waits up to `grace` for each to record its end: a console that
    /// stops leaves no claim to go stale.
    pub(crate) async fn stop_all(&self, grace: std::time::Duration) {
        let running: Vec<Arc<Job>> = self
            .by_id
            .lock()
            .expect("jobs lock")
            .values()
            .filter(|j| j.outcome().is_none())
            .cloned()
            .collect();
        let deadline = tokio::time::Instant::now() + grace;
        for job in &running {
            job.cancel.cancel();
        }
        for job in running {
            // Subscribed before looking, so an end between the look and the wait still wakes it.
            let mut changes = job.changes();
            while job.outcome().is_none() {
                let changed = tokio::time::timeout_at(deadline, changes.changed()).await;
                if !matches!(changed, Ok(Ok(()))) {
                    tracing::warn!(
                        job = %job.id,
                        "the {} on {} did not end within {grace:?} of the console stopping; \
                         the ledger has what it did",
                        job.kind.as_str(),
                        job.dlt
                    );
                    break;
                }
            }
        }
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
