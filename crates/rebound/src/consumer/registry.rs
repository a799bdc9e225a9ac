//! Which partitions this member owns, the partition task of each, and which ones are paused.
//!
//! Shared by the polling thread (which dispatches records and pauses partitions) and the rebalance
//! callbacks (which stop tasks of revoked partitions). librdkafka has no "is paused" query and
//! resuming a partition that is not paused can redeliver records, so the pause state lives here.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::TopicPartitionList;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::record::{Batch, Delivery};

/// Locks `mutex` even if a thread panicked while holding it. The registry and the latches hold
/// plain maps and flags that no update leaves half-written in a way that matters, and a consumer
/// that stopped on a poisoned lock would stop handling every partition for one panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A topic and partition. The name is shared: cloning a `Tp` allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Tp {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl Tp {
    /// Whether this is `partition` of `topic`, without building a `Tp` to compare with.
    pub(crate) fn is(&self, topic: &str, partition: i32) -> bool {
        self.partition == partition && &*self.topic == topic
    }
}

impl std::fmt::Display for Tp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// The polling thread's handle on one partition's task.
pub(crate) struct TaskHandle {
    /// Records go to the task in batches: one wake-up per poll round, not per record.
    pub records: UnboundedSender<Delivery>,
    /// Records sent to the task and not yet taken by it, and whether the partition is paused.
    pub gauge: Arc<Gauge>,
    /// The highest offset handed to the task: a record at or below it is a redelivery.
    pub dispatched_until: i64,
    /// Since when the task has held `pause_above` records or more while taking them: the
    /// poller goes on feeding it and pauses the partition if it has not drained in time.
    pub full_since: Option<Instant>,
    /// Stop taking records; finish the one in hand.
    pub stop: CancellationToken,
    /// Drop the record in hand, uncommitted.
    pub abort: CancellationToken,
    pub exited: ExitLatch,
}

/// A partition's flow-control gauge, shared by the poller and the partition's task.
pub(crate) struct Gauge {
    /// Records handed to the task and not yet taken.
    pub buffered: AtomicUsize,
    /// Whether the poller paused the partition: the task looks here before it takes the
    /// registry's lock to resume it, so draining costs no lock while nothing is paused. Set and
    /// cleared under the registry's lock, with [`Registry::paused`].
    pub paused: AtomicBool,
    /// Whether the task, at its last step, could take no record (its head waits for a due time
    /// or a slow handler, its keys or copies are at their limit): the poller waits for a full
    /// task that is held up before it pauses the partition, and feeds on one that is merely
    /// behind (its thread descheduled) while it catches up.
    pub held_up: AtomicBool,
}

impl Default for Gauge {
    /// A task that has not started is held up: it takes nothing until it has asked where its
    /// partition stands (the committed offset's marks, key order's checks), and the poller must
    /// not feed it as if it were only behind.
    fn default() -> Self {
        Gauge {
            buffered: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
            held_up: AtomicBool::new(true),
        }
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    pub assigned: HashSet<Tp>,
    pub tasks: HashMap<Tp, TaskHandle>,
    pub paused: HashSet<Tp>,
    /// Records polled in the current round, per partition, not yet handed to their tasks. A
    /// revocation drops a partition's batch (its records are not committed, so whoever owns the
    /// partition next reads them again); the others are handed out at the end of the round.
    pub polled: Vec<(Tp, Batch)>,
}

impl Registry {
    /// Pauses `tp` unless it is paused already or no longer ours: the set, the task's flag and
    /// librdkafka in step. `true` if it paused it.
    pub(crate) fn pause<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        tp: &Tp,
        gauge: &Gauge,
    ) -> bool {
        if !self.assigned.contains(tp) || !self.paused.insert(tp.clone()) {
            return false;
        }
        gauge
            .paused
            .store(true, std::sync::atomic::Ordering::SeqCst);
        set_paused(consumer, tp, true);
        true
    }

    /// Resumes `tp` if it is paused: the set, the task's flag and librdkafka in step.
    pub(crate) fn resume<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        tp: &Tp,
        gauge: &Gauge,
    ) {
        if self.paused.remove(tp) {
            gauge
                .paused
                .store(false, std::sync::atomic::Ordering::SeqCst);
            set_paused(consumer, tp, false);
        }
    }

    /// Forgets `tps` and returns their tasks, stopped, for the caller to wait on.
    pub(crate) fn release(&mut self, tps: &[Tp]) -> Vec<TaskHandle> {
        let mut released = Vec::new();
        self.polled.retain(|(tp, _)| !tps.contains(tp));
        for tp in tps {
            self.assigned.remove(tp);
            self.paused.remove(tp);
            if let Some(task) = self.tasks.remove(tp) {
                task.stop.cancel();
                released.push(task);
            }
        }
        released
    }
}

/// Waits for stopped tasks to finish the record in hand, up to `grace`, then aborts the rest.
pub(crate) fn wait_for_tasks(tasks: &[TaskHandle], grace: Duration) {
    let deadline = Instant::now() + grace;
    for task in tasks {
        task.exited.wait_until(deadline);
    }
    let late: Vec<&TaskHandle> = tasks.iter().filter(|task| !task.exited.is_set()).collect();
    if !late.is_empty() {
        tracing::warn!(
            count = late.len(),
            "partition tasks still busy after the {grace:?} grace period; abandoning their records uncommitted"
        );
        for task in &late {
            task.abort.cancel();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for task in late {
            task.exited.wait_until(deadline);
        }
    }
}

/// Set once, when a partition task ends (or is dropped unstarted); waited on from a plain thread.
#[derive(Clone, Default)]
pub(crate) struct ExitLatch(Arc<(Mutex<bool>, Condvar)>);

impl ExitLatch {
    pub(crate) fn guard(&self) -> ExitGuard {
        ExitGuard(self.clone())
    }

    pub(crate) fn is_set(&self) -> bool {
        *lock(&self.0 .0)
    }

    pub(crate) fn wait_until(&self, deadline: Instant) {
        let (lock, signal) = &*self.0;
        let mut done = self::lock(lock);
        while !*done {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            done = signal
                .wait_timeout(done, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Sets its latch when dropped, however the partition task ends.
pub(crate) struct ExitGuard(ExitLatch);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let (lock, signal) = &*self.0 .0;
        *self::lock(lock) = true;
        signal.notify_all();
    }
}

/// Pauses or resumes `tp`. Callers keep [`Registry::paused`] in step under its lock: librdkafka
/// has no "is paused" query, and resuming a partition that is not paused can redeliver records.
fn set_paused<C: ConsumerContext>(consumer: &BaseConsumer<C>, tp: &Tp, pause: bool) {
    let mut list = TopicPartitionList::new();
    list.add_partition(&tp.topic, tp.partition);
    let result = if pause {
        consumer.pause(&list)
    } else {
        consumer.resume(&list)
    };
    match result {
        Ok(()) if pause => tracing::debug!(%tp, "partition paused: its task holds enough records"),
        Ok(()) => tracing::debug!(%tp, "partition resumed"),
        Err(e) => {
            tracing::warn!(%tp, error = %e, pause, "could not change the partition's pause state")
        }
    }
}
