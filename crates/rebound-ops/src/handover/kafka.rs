//! The hand-over's requests: the chain's topics, a group's state (DescribeGroups), its committed
//! offsets (OffsetFetch) and writing them (OffsetCommit from outside the group, which Kafka
//! takes only while the group has no members, as `kafka-consumer-groups.sh --reset-offsets`).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use rebound::naming::{classify, TopicChain, TopicRole};
use rebound::KafkaConfig;

use super::plan::{Committed, GroupState};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The partition counts of the chain's topics on the cluster, and the cluster's retry topics and
/// DLTs of the same main topic that the chain does not have (the retry flags may be wrong).
pub(super) fn topics(
    consumer: &BaseConsumer,
    chain: &TopicChain,
) -> Result<(BTreeMap<String, i32>, Vec<String>), KafkaError> {
    let metadata = consumer.fetch_metadata(None, TIMEOUT)?;
    let names = chain.topic_names();
    let mut partitions = BTreeMap::new();
    let mut strays = Vec::new();
    for topic in metadata.topics().iter().filter(|t| t.error().is_none()) {
        if names.contains(&topic.name()) {
            partitions.insert(topic.name().to_string(), topic.partitions().len() as i32);
        } else if let Some((main, TopicRole::Retry | TopicRole::Dlt)) = classify(topic.name()) {
            if main == chain.main {
                strays.push(topic.name().to_string());
            }
        }
    }
    strays.sort();
    Ok((partitions, strays))
}

/// `group`'s state and live members, as DescribeGroups tells them (a group Kafka does not know:
/// no state, no members).
pub(super) fn describe(consumer: &BaseConsumer, group: &str) -> Result<GroupState, KafkaError> {
    let list = consumer.fetch_group_list(Some(group), TIMEOUT)?;
    let found = list.groups().iter().find(|g| g.name() == group);
    Ok(GroupState {
        group: group.to_string(),
        state: found.map(|g| g.state().to_string()).unwrap_or_default(),
        members: found.map_or(0, |g| g.members().len()),
    })
}

/// A client that speaks for `group` without joining it.
fn client_of(kafka: &KafkaConfig, group: &str) -> Result<BaseConsumer, KafkaError> {
    kafka
        .client_config(&[("group.id", group), ("enable.auto.commit", "false")])
        .create()
}

/// The offsets (and their metadata) `group` committed on every partition of `topics`; a
/// partition without one is absent.
pub(super) fn committed(
    kafka: &KafkaConfig,
    group: &str,
    topics: &[&str],
    partitions: &BTreeMap<String, i32>,
) -> Result<Committed, KafkaError> {
    let mut list = TopicPartitionList::new();
    for topic in topics {
        for partition in 0..partitions.get(*topic).copied().unwrap_or(0) {
            list.add_partition(topic, partition);
        }
    }
    let mut committed = Committed::new();
    if list.count() == 0 {
        return Ok(committed);
    }
    let answer = client_of(kafka, group)?.committed_offsets(list, TIMEOUT)?;
    for element in answer.elements() {
        element.error()?;
        if let Offset::Offset(offset) = element.offset() {
            let key = (element.topic().to_string(), element.partition());
            committed.insert(key, (offset, element.metadata().to_string()));
        }
    }
    Ok(committed)
}

/// Commits `offsets` (topic, partition, offset, metadata) for `group` from outside it.
pub(super) fn write(
    kafka: &KafkaConfig,
    group: &str,
    offsets: &[(&str, i32, i64, &str)],
) -> Result<(), KafkaError> {
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset, metadata) in offsets {
        let mut element = list.add_partition(topic, *partition);
        element.set_offset(Offset::Offset(*offset))?;
        element.set_metadata(metadata);
    }
    client_of(kafka, group)?.commit(&list, CommitMode::Sync)
}
