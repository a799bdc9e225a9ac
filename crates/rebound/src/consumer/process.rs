//! Handling one record, whatever the order records run in: its attempt number and due time
//! ([`prepare`]), the handler and, for a failed record, the start of its copy ([`handle`]).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;

use tokio_util::sync::CancellationToken;

use super::dead_letters::deliver_dead_letter;
use super::events::Event;
use super::forward::{forward_failed, Failed};
use super::handler::{attempt_in_place, Attempt};
use super::parked_keys::DeadLetterAt;
use super::progress::Copy;
use super::rebalance::RebalanceContext;
use super::route::{attempt_of, next_hop, wait_until_due, Hop};
use super::runtime::Shared;
use crate::failure::{Failure, FailureClass};
use crate::naming::{ledger_topic, Stage};
use crate::record::Record;
use crate::time::EpochMillis;

/// What handling a record in place led to.
pub(crate) enum Processed {
    /// The record is done: handled, or given up (no DLT).
    Done,
    /// The record failed; its copy to the next retry topic or the DLT is on its way.
    Forwarding(Copy),
    /// Stopped before the record was done.
    Stopped,
}

/// Handles one record: waits until it is due, runs the handler, and starts the copy of a
/// failed record.
pub(crate) async fn process(
    shared: &Arc<Shared>,
    record: Record,
    stop: &CancellationToken,
) -> Processed {
    match prepare(shared, record, stop).await {
        Prepared::Ready(record) => handle(shared, record, stop).await,
        Prepared::DeadLetter(record) => match deliver_dead_letter(shared, record, stop).await {
            true => Processed::Done,
            false => Processed::Stopped,
        },
        Prepared::Stopped => Processed::Stopped,
    }
}

/// A record ready for its handler, or for the dead-letter hook.
pub(crate) enum Prepared {
    /// Due (a retry record waited until its due time), with its attempt number set.
    Ready(Record),
    /// A record of the DLT, for the dead-letter hook.
    DeadLetter(Record),
    /// Stopped while waiting for the due time.
    Stopped,
}

/// Sets a record's attempt number from its place in the chain and, on a retry topic, waits
/// until it is due.
pub(crate) async fn prepare(
    shared: &Shared,
    mut record: Record,
    stop: &CancellationToken,
) -> Prepared {
    match shared.settings.chain.stage_of(record.topic()) {
        Some(Stage::Retry(topic)) => {
            let attempt = attempt_of(&record, *topic.attempts.start());
            record = record.with_attempt(attempt);
            if let Some(wait) = wait_until_due(&record) {
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return Prepared::Stopped,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Prepared::Ready(record)
        }
        Some(Stage::Dlt) => Prepared::DeadLetter(record),
        Some(Stage::Main) | None => Prepared::Ready(record.with_attempt(1)),
    }
}

/// Runs the handler on a due record and starts the copy of a failed one.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    record: Record,
    stop: &CancellationToken,
) -> Processed {
    let settings = &shared.settings;
    let started = std::time::Instant::now();
    let attempt = attempt_in_place(
        settings.handler.as_ref(),
        &record,
        settings.handler_timeout,
        &settings.classifier,
        settings.policy.blocking(),
        stop,
    )
    .await;
    let failure = match attempt {
        Attempt::Done => {
            shared.emit(Event::Handled {
                topic: record.topic(),
                attempt: record.attempt(),
                latency: started.elapsed(),
            });
            return Processed::Done;
        }
        Attempt::Stopped => return Processed::Stopped,
        Attempt::Failed(failure) => failure,
    };
    let class = settings.classifier.classify(&failure);
    shared.emit(Event::Failed {
        topic: record.topic(),
        attempt: record.attempt(),
        class,
        latency: started.elapsed(),
    });
    let now = EpochMillis::now();
    let Some(hop) = next_hop(&settings.chain, &settings.policy, &record, class, now) else {
        tracing::error!(
            record = %record.coordinates(), attempt = record.attempt(), %class, error = %failure,
            "record failed and there is no dead-letter topic: skipped"
        );
        return Processed::Done;
    };
    let failed = Failed {
        record,
        failure,
        class,
        at: now,
    };
    Processed::Forwarding(Box::pin(forward_failed(
        shared.clone(),
        failed,
        hop,
        stop.clone(),
    )))
}

/// Why a record went to the DLT without running: an earlier record of its key is there, pending
/// (`hold_until_redriven`). Written where Spring writes the exception, so `rebound dlt list`
/// shows it and `--error "held behind"` selects these.
#[derive(Debug, thiserror::Error)]
#[error("held behind the dead letter {0} of the same key (hold_until_redriven): this key's records wait in the DLT, in order, until that one is redriven or discarded")]
pub(crate) struct HeldBehindDeadLetter(String);

/// The pending dead letter that parks `record`'s key, once every ledger entry written before
/// now is read: a redrive or discard that a person finished before this record was taken must
/// count, though the follower reads the ledger a moment later. Asked only for keys that looked
/// parked, so the common case pays nothing.
pub(crate) async fn still_parked(shared: &Arc<Shared>, record: &Record) -> Option<DeadLetterAt> {
    let parked = shared.parked.as_ref()?;
    let ledger = ledger_topic(shared.settings.chain.dlt.as_deref()?);
    let consumer = shared.consumer.clone();
    // No ledger yet, or no answer: nothing written to wait for, or nothing to be sure of; the
    // key stays as last known either way (holding errs on the safe side).
    let end = tokio::task::spawn_blocking(move || ledger_end(&*consumer, &ledger))
        .await
        .ok()
        .flatten();
    if let Some(end) = end {
        if tokio::time::timeout(LEDGER_SYNC_LIMIT, parked.wait_ledger_read(end))
            .await
            .is_err()
        {
            tracing::warn!(record = %record.coordinates(), "the ledger was not read up to its end within 5 s; the key stays held as last known");
        }
    }
    parked.parked_behind(record.partition(), &record.order_key())
}

/// Where the ledger ends now; `None` when it does not exist or does not answer.
fn ledger_end(consumer: &impl Consumer<RebalanceContext>, ledger: &str) -> Option<i64> {
    let high = || {
        consumer
            .fetch_watermarks(ledger, 0, LEDGER_SYNC_LIMIT)
            .map(|(_, high)| high)
    };
    high().ok().or_else(|| {
        // The consumer's handle does not know a topic created after it started (the first
        // redrive or discard creates the ledger) until it asks for its metadata.
        let metadata = consumer
            .fetch_metadata(Some(ledger), LEDGER_SYNC_LIMIT)
            .ok()?;
        let exists = metadata
            .topics()
            .first()
            .is_some_and(|t| t.error().is_none() && !t.partitions().is_empty());
        exists.then(high)?.ok()
    })
}

/// How long a record of a parked key waits for the ledger's latest entries to be read.
const LEDGER_SYNC_LIMIT: Duration = Duration::from_secs(5);

/// Sends a record of a parked key to the DLT behind the dead letter at `behind`, without running
/// it. `true` once the copy is acknowledged, `false` if stopped before.
pub(crate) async fn park_behind(
    shared: Arc<Shared>,
    record: Record,
    behind: DeadLetterAt,
    stop: CancellationToken,
) -> bool {
    let Some(dlt) = shared.settings.chain.dlt.clone() else {
        return true; // `build` refuses hold_until_redriven without a DLT.
    };
    let dead_letter = format!("{dlt}-{}@{}", behind.0, behind.1);
    tracing::info!(
        record = %record.coordinates(),
        "key held behind the pending dead letter {dead_letter}: following it into {dlt}"
    );
    let failed = Failed {
        record: record.with_attempt(1),
        failure: Failure::permanent(HeldBehindDeadLetter(dead_letter)),
        class: FailureClass::Permanent,
        at: EpochMillis::now(),
    };
    forward_failed(shared, failed, Hop::DeadLetter { topic: dlt }, stop).await
}
