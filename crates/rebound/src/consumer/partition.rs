//! One partition's task: takes its records in offset order, waits until a retry record is due,
//! runs the handler, sends failures on, and stores the offset once a record is done. A waiting
//! partition holds up nobody else: each partition has its own task.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::stream::StreamExt;
use futures::FutureExt;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::process::{process, Processed};
use super::progress::{room_for_copy, settle_copy, OffsetStore, Progress, Room};
use super::registry::{ExitGuard, Tp};
use super::runtime::Shared;
use crate::record::Record;

/// How long done records of a batch in hand may wait before their offset is stored: well under
/// librdkafka's 500 ms auto-commit, so that slow handlers do not delay commits.
pub(crate) const STORE_AT_LEAST_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// How the poller controls a partition's task.
pub(crate) struct PartitionControl {
    /// Stop taking records; finish the one in hand.
    pub stop: CancellationToken,
    /// Drop the record in hand, uncommitted.
    pub abort: CancellationToken,
    /// Records handed to the task and not yet taken: the flow-control gauge.
    pub buffered: Arc<AtomicUsize>,
    /// Tells the poller when the task has ended, however it ends.
    pub exit: ExitGuard,
}

/// The task of partition `tp`, fed by the poller through `records` in batches.
pub(crate) async fn run(
    shared: Arc<Shared>,
    tp: Tp,
    mut records: UnboundedReceiver<Vec<Record>>,
    control: PartitionControl,
) {
    let _exit = control.exit;
    // Declared after `_exit`, so dropped before it: whatever is done is stored before the
    // poller learns that the task ended (and commits).
    let mut offsets = OffsetStore::new(&shared, &tp);
    let mut inbox: VecDeque<Record> = VecDeque::new();
    let mut progress = Progress::default();
    let copies_per_partition = shared.settings.copies_per_partition();
    loop {
        if inbox.is_empty() {
            // The batch is done: store its progress once, not once per record.
            offsets.flush();
        } else {
            // A long batch of slow records still stores its progress as it goes.
            offsets.flush_if_older_than(STORE_AT_LEAST_EVERY);
        }
        let record = tokio::select! {
            biased;
            _ = control.abort.cancelled() => return,
            Some(acknowledged) = progress.copies.next(), if !progress.copies.is_empty() => {
                if !settle_copy(&mut offsets, &mut progress, acknowledged) {
                    return;
                }
                continue;
            }
            _ = control.stop.cancelled() => break,
            next = next_record(&mut inbox, &mut records), if progress.copies.len() < copies_per_partition => match next {
                Some(record) => record,
                None => break,
            },
        };
        taken(&shared, &tp, &control.buffered);
        let offset = record.offset();
        let processed = tokio::select! {
            biased;
            _ = control.abort.cancelled() => return,
            processed = process(&shared, record, &control.stop) => processed,
        };
        match processed {
            Processed::Done => {
                if let Some(offset) = progress.done(offset) {
                    offsets.set(offset);
                }
            }
            Processed::Forwarding(copy) => {
                offsets.flush();
                match room_for_copy(
                    &shared,
                    &tp,
                    &mut offsets,
                    &mut progress,
                    &control.stop,
                    &control.abort,
                )
                .await
                {
                    Room::Granted(permit) => {
                        // The permit goes back when the copy is acknowledged (or given up).
                        let copy = copy.map(move |acknowledged| {
                            drop(permit);
                            acknowledged
                        });
                        progress.copying(offset, Box::pin(copy));
                    }
                    Room::Stopped => break,
                    Room::End => return,
                }
            }
            Processed::Stopped => break,
        }
    }
    // Stopping: what is done so far is stored; copies still waiting for their acknowledgement
    // get it or give up when the stop reaches their back-off (`abort` cuts the wait short).
    while !progress.copies.is_empty() {
        let acknowledged = tokio::select! {
            biased;
            _ = control.abort.cancelled() => return,
            acknowledged = progress.copies.next() => acknowledged == Some(true),
        };
        if !settle_copy(&mut offsets, &mut progress, acknowledged) {
            return;
        }
    }
}

/// A record left a task's buffer: the flow-control gauge goes down, and the poller hears when it
/// may stop waiting for the task (below `pause_above`) or resume a paused partition (at
/// `resume_below`). Both loops call it for every record they take.
pub(crate) fn taken(shared: &Shared, tp: &Tp, buffered: &AtomicUsize) {
    let left = buffered.fetch_sub(1, Ordering::SeqCst) - 1;
    if left + 1 == shared.settings.pause_above {
        shared.drained.notify();
    }
    if left == shared.settings.resume_below {
        let _ = shared.resume.send(tp.clone());
    }
}

/// The next record: from the batch in hand, else the next batch from the poller (`None` when
/// the poller has dropped its end).
pub(crate) async fn next_record(
    inbox: &mut VecDeque<Record>,
    records: &mut UnboundedReceiver<Vec<Record>>,
) -> Option<Record> {
    while inbox.is_empty() {
        inbox.extend(records.recv().await?);
    }
    inbox.pop_front()
}
