//! The polling thread: polls librdkafka without pause (so the member never leaves its group
//! while partitions wait, and the rebalance callbacks can wait for records in hand), hands each
//! record to its partition's task, and pauses a partition whose task holds too much.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::engine::{PartitionControl, PartitionTask};
use super::rebalance::{commit_stored, RebalanceContext};
use super::registry::{self, wait_for_tasks, ExitLatch, Gauge, Registry, TaskHandle, Tp};
use crate::record::Batch;

/// Runs on the `rebound-poll` thread until `stopping` is set; then stops every partition task
/// (waiting up to the grace period), commits what is done and leaves the group.
pub(crate) fn poll_loop(
    shared: Arc<Context>,
    registry: Arc<Mutex<Registry>>,
    stopping: Arc<AtomicBool>,
    runtime: tokio::runtime::Handle,
) {
    let consumer = shared.consumer.clone();
    let (mut wait, mut watching) = (IDLE_POLL, false);
    while !stopping.load(Ordering::SeqCst) {
        poll_round(&consumer, &registry, wait);
        if stopping.load(Ordering::SeqCst) {
            // Stopped while polling (a shutdown, or the run future dropped): what this round
            // polled is not handed out. It was never stored, so whoever owns the partitions next
            // reads it; handing it out would let a stopping member take records produced after
            // it was told to stop.
            registry::lock(&registry).polled.clear();
            break;
        }
        for full in hand_out(&shared, &registry, &runtime, &mut watching) {
            pause_unless_draining(&shared, &registry, full);
        }
        // Only while some task is watched: the look walks every task under the registry's lock.
        let next = watching
            .then(|| pause_the_stuck(&shared, &registry))
            .flatten();
        (wait, watching) = (next.unwrap_or(IDLE_POLL), next.is_some());
    }
    let tasks: Vec<TaskHandle> = {
        let mut registry = registry::lock(&registry);
        let all: Vec<Tp> = registry.assigned.iter().cloned().collect();
        registry.release(&all)
    };
    wait_for_tasks(&tasks, shared.settings.grace);
    commit_stored(&consumer);
    consumer.unsubscribe();
    tracing::info!("consumer stopped");
}

/// A partition whose task has too much in hand for the poller to go on feeding it.
struct Full {
    tp: Tp,
    gauge: Arc<Gauge>,
    /// Until when the poller waits for the task to drain before it pauses the partition.
    catch_up_until: Instant,
}

/// How long a full partition's task gets to catch up before the partition is paused.
///
/// Pausing is expensive: librdkafka drops what it prefetched for the partition and fetches it
/// again after the resume, which costs the broker a second read of every such record. A task
/// that is merely behind (its thread descheduled for a few milliseconds while the poller ran)
/// catches up within this time; a task that is waiting for a due time or held by a slow handler
/// does not, and its partition is paused so that the others go on.
const CATCH_UP: Duration = Duration::from_millis(20);

/// How long a round waits for its first record when no full task's time runs out sooner.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Waits (on this thread, the other partitions unfed) for a full partition's task to drain
/// until the end of its [`CATCH_UP`] time, and pauses the partition if it does not.
///
/// The poller waits so only for a task that is held up (it can take no record now: its head
/// waits for a due time or a slow handler), or one that is behind by
/// [`Settings::hand_at_most`]; while a task is less behind, the poller goes on and watches it
/// ([`pause_the_stuck`]).
///
/// [`Settings::hand_at_most`]: super::settings::Settings::hand_at_most
fn pause_unless_draining(shared: &Context, registry: &Mutex<Registry>, full: Full) {
    let limit = shared.settings.drained_below();
    let drained = shared.drained.wait_until(full.catch_up_until, || {
        full.gauge.buffered.load(Ordering::SeqCst) < limit
    });
    if !drained {
        pause(shared, &mut registry::lock(registry), &full.tp, &full.gauge);
    }
}

/// Pauses the partitions whose task was found full, behind, and has not drained within its
/// [`CATCH_UP`] time; forgets the ones that drained. Returns how long the next round may wait
/// for a record (no longer than the first such time still running), or `None` when no task is
/// watched any more.
fn pause_the_stuck(shared: &Context, registry: &Mutex<Registry>) -> Option<Duration> {
    let mut registry = registry::lock(registry);
    let registry = &mut *registry;
    let (now, limit) = (Instant::now(), shared.settings.drained_below());
    let (mut wait, mut watched) = (IDLE_POLL, false);
    let mut stuck = Vec::new();
    for (tp, task) in &mut registry.tasks {
        let Some(since) = task.full_since else {
            continue;
        };
        let drained = task.gauge.buffered.load(Ordering::SeqCst) < limit;
        let left = (since + CATCH_UP).saturating_duration_since(now);
        if drained || registry.paused.contains(tp) || left.is_zero() {
            task.full_since = None;
            if !drained && left.is_zero() {
                stuck.push((tp.clone(), task.gauge.clone()));
            }
        } else {
            (wait, watched) = (wait.min(left), true);
        }
    }
    for (tp, gauge) in stuck {
        pause(shared, registry, &tp, &gauge);
    }
    watched.then_some(wait)
}

/// Pauses `tp` (unless it is paused already or no longer ours).
fn pause(shared: &Context, registry: &mut Registry, tp: &Tp, gauge: &Gauge) {
    if !registry.pause(&shared.consumer, tp, gauge) {
        return;
    }
    // The task may have drained to its resume mark before the pause, before it could see the
    // flag: it would never resume the partition then. Whichever comes second, the flag or the
    // drain, sees the other.
    if gauge.buffered.load(Ordering::SeqCst) <= shared.settings.resume_below {
        registry.resume(&shared.consumer, tp, gauge);
    }
}

/// At most this many records are polled before they are handed to their tasks.
const ROUND: usize = 1024;

/// Polls up to [`ROUND`] records (waiting up to `wait` for the first, not at all for the rest)
/// into the registry's per-partition batches.
///
/// The registry is locked per record, never across `poll`: the rebalance callbacks run inside
/// `poll`, on this thread, and take the lock themselves (dropping the batches of the partitions
/// they revoke).
fn poll_round(
    consumer: &BaseConsumer<RebalanceContext>,
    registry: &Mutex<Registry>,
    mut wait: Duration,
) {
    for _ in 0..ROUND {
        match consumer.poll(wait) {
            None => return,
            Some(Err(e)) => tracing::warn!(error = %e, "consumer error"),
            Some(Ok(message)) => collect(&mut registry::lock(registry), &message),
        }
        wait = Duration::ZERO;
    }
}

/// Adds a polled record to its partition's batch of the round.
fn collect(registry: &mut Registry, message: &BorrowedMessage<'_>) {
    let (topic, partition) = (message.topic(), message.partition());
    let index = match registry
        .polled
        .iter()
        .position(|(tp, _)| tp.is(topic, partition))
    {
        Some(index) => index,
        None => {
            // The name allocated once per partition, shared by its `Tp` and its records.
            let tp = match registry.tasks.keys().find(|tp| tp.is(topic, partition)) {
                Some(tp) => tp.clone(),
                None => Tp {
                    topic: topic.into(),
                    partition,
                },
            };
            registry.polled.push((tp, Batch::default()));
            registry.polled.len() - 1
        }
    };
    registry.polled[index].1.push(message);
}

/// Hands each partition's batch to its task, starting the task if needed. Returns the
/// partitions whose task now has too much in hand to go on feeding it and that are not paused
/// yet; a task that is full but taking records is only marked (`full_since`), and `watching`
/// set for [`pause_the_stuck`] to look at it.
fn hand_out(
    shared: &Arc<Context>,
    registry: &Mutex<Registry>,
    runtime: &tokio::runtime::Handle,
    watching: &mut bool,
) -> Vec<Full> {
    let mut registry = registry::lock(registry);
    let registry = &mut *registry;
    let mut full = Vec::new();
    for (tp, batch) in std::mem::take(&mut registry.polled) {
        if !registry.assigned.contains(&tp) {
            continue; // Revoked while in flight: its new owner reads it again.
        }
        let task = registry
            .tasks
            .entry(tp.clone())
            .or_insert_with(|| spawn_partition(shared, runtime, &tp));
        let mut delivery = batch.seal(tp.topic.clone());
        // Re-fetched after a resume: the task already has these.
        delivery.skip_through(task.dispatched_until);
        let Some(last) = delivery.last_offset() else {
            continue;
        };
        if let Some(key_order) = &shared.key_order {
            key_order.dispatched(&tp, &delivery);
        }
        task.dispatched_until = last;
        let count = delivery.len();
        let buffered = task.gauge.buffered.fetch_add(count, Ordering::SeqCst) + count;
        if task.records.send(delivery).is_err() {
            continue;
        }
        if buffered < shared.settings.pause_above || registry.paused.contains(&tp) {
            continue;
        }
        let since = *task.full_since.get_or_insert_with(Instant::now);
        *watching = true;
        let held_up = task.gauge.held_up.load(Ordering::SeqCst);
        if !held_up && buffered < shared.settings.hand_at_most() {
            continue; // Behind, not stuck: watched while the poller goes on.
        }
        full.push(Full {
            gauge: task.gauge.clone(),
            tp,
            catch_up_until: since + CATCH_UP,
        });
    }
    full
}

fn spawn_partition(shared: &Arc<Context>, runtime: &tokio::runtime::Handle, tp: &Tp) -> TaskHandle {
    let (records, receiver) = tokio::sync::mpsc::unbounded_channel();
    let exited = ExitLatch::default();
    let task = TaskHandle {
        records,
        gauge: Arc::new(Gauge::default()),
        dispatched_until: -1,
        full_since: None,
        stop: CancellationToken::new(),
        abort: CancellationToken::new(),
        exited: exited.clone(),
    };
    let control = PartitionControl {
        stop: task.stop.clone(),
        abort: task.abort.clone(),
        gauge: task.gauge.clone(),
        exit: exited.guard(),
    };
    runtime.spawn(PartitionTask::new(shared.clone(), tp.clone(), receiver, control).run());
    task
}
