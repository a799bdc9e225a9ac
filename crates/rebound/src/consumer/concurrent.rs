//! One partition's task when its records run concurrently ([`ProcessingOrder::Key`] and
//! [`ProcessingOrder::Unordered`]): records are taken in offset order, each runs as its own
//! future (its due time, the handler, its copy), a record of a busy key waits behind it, and the
//! offset stored never passes the lowest record not finished.
//!
//! [`ProcessingOrder::Key`]: super::ProcessingOrder::Key
//! [`ProcessingOrder::Unordered`]: super::ProcessingOrder::Unordered

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::builder::ProcessingOrder;
use super::dead_letters::deliver_dead_letter;
use super::in_flight::{KeyQueues, OrderKey, Window};
use super::partition::{next_record, PartitionControl, STORE_AT_LEAST_EVERY};
use super::process::{handle, prepare, Prepared, Processed};
use super::progress::OffsetStore;
use super::registry::Tp;
use super::runtime::Shared;
use crate::record::Record;

/// A record's future ended.
struct Finished {
    offset: i64,
    key: OrderKey,
    /// Handled, dead-lettered or its copy acknowledged; `false` when stopped before.
    done: bool,
}

/// The task of partition `tp` in `Key` or `Unordered` order.
pub(crate) async fn run(
    shared: Arc<Shared>,
    tp: Tp,
    mut records: UnboundedReceiver<Vec<Record>>,
    control: PartitionControl,
) {
    let _exit = control.exit;
    // Declared after `_exit`, so dropped before it: what is done is stored before the poller
    // learns that the task ended.
    let mut offsets = OffsetStore::new(&shared, &tp);
    let mut inbox: VecDeque<Record> = VecDeque::new();
    let mut window = Window::default();
    let mut keys = KeyQueues::default();
    let mut running: FuturesUnordered<BoxFuture<'static, Finished>> = FuturesUnordered::new();
    let by_key = shared.settings.order == ProcessingOrder::Key;
    // Records taken and not finished (running, waiting for their due time or their key): what
    // the task holds, bounded like a sequential task's buffer.
    let hold_limit = shared
        .settings
        .pause_above
        .max(shared.settings.max_in_flight);
    loop {
        if inbox.is_empty() {
            offsets.flush();
        } else {
            offsets.flush_if_older_than(STORE_AT_LEAST_EVERY);
        }
        tokio::select! {
            biased;
            _ = control.abort.cancelled() => return,
            Some(finished) = running.next(), if !running.is_empty() => {
                if finished.done {
                    if let Some(offset) = window.finish(finished.offset) {
                        offsets.set(offset);
                    }
                }
                // A record stopped before it was done stays unfinished: nothing past it is
                // stored, and the records of its key stay behind it.
                if by_key && finished.done {
                    if let Some(next) = keys.release(&finished.key) {
                        running.push(start(&shared, next, &control.stop));
                    }
                }
            }
            _ = control.stop.cancelled() => break,
            next = next_record(&mut inbox, &mut records), if window.len() < hold_limit => {
                let Some(record) = next else { break };
                taken(&shared, &tp, &control.buffered);
                window.take(record.offset());
                if by_key {
                    let key = record.order_key();
                    if let Some(record) = keys.admit(key, record) {
                        running.push(start(&shared, record, &control.stop));
                    }
                } else {
                    running.push(start(&shared, record, &control.stop));
                }
            }
        }
    }
    // Stopping: the records running get the stop (due waits and back-offs end at once); what
    // finishes is stored, the rest is handled again by whoever owns the partition next.
    loop {
        let finished = tokio::select! {
            biased;
            _ = control.abort.cancelled() => return,
            finished = running.next() => finished,
        };
        let Some(finished) = finished else { return };
        if finished.done {
            if let Some(offset) = window.finish(finished.offset) {
                offsets.set(offset);
            }
        }
    }
}

/// A record left the task's buffer: the flow-control gauge and the poller's signals.
fn taken(shared: &Shared, tp: &Tp, buffered: &AtomicUsize) {
    let left = buffered.fetch_sub(1, Ordering::SeqCst) - 1;
    if left + 1 == shared.settings.pause_above {
        shared.drained.notify();
    }
    if left == shared.settings.resume_below {
        let _ = shared.resume.send(tp.clone());
    }
}

/// A record's whole life as one future: its due time, a permit of the consumer's
/// `max_in_flight`, the handler, and the acknowledgement of its copy if it failed. The permit is
/// held only while the handler runs.
fn start(
    shared: &Arc<Shared>,
    record: Record,
    stop: &CancellationToken,
) -> BoxFuture<'static, Finished> {
    let (shared, stop) = (shared.clone(), stop.clone());
    let (offset, key) = (record.offset(), record.order_key());
    Box::pin(async move {
        let done = match prepare(&shared, record, &stop).await {
            Prepared::Ready(record) => {
                let permit = tokio::select! {
                    biased;
                    _ = stop.cancelled() => None,
                    permit = shared.in_flight.clone().acquire_owned() => permit.ok(),
                };
                match permit {
                    None => false,
                    Some(permit) => {
                        let processed = handle(&shared, record, &stop).await;
                        drop(permit);
                        match processed {
                            Processed::Done => true,
                            Processed::Forwarding(copy) => copy.await,
                            Processed::Stopped => false,
                        }
                    }
                }
            }
            Prepared::DeadLetter(record) => deliver_dead_letter(&shared, record, &stop).await,
            Prepared::Stopped => false,
        };
        Finished { offset, key, done }
    })
}
