//! Creating the topics of a chain, with the source topic's partition count.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;

use crate::config::KafkaConfig;
use crate::error::Error;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Partition counts of `topics` that exist; absent ones are left out.
pub fn partition_counts(
    kafka: &KafkaConfig,
    topics: &[&str],
) -> Result<HashMap<String, i32>, Error> {
    let consumer: BaseConsumer = kafka.client_config(&[]).create()?;
    let metadata = consumer.fetch_metadata(None, METADATA_TIMEOUT)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && topics.contains(&t.name()) && !t.partitions().is_empty())
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect())
}

/// Creates each of `topics` that is missing, with `partitions` partitions. A topic created by
/// someone else in the meantime is fine.
pub async fn create_topics(
    kafka: &KafkaConfig,
    topics: &[&str],
    partitions: i32,
    replication: i32,
) -> Result<(), Error> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = kafka.client_config(&[]).create()?;
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication)))
        .collect();
    let results = admin
        .create_topics(
            &new_topics,
            &AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT)),
        )
        .await?;
    for result in results {
        match result {
            Ok(name) => tracing::info!(topic = %name, partitions, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(Error::CreateTopic { topic: name, code }),
        }
    }
    Ok(())
}

/// Makes sure every topic of a chain exists: the main topic must exist (or is created with
/// `default_partitions`), and the others get the main topic's partition count.
pub async fn ensure_chain(
    kafka: &KafkaConfig,
    main: &str,
    others: &[&str],
    default_partitions: i32,
    replication: i32,
) -> Result<HashMap<String, i32>, Error> {
    let mut all = vec![main];
    all.extend_from_slice(others);
    let counts = partition_counts(kafka, &all)?;
    let main_partitions = match counts.get(main) {
        Some(n) => *n,
        None => {
            create_topics(kafka, &[main], default_partitions, replication).await?;
            default_partitions
        }
    };
    let missing: Vec<&str> = others
        .iter()
        .copied()
        .filter(|t| !counts.contains_key(*t))
        .collect();
    create_topics(kafka, &missing, main_partitions, replication).await?;
    wait_for_topics(kafka, &all).await
}

/// Waits until the metadata shows every topic, as creation is asynchronous on some brokers.
async fn wait_for_topics(
    kafka: &KafkaConfig,
    topics: &[&str],
) -> Result<HashMap<String, i32>, Error> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let counts = partition_counts(kafka, topics)?;
        if topics.iter().all(|t| counts.contains_key(*t)) {
            return Ok(counts);
        }
        if tokio::time::Instant::now() > deadline {
            let missing = topics
                .iter()
                .filter(|t| !counts.contains_key(**t))
                .map(|t| t.to_string())
                .collect();
            return Err(Error::TopicsMissing(missing));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
