//! Producing records the way Rebound's own copies are produced (idempotent, acknowledged by all
//! in-sync replicas), and Rebound's headers as librdkafka takes them.

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rebound::headers::Headers;
use rebound::EpochMillis;
use rebound::RELIABLE_PRODUCER;

use crate::broker::Cluster;

impl Cluster {
    /// A producer with Rebound's settings ([`RELIABLE_PRODUCER`]: idempotent, `acks=all`) and
    /// a shorter linger.
    pub fn producer(&self) -> FutureProducer {
        self.0
            .client_config(&[RELIABLE_PRODUCER, &[("linger.ms", "2")]].concat())
            .create()
            .unwrap()
    }
}

/// Produces one record and waits for the broker's acknowledgement.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    key: Option<&str>,
    payload: &[u8],
    headers: &Headers,
) -> (i32, i64) {
    let mut record = FutureRecord::<str, [u8]>::to(topic)
        .payload(payload)
        .headers(headers.to_kafka());
    if let Some(p) = partition {
        record = record.partition(p);
    }
    if let Some(k) = key {
        record = record.key(k);
    }
    deliver(producer, record).await
}

/// Produces one record with no key or headers into `partition`, stamped `timestamp` (its
/// CreateTime: a record of an hour ago without waiting an hour), and waits for the broker's
/// acknowledgement. The broker refuses a timestamp more than an hour ahead of its clock.
pub async fn produce_at(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    payload: &[u8],
    timestamp: EpochMillis,
) -> (i32, i64) {
    let record = FutureRecord::<str, [u8]>::to(topic)
        .partition(partition)
        .payload(payload)
        .timestamp(timestamp.as_i64());
    deliver(producer, record).await
}

/// Sends `record` as it is (any payload, or none; raw headers) and waits for the broker's
/// acknowledgement: its partition and offset.
pub async fn deliver(producer: &FutureProducer, record: FutureRecord<'_, str, [u8]>) -> (i32, i64) {
    let delivery = producer
        .send(record, Timeout::After(Duration::from_secs(30)))
        .await
        .map_err(|(e, _)| e)
        .expect("produce");
    (delivery.partition, delivery.offset)
}
