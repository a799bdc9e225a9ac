//! The producer of every copy a consumer writes (to a retry topic or the DLT): idempotent,
//! `acks=all`, and the same partition number as the source record where the target has it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use super::refusal::CopyShape;
use crate::config::{KafkaConfig, RELIABLE_PRODUCER};
use crate::record::Record;

/// Kafka's default `message.max.bytes` on a broker (1 MiB plus the record batch overhead).
const BROKER_DEFAULT_MAX_MESSAGE_BYTES: &str = "1048588";

/// A queued copy's acknowledgement: the copy's partition and offset, or why it was not written.
pub(crate) struct Acknowledgement {
    delivery: DeliveryFuture,
}

impl Future for Acknowledgement {
    type Output = Result<(i32, i64), KafkaError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.delivery)
            .poll(cx)
            .map(|result| match result {
                Ok(Ok(delivery)) => Ok((delivery.partition, delivery.offset)),
                Ok(Err((error, _))) => Err(error),
                // The producer went away with the copy unacknowledged.
                Err(_) => Err(KafkaError::Canceled),
            })
    }
}

/// The producer of every copy a consumer writes, and the partition counts of its targets.
pub(crate) struct Forwarder {
    producer: FutureProducer,
    /// Partition counts of the targets, raised when the chain grows (see `growth.rs`).
    partitions: std::sync::RwLock<HashMap<String, i32>>,
    /// A copy found its target short of its partition: the chain grows now, not at the next
    /// periodic check.
    grow_now: tokio::sync::Notify,
}

impl Forwarder {
    pub(crate) fn new(
        kafka: &KafkaConfig,
        partitions: HashMap<String, i32>,
    ) -> Result<Self, KafkaError> {
        // A copy is its source plus the failure headers, so it is larger than anything the
        // source's producer was allowed to write under librdkafka's own 1,000,000-byte default.
        // Allow what a Kafka broker accepts by default; a user's `-X message.max.bytes` wins.
        let mut defaults = RELIABLE_PRODUCER.to_vec();
        defaults.push(("message.max.bytes", BROKER_DEFAULT_MAX_MESSAGE_BYTES));
        let producer = kafka.client_config(&defaults).create()?;
        Ok(Forwarder {
            producer,
            partitions: std::sync::RwLock::new(partitions),
            grow_now: tokio::sync::Notify::new(),
        })
    }

    /// Sends the copy and waits for the acknowledgement (and for room in the producer's queue
    /// first, when it is full). Returns the copy's partition and offset. `shape` says whether
    /// the payload goes with it (see [`CopyShape`]).
    pub(crate) async fn send(
        &self,
        record: &Record,
        topic: &str,
        shape: CopyShape,
        headers: OwnedHeaders,
    ) -> Result<(i32, i64), KafkaError> {
        self.producer
            .send(self.copy(record, topic, shape, headers), Timeout::Never)
            .await
            .map(|delivery| (delivery.partition, delivery.offset))
            .map_err(|(e, _)| e)
    }

    /// Puts the copy in the producer's queue now, or says why it cannot (`QueueFull` among
    /// others: [`send`](Self::send) waits for room).
    pub(crate) fn queue(
        &self,
        record: &Record,
        topic: &str,
        shape: CopyShape,
        headers: OwnedHeaders,
    ) -> Result<Acknowledgement, KafkaError> {
        self.producer
            .send_result(self.copy(record, topic, shape, headers))
            .map(|delivery| Acknowledgement { delivery })
            .map_err(|(e, _)| e)
    }

    /// The copy of `record` for `topic`.
    fn copy<'a>(
        &self,
        record: &'a Record,
        topic: &'a str,
        shape: CopyShape,
        headers: OwnedHeaders,
    ) -> FutureRecord<'a, [u8], [u8]> {
        let mut copy = FutureRecord::<[u8], [u8]>::to(topic).headers(headers);
        // Same partition number as the source, as Spring does, when the target has it.
        if self
            .partition_count(topic)
            .is_some_and(|n| record.partition() < n)
        {
            copy = copy.partition(record.partition());
        }
        if let Some(key) = record.key() {
            copy = copy.key(key);
        }
        if let Some(payload) = record.payload().filter(|_| shape.keeps_payload()) {
            copy = copy.payload(payload);
        }
        copy
    }

    /// The partition count of `topic` as last known.
    pub(crate) fn partition_count(&self, topic: &str) -> Option<i32> {
        let counts = self.partitions.read().unwrap_or_else(|e| e.into_inner());
        counts.get(topic).copied()
    }

    /// Reads `topics`' metadata afresh: librdkafka's producer refuses a partition its cached
    /// metadata does not list (`UnknownPartition`) until its periodic refresh, minutes later.
    /// Blocks: call it on the blocking pool.
    pub(crate) fn refresh_metadata(&self, topics: &[String]) {
        use rdkafka::producer::Producer;
        for topic in topics {
            if let Err(e) = self
                .producer
                .client()
                .fetch_metadata(Some(topic), std::time::Duration::from_secs(10))
            {
                tracing::warn!(%topic, error = %e, "could not refresh the producer's metadata");
            }
        }
    }

    /// Asks `growth.rs` to compare the chain's partition counts now.
    pub(crate) fn ask_to_grow(&self) {
        self.grow_now.notify_one();
    }

    /// Waits until a copy asks for the chain to grow.
    pub(crate) async fn growth_asked(&self) {
        self.grow_now.notified().await;
    }

    /// `topic` has (at least) `partitions` partitions now.
    pub(crate) fn grown(&self, topic: &str, partitions: i32) {
        let mut counts = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        let known = counts.entry(topic.to_string()).or_insert(partitions);
        *known = (*known).max(partitions);
    }
}
