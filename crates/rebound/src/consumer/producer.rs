//! The producer of every copy a consumer writes (to a retry topic or the DLT): idempotent,
//! `acks=all`, and the same partition number as the source record where the target has it.

use std::collections::HashMap;

use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use super::refusal::CopyShape;
use crate::config::{KafkaConfig, RELIABLE_PRODUCER};
use crate::headers::Headers;
use crate::record::Record;

/// Kafka's default `message.max.bytes` on a broker (1 MiB plus the record batch overhead).
const BROKER_DEFAULT_MAX_MESSAGE_BYTES: &str = "1048588";

/// The producer of every copy a consumer writes, and the partition counts of its targets.
pub(crate) struct Forwarder {
    producer: FutureProducer,
    partitions: HashMap<String, i32>,
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
            partitions,
        })
    }

    /// Sends the copy and waits for the acknowledgement. Returns the copy's partition and offset.
    /// `shape` says whether the payload goes with it (see [`CopyShape`]).
    pub(crate) async fn send(
        &self,
        record: &Record,
        topic: &str,
        shape: CopyShape,
        headers: &Headers,
    ) -> Result<(i32, i64), KafkaError> {
        let mut copy = FutureRecord::<[u8], [u8]>::to(topic).headers(headers.to_kafka());
        // Same partition number as the source, as Spring does, when the target has it.
        if self
            .partitions
            .get(topic)
            .is_some_and(|n| record.partition() < *n)
        {
            copy = copy.partition(record.partition());
        }
        if let Some(key) = record.key() {
            copy = copy.key(key);
        }
        if let Some(payload) = record.payload().filter(|_| shape.keeps_payload()) {
            copy = copy.payload(payload);
        }
        self.producer
            .send(copy, Timeout::Never)
            .await
            .map(|delivery| (delivery.partition, delivery.offset))
            .map_err(|(e, _)| e)
    }
}
