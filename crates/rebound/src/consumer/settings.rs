//! What a running consumer is built with ([`Settings`], fixed at
//! [`build`](super::RetryingConsumerBuilder::build)), which records may run at once
//! ([`ProcessingOrder`]), and which topics of the chain it reads and writes. Everything below the
//! builder reads this file; it imports nothing of the runtime.

use std::sync::Arc;
use std::time::Duration;

use super::events::Observer;
use super::handler::Handler;
use super::stages::Stages;
use crate::config::KafkaConfig;
use crate::failure::Classifier;
use crate::naming::TopicChain;
use crate::policy::RetryPolicy;

/// Everything a running consumer needs to know, fixed at [`RetryingConsumerBuilder::build`](super::RetryingConsumerBuilder::build).
pub(crate) struct Settings {
    pub kafka: KafkaConfig,
    pub group: String,
    pub instance_id: Option<String>,
    pub chain: TopicChain,
    pub policy: RetryPolicy,
    pub classifier: Classifier,
    pub handler: Arc<dyn Handler>,
    pub dlt_handler: Option<Arc<dyn Handler>>,
    pub observer: Option<Observer>,
    pub handler_timeout: Option<Duration>,
    pub grace: Duration,
    pub pause_above: usize,
    pub resume_below: usize,
    /// Copies of failed records this consumer may have waiting for their acknowledgement.
    pub copy_budget: usize,
    pub create_topics: bool,
    pub default_partitions: i32,
    pub replication: i32,
    /// Which records of a partition may run at once.
    pub order: ProcessingOrder,
    /// Records whose handler may run at once over the whole consumer, in `Key` and `Unordered`.
    pub max_in_flight: usize,
    /// In `Key` order, a key stays held while its dead letter is pending.
    pub hold_until_redriven: bool,
    /// Which stages of the chain this consumer reads.
    pub stages: Stages,
    /// Each stage in Spring's group for it, instead of one group for all.
    pub group_per_stage: bool,
}

/// The default of [`RetryingConsumerBuilder::max_copies_in_flight`](super::RetryingConsumerBuilder::max_copies_in_flight).
pub(crate) const DEFAULT_COPY_BUDGET: usize = 8192;

/// The default of [`RetryingConsumerBuilder::max_in_flight`](super::RetryingConsumerBuilder::max_in_flight).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// Which records of a partition may be handled at the same time.
///
/// | order | runs at once | in order | offsets stored up to |
/// |---|---|---|---|
/// | `Partition` (default) | one record per partition | every record of a partition | the last record done |
/// | `Key` | records of different keys, up to `max_in_flight` | the records of one key, through the retry chain too | the lowest record not finished |
/// | `Unordered` | any records, up to `max_in_flight` | none | the lowest record not finished |
///
/// In `Key` order, records without a key are ordered among themselves as if they had one key.
/// After a crash, records that finished above the lowest unfinished one are handled again: at
/// most `max_in_flight` of them per partition.
///
/// ```no_run
/// use rebound::{KafkaConfig, ProcessingOrder, Record, RetryingConsumer};
/// let consumer = RetryingConsumer::builder(KafkaConfig::from_env(), "email.send", "email-send-group")
///     .processing_order(ProcessingOrder::Key) // e-mails to one person arrive in order
///     .max_in_flight(32)                      // 32 e-mails on their way at once
///     .handler(|_: Record| async { Ok(()) })
///     .build()?;
/// # Ok::<(), rebound::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProcessingOrder {
    /// One record at a time per partition, in offset order.
    #[default]
    Partition,
    /// Records with different keys run concurrently; records with the same key one after
    /// another in offset order.
    Key,
    /// Any record may run beside any other.
    Unordered,
}

impl Settings {
    /// How many of the consumer's copies in flight one partition may hold: a quarter, so that a
    /// partition whose copies are stuck (its target's leader gone) leaves room for the others.
    pub(crate) fn copies_per_partition(&self) -> usize {
        (self.copy_budget / 4).max(1)
    }

    /// How far a full partition's task must drain before the poller, waiting for it, goes on:
    /// half the pause limit, so that the poller then has room for a whole round instead of
    /// waking for every few records the task takes.
    pub(crate) fn drained_below(&self) -> usize {
        (self.pause_above / 2).max(1)
    }

    /// How many records a full task that is taking them may hold before the poller stops to
    /// wait for it: four times the pause limit. A task merely behind (its thread descheduled on
    /// a busy machine) is fed on meanwhile; a task held up is paused at the pause limit. Twice
    /// was too little: one poll round can be a single partition's 1,024 records.
    pub(crate) fn hand_at_most(&self) -> usize {
        self.pause_above.saturating_mul(4)
    }
}

/// The topics to subscribe to: the main topic, the retry topics, and the DLTs (routed ones
/// included) when this consumer listens to them.
pub(crate) fn subscribed_topics(settings: &Settings) -> Vec<&str> {
    let chain = &settings.chain;
    let mut topics: Vec<&str> = Vec::new();
    if !chain.main.is_empty() && settings.stages.main() {
        topics.push(&chain.main);
    }
    for retry in chain.retries.iter().filter(|_| settings.stages.retries()) {
        if !topics.contains(&retry.name.as_str()) {
            topics.push(&retry.name);
        }
    }
    if chain.main.is_empty() || settings.dlt_handler.is_some() {
        topics.extend(chain.dead_letter_topics());
    }
    topics
}

/// Every topic of the chain, main (or DLT alone) first, whichever stages this consumer reads:
/// they are created, and their partitions counted, at start.
pub(crate) fn all_chain_topics(settings: &Settings) -> Vec<&str> {
    let chain = &settings.chain;
    let mut topics: Vec<&str> = Vec::new();
    if !chain.main.is_empty() {
        topics.push(&chain.main);
    }
    for topic in chain
        .retries
        .iter()
        .map(|r| r.name.as_str())
        .chain(chain.dead_letter_topics())
    {
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    topics
}
