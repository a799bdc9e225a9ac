//! Finding the retry chains on a cluster, by their names ([`rebound::naming::chains_among`]:
//! [`rebound::naming::classify`], with routed DLTs put in their chain), with record counts,
//! consumer groups and their lag; and whether a DLT a person named is there ([`require_dlt`], in
//! `dlt_exists.rs`).

mod dialects;
mod dlt_exists;

pub use dialects::{dlqs_from_env, is_dead_letter_topic, DLQS_ENV, SHARE_GROUP_DLQ_PREFIX};
pub use dlt_exists::require_dlt;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use rebound::naming::{chains_among, retry_order, TopicRole};
use rebound::KafkaConfig;

use crate::error::Error;
use crate::reader::blocking::{assigning_consumer, watermarks_of};
use crate::reader::unblock;

const TIMEOUT: Duration = Duration::from_secs(10);

/// One topic of a chain (its JSON is part of `rebound topics --json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopicInfo {
    /// The topic's name.
    pub name: String,
    /// Its place in the chain.
    pub role: TopicRole,
    /// How many partitions it has.
    pub partitions: i32,
    /// Records in it now (high minus low watermark, summed over partitions).
    pub records: i64,
    /// Consumer groups with committed offsets on this topic, and their lag.
    pub groups: Vec<(String, i64)>,
    /// A DLT's dialect (who writes its dead letters): a chain's DLT is Spring's by its name,
    /// another DLQ's is read from its newest record; `None` for other roles.
    pub dialect: Option<crate::dialect::Dialect>,
}

/// A retry chain found on the cluster (one line of `rebound topics --json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainInfo {
    /// The main topic's name (the topic itself may be absent from the cluster).
    pub main: String,
    /// Its topics on the cluster: main, retries (as their delays grow), DLT, ledger, archive.
    pub topics: Vec<TopicInfo>,
}

/// Every chain on the cluster with record counts, groups and lag; with the DLQs other writers
/// fill (share groups' `dlq.*`, and those `REBOUND_DLQS` lists), each DLT with its dialect.
pub async fn discover(kafka: &KafkaConfig) -> Result<Vec<ChainInfo>, Error> {
    discover_with(kafka, &dlqs_from_env()).await
}

/// [`discover`], with `dlqs` as the DLQ names no convention gives (Connect's, Streams', …).
pub async fn discover_with(kafka: &KafkaConfig, dlqs: &[String]) -> Result<Vec<ChainInfo>, Error> {
    let (kafka, dlqs) = (kafka.clone(), dlqs.to_vec());
    unblock(move || discover_blocking(&kafka, &dlqs)).await
}

/// [`discover`] on the calling thread: a metadata request, the watermarks of every chain topic,
/// and each group's committed offsets.
fn discover_blocking(kafka: &KafkaConfig, dlqs: &[String]) -> Result<Vec<ChainInfo>, Error> {
    let consumer = assigning_consumer(kafka)?;
    let metadata = consumer.fetch_metadata(None, TIMEOUT)?;
    let partitions: BTreeMap<String, i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.name().starts_with("__"))
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect();
    let mut chains = chains_among(partitions.keys().map(String::as_str));
    let dialects = dialects::place(kafka, &partitions, &mut chains, dlqs)?;
    for (main, topics) in chains.iter_mut() {
        // A DLQ whose source is unknown is its own chain's name: not its main topic too.
        if partitions.contains_key(main) && !topics.iter().any(|(n, _)| n == main) {
            topics.push((main.clone(), TopicRole::Main));
        }
        topics.sort_by(|a, b| {
            a.1.cmp(&b.1)
                .then_with(|| retry_order(&a.0).cmp(&retry_order(&b.0)))
        });
    }
    let groups: Vec<String> = consumer
        .fetch_group_list(None, TIMEOUT)
        .map(|list| list.groups().iter().map(|g| g.name().to_string()).collect())
        .unwrap_or_default();
    // High watermarks of every chain topic first, then each group asked once for all of them:
    // a cluster with hundreds of groups and topics costs one request per group, not one per
    // group and topic.
    let mut highs: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut records: BTreeMap<String, i64> = BTreeMap::new();
    for (name, _) in chains.values().flatten() {
        let mut topic_highs = Vec::new();
        let mut total = 0;
        for p in 0..partitions[name] {
            let (low, high) = watermarks_of(&consumer, name, p)?;
            total += high - low;
            topic_highs.push(high);
        }
        highs.insert(name.clone(), topic_highs);
        records.insert(name.clone(), total);
    }
    let lags = group_lags(kafka, &groups, &highs)?;
    Ok(chains
        .into_iter()
        .map(|(main, topics)| ChainInfo {
            main,
            topics: topics
                .into_iter()
                .map(|(name, role)| TopicInfo {
                    partitions: partitions[&name],
                    records: records[&name],
                    groups: lags.get(&name).cloned().unwrap_or_default(),
                    dialect: dialects.get(&name).copied(),
                    name,
                    role,
                })
                .collect(),
        })
        .collect())
}

/// For each topic of `highs` (its partitions' high watermarks), the groups with committed
/// offsets on it and their lag. Groups are asked a few at a time, each in one request.
fn group_lags(
    kafka: &KafkaConfig,
    groups: &[String],
    highs: &BTreeMap<String, Vec<i64>>,
) -> Result<BTreeMap<String, Vec<(String, i64)>>, Error> {
    const AT_ONCE: usize = 8;
    let mut list = TopicPartitionList::new();
    for (topic, partitions) in highs {
        for p in 0..partitions.len() as i32 {
            list.add_partition(topic, p);
        }
    }
    let mut lags: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for batch in groups.chunks(AT_ONCE) {
        let answers: Vec<Result<Option<TopicPartitionList>, Error>> = std::thread::scope(|scope| {
            let asked: Vec<_> = batch
                .iter()
                .map(|group| scope.spawn(|| committed(kafka, group, &list)))
                .collect();
            asked
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Ok(None)))
                .collect()
        });
        for (group, answer) in batch.iter().zip(answers) {
            let Some(committed) = answer? else { continue };
            let mut per_topic: BTreeMap<String, i64> = BTreeMap::new();
            for element in committed.elements() {
                if let Offset::Offset(offset) = element.offset() {
                    let high = highs[element.topic()][element.partition() as usize];
                    *per_topic.entry(element.topic().to_string()).or_default() +=
                        (high - offset).max(0);
                }
            }
            for (topic, lag) in per_topic {
                lags.entry(topic).or_default().push((group.clone(), lag));
            }
        }
    }
    Ok(lags)
}

/// The offsets `group` committed on the partitions of `list`; `None` when the group cannot be
/// asked (it is being deleted, or the broker refuses).
fn committed(
    kafka: &KafkaConfig,
    group: &str,
    list: &TopicPartitionList,
) -> Result<Option<TopicPartitionList>, Error> {
    let consumer: BaseConsumer = kafka
        .client_config(&[("group.id", group), ("enable.auto.commit", "false")])
        .create()?;
    Ok(consumer.committed_offsets(list.clone(), TIMEOUT).ok())
}
