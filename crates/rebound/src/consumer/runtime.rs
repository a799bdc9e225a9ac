//! A running consumer: the chain's topics checked (or created), the librdkafka consumer and the
//! copy producer made, the polling thread started, and a clean stop when `shutdown` completes.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::builder::{all_chain_topics, subscribed_topics, Settings};
use super::dead_letter_follower::{self, Followed};
use super::events::Event;
use super::forward::Forwarder;
use super::held_keys::HeldKeys;
use super::order::check_key_order;
use super::parked_keys::ParkedKeys;
use super::poller::poll_loop;
use super::rebalance::RebalanceContext;
use super::registry::{Registry, Tp};
use crate::admin;
use crate::error::Error;
use crate::naming::TopicChain;

/// What every partition task shares.
pub(crate) struct Shared {
    pub settings: Settings,
    pub consumer: Arc<BaseConsumer<RebalanceContext>>,
    pub forwarder: Forwarder,
    /// Partitions whose task drained enough to be resumed, for the poller.
    pub resume: std_mpsc::Sender<Tp>,
    /// One permit per copy in flight, shared by every partition (`copy_budget` in all).
    pub copy_permits: Arc<tokio::sync::Semaphore>,
    /// Signalled when a partition's task drains below `pause_above`, for the poller waiting on it.
    pub drained: Drained,
    /// One permit per record in its handler, in `Key` and `Unordered` order (`max_in_flight`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Keys held by their records in the retry chain, in `Key` order.
    pub held: Arc<HeldKeys>,
    /// Keys held behind their pending dead letters, with `hold_until_redriven`.
    pub parked: Option<Arc<ParkedKeys>>,
}

/// A task drained below the pause limit: the poller, waiting for it to catch up, goes on at once
/// instead of sleeping in steps (each step of which left the task idle once it caught up).
#[derive(Default)]
pub(crate) struct Drained {
    lock: std::sync::Mutex<()>,
    signal: std::sync::Condvar,
}

impl Drained {
    /// Called by a task when its buffer falls below the limit. Taking the lock means the signal
    /// cannot slip between the poller's check and its wait.
    pub(crate) fn notify(&self) {
        let _guard = super::registry::lock(&self.lock);
        self.signal.notify_all();
    }

    /// Waits until `done()` or `deadline`; `true` if done.
    pub(crate) fn wait_until(&self, deadline: std::time::Instant, done: impl Fn() -> bool) -> bool {
        let mut guard = super::registry::lock(&self.lock);
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

impl Shared {
    pub(crate) fn emit(&self, event: Event<'_>) {
        if let Some(observer) = &self.settings.observer {
            observer(&event);
        }
    }
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

        check_key_order(&settings, &partitions)?;
        let registry = Arc::new(Mutex::new(Registry::default()));
        let held = Arc::new(HeldKeys::default());
        let context = RebalanceContext {
            registry: registry.clone(),
            grace: settings.grace,
            held: held.clone(),
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
        let stopping = Arc::new(AtomicBool::new(false));
        // If this future is dropped instead of being shut down (a `select!` that lost, a task
        // aborted), the polling thread must not go on consuming with no one to stop it.
        let _stop_when_dropped = StopWhenDropped(stopping.clone());
        let parked = match (settings.hold_until_redriven, &settings.chain.dlt) {
            (true, Some(dlt)) => {
                let parked = Arc::new(ParkedKeys::default());
                let chain = &settings.chain;
                let followed = Followed {
                    kafka: settings.kafka.clone(),
                    dlt: dlt.clone(),
                    chain_topics: std::iter::once(chain.main.clone())
                        .chain(chain.retries.iter().map(|r| r.name.clone()))
                        .collect(),
                };
                let (parked_, stopping) = (parked.clone(), stopping.clone());
                std::thread::Builder::new()
                    .name("rebound-dead-letters".into())
                    .spawn(move || dead_letter_follower::follow(followed, parked_, stopping))
                    .map_err(|e| Error::Crashed(e.to_string()))?;
                Some(parked)
            }
            _ => None,
        };
        let shared = Arc::new(Shared {
            copy_permits: Arc::new(tokio::sync::Semaphore::new(settings.copy_budget)),
            in_flight: Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight)),
            settings,
            consumer: Arc::new(consumer),
            forwarder,
            resume: resume_tx,
            drained: Drained::default(),
            held,
            parked,
        });
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
