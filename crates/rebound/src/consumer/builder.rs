//! Configuring a consumer: [`RetryingConsumerBuilder`], the face over [`Settings`].

use std::sync::Arc;
use std::time::Duration;

use super::events::Event;
use super::handler::Handler;
use super::key_order;
use super::runtime::RetryingConsumer;
use super::settings::{
    subscribed_topics, ProcessingOrder, Settings, DEFAULT_COPY_BUDGET, DEFAULT_MAX_IN_FLIGHT,
};
use super::stages::Stages;
use crate::config::KafkaConfig;
use crate::error::Error;
use crate::failure::Classifier;
use crate::naming::TopicChain;
use crate::policy::RetryPolicy;
use crate::record::Record;

mod migration;

/// Builds a [`RetryingConsumer`].
pub struct RetryingConsumerBuilder {
    pub(crate) settings: Settings,
    handler: Option<Arc<dyn Handler>>,
}

impl RetryingConsumer {
    /// A consumer of `topic` and its retry chain in consumer group `group`, with the default
    /// policy (Spring's: 3 deliveries, 1 s fixed back-off, `-retry` and `-dlt` suffixes) until
    /// [`policy`](RetryingConsumerBuilder::policy) says otherwise.
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
                order: ProcessingOrder::Partition,
                max_in_flight: DEFAULT_MAX_IN_FLIGHT,
                hold_until_redriven: false,
                stages: Stages::ALL,
                group_per_stage: false,
            },
            handler: None,
        }
    }

    /// A consumer of a dead-letter topic alone (its own group): every record goes to `handler`,
    /// which is called again with back-off (1 s doubling, at most 60 s) until it succeeds; the
    /// offset is committed only then. Logs `Received message in dlt listener: <topic>-<p>@<o>`.
    ///
    /// Of a [`policy`](RetryingConsumerBuilder::policy) it takes only the
    /// [`DltStrategy`](crate::DltStrategy): `.policy(RetryPolicy::new(1).dlt_strategy(DltStrategy::FailOnError))`
    /// logs and skips a dead letter the handler fails on instead.
    pub fn dead_letters(
        kafka: KafkaConfig,
        dlt_topic: &str,
        group: &str,
    ) -> RetryingConsumerBuilder {
        let mut builder = RetryingConsumer::builder(kafka, dlt_topic, group);
        builder.settings.policy = RetryPolicy::new(1);
        builder.settings.chain = TopicChain {
            main: String::new(),
            retries: Vec::new(),
            dlt: Some(dlt_topic.to_string()),
            routed_dlts: Vec::new(),
        };
        builder
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

    /// The record handler (required): `Ok` commits a record, a [`Failure`](crate::Failure)
    /// sends it on through the chain.
    pub fn handler(mut self, handler: impl Handler) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// A hook for records that reach the DLT: the consumer also reads the DLT (same group) and
    /// calls it, retrying until it succeeds, or once under
    /// [`DltStrategy::FailOnError`](crate::DltStrategy::FailOnError).
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

    /// Decides the class of failures the handler left unclassified (default: transient).
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
    /// takes about 2 KiB in hand, so the default is about 1 MiB per partition. A partition whose
    /// task is taking records but is behind (its thread descheduled on a busy machine) is fed
    /// on, up to four times this for at most 20 ms, and paused if it has not caught up by then.
    /// Larger values pause less often on bursty handlers; smaller ones hold less (see
    /// BENCHMARKS.md).
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
    /// acknowledges slowly: a partition with a quarter of the budget in flight takes no new
    /// record until one is acknowledged (BENCHMARKS.md measures what sizes cost). The budget
    /// holds in every [`ProcessingOrder`].
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

    /// Which records of a partition may run at the same time (default
    /// [`ProcessingOrder::Partition`]: one at a time). See [`ProcessingOrder`] for what each
    /// guarantees.
    pub fn processing_order(mut self, order: ProcessingOrder) -> Self {
        self.settings.order = order;
        self
    }

    /// How many records may be in their handler at once over the whole consumer, in
    /// [`ProcessingOrder::Key`] and [`ProcessingOrder::Unordered`] (default 64). Size an I/O
    /// handler's pool to it (the mailer's SMTP connections are). Records waiting for their due
    /// time on a retry topic, or behind an earlier record of their key, do not count.
    pub fn max_in_flight(mut self, records: usize) -> Self {
        self.settings.max_in_flight = records.max(1);
        self
    }

    /// In [`ProcessingOrder::Key`], keeps a key held while its dead letter is pending, instead of
    /// releasing it when its record dies (the default).
    ///
    /// Then a key's records never run out of order, even across a person's redrive: while a
    /// dead letter of the key is pending (not redriven or discarded in the DLT's ledger, which
    /// `rebound dlt redrive` and `discard` write), the key's later records go straight to the DLT
    /// behind it, marked `held behind the dead letter <dlt>-p@o`, instead of running. Redrive the
    /// key (`rebound dlt redrive <dlt> --key K`) and they come back in their order; redriven
    /// copies run although their key is held, and the key flows again once nothing of it is
    /// pending. Discarding the dead letter releases the key too.
    ///
    /// Why the DLT and not memory: a dead letter can wait hours for a person, and records kept
    /// in memory would stop the partition's committed offset, and soon the partition, for as
    /// long. The consumer reads the DLT and its ledger at start (main partitions wait until
    /// it has) and follows them while it runs.
    ///
    /// Needs [`ProcessingOrder::Key`] and a DLT; [`build`](Self::build) says so otherwise.
    ///
    /// ```
    /// use rebound::{KafkaConfig, ProcessingOrder, Record, RetryPolicy, RetryingConsumer};
    ///
    /// let consumer = RetryingConsumer::builder(KafkaConfig::new("localhost:9092"), "orders", "billing")
    ///     .policy(RetryPolicy::new(4).dlt_suffix(".dlt"))
    ///     .processing_order(ProcessingOrder::Key)
    ///     .hold_until_redriven(true) // an account's payments never overtake a failed one
    ///     .handler(|_: Record| async { Ok(()) })
    ///     .build()?;
    /// # Ok::<(), rebound::Error>(())
    /// ```
    pub fn hold_until_redriven(mut self, hold: bool) -> Self {
        self.settings.hold_until_redriven = hold;
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

    /// The settings as built, for the unit tests of what reads them.
    #[cfg(test)]
    pub(crate) fn into_settings(self) -> Settings {
        let mut settings = self.settings;
        if let Some(handler) = self.handler {
            settings.handler = handler;
        }
        settings
    }

    /// Checks the settings. Nothing touches the cluster before [`RetryingConsumer::run`].
    pub fn build(mut self) -> Result<RetryingConsumer, Error> {
        self.settings.handler = match (self.handler, &self.settings.dlt_handler) {
            (Some(handler), _) => handler,
            // A dead-letter consumer's handler is its DLT hook.
            (None, Some(_)) if self.settings.chain.main.is_empty() => {
                Arc::new(|_: Record| async { Ok(()) })
            }
            (None, _) => return Err(Error::NoHandler),
        };
        key_order::check_settings(&self.settings)?;
        if self.settings.chain.main.is_empty() && self.settings.dlt_handler.is_none() {
            self.settings.dlt_handler = Some(self.settings.handler.clone());
        }
        if subscribed_topics(&self.settings).is_empty() {
            return Err(Error::NoTopics(format!(
                "{:?} of a chain without retry topics, and no dlt_handler: read Stages::ALL or Stages::MAIN",
                self.settings.stages
            )));
        }
        Ok(RetryingConsumer::new(self.settings))
    }
}
