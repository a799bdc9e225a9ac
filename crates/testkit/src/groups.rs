//! Consumer groups as a test arranges and checks them: offsets committed as a stopped consumer
//! left them, a group's committed offsets read back, and a live member.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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

/// A member of `group` subscribed to `topic`, returned once it has partitions; it stays in the
/// group (heartbeats are librdkafka's own thread) until dropped, when it leaves.
pub fn live_member(group: &str, topic: &str) -> BaseConsumer {
    live_member_with(group, topic, &[])
}

/// [`live_member`] with more librdkafka properties (`group.protocol=consumer` for KIP-848's).
pub fn live_member_with(group: &str, topic: &str, properties: &[(&str, &str)]) -> BaseConsumer {
    let mut config = vec![("group.id", group), ("enable.auto.commit", "false")];
    config.extend_from_slice(properties);
    let member: BaseConsumer = kafka().client_config(&config).create().expect("a consumer");
    member.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    while member.assignment().expect("assignment").count() == 0 {
        assert!(
            Instant::now() < deadline,
            "{group} got no partitions of {topic} within 30 s"
        );
        member.poll(Duration::from_millis(100));
    }
    member
}
