//! A running consumer: the chain's topics checked (or created), the librdkafka consumer and the
//! copy producer made, the polling thread started, and a clean stop when `shutdown` completes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::context::{Context, Drained};
use super::groups::{members, Member};
use super::growth::follow_growth;
use super::key_order::KeyOrder;
use super::poller::poll_loop;
use super::producer::Forwarder;
use super::rebalance::RebalanceContext;
use super::registry::Registry;
use super::settings::{all_chain_topics, Settings};
use crate::admin;
use crate::error::Error;
use crate::metrics::{ChainMetrics, LagGauges, STATISTICS_INTERVAL_MS};
use crate::naming::TopicChain;
use crate::trace::Tracer;

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
    pub(crate) fn new(settings: Settings) -> Self {
        RetryingConsumer { settings }
    }

    /// The topics this consumer reads and writes.
    pub fn chain(&self) -> &TopicChain {
        &self.settings.chain
    }

    /// Runs until `shutdown` completes: then stops taking records, lets the ones in hand finish
    /// (up to the grace period), commits what is done and leaves the group.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let settings = Arc::new(self.settings);
        let partitions = chain_partitions(&settings).await?;
        let stopping = Arc::new(AtomicBool::new(false));
        // If this future is dropped instead of being shut down (a `select!` that lost, a task
        // aborted), the polling threads must not go on consuming with no one to stop them.
        let _stop_when_dropped = StopWhenDropped(stopping.clone());
        let key_order = KeyOrder::start(&settings, &partitions, &stopping)?;
        let forwarder = Arc::new(Forwarder::new(&settings.kafka, partitions)?);
        let copy_permits = Arc::new(tokio::sync::Semaphore::new(settings.copy_budget));
        let in_flight = Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight));
        let start_tickets = Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight));
        // One group member, with its own polling thread, per group this consumer joins: one,
        // or one per stage with `group_per_stage`. The budgets and the producer are shared.
        let mut pollers = FuturesUnordered::new();
        crate::metrics::describe();
        for member in members(&settings) {
            let registry = Arc::new(Mutex::new(Registry::default()));
            let consumer = group_consumer(&settings, &member, &registry, &key_order)?;
            let context = Arc::new(Context {
                settings: settings.clone(),
                consumer: Arc::new(consumer),
                forwarder: forwarder.clone(),
                registry: registry.clone(),
                copy_permits: copy_permits.clone(),
                in_flight: in_flight.clone(),
                start_tickets: start_tickets.clone(),
                drained: Drained::default(),
                key_order: key_order.clone(),
                metrics: ChainMetrics::new(&member.group, &settings.chain, &member.topics),
                tracer: Tracer::global(),
            });
            let (stopping, runtime) = (stopping.clone(), tokio::runtime::Handle::current());
            let poller = std::thread::Builder::new()
                .name("rebound-poll".into())
                .spawn(move || poll_loop(context, registry, stopping, runtime))
                .map_err(|e| Error::Crashed(e.to_string()))?;
            pollers.push(tokio::task::spawn_blocking(move || poller.join()));
        }
        let growth = AbortOnDrop(tokio::spawn(follow_growth(settings.clone(), forwarder)));
        tokio::select! {
            _ = shutdown => tracing::info!("shutting down: finishing records in hand"),
            // A polling thread ended by itself (it panicked): the others stop too.
            _ = pollers.next() => tracing::error!("a polling thread stopped; stopping the consumer"),
        }
        stopping.store(true, Ordering::SeqCst);
        let mut outcome = Ok(());
        while let Some(joined) = pollers.next().await {
            if let Err(e) = joined
                .map_err(|e| Error::Crashed(e.to_string()))
                .and_then(|j| j.map_err(|_| Error::Crashed("a polling thread panicked".into())))
            {
                outcome = Err(e);
            }
        }
        drop(growth);
        outcome
    }
}

/// Aborts a background task of the consumer when the consumer's run ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The partition count of every topic of the chain, after creating the missing ones (unless
/// told not to); waits for a cluster that does not answer yet.
async fn chain_partitions(settings: &Settings) -> Result<HashMap<String, i32>, Error> {
    let topics = all_chain_topics(settings);
    admin::patiently("looking up the chain's topics", || async {
        if settings.create_topics {
            admin::ensure_chain(
                &settings.kafka,
                topics[0],
                &topics[1..],
                settings.default_partitions,
                settings.replication,
            )
            .await
        } else {
            admin::partition_counts_of(&settings.kafka, &topics).await
        }
    })
    .await
}

/// The longest a fetch waits on the broker for new records (librdkafka's default: 500 ms).
const FETCH_WAIT_MAX_MS: &str = "10";

/// The most librdkafka prefetches for the consumer, in KiB (librdkafka's default: 65536).
const QUEUED_MAX_KBYTES: &str = "4096";

/// The group member: subscribed to the chain's topics, storing offsets only when the engine
/// says a record is done, committing them every 500 ms.
fn group_consumer(
    settings: &Settings,
    member: &Member<'_>,
    registry: &Arc<Mutex<Registry>>,
    key_order: &Option<Arc<KeyOrder>>,
) -> Result<BaseConsumer<RebalanceContext>, Error> {
    let context = RebalanceContext {
        registry: registry.clone(),
        grace: settings.grace,
        key_order: key_order.clone(),
        lag: LagGauges::new(&member.group),
    };
    let mut defaults = vec![
        ("group.id", member.group.as_str()),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "500"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
        // librdkafka keeps one fetch in flight per broker, and the broker holds it up to this
        // long when the partitions in it have nothing new. A partition resumed meanwhile (a
        // retry partition whose records fell due, a task that caught up) waits for that fetch
        // to come back first: at librdkafka's default of 500 ms, a burst of retries due at once
        // was served most of that late (BENCHMARKS.md measures the settings).
        // The cost: an idle member asks each broker a hundred times a second instead of twice;
        // `-X fetch.wait.max.ms=500` restores librdkafka's default where that matters more.
        ("fetch.wait.max.ms", FETCH_WAIT_MAX_MS),
        // When a partition's local queue passes librdkafka's thresholds, its next fetch waits
        // this long (1 s by default). Rebound bounds what it holds itself (`max_buffered`, then
        // a pause), and the polling thread empties librdkafka's queue into the tasks in bursts,
        // so the thresholds were passed often and each pass stalled the partition for a second
        // (BENCHMARKS.md: it held the happy path to a third of its pace).
        ("fetch.queue.backoff.ms", "10"),
        // librdkafka prefetches up to this much (64 MiB by default, and `fetch.max.bytes` is cut
        // to it): a worker whose retry topics hold a long delay's backlog filled all of it before
        // its pauses landed, 89-156 MiB of RSS at 100k-1M records waiting. Rebound's own buffers
        // hold 500 records a partition; 4 MiB keeps the peak near 60 MiB, flat, and cost the
        // happy path nothing measurable on a quiet machine (BENCHMARKS.md, memory).
        ("queued.max.messages.kbytes", QUEUED_MAX_KBYTES),
        // A partition added to a topic is consumed once the metadata says so: within 5 s
        // instead of librdkafka's 5 minutes (`growth.rs` grows the retry topics to match, and
        // their new partitions are consumed after the next refresh).
        ("topic.metadata.refresh.interval.ms", "5000"),
        // The source of `rebound_consumer_lag` (metrics/lag.rs): librdkafka already knows each
        // partition's high watermark and stored offset; `-X statistics.interval.ms=0` turns it off.
        ("statistics.interval.ms", STATISTICS_INTERVAL_MS),
    ];
    if let Some(id) = settings.instance_id.as_deref() {
        defaults.push(("group.instance.id", id));
    }
    let consumer: BaseConsumer<RebalanceContext> = settings
        .kafka
        .client_config(&defaults)
        .create_with_context(context)?;
    consumer.subscribe(&member.topics)?;
    tracing::info!(group = %member.group, topics = ?member.topics, "consumer started");
    Ok(consumer)
}

/// Sets the polling thread's stop flag when dropped.
struct StopWhenDropped(Arc<AtomicBool>);

impl Drop for StopWhenDropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
