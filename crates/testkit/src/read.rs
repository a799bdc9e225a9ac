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
        let mut records = Vec::new();
        self.read_each(topic, |record| records.push(record));
        records
    }

    /// Calls `each` with every record now in `topic`, partition by partition in offset order,
    /// read by assignment (no group) from the low to the high watermark of each partition; for
    /// a topic too large to hold in memory at once (the audit's DLT of a long run).
    ///
    /// A slow broker (Tansu 0.6.0's SQLite engine scans every stored header for each record it
    /// serves) gets slower as a run writes more headers: this waits as long as it makes progress,
    /// up to 2 minutes without any.
    pub fn read_each(&self, topic: &str, mut each: impl FnMut(Record)) {
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
            return;
        }
        consumer.assign(&list).unwrap();
        let mut progress = Instant::now();
        while !ends.is_empty() {
            assert!(
                progress.elapsed() < Duration::from_secs(120),
                "reading {topic} made no progress for 2 minutes; left: {ends:?}"
            );
            let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            progress = Instant::now();
            let end = ends.get(&m.partition()).copied();
            if end.is_some_and(|end| m.offset() < end) {
                each(Record::from_message(&m));
            }
            if end.is_some_and(|end| m.offset() + 1 >= end) {
                ends.remove(&m.partition());
            }
        }
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
