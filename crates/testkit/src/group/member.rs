//! A live member of a group: it holds partitions until dropped, so a test can show that a
//! hand-over or a stage group waits for it.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::broker::kafka;

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
