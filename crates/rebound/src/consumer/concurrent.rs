//! One partition's task when its records run concurrently ([`ProcessingOrder::Key`] and
//! [`ProcessingOrder::Unordered`]): records are taken in offset order, each runs as its own
//! future (its due time, the handler, its copy), a record of a busy key waits behind it, and the
//! offset stored never passes the lowest record not finished.
//!
//! [`ProcessingOrder::Key`]: super::ProcessingOrder::Key
//! [`ProcessingOrder::Unordered`]: super::ProcessingOrder::Unordered

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::builder::ProcessingOrder;
use super::dead_letters::deliver_dead_letter;
use super::done_marks;
use super::in_flight::{KeyQueues, OrderKey, Window};
use super::partition::{next_record, taken, PartitionControl, STORE_AT_LEAST_EVERY};
use super::process::{handle, park_behind, prepare, still_parked, Prepared, Processed};
use super::progress::OffsetStore;
use super::rebalance::RebalanceContext;
use super::registry::Tp;
use super::runtime::Shared;
use crate::headers::names::REDRIVEN_FROM;
use crate::naming::Stage;
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
    let stage = shared.settings.chain.stage_of(&tp.topic);
    // In `Key` order a main partition's keys wait on their records in the retry chain, and a
    // retry partition's records free their keys when they finish.
    let waits_on_holds = by_key && matches!(stage, Some(Stage::Main));
    let frees_holds = by_key && matches!(stage, Some(Stage::Retry(_)));
    let held = |key: &OrderKey| waits_on_holds && shared.held.is_held(tp.partition, key);
    let mut released = shared.held.watch();
    if waits_on_holds && !wait_for_retry_tails(&shared, &tp, &control.stop).await {
        return;
    }
    // With `hold_until_redriven`, a main partition's records of a key parked behind its dead
    // letter follow it into the DLT; which keys are parked is known once the DLT and its ledger
    // are read.
    let parks = waits_on_holds && shared.parked.is_some();
    if parks && !wait_for_parked_keys(&shared, &tp, &control.stop).await {
        return;
    }
    // A fresh record (not a retry, not one released from behind its key) needs a start ticket
    // to start; its ticket goes back when its handler gets a permit. Tickets are consumer-wide,
    // `max_in_flight` of them: a record waiting for each permit keeps every permit busy, and a
    // retry record or a held key's next record (which need none) waits behind at most that many
    // for a permit (with 64 permits and a 20 ms handler, 20 ms instead of a second).
    let needs_ticket = !matches!(stage, Some(Stage::Retry(_)));
    // A record taken when no ticket was free: it starts as soon as one is.
    let mut awaiting_ticket: Option<Record> = None;
    // Records a previous owner finished above the committed offset, as the commit's metadata
    // says: skipped, not handled again.
    let mut done_before = done_before(&shared, &tp).await;
    // Records started and not finished (waiting for their due time or a permit, in their
    // handler, or their copy's acknowledgement): at most `max_in_flight` per partition. More
    // would only wait in the consumer-wide queue for a permit, where a retry record or the next
    // record of a held key, whose key waits on them, would queue behind thousands.
    let start_limit = shared.settings.max_in_flight;
    // Records waiting behind their key are bounded apart: a failing key's records wait through
    // its back-offs, and they must not stop the partition's other keys.
    let wait_limit = shared
        .settings
        .pause_above
        .max(shared.settings.max_in_flight)
        * WAITING_PER_HELD;
    // Records whose future finished on its first poll, to settle like the ones from `running`.
    let mut finished_now: Vec<Finished> = Vec::new();
    loop {
        // Settling a record may start the next of its key, which may finish at once too.
        while let Some(finished) = finished_now.pop() {
            if !finished.done {
                // Stopped before it was done: it stays unfinished, nothing past it is stored,
                // and the records of its key stay behind it.
                continue;
            }
            if let Some(offset) = window.finish(finished.offset) {
                offsets.set(offset);
            }
            if frees_holds {
                let at = (tp.topic.clone(), tp.partition, finished.offset);
                shared.held.finished(finished.key.clone(), at);
            }
            if by_key {
                let hold = held(&finished.key);
                if let Some(next) = keys.release(&finished.key, hold) {
                    launch(
                        &mut running,
                        &mut finished_now,
                        start(&shared, next, None, parks, &control.stop),
                    );
                }
            }
        }
        if offsets.marks_due() {
            offsets.set_marks(window.marks());
        }
        if inbox.is_empty() {
            offsets.flush();
        } else {
            offsets.flush_if_older_than(STORE_AT_LEAST_EVERY);
        }
        tokio::select! {
            biased;
            _ = control.abort.cancelled() => return,
            Some(finished) = running.next(), if !running.is_empty() => finished_now.push(finished),
            Ok(()) = released.changed(), if keys.has_blocked() => {
                for record in keys.unblock(held) {
                    launch(&mut running, &mut finished_now, start(&shared, record, None, parks, &control.stop));
                }
            }
            Ok(ticket) = shared.start_tickets.clone().acquire_owned(), if awaiting_ticket.is_some() => {
                if let Some(record) = awaiting_ticket.take() {
                    launch(&mut running, &mut finished_now, start(&shared, record, Some(ticket), parks, &control.stop));
                }
            }
            _ = control.stop.cancelled() => break,
            next = next_record(&mut inbox, &mut records),
                if awaiting_ticket.is_none()
                    && window.len() - keys.waiting() < start_limit
                    && keys.waiting() < wait_limit => {
                let Some(record) = next else { break };
                taken(&shared, &tp, &control.buffered);
                window.take(record.offset());
                if done_before.remove(&record.offset()) {
                    if let Some(offset) = window.finish(record.offset()) {
                        offsets.set(offset);
                    }
                    if frees_holds {
                        let at = (tp.topic.clone(), tp.partition, record.offset());
                        shared.held.finished(record.order_key(), at);
                    }
                    if done_before.is_empty() {
                        tracing::info!(%tp, "skipped the records the previous owner had finished above the committed offset");
                    }
                    continue;
                }
                let record = match by_key {
                    true => {
                        let key = record.order_key();
                        let hold = held(&key);
                        keys.admit(key, record, hold)
                    }
                    false => Some(record),
                };
                if let Some(record) = record {
                    let ticket = match needs_ticket {
                        true => match shared.start_tickets.clone().try_acquire_owned() {
                            Ok(ticket) => Some(ticket),
                            Err(_) => {
                                awaiting_ticket = Some(record);
                                continue;
                            }
                        },
                        false => None,
                    };
                    launch(&mut running, &mut finished_now, start(&shared, record, ticket, parks, &control.stop));
                }
            }
        }
    }
    for finished in finished_now.drain(..).filter(|f| f.done) {
        if let Some(offset) = window.finish(finished.offset) {
            offsets.set(offset);
        }
    }
    // What is done above the lowest unfinished record goes with the last store (the marks may be
    // up to a second old), so the next owner skips it.
    offsets.set_marks(window.marks());
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
            offsets.set_marks(window.marks());
        }
    }
}

/// The records finished above the committed offset of `tp`, as its commit's metadata marks
/// them (see [`done_marks`](super::done_marks)); empty when none are, or the broker does not say.
async fn done_before(shared: &Arc<Shared>, tp: &Tp) -> HashSet<i64> {
    let consumer = shared.consumer.clone();
    let (topic, partition) = (tp.topic.clone(), tp.partition);
    tokio::task::spawn_blocking(move || {
        let (next, metadata) = committed(&*consumer, &topic, partition, Duration::from_secs(10))?;
        Some(done_marks::decode(&metadata, next))
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// How many records may wait behind their key, per record a sequential task may hold.
const WAITING_PER_HELD: usize = 8;

/// The offset the group committed for `topic`/`partition`, with its metadata; `None` when there
/// is none or the broker does not answer. Blocks: call it on Tokio's blocking pool.
fn committed(
    consumer: &impl Consumer<RebalanceContext>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Option<(i64, String)> {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    let committed = consumer.committed_offsets(list, timeout).ok()?;
    let element = committed.elements().into_iter().next()?;
    match element.offset() {
        Offset::Offset(next) => Some((next, element.metadata().to_string())),
        _ => None,
    }
}

/// How long a main partition's task waits, after it is assigned, for the retry records left by
/// an earlier owner to be taken (and so to hold their keys) before it runs any record.
const RETRY_TAIL_PATIENCE: Duration = Duration::from_secs(60);

/// Waits until this consumer has taken every record that was in partition `tp.partition` of each
/// retry topic when the main partition was assigned: those records hold their keys, and a later
/// record of such a key must not run before them. `false` when stopped meanwhile.
async fn wait_for_retry_tails(shared: &Arc<Shared>, tp: &Tp, stop: &CancellationToken) -> bool {
    let retries: Vec<String> = shared
        .settings
        .chain
        .retries
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let consumer = shared.consumer.clone();
    let partition = tp.partition;
    // The last offset of each retry partition with records not yet committed.
    let tails = tokio::task::spawn_blocking(move || {
        let mut tails = Vec::new();
        for topic in retries {
            let timeout = Duration::from_secs(10);
            let Ok((low, high)) = consumer.fetch_watermarks(&topic, partition, timeout) else {
                continue;
            };
            let committed =
                committed(&*consumer, &topic, partition, timeout).map_or(low, |(next, _)| next);
            if committed < high {
                tails.push((topic, high - 1));
            }
        }
        tails
    })
    .await
    .unwrap_or_default();
    let deadline = tokio::time::Instant::now() + RETRY_TAIL_PATIENCE;
    for (topic, last) in tails {
        while shared
            .held
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
async fn wait_for_parked_keys(shared: &Arc<Shared>, tp: &Tp, stop: &CancellationToken) -> bool {
    let Some(parked) = &shared.parked else {
        return true;
    };
    tokio::select! {
        biased;
        _ = stop.cancelled() => false,
        _ = parked.wait_caught_up() => true,
        _ = tokio::time::sleep(RETRY_TAIL_PATIENCE) => {
            tracing::warn!(%tp, "the DLT and its ledger were not read within 60 s; going on, a key held behind a dead letter may run before it is redriven");
            true
        }
    }
}

/// Starts a record's future and polls it once at once: a record whose handler finishes without
/// waiting (no due time, a permit free, a quick handler) is done without a trip through
/// `running`; the others wait there.
fn launch(
    running: &mut FuturesUnordered<BoxFuture<'static, Finished>>,
    finished_now: &mut Vec<Finished>,
    future: BoxFuture<'static, Finished>,
) {
    let mut future = future;
    match (&mut future).now_or_never() {
        Some(finished) => finished_now.push(finished),
        None => running.push(future),
    }
}

/// A record's whole life as one future: its due time, a permit of the consumer's
/// `max_in_flight`, the handler, and the acknowledgement of its copy if it failed. The permit is
/// held only while the handler runs. With `parks`, a record whose key is parked behind a pending
/// dead letter goes to the DLT instead, unless it is a redriven copy (the person's way out).
fn start(
    shared: &Arc<Shared>,
    record: Record,
    ticket: Option<OwnedSemaphorePermit>,
    parks: bool,
    stop: &CancellationToken,
) -> BoxFuture<'static, Finished> {
    let (shared, stop) = (shared.clone(), stop.clone());
    let (offset, key) = (record.offset(), record.order_key());
    let looks_parked = shared
        .parked
        .as_ref()
        .filter(|_| parks && !record.headers().contains(REDRIVEN_FROM))
        .is_some_and(|parked| parked.parked_behind(record.partition(), &key).is_some());
    Box::pin(async move {
        if looks_parked {
            if let Some(behind) = still_parked(&shared, &record).await {
                let done = park_behind(shared, record, behind, stop).await;
                return Finished { offset, key, done };
            }
        }
        let done = match prepare(&shared, record, &stop).await {
            Prepared::Ready(record) => {
                let permit = tokio::select! {
                    biased;
                    _ = stop.cancelled() => None,
                    permit = shared.in_flight.clone().acquire_owned() => permit.ok(),
                };
                drop(ticket);
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
            Prepared::DeadLetter(record) => {
                // The dead-letter hook may retry for minutes: it holds no ticket meanwhile.
                drop(ticket);
                deliver_dead_letter(&shared, record, &stop).await
            }
            Prepared::Stopped => false,
        };
        Finished { offset, key, done }
    })
}
