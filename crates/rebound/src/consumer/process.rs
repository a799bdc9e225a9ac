//! Handling one record, whatever the order records run in: its attempt number and due time
//! ([`prepare`]), the handler and, for a failed record, the start of its copy ([`handle`]).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::dead_letters::deliver_dead_letter;
use super::events::Event;
use super::forward::{forward_failed, Failed};
use super::handler::{attempt_in_place, Attempt};
use super::progress::Copy;
use super::route::{attempt_of, next_hop, wait_until_due};
use super::runtime::Shared;
use crate::naming::Stage;
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
