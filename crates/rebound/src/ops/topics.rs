//! Finding the retry chains on a cluster, by Spring's names: `<main>-retry…`, `<main>-dlt`,
//! `<main>.dlt`, `<main>.DLT`, plus the ledger and archive topics of each DLT.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use regex::Regex;

use super::reader::{assigning_consumer, watermarks_of};
use crate::config::KafkaConfig;
use crate::error::Error;

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Main,
    Retry,
    Dlt,
    Ledger,
    Archive,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TopicInfo {
    pub name: String,
    pub role: Role,
    pub partitions: i32,
    pub records: i64,
    /// Consumer groups with committed offsets on this topic, and their lag.
    pub groups: Vec<(String, i64)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainInfo {
    pub main: String,
    pub topics: Vec<TopicInfo>,
}

/// Which chain a topic name belongs to, and its role there.
pub fn classify(name: &str) -> Option<(String, Role)> {
    static RETRY: OnceLock<Regex> = OnceLock::new();
    let retry =
        RETRY.get_or_init(|| Regex::new(r"^(?P<main>.+)-retry(-\d+){0,2}$").expect("regex"));
    for (suffix, role) in [(".ledger", Role::Ledger), (".archive", Role::Archive)] {
        if let Some(dlt) = name.strip_suffix(suffix) {
            if let Some((main, Role::Dlt)) = classify(dlt) {
                return Some((main, role));
            }
        }
    }
    for suffix in ["-dlt", ".dlt", "-DLT", ".DLT"] {
        if let Some(main) = name.strip_suffix(suffix).filter(|m| !m.is_empty()) {
            return Some((main.to_string(), Role::Dlt));
        }
    }
    retry
        .captures(name)
        .map(|c| (c["main"].to_string(), Role::Retry))
}

/// Every chain on the cluster with record counts, groups and lag.
pub fn discover(kafka: &KafkaConfig) -> Result<Vec<ChainInfo>, Error> {
    let consumer = assigning_consumer(kafka)?;
    let metadata = consumer.fetch_metadata(None, TIMEOUT)?;
    let partitions: BTreeMap<String, i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.name().starts_with("__"))
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect();
    let mut chains: BTreeMap<String, Vec<(String, Role)>> = BTreeMap::new();
    for name in partitions.keys() {
        if let Some((main, role)) = classify(name) {
            chains.entry(main).or_default().push((name.clone(), role));
        }
    }
    for (main, topics) in chains.iter_mut() {
        if partitions.contains_key(main) {
            topics.push((main.clone(), Role::Main));
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
    let mut result = Vec::new();
    for (main, topics) in chains {
        let mut infos = Vec::new();
        for (name, role) in topics {
            let count = partitions[&name];
            let mut records = 0;
            let mut highs = Vec::new();
            for p in 0..count {
                let (low, high) = watermarks_of(&consumer, &name, p)?;
                records += high - low;
                highs.push(high);
            }
            let groups = group_lags(kafka, &groups, &name, &highs)?;
            infos.push(TopicInfo {
                name,
                role,
                partitions: count,
                records,
                groups,
            });
        }
        result.push(ChainInfo {
            main,
            topics: infos,
        });
    }
    Ok(result)
}

/// Retry topics sort by their delay (or index), numerically.
fn retry_order(name: &str) -> Vec<u64> {
    name.rsplit("-retry")
        .next()
        .unwrap_or("")
        .split('-')
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn group_lags(
    kafka: &KafkaConfig,
    groups: &[String],
    topic: &str,
    highs: &[i64],
) -> Result<Vec<(String, i64)>, Error> {
    let mut lags = Vec::new();
    for group in groups {
        let consumer: BaseConsumer = kafka
            .client_config(&[
                ("group.id", group.as_str()),
                ("enable.auto.commit", "false"),
            ])
            .create()?;
        let mut list = TopicPartitionList::new();
        for p in 0..highs.len() as i32 {
            list.add_partition(topic, p);
        }
        let Ok(committed) = consumer.committed_offsets(list, TIMEOUT) else {
            continue;
        };
        let mut lag = 0;
        let mut any = false;
        for element in committed.elements() {
            if let Offset::Offset(offset) = element.offset() {
                any = true;
                lag += (highs[element.partition() as usize] - offset).max(0);
            }
        }
        if any {
            lags.push((group.clone(), lag));
        }
    }
    Ok(lags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spring_names_are_recognised() {
        let main = classify;
        assert_eq!(
            main("email.send-retry-1000"),
            Some(("email.send".into(), Role::Retry))
        );
        assert_eq!(
            main("email.send-retry"),
            Some(("email.send".into(), Role::Retry))
        );
        assert_eq!(
            main("email.send-retry-4000-1"),
            Some(("email.send".into(), Role::Retry))
        );
        assert_eq!(
            main("email.send.dlt"),
            Some(("email.send".into(), Role::Dlt))
        );
        assert_eq!(main("orders-dlt"), Some(("orders".into(), Role::Dlt)));
        assert_eq!(main("orders.DLT"), Some(("orders".into(), Role::Dlt)));
        assert_eq!(
            main("email.send.dlt.ledger"),
            Some(("email.send".into(), Role::Ledger))
        );
        assert_eq!(
            main("email.send.dlt.archive"),
            Some(("email.send".into(), Role::Archive))
        );
        assert_eq!(main("email.send"), None);
        assert_eq!(main("audit.ledger"), None);
    }

    #[test]
    fn retry_topics_sort_by_delay() {
        let mut names = vec![
            "t-retry-8000",
            "t-retry-1000",
            "t-retry-16000",
            "t-retry-2000",
        ];
        names.sort_by_key(|n| retry_order(n));
        assert_eq!(
            names,
            [
                "t-retry-1000",
                "t-retry-2000",
                "t-retry-8000",
                "t-retry-16000"
            ]
        );
    }
}
