//! A group's committed offsets as a test arranges and checks them: committed from outside, as a
//! stopped consumer left them, and read back.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::broker::kafka;

/// `(topic, partition) → (offset, metadata)`: what a group committed.
pub type Committed = BTreeMap<(String, i32), (i64, String)>;

/// A client speaking for `group` without joining it.
fn client(group: &str) -> BaseConsumer {
    kafka()
        .client_config(&[("group.id", group), ("enable.auto.commit", "false")])
        .create()
        .expect("a consumer")
}

/// Commits `offsets` (topic, partition, offset, metadata) for `group` from outside it, as a
/// stopped consumer's last commit would have left them. Panics when Kafka refuses.
pub fn commit_offsets(group: &str, offsets: &[(&str, i32, i64, &str)]) {
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset, metadata) in offsets {
        let mut element = list.add_partition(topic, *partition);
        element.set_offset(Offset::Offset(*offset)).unwrap();
        element.set_metadata(metadata);
    }
    if let Err(e) = client(group).commit(&list, CommitMode::Sync) {
        panic!("could not commit {offsets:?} for {group}: {e}");
    }
}

/// What `group` committed on partitions `0..partitions` of each of `topics` (a partition
/// without a committed offset is absent).
pub fn committed_offsets(group: &str, topics: &[&str], partitions: i32) -> Committed {
    let mut list = TopicPartitionList::new();
    for topic in topics {
        list.add_partition_range(topic, 0, partitions - 1);
    }
    let answer = client(group)
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("could not read {group}'s offsets: {e}"));
    answer
        .elements()
        .iter()
        .filter_map(|element| match element.offset() {
            Offset::Offset(offset) => Some((
                (element.topic().to_string(), element.partition()),
                (offset, element.metadata().to_string()),
            )),
            _ => None,
        })
        .collect()
}
