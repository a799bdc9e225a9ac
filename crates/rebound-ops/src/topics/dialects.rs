//! Finding the dead-letter queues that no retry chain names: share groups' (`dlq.` prefix,
//! KIP-1191's default), and those a person lists (`rebound topics --dlt`, `REBOUND_DLQS`: a
//! Kafka Connect sink's `errors.deadletterqueue.topic.name`, a Streams application's
//! `errors.dead.letter.queue.topic.name`, anything else); and telling such a DLQ's dialect from
//! its newest record's headers (a chain's DLT is Spring's by its name).

use std::collections::BTreeMap;

use rebound::naming::TopicRole;
use rebound::KafkaConfig;

use crate::dialect::{Dialect, DialectView};
use crate::error::Error;
use crate::reader::blocking::{assigning_consumer, read_at, watermarks_of};

/// The prefix the broker requires of a share group's DLQ by default
/// (`errors.deadletterqueue.topic.name.prefix`).
pub const SHARE_GROUP_DLQ_PREFIX: &str = "dlq.";

/// The environment variable with more DLQ names, comma-separated.
pub const DLQS_ENV: &str = "REBOUND_DLQS";

/// The DLQ names `REBOUND_DLQS` lists (none when unset).
pub fn dlqs_from_env() -> Vec<String> {
    std::env::var(DLQS_ENV)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether `name` holds dead letters: a chain's DLT by its name, a share group's `dlq.*`, or one
/// that `extra` lists (a console follows only such topics).
pub fn is_dead_letter_topic(name: &str, extra: &[String]) -> bool {
    matches!(rebound::naming::classify(name), Some((_, TopicRole::Dlt)))
        || is_foreign_dlq(name, extra)
}

/// Whether `name` is a DLQ that no chain names: listed in `extra`, or a share group's by its
/// prefix (not its own ledger or archive).
pub(super) fn is_foreign_dlq(name: &str, extra: &[String]) -> bool {
    let own_topic = name.ends_with(".ledger") || name.ends_with(".archive");
    extra.iter().any(|e| e == name) || (name.starts_with(SHARE_GROUP_DLQ_PREFIX) && !own_topic)
}

/// A DLT's dialect and the topic its newest dead letter came from, read from the newest record
/// of each partition; when it is empty, what its name suggests (`role` and the `dlq.` prefix).
pub(super) fn sniff(
    kafka: &KafkaConfig,
    name: &str,
    partitions: i32,
) -> Result<(Dialect, Option<String>), Error> {
    let consumer = assigning_consumer(kafka)?;
    let mut newest: Option<rebound::Record> = None;
    for p in 0..partitions {
        let (low, high) = watermarks_of(&consumer, name, p)?;
        if high > low {
            if let Some(record) = read_at(kafka, name, p, high - 1)? {
                let newer = newest
                    .as_ref()
                    .is_none_or(|n| record.timestamp() > n.timestamp());
                if newer {
                    newest = Some(record);
                }
            }
        }
    }
    Ok(match newest {
        Some(record) => {
            let view = DialectView::read(record.headers());
            (view.dialect, view.origin.map(|o| o.topic))
        }
        None if name.starts_with(SHARE_GROUP_DLQ_PREFIX) => (Dialect::ShareGroup, None),
        None => (Dialect::Unknown, None),
    })
}

/// Puts the foreign DLQs among `names` into `chains` (under the topic their dead letters came
/// from, else their own name), with their ledgers and archives; returns every DLT's dialect.
pub(super) fn place(
    kafka: &KafkaConfig,
    partitions: &BTreeMap<String, i32>,
    chains: &mut BTreeMap<String, Vec<(String, TopicRole)>>,
    extra: &[String],
) -> Result<BTreeMap<String, Dialect>, Error> {
    let mut dialects = BTreeMap::new();
    // A chain's DLT is Spring's (or Rebound's) by its name, and is not read: a cluster has
    // hundreds, and each read costs a client. Each dead letter's own page says its dialect.
    for topics in chains.values() {
        for (name, role) in topics {
            if *role == TopicRole::Dlt {
                dialects.insert(name.clone(), Dialect::Spring);
            }
        }
    }
    let chained: Vec<String> = chains.values().flatten().map(|(n, _)| n.clone()).collect();
    for name in partitions
        .keys()
        .filter(|n| is_foreign_dlq(n, extra) && !chained.contains(n))
    {
        let (dialect, origin) = sniff(kafka, name, partitions[name])?;
        dialects.insert(name.clone(), dialect);
        let home = origin.unwrap_or_else(|| name.clone());
        let topics = chains.entry(home).or_default();
        topics.push((name.clone(), TopicRole::Dlt));
        for (suffix, role) in [
            (".ledger", TopicRole::Ledger),
            (".archive", TopicRole::Archive),
        ] {
            let own = format!("{name}{suffix}");
            if partitions.contains_key(&own) {
                topics.push((own, role));
            }
        }
    }
    Ok(dialects)
}
