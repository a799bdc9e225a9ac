//! Creating topics, and knowing when one can be used.
//!
//! A topic counts once every partition has a leader (Rebound's own rule, [`rebound::admin`]):
//! Kafka lists a new topic before its partitions have elected one, and a read or write in between
//! fails with `NotLeaderForPartition`. Creation waits for that, so a caller may produce at once.
//!
//! [`create`] returns errors, for the benchmark (a binary that reports a failed scenario and goes
//! on); the tests' shorthands on [`Cluster`] panic with the same message.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rebound::KafkaConfig;

use crate::broker::Cluster;

/// How long a new topic may take to show up with a leader for every partition.
const USABLE_WITHIN: Duration = Duration::from_secs(60);

/// Creates `names` with `partitions` partitions each (the broker's replication factor) and
/// topic-level settings `config` (e.g. `max.message.bytes`), and waits until every one can be
/// used. A topic that exists already is an error: every caller names its topics with
/// [`crate::unique`], so an existing one means a mistake.
pub async fn create(
    kafka: &KafkaConfig,
    names: &[&str],
    partitions: i32,
    config: &[(&str, &str)],
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka
        .client_config(&[])
        .create()
        .context("could not create an admin client")?;
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|name| {
            config.iter().fold(
                NewTopic::new(name, partitions, TopicReplication::Fixed(-1)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let results = admin
        .create_topics(
            &topics,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .with_context(|| format!("could not create {names:?}"))?;
    for result in results {
        if let Err((topic, code)) = result {
            bail!("could not create {topic}: {code}");
        }
    }
    let deadline = Instant::now() + USABLE_WITHIN;
    loop {
        let waiting: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| usable_partitions(kafka, name) != Some(partitions as usize))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{waiting:?} did not get a leader for each of {partitions} partitions within {} s",
                USABLE_WITHIN.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Partitions of `topic` once every one has a leader; `None` before (or without a broker).
fn usable_partitions(kafka: &KafkaConfig, topic: &str) -> Option<usize> {
    rebound::admin::partition_counts(kafka, &[topic])
        .ok()?
        .get(topic)
        .map(|n| *n as usize)
}

impl Cluster {
    /// Creates `name` without topic-level settings, and waits until it can be used.
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        self.create_topic_with(name, partitions, &[]).await
    }

    /// Creates `name` with topic-level settings, and waits until it can be used.
    pub async fn create_topic_with(&self, name: &str, partitions: i32, config: &[(&str, &str)]) {
        self.create_topics(&[name], partitions, config).await
    }

    /// Creates every one of `names` (in one request), and waits until each can be used.
    pub async fn create_topics(&self, names: &[&str], partitions: i32, config: &[(&str, &str)]) {
        if let Err(e) = create(&self.0, names, partitions, config).await {
            panic!("{e:#}");
        }
    }

    /// Partitions of `topic` once every one has a leader (Rebound's own rule for a usable topic).
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        usable_partitions(&self.0, topic)
    }
}
