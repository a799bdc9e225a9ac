//! What a main partition waits for in `Key` order before its first record, and the check a
//! record of a parked key makes before it follows its dead letter.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::held::HeldKeys;
use super::parked::{DeadLetterAt, ParkedKeys};
use super::queues::OrderKey;
use crate::consumer::cluster::{self, Handle};
use crate::consumer::registry::Tp;

/// How long a main partition's task waits, after it is assigned, for the retry records left by
/// an earlier owner to be taken (and so to hold their keys), or for the parked keys to be known.
const PATIENCE: Duration = Duration::from_secs(60);

/// How long a record of a parked key waits for the ledger's latest entries to be read.
const LEDGER_SYNC_LIMIT: Duration = Duration::from_secs(5);

/// Waits until this consumer has taken every record that was in partition `tp.partition` of each
/// retry topic when the main partition was assigned: those records hold their keys, and a later
/// record of such a key must not run before them. `false` when stopped meanwhile.
pub(super) async fn wait_for_retry_tails<C: rdkafka::consumer::ConsumerContext + 'static>(
    held: &HeldKeys,
    consumer: &Handle<C>,
    tp: &Tp,
    retries: Vec<String>,
    stop: &CancellationToken,
) -> bool {
    let partition = tp.partition;
    let tails = cluster::uncommitted_tails(consumer, retries, partition).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    for (topic, last) in tails {
        while held
            .taken_until(&topic, partition)
            .is_none_or(|taken| taken < last)
        {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(%tp, retry_topic = %topic, "the retry records left by an earlier owner were not all taken within 60 s; going on, a key's order may not hold for them");
                return true;
            }
            tokio::select! {
                biased;
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }
    true
}

/// Waits until the keys parked behind pending dead letters are known (the DLT and its ledger
/// read up to where they ended at start). `false` when stopped meanwhile.
pub(super) async fn wait_for_parked_keys(
    parked: &ParkedKeys,
    tp: &Tp,
    stop: &CancellationToken,
) -> bool {
    tokio::select! {
        biased;
        _ = stop.cancelled() => false,
        _ = parked.wait_caught_up() => true,
        _ = tokio::time::sleep(PATIENCE) => {
            tracing::warn!(%tp, "the DLT and its ledger were not read within 60 s; going on, a key held behind a dead letter may run before it is redriven");
            true
        }
    }
}

/// The pending dead letter that parks `key` on `partition`, once every ledger entry written
/// before now is read: a redrive or discard that a person finished before this record was taken
/// must count, though the follower reads the ledger a moment later. Asked only for keys that
/// looked parked, so the common case pays nothing.
pub(super) async fn still_parked<C: rdkafka::consumer::ConsumerContext + 'static>(
    parked: &ParkedKeys,
    consumer: &Handle<C>,
    ledger: &str,
    partition: i32,
    key: &OrderKey,
    record: &str,
) -> Option<DeadLetterAt> {
    // No ledger yet, or no answer: nothing written to wait for, or nothing to be sure of; the
    // key stays as last known either way (holding errs on the safe side).
    if let Some(end) = cluster::end_of(consumer, ledger, LEDGER_SYNC_LIMIT).await {
        if tokio::time::timeout(LEDGER_SYNC_LIMIT, parked.wait_ledger_read(end))
            .await
            .is_err()
        {
            tracing::warn!(%record, "the ledger was not read up to its end within 5 s; the key stays held as last known");
        }
    }
    parked.parked_behind(partition, key)
}
