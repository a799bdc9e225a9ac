//! Reading what a topic holds, without joining a consumer group.
//!
//! Counts use Rebound's watermark read ([`rebound_ops::reader::blocking::watermarks`]), which asks again
//! while a partition is between leaders (a topic just created, a broker restarting) instead of
//! failing with `NotLeaderForPartition`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use rebound::{KafkaConfig, Record};

use crate::broker::Cluster;

/// Number of records in `topic` now (the sum of its partitions' watermark spans; 0 when it does
/// not exist).
pub fn count(kafka: &KafkaConfig, topic: &str) -> Result<i64> {
    Ok(rebound_ops::reader::blocking::watermarks(kafka, topic)
        .with_context(|| format!("could not read the watermarks of {topic}"))?
        .iter()
        .map(|(_, low, high)| high - low)
        .sum())
}

impl Cluster {
    /// Every record now in `topic`, read from the beginning up to the high watermark.
    pub fn read_all(&self, topic: &str) -> Vec<Record> {
        let consumer: BaseConsumer = self
            .0
            .client_config(&[
                ("group.id", "testkit-reader"),
                ("enable.auto.commit", "false"),
            ])
            .create()
            .unwrap();
        let mut ends = HashMap::new();
        let mut list = TopicPartitionList::new();
        for (p, low, high) in
            rebound_ops::reader::blocking::watermarks(&self.0, topic).expect("watermarks")
        {
            if high > low {
                ends.insert(p, high);
                list.add_partition_offset(topic, p, Offset::Offset(low))
                    .unwrap();
            }
        }
        if ends.is_empty() {
            return Vec::new();
        }
        consumer.assign(&list).unwrap();
        let mut records = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ends.is_empty() && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                records.push(Record::from_message(&m));
                if ends
                    .get(&m.partition())
                    .is_some_and(|end| m.offset() + 1 >= *end)
                {
                    ends.remove(&m.partition());
                }
            }
        }
        assert!(
            ends.is_empty(),
            "could not read {topic} to its end: {ends:?} left"
        );
        records
    }

    /// Number of records in `topic` now.
    pub fn count(&self, topic: &str) -> i64 {
        count(&self.0, topic).unwrap_or_else(|e| panic!("{e:#}"))
    }
}

/// The payload of a record as text.
pub fn text(record: &Record) -> String {
    String::from_utf8_lossy(record.payload().unwrap_or_default()).into_owned()
}
