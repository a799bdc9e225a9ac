//! What every partition task shares: the settings, the consumer handle, the copy producer, the
//! consumer-wide budgets, and key order's gate when the order is `Key`. It sits below the tasks
//! and the start-up code, so nothing the tasks use imports the file that starts them.

use std::sync::{Arc, Mutex};

use super::cluster;
use super::events::Event;
use super::key_order::KeyOrder;
use super::producer::Forwarder;
use super::rebalance::RebalanceContext;
use super::registry::{lock, Gauge, Registry, Tp};
use super::settings::Settings;
use crate::metrics::ChainMetrics;
use crate::trace::Tracer;

/// What every partition task shares.
pub(crate) struct Context {
    pub settings: Arc<Settings>,
    pub consumer: cluster::Handle<RebalanceContext>,
    pub forwarder: Arc<Forwarder>,
    /// Which partitions this member owns and which are paused (the poller pauses them, their
    /// tasks resume them).
    pub registry: Arc<Mutex<Registry>>,
    /// One permit per copy in flight, shared by every partition (`copy_budget` in all).
    pub copy_permits: Arc<tokio::sync::Semaphore>,
    /// Signalled when a partition's task drains below `pause_above`, for the poller waiting on it.
    pub drained: Drained,
    /// One permit per record in its handler, in `Key` and `Unordered` order (`max_in_flight`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Start tickets of fresh records in `Key` and `Unordered` order (`max_in_flight` of them):
    /// they bound the queue for a permit, so retries and held keys' records wait behind few.
    pub start_tickets: Arc<tokio::sync::Semaphore>,
    /// Key order's gate, in [`ProcessingOrder::Key`](super::ProcessingOrder::Key) alone: the
    /// engine and the forwarder call its hooks where it has some, and never test the order.
    pub key_order: Option<Arc<KeyOrder>>,
    /// This member's metrics handles (`rebound::metrics`), registered once.
    pub metrics: ChainMetrics,
    /// Where the attempt spans come from, looked up once (`crate::trace`).
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub tracer: Tracer,
}

/// A task drained enough: the poller, waiting for it to catch up, goes on at once instead of
/// sleeping in steps (each step of which left the task idle once it caught up).
///
/// Tasks signal only while the poller waits: a signal is a lock and a system call, and the
/// task that makes it is often descheduled for the poller it wakes, so a signal per batch
/// nobody waited for cost the tasks more than their records did.
#[derive(Default)]
pub(crate) struct Drained {
    lock: std::sync::Mutex<()>,
    signal: std::sync::Condvar,
    waiting: std::sync::atomic::AtomicBool,
}

impl Drained {
    /// Called by a task when its buffer falls low enough. Taking the lock means the signal
    /// cannot slip between the poller's check and its wait.
    pub(crate) fn notify(&self) {
        if !self.waiting.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let _guard = lock(&self.lock);
        self.signal.notify_all();
    }

    /// Waits until `done()` or `deadline`; `true` if done.
    pub(crate) fn wait_until(&self, deadline: std::time::Instant, done: impl Fn() -> bool) -> bool {
        let mut guard = lock(&self.lock);
        // Set under the lock and before the check: a task that drains after the check sees it
        // and signals; one that drained before is seen by the check.
        self.waiting
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _clear = ClearOnDrop(&self.waiting);
        loop {
            if done() {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            guard = self
                .signal
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// Clears the poller's waiting flag however its wait ends.
struct ClearOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Context {
    /// Resumes `tp` if the poller paused it. Called by its task as it drains: at once, from the
    /// task's thread (librdkafka's resume is thread-safe and does not block), so a resumed
    /// partition does not wait for the polling thread's next round, which waits up to 100 ms
    /// for a record when every other partition is idle or paused.
    pub(crate) fn resume(&self, tp: &Tp, gauge: &Gauge) {
        lock(&self.registry).resume(&self.consumer, tp, gauge);
    }

    /// Counts `event` in the member's metrics and hands it to the service's observer, if any.
    pub(crate) fn emit(&self, event: Event<'_>) {
        match &event {
            Event::Handled { topic, latency, .. } => self.metrics.handled(topic, *latency),
            Event::Failed {
                topic,
                class,
                latency,
                ..
            } => self.metrics.failed(topic, *class, *latency),
            Event::Forwarded { from, .. } => self.metrics.retried(from),
            Event::DeadLettered { from, .. } => self.metrics.dead_lettered(from),
            Event::ForwardFailed { from, .. } => self.metrics.copy_failed(from),
        }
        if let Some(observer) = &self.settings.observer {
            observer(&event);
        }
    }
}
