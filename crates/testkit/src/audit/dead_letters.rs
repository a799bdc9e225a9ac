//! Reading a DLT for the audit: every dead letter's id and the two headers the audit checks.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message};
use rdkafka::{Offset, TopicPartitionList};
use rebound::headers as h;

use crate::Cluster;

/// One dead letter: the record's id (`None` when its payload is not `{"id": N, …}`), its
/// `rebound-failure-class` and its `retry_topic-attempts` as written.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// From the payload `{"id": N, …}`.
    pub id: Option<u64>,
    /// `rebound-failure-class`, as text.
    pub class: Option<String>,
    /// `retry_topic-attempts`, the bytes as written.
    pub attempts: Option<Vec<u8>>,
}

/// Every dead letter now in `dlt`, read by assignment from the low to the high watermark of each
/// of its partitions.
///
/// A slow broker (Tansu 0.6.0's SQLite engine scans every stored header for each record it serves)
/// gets slower as a run writes more headers: this reader waits as long as it makes progress, up
/// to 2 minutes without any.
pub fn read_dead_letters(cluster: &Cluster, dlt: &str) -> Vec<DeadLetter> {
    let consumer: BaseConsumer = cluster
        .0
        .client_config(&[("group.id", "audit"), ("enable.auto.commit", "false")])
        .create()
        .expect("the audit's consumer");
    let partitions = cluster.partition_count(dlt).expect("the DLT exists") as i32;
    let mut ends = HashMap::new();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(dlt, p, Duration::from_secs(30))
            .expect("DLT watermarks");
        if high > low {
            ends.insert(p, high);
            list.add_partition_offset(dlt, p, Offset::Offset(low))
                .expect("a partition to read");
        }
    }
    let mut letters = Vec::new();
    if ends.is_empty() {
        return letters;
    }
    consumer.assign(&list).expect("the DLT's partitions");
    let mut progress = Instant::now();
    while !ends.is_empty() {
        assert!(
            progress.elapsed() < Duration::from_secs(120),
            "reading {dlt} made no progress for 2 minutes; left: {ends:?}"
        );
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        progress = Instant::now();
        let end = ends.get(&m.partition()).copied();
        if end.is_some_and(|end| m.offset() < end) {
            let header = |key: &str| {
                m.headers().and_then(|hs| {
                    hs.iter()
                        .filter(|x| x.key == key)
                        .last()
                        .and_then(|x| x.value.map(<[u8]>::to_vec))
                })
            };
            letters.push(DeadLetter {
                id: m
                    .payload()
                    .and_then(|p| serde_json::from_slice::<serde_json::Value>(p).ok())
                    .and_then(|v| v.get("id")?.as_u64()),
                class: header(h::FAILURE_CLASS).map(|v| String::from_utf8_lossy(&v).into()),
                attempts: header(h::ATTEMPTS),
            });
        }
        if end.is_some_and(|end| m.offset() + 1 >= end) {
            ends.remove(&m.partition());
        }
    }
    letters
}
