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

/// How long a starting consumer waits for a cluster that does not answer: long enough for a
/// broker restart (a Kafka node takes 5-30 s to serve again after a crash), short enough that a
/// wrong address still ends in an error a person sees.
const UNREACHABLE_PATIENCE: Duration = Duration::from_secs(120);

/// Runs `attempt` until it succeeds, fails with an error other than an unreachable or
/// leaderless cluster, or two minutes run out. A worker started while its broker
/// restarts waits for it instead of exiting.
pub async fn patiently<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let deadline = tokio::time::Instant::now() + UNREACHABLE_PATIENCE;
    loop {
        match attempt().await {
            Err(err) if is_unreachable(&err) && tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %err, "{what}: the cluster does not answer yet; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// Errors that a broker coming back (or a leader being elected) cures by itself.
fn is_unreachable(err: &Error) -> bool {
    use rdkafka::error::KafkaError;
    let code = match err {
        Error::Kafka(KafkaError::MetadataFetch(code) | KafkaError::AdminOp(code)) => *code,
        Error::CreateTopic { code, .. } => *code,
        _ => return false,
    };
    matches!(
        code,
        RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::NotController
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
    )
}

/// Partition counts of `topics` that exist and can be used; absent ones are left out.
///
/// A topic counts once every partition has a leader: Kafka lists a new topic before its
/// partitions have elected one, and a read or write in between fails with
/// `NotLeaderForPartition`. Each topic is asked for by name, so the answer stays small on a
/// cluster with thousands of topics.
///
/// Blocks for up to 10 s per topic: from async code, call [`partition_counts_of`].
pub fn partition_counts(
    kafka: &KafkaConfig,
    topics: &[&str],
) -> Result<HashMap<String, i32>, Error> {
    let consumer: BaseConsumer = kafka.client_config(&[]).create()?;
    let mut counts = HashMap::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
        let usable = metadata
            .topics()
            .iter()
            .find(|t| t.name() == *topic)
            .filter(|t| {
                t.error().is_none()
                    && !t.partitions().is_empty()
                    && t.partitions()
                        .iter()
                        .all(|p| p.error().is_none() && p.leader() >= 0)
            });
        if let Some(t) = usable {
            counts.insert(t.name().to_string(), t.partitions().len() as i32);
        }
    }
    Ok(counts)
}

/// [`partition_counts`] on Tokio's blocking pool, so an async caller never holds a runtime thread
/// while librdkafka waits for the cluster.
pub async fn partition_counts_of(
    kafka: &KafkaConfig,
    topics: &[&str],
) -> Result<HashMap<String, i32>, Error> {
    let kafka = kafka.clone();
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        partition_counts(&kafka, &topics)
    })
    .await
    .map_err(|e| Error::Crashed(e.to_string()))?
}

/// Creates each of `topics` that is missing, with `partitions` partitions, and waits until every
/// one can be used (all partitions have a leader). A topic created by someone else in the
/// meantime is fine.
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
    wait_for_topics(kafka, topics).await.map(|_| ())
}

/// Grows each of `topics` to `partitions` partitions (Kafka's CreatePartitions; a topic never
/// shrinks). A topic already that large is fine.
pub async fn grow_topics(
    kafka: &KafkaConfig,
    topics: &[&str],
    partitions: i32,
) -> Result<(), Error> {
    use rdkafka::admin::NewPartitions;
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = kafka.client_config(&[]).create()?;
    let grown: Vec<NewPartitions> = topics
        .iter()
        .map(|t| NewPartitions::new(t, partitions as usize))
        .collect();
    let results = admin
        .create_partitions(
            &grown,
            &AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT)),
        )
        .await?;
    for result in results {
        match result {
            Ok(name) => {
                tracing::warn!(topic = %name, partitions, "grew the topic to the main topic's partition count")
            }
            Err((_, RDKafkaErrorCode::InvalidPartitions)) => {} // Already that large.
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
    let counts = partition_counts_of(kafka, &all).await?;
    let main_partitions = match counts.get(main) {
        Some(n) => *n,
        None => {
            // It may exist without a leader for a moment (a new topic, a failover): after
            // creating or finding it, ask again rather than assume our own count.
            create_topics(kafka, &[main], default_partitions, replication).await?;
            partition_counts_of(kafka, &[main])
                .await?
                .get(main)
                .copied()
                .unwrap_or(default_partitions)
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

/// Waits until the metadata shows every topic with a leader for each partition, as creation is
/// asynchronous.
async fn wait_for_topics(
    kafka: &KafkaConfig,
    topics: &[&str],
) -> Result<HashMap<String, i32>, Error> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let counts = partition_counts_of(kafka, topics).await?;
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
