//! The cluster questions a running consumer asks (committed offsets, watermarks, whether a topic
//! exists yet), in one place. librdkafka answers them with blocking calls, so each runs on
//! Tokio's blocking pool: a partition task awaiting an answer never holds up a runtime thread,
//! and so never the other partitions' tasks.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

/// A consumer handle the blocking pool may hold.
pub(crate) type Handle<C> = Arc<BaseConsumer<C>>;

/// How long one question may take before it counts as unanswered.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `question` on the blocking pool; `None` when it panicked or the runtime is shutting down.
async fn off_runtime<T: Send + 'static>(
    question: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    tokio::task::spawn_blocking(question).await.ok()
}

/// The offset the group committed for `topic`/`partition`, with its metadata; `None` when there
/// is none or the broker does not answer.
pub(crate) async fn committed<C: ConsumerContext + 'static>(
    consumer: &Handle<C>,
    topic: &str,
    partition: i32,
) -> Option<(i64, String)> {
    let (consumer, topic) = (consumer.clone(), topic.to_string());
    off_runtime(move || committed_now(&consumer, &topic, partition))
        .await
        .flatten()
}

fn committed_now<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Option<(i64, String)> {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    let committed = consumer.committed_offsets(list, TIMEOUT).ok()?;
    let element = committed.elements().into_iter().next()?;
    match element.offset() {
        Offset::Offset(next) => Some((next, element.metadata().to_string())),
        _ => None,
    }
}

/// For each of `topics`, the last offset of partition `partition` that the group has not
/// committed yet: the records an earlier owner left there. Topics with none are left out.
pub(crate) async fn uncommitted_tails<C: ConsumerContext + 'static>(
    consumer: &Handle<C>,
    topics: Vec<String>,
    partition: i32,
) -> Vec<(String, i64)> {
    let consumer = consumer.clone();
    off_runtime(move || {
        let mut tails = Vec::new();
        for topic in topics {
            let Ok((low, high)) = consumer.fetch_watermarks(&topic, partition, TIMEOUT) else {
                continue;
            };
            let committed =
                committed_now(&consumer, &topic, partition).map_or(low, |(next, _)| next);
            if committed < high {
                tails.push((topic, high - 1));
            }
        }
        tails
    })
    .await
    .unwrap_or_default()
}

/// Where partition 0 of `topic` ends now; `None` when the topic does not exist or does not answer.
pub(crate) async fn end_of<C: ConsumerContext + 'static>(
    consumer: &Handle<C>,
    topic: &str,
    timeout: Duration,
) -> Option<i64> {
    let (consumer, topic) = (consumer.clone(), topic.to_string());
    off_runtime(move || {
        let high = || {
            consumer
                .fetch_watermarks(&topic, 0, timeout)
                .map(|(_, high)| high)
        };
        high().ok().or_else(|| {
            // The consumer's handle does not know a topic created after it started (the first
            // redrive or discard creates the ledger) until it asks for its metadata.
            let metadata = consumer.fetch_metadata(Some(&topic), timeout).ok()?;
            let exists = metadata
                .topics()
                .first()
                .is_some_and(|t| t.error().is_none() && !t.partitions().is_empty());
            exists.then(high)?.ok()
        })
    })
    .await
    .flatten()
}
