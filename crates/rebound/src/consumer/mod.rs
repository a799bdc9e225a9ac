//! The consumer runtime: one polling thread, one task per partition.
//!
//! ```text
//!  poll thread ──records──▶ partition task ─┬─ ok ──────────────▶ store offset
//!   (pause/resume,                           ├─ transient ─▶ copy to retry topic ─▶ store offset
//!    rebalances)                             └─ permanent ─▶ copy to DLT ─────────▶ store offset
//! ```
//!
//! A dedicated thread polls librdkafka without pause, so the member never leaves its group while
//! partitions wait, and the rebalance callbacks can wait for in-flight records before committing.
//! Each partition's task handles its records in offset order; a retry record waits in memory
//! until it is due, so it is handled on time without re-fetching, while other partitions go on.
//! A partition whose task falls behind is paused (and resumed when it catches up) to bound memory.
//! librdkafka commits stored offsets every 500 ms, on revocation and at shutdown.

mod context;
mod events;
mod forward;
mod registry;
mod worker;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::TopicPartitionList;
use tokio_util::sync::CancellationToken;

use crate::admin;
use crate::config::KafkaConfig;
use crate::error::Error;
use crate::failure::{Classifier, Failure};
use crate::naming::TopicChain;
use crate::policy::RetryPolicy;
use crate::record::Record;

pub use events::Event;

use context::{commit_stored, RebalanceContext};
use forward::Forwarder;
use registry::{wait_for_workers, ExitLatch, Registry, Tp, Worker};

/// An async record handler. Implemented for any `Fn(Record) -> impl Future<Output = Result<(), Failure>>`.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, record: Record) -> BoxFuture<'static, Result<(), Failure>>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Record) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + Send + 'static,
{
    fn handle(&self, record: Record) -> BoxFuture<'static, Result<(), Failure>> {
        Box::pin(self(record))
    }
}

pub(crate) struct Settings {
    pub kafka: KafkaConfig,
    pub group: String,
    pub instance_id: Option<String>,
    pub chain: TopicChain,
    pub policy: RetryPolicy,
    pub classifier: Classifier,
    pub handler: Arc<dyn Handler>,
    pub dlt_handler: Option<Arc<dyn Handler>>,
    pub observer: Option<events::Observer>,
    pub handler_timeout: Option<Duration>,
    pub grace: Duration,
    pub pause_above: usize,
    pub resume_below: usize,
    /// Copies of failed records this consumer may have waiting for their acknowledgement.
    pub copy_budget: usize,
    pub create_topics: bool,
    pub default_partitions: i32,
    pub replication: i32,
}

/// What every partition task shares.
pub(crate) struct Shared {
    pub settings: Settings,
    pub consumer: Arc<BaseConsumer<RebalanceContext>>,
    pub forwarder: Forwarder,
    pub resume: std_mpsc::Sender<Tp>,
    /// One permit per copy in flight, shared by every partition (`copy_budget` in all).
    pub copy_permits: Arc<tokio::sync::Semaphore>,
}

/// The default of [`RetryingConsumerBuilder::max_copies_in_flight`].
const DEFAULT_COPY_BUDGET: usize = 8192;

impl Settings {
    /// How many of the consumer's copies in flight one partition may hold: a quarter, so that a
    /// partition whose copies are stuck (its target's leader gone) leaves room for the others.
    pub(crate) fn copies_per_partition(&self) -> usize {
        (self.copy_budget / 4).max(1)
    }
}

impl Shared {
    pub(crate) fn emit(&self, event: Event<'_>) {
        if let Some(observer) = &self.settings.observer {
            observer(&event);
        }
    }
}

/// Builds a [`RetryingConsumer`].
pub struct RetryingConsumerBuilder {
    settings: Settings,
    handler: Option<Arc<dyn Handler>>,
}

/// A consumer of a topic and its retry chain: the Rust `@RetryableTopic`.
///
/// ```no_run
/// use std::time::Duration;
/// use rebound::{Backoff, Failure, KafkaConfig, Record, RetryPolicy, RetryingConsumer};
///
/// #[derive(serde::Deserialize)]
/// struct Email { to: String, subject: String }
///
/// # async fn example() -> Result<(), rebound::Error> {
/// let policy = RetryPolicy::new(5)
///     .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
///     .dlt_suffix(".dlt");
/// RetryingConsumer::builder(KafkaConfig::from_env(), "email.send", "email-send-group")
///     .policy(policy)
///     .handler(|record: Record| async move {
///         let email: Email = record.json()?; // undecodable: straight to the DLT
///         if email.to == "fail@naver.com" {
///             return Err(Failure::msg("잘못된 이메일 주소로 인해 발송 실패")); // transient: retried
///         }
///         println!("sent {} to {}", email.subject, email.to);
///         Ok(())
///     })
///     .build()?
///     .run(async { tokio::signal::ctrl_c().await.ok(); })
///     .await
/// # }
/// ```
pub struct RetryingConsumer {
    settings: Settings,
}

impl RetryingConsumer {
    pub fn builder(kafka: KafkaConfig, topic: &str, group: &str) -> RetryingConsumerBuilder {
        let policy = RetryPolicy::default();
        RetryingConsumerBuilder {
            settings: Settings {
                kafka,
                group: group.to_string(),
                instance_id: None,
                chain: TopicChain::new(topic, &policy),
                policy,
                classifier: Classifier::new(),
                handler: Arc::new(|_: Record| async { Ok(()) }),
                dlt_handler: None,
                observer: None,
                handler_timeout: None,
                grace: Duration::from_secs(10),
                pause_above: 500,
                resume_below: 125,
                copy_budget: DEFAULT_COPY_BUDGET,
                create_topics: true,
                default_partitions: 1,
                replication: -1,
            },
            handler: None,
        }
    }

    /// A consumer of a dead-letter topic alone (its own group): every record goes to `handler`,
    /// which is called again with back-off (1 s doubling, at most 60 s) until it succeeds; the
    /// offset is committed only then. Logs `Received message in dlt listener: <topic>-<p>@<o>`.
    pub fn dead_letters(
        kafka: KafkaConfig,
        dlt_topic: &str,
        group: &str,
    ) -> RetryingConsumerBuilder {
        let mut builder = RetryingConsumer::builder(kafka, dlt_topic, group);
        builder.settings.policy = RetryPolicy::new(1).without_dlt();
        builder.settings.chain = TopicChain {
            main: String::new(),
            retries: Vec::new(),
            dlt: Some(dlt_topic.to_string()),
        };
        builder
    }

    /// The topics this consumer reads and writes.
    pub fn chain(&self) -> &TopicChain {
        &self.settings.chain
    }

    /// Runs until `shutdown` completes: then stops taking records, lets the ones in hand finish
    /// (up to the grace period), commits what is done and leaves the group.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let settings = self.settings;
        let topics = subscribed_topics(&settings);
        let partitions = admin::patiently("looking up the chain's topics", || async {
            if settings.create_topics {
                admin::ensure_chain(
                    &settings.kafka,
                    topics[0],
                    &all_chain_topics(&settings)[1..],
                    settings.default_partitions,
                    settings.replication,
                )
                .await
            } else {
                admin::partition_counts(&settings.kafka, &all_chain_topics(&settings))
            }
        })
        .await?;

        let registry = Arc::new(Mutex::new(Registry::default()));
        let context = RebalanceContext {
            registry: registry.clone(),
            grace: settings.grace,
        };
        let mut defaults = vec![
            ("group.id", settings.group.as_str()),
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "500"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
        ];
        if let Some(id) = settings.instance_id.as_deref() {
            defaults.push(("group.instance.id", id));
        }
        let consumer: BaseConsumer<RebalanceContext> = settings
            .kafka
            .client_config(&defaults)
            .create_with_context(context)?;
        consumer.subscribe(&topics)?;
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        tracing::info!(group = %settings.group, topics = ?topics, "consumer started");

        let forwarder = Forwarder::new(&settings.kafka, partitions)?;
        let (resume_tx, resume_rx) = std_mpsc::channel();
        let shared = Arc::new(Shared {
            copy_permits: Arc::new(tokio::sync::Semaphore::new(settings.copy_budget)),
            settings,
            consumer: Arc::new(consumer),
            forwarder,
            resume: resume_tx,
        });
        let stopping = Arc::new(AtomicBool::new(false));
        // If this future is dropped instead of being shut down (a `select!` that lost, a task
        // aborted), the polling thread must not go on consuming with no one to stop it.
        let _stop_when_dropped = StopWhenDropped(stopping.clone());
        let poller = {
            let (shared, stopping) = (shared.clone(), stopping.clone());
            let runtime = tokio::runtime::Handle::current();
            std::thread::Builder::new()
                .name("rebound-poll".into())
                .spawn(move || poll_loop(shared, registry, resume_rx, stopping, runtime))
                .map_err(|e| Error::Crashed(e.to_string()))?
        };
        drop(shared);

        let poller_done = tokio::task::spawn_blocking(move || poller.join());
        tokio::pin!(poller_done);
        tokio::select! {
            _ = shutdown => {
                tracing::info!("shutting down: finishing records in hand");
                stopping.store(true, Ordering::SeqCst);
                poller_done.await
            }
            joined = &mut poller_done => joined,
        }
        .map_err(|e| Error::Crashed(e.to_string()))?
        .map_err(|_| Error::Crashed("the polling thread panicked".into()))
    }
}

/// Sets the polling thread's stop flag when dropped.
struct StopWhenDropped(Arc<AtomicBool>);

impl Drop for StopWhenDropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl RetryingConsumerBuilder {
    /// Sets the policy and derives the chain's topic names from it.
    pub fn policy(mut self, policy: RetryPolicy) -> Self {
        let main = self.settings.chain.main.clone();
        if !main.is_empty() {
            self.settings.chain = TopicChain::new(&main, &policy);
        }
        self.settings.policy = policy;
        self
    }

    pub fn handler(mut self, handler: impl Handler) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// A hook for records that reach the DLT: the consumer also reads the DLT (same group) and
    /// calls it, retrying until it succeeds.
    pub fn dlt_handler(mut self, handler: impl Handler) -> Self {
        self.settings.dlt_handler = Some(Arc::new(handler));
        self
    }

    /// Called for every [`Event`]: records handled, failed, forwarded, dead-lettered. Keep it
    /// quick (update counters); it runs on the partition's task.
    pub fn on_event(mut self, observer: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        self.settings.observer = Some(Arc::new(observer));
        self
    }

    pub fn classifier(mut self, classifier: Classifier) -> Self {
        self.settings.classifier = classifier;
        self
    }

    /// Static group membership (KIP-345): a restarted worker with the same id gets its partitions
    /// back without a rebalance. Give each worker of a deployment a stable, distinct id.
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.settings.instance_id = Some(id.into());
        self
    }

    /// A handler call that takes longer fails as transient.
    pub fn handler_timeout(mut self, limit: Duration) -> Self {
        self.settings.handler_timeout = Some(limit);
        self
    }

    /// How long records in hand may take to finish on shutdown or revocation (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.settings.grace = grace;
        self
    }

    /// Records buffered per partition before it is paused (default 500); resumed at a quarter.
    ///
    /// This bounds the memory a waiting partition holds: a record with Rebound's retry headers
    /// takes about 2 KiB in hand, so the default is about 1 MiB per partition. Larger values
    /// pause less often on bursty handlers; smaller ones hold less (see BENCHMARKS.md).
    pub fn max_buffered(mut self, records: usize) -> Self {
        self.settings.pause_above = records.max(4);
        self.settings.resume_below = self.settings.pause_above / 4;
        self
    }

    /// Copies of failed records that may wait for the broker's acknowledgement at once, over the
    /// whole consumer (default 8192); one partition may hold a quarter of them.
    ///
    /// A partition goes on handling records while the copies of its failed ones are on their way
    /// to the retry topic or the DLT, and stores its offset only up to the oldest copy not yet
    /// acknowledged. This budget bounds the memory those copies hold (each is held twice until
    /// acknowledged, by Rebound and in librdkafka's queue, with its ~15 headers: a few KiB per
    /// copy with a 200-byte payload) and how far a partition runs ahead of a broker that is slow
    /// to acknowledge, which is what a crash would hand out again.
    ///
    /// Too small a budget throttles a consumer whose failures are frequent and whose broker
    /// acknowledges slowly: on Tansu, 256 copies per partition held the poison-isolation
    /// benchmark to 0.24 of its clean pace, 2,048 let it reach 0.65 (see BENCHMARKS.md).
    ///
    /// ```no_run
    /// # use rebound::{KafkaConfig, Record, RetryingConsumer};
    /// let consumer = RetryingConsumer::builder(KafkaConfig::from_env(), "email.send", "email-send-group")
    ///     .max_copies_in_flight(1024) // at most 1,024 copies waiting, 256 on one partition
    ///     .handler(|_: Record| async { Ok(()) })
    ///     .build()?;
    /// # Ok::<(), rebound::Error>(())
    /// ```
    pub fn max_copies_in_flight(mut self, copies: usize) -> Self {
        self.settings.copy_budget = copies.max(1);
        self
    }

    /// Whether to create missing chain topics on start (default true), and with what settings.
    pub fn create_topics(mut self, create: bool) -> Self {
        self.settings.create_topics = create;
        self
    }

    /// Partitions of the main topic if it must be created (default 1).
    pub fn default_partitions(mut self, partitions: i32) -> Self {
        self.settings.default_partitions = partitions.max(1);
        self
    }

    /// Replication factor of created topics (default -1: the broker's default).
    pub fn replication_factor(mut self, replication: i32) -> Self {
        self.settings.replication = replication;
        self
    }

    pub fn build(mut self) -> Result<RetryingConsumer, Error> {
        self.settings.handler = match (self.handler, &self.settings.dlt_handler) {
            (Some(handler), _) => handler,
            // A dead-letter consumer's handler is its DLT hook.
            (None, Some(_)) if self.settings.chain.main.is_empty() => {
                Arc::new(|_: Record| async { Ok(()) })
            }
            (None, _) => return Err(Error::NoHandler),
        };
        if self.settings.chain.main.is_empty() && self.settings.dlt_handler.is_none() {
            self.settings.dlt_handler = Some(self.settings.handler.clone());
        }
        Ok(RetryingConsumer {
            settings: self.settings,
        })
    }
}

/// The topics to subscribe to: the main topic, the retry topics, and the DLT when this consumer
/// listens to it.
fn subscribed_topics(settings: &Settings) -> Vec<&str> {
    let chain = &settings.chain;
    let mut topics: Vec<&str> = Vec::new();
    if !chain.main.is_empty() {
        topics.push(&chain.main);
    }
    for retry in &chain.retries {
        if !topics.contains(&retry.name.as_str()) {
            topics.push(&retry.name);
        }
    }
    if chain.main.is_empty() || settings.dlt_handler.is_some() {
        topics.extend(chain.dlt.as_deref());
    }
    topics
}

/// Every topic the consumer reads or writes, main (or DLT alone) first.
fn all_chain_topics(settings: &Settings) -> Vec<&str> {
    let mut topics = subscribed_topics(settings);
    if let Some(dlt) = settings.chain.dlt.as_deref() {
        if !topics.contains(&dlt) {
            topics.push(dlt);
        }
    }
    topics
}

fn poll_loop(
    shared: Arc<Shared>,
    registry: Arc<Mutex<Registry>>,
    resume: std_mpsc::Receiver<Tp>,
    stopping: Arc<AtomicBool>,
    runtime: tokio::runtime::Handle,
) {
    let consumer = shared.consumer.clone();
    while !stopping.load(Ordering::SeqCst) {
        for tp in resume.try_iter() {
            if registry::lock(&registry).paused.remove(&tp) {
                set_paused(&consumer, &tp, false);
            }
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => tracing::warn!(error = %e, "consumer error"),
            Some(Ok(message)) => {
                if let Some(full) = dispatch(&shared, &registry, &runtime, &message) {
                    drop(message);
                    pause_unless_draining(&shared, &registry, full);
                }
            }
        }
    }
    let workers: Vec<Worker> = {
        let mut registry = registry::lock(&registry);
        let all: Vec<Tp> = registry.assigned.iter().cloned().collect();
        registry.release(&all)
    };
    wait_for_workers(&workers, shared.settings.grace);
    commit_stored(&consumer);
    consumer.unsubscribe();
    tracing::info!("consumer stopped");
}

/// A partition whose task has `pause_above` records or more in hand.
struct Full {
    tp: Tp,
    buffered: Arc<AtomicUsize>,
}

/// How long the poller gives a full partition's task to catch up before pausing the partition.
///
/// Pausing is expensive: librdkafka drops what it prefetched for the partition and fetches it
/// again after the resume, which costs the broker a second read of every such record. A task
/// that is merely behind (its thread descheduled for a few milliseconds while the poller ran)
/// catches up within this time, and the poller waiting is what lets it; a task that is waiting
/// for a due time or held by a slow handler does not, and its partition is paused so that the
/// others go on. The wait is at most this long per pause, so no partition holds up the others
/// for longer.
const CATCH_UP: Duration = Duration::from_millis(20);

/// Waits up to [`CATCH_UP`] for a full partition's task to drain below the limit; pauses the
/// partition if it does not.
fn pause_unless_draining(shared: &Shared, registry: &Mutex<Registry>, full: Full) {
    let limit = shared.settings.pause_above;
    let started = std::time::Instant::now();
    while full.buffered.load(Ordering::SeqCst) >= limit {
        if started.elapsed() >= CATCH_UP {
            let mut registry = registry::lock(registry);
            if registry.assigned.contains(&full.tp) && registry.paused.insert(full.tp.clone()) {
                set_paused(&shared.consumer, &full.tp, true);
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Hands a record to its partition's task, starting the task if needed. Returns the partition
/// when its task has too much in hand and the partition is not paused yet.
fn dispatch(
    shared: &Arc<Shared>,
    registry: &Mutex<Registry>,
    runtime: &tokio::runtime::Handle,
    message: &BorrowedMessage<'_>,
) -> Option<Full> {
    let tp = Tp {
        topic: message.topic().to_string(),
        partition: message.partition(),
    };
    let mut registry = registry::lock(registry);
    if !registry.assigned.contains(&tp) {
        return None; // Revoked while in flight: its new owner reads it again.
    }
    let worker = registry
        .workers
        .entry(tp.clone())
        .or_insert_with(|| spawn_worker(shared, runtime, &tp));
    if message.offset() <= worker.dispatched_until {
        return None; // Re-fetched after a resume: the task already has it.
    }
    worker.dispatched_until = message.offset();
    let buffered = worker.buffered.fetch_add(1, Ordering::SeqCst) + 1;
    if worker.records.send(Record::from_message(message)).is_err() {
        return None;
    }
    if buffered < shared.settings.pause_above {
        return None;
    }
    let counter = worker.buffered.clone();
    if registry.paused.contains(&tp) {
        return None;
    }
    Some(Full {
        tp,
        buffered: counter,
    })
}

fn spawn_worker(shared: &Arc<Shared>, runtime: &tokio::runtime::Handle, tp: &Tp) -> Worker {
    let (records, receiver) = tokio::sync::mpsc::unbounded_channel();
    let exited = ExitLatch::default();
    let worker = Worker {
        records,
        buffered: Arc::new(AtomicUsize::new(0)),
        dispatched_until: -1,
        stop: CancellationToken::new(),
        abort: CancellationToken::new(),
        exited: exited.clone(),
    };
    let control = worker::WorkerControl {
        stop: worker.stop.clone(),
        abort: worker.abort.clone(),
        buffered: worker.buffered.clone(),
        exit: exited.guard(),
    };
    runtime.spawn(worker::run(shared.clone(), tp.clone(), receiver, control));
    worker
}

fn set_paused(consumer: &BaseConsumer<RebalanceContext>, tp: &Tp, pause: bool) {
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
