//! The reader behind `hold_until_redriven`: a thread that reads the chain's DLT and its ledger
//! (`<dlt>.ledger`, written by `rebound dlt redrive` and `discard`) from the beginning and then
//! follows both, telling [`ParkedKeys`] which dead letters are pending.
//!
//! It reads by assignment, with no group and nothing committed: every member needs the whole
//! picture (a rebalance may give it any partition), and a restart rebuilds it from the topics,
//! which are the only state. Main partitions wait until it has read what the two topics held at
//! start ([`ParkedKeys::wait_caught_up`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;

use super::parked::{DeadLetterAt, ParkedKeys};
use crate::config::KafkaConfig;
use crate::headers::Provenance;
use crate::naming::ledger_topic;
use crate::record::Record;

const TIMEOUT: Duration = Duration::from_secs(10);

/// How often to look for a ledger that did not exist yet (the first redrive or discard
/// creates it).
const LEDGER_LOOKUP_EVERY: Duration = Duration::from_secs(2);

/// What the thread follows.
pub(crate) struct Followed {
    pub kafka: KafkaConfig,
    pub dlt: String,
    /// The topics whose dead letters park keys: the chain's main and retry topics.
    pub chain_topics: HashSet<String>,
}

/// Reads and follows until `stop` is set. Errors are logged; the thread never takes the
/// consumer down (keys stay as last known, which errs on the side of holding).
pub(crate) fn follow(followed: Followed, parked: Arc<ParkedKeys>, stop: Arc<AtomicBool>) {
    if let Err(e) = follow_until(&followed, &parked, &stop) {
        tracing::error!(dlt = %followed.dlt, error = %e, "cannot read the DLT or its ledger: keys held behind dead letters may not be released");
    }
}

fn follow_until(
    followed: &Followed,
    parked: &ParkedKeys,
    stop: &AtomicBool,
) -> Result<(), KafkaError> {
    let consumer: BaseConsumer = followed
        .kafka
        .client_config(&[
            ("group.id", "rebound-dead-letter-follower"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
        ])
        .create()?;
    let ledger = ledger_topic(&followed.dlt);
    // Where each partition ended at start: read past all of them, the parked keys are known.
    let mut ends: HashMap<(String, i32), i64> = HashMap::new();
    let mut list = TopicPartitionList::new();
    add_from_beginning(&consumer, &followed.dlt, &mut list, &mut ends)?;
    let mut ledger_assigned = add_from_beginning(&consumer, &ledger, &mut list, &mut ends)?;
    if ledger_assigned {
        ledger_starts_at(&consumer, &ledger, parked)?;
    }
    consumer.assign(&list)?;
    if ends.is_empty() {
        parked.mark_caught_up();
    }
    let mut ledger_looked_up = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if !ledger_assigned && ledger_looked_up.elapsed() >= LEDGER_LOOKUP_EVERY {
            ledger_looked_up = Instant::now();
            let mut more = TopicPartitionList::new();
            let mut no_ends = HashMap::new();
            if add_from_beginning(&consumer, &ledger, &mut more, &mut no_ends)? {
                ledger_starts_at(&consumer, &ledger, parked)?;
                consumer.incremental_assign(&more)?;
                tracing::info!(%ledger, "following the ledger, created since the consumer started");
                ledger_assigned = true;
            }
        }
        let message = match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => message,
            Some(Err(e)) => {
                tracing::warn!(dlt = %followed.dlt, error = %e, "while following the DLT and its ledger");
                continue;
            }
            None => continue,
        };
        let record = Record::from_message(&message);
        if message.topic() == followed.dlt {
            on_dead_letter(followed, parked, &record);
        } else {
            if let Some(at) = resolution(&record) {
                tracing::debug!(dead_letter = ?at, "resolved in the ledger");
                parked.resolved(at);
            }
            parked.ledger_read_to(message.offset() + 1);
        }
        let tp = (message.topic().to_string(), message.partition());
        if ends
            .get(&tp)
            .is_some_and(|end| message.offset() + 1 >= *end)
        {
            ends.remove(&tp);
            if ends.is_empty() {
                parked.mark_caught_up();
            }
        }
    }
    Ok(())
}

/// Adds every partition of `topic` to `list` from its beginning, and to `ends` where it ends now
/// when it has records. `false` when the topic does not exist (yet).
fn add_from_beginning(
    consumer: &BaseConsumer,
    topic: &str,
    list: &mut TopicPartitionList,
    ends: &mut HashMap<(String, i32), i64>,
) -> Result<bool, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let Some(partitions) = metadata
        .topics()
        .first()
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as i32)
    else {
        return Ok(false);
    };
    for partition in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
        if high > low {
            ends.insert((topic.to_string(), partition), high);
        }
        list.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    Ok(true)
}

/// The ledger (one partition) is read from its low watermark: what retention removed before it
/// counts as read.
fn ledger_starts_at(
    consumer: &BaseConsumer,
    ledger: &str,
    parked: &ParkedKeys,
) -> Result<(), KafkaError> {
    let (low, _) = consumer.fetch_watermarks(ledger, 0, TIMEOUT)?;
    parked.ledger_read_to(low);
    Ok(())
}

/// A dead letter parks its key on the partition number it came from, when it came from this
/// chain (a DLT may be shared). One without provenance headers parks its key on its own
/// partition number: holding errs on the safe side.
fn on_dead_letter(followed: &Followed, parked: &ParkedKeys, record: &Record) {
    let provenance = Provenance::read(record.headers());
    if provenance
        .as_ref()
        .is_some_and(|p| !followed.chain_topics.contains(&p.topic))
    {
        return;
    }
    let partition = provenance
        .and_then(|p| p.partition)
        .unwrap_or(record.partition());
    parked.dead_lettered(
        (record.partition(), record.offset()),
        partition,
        record.order_key(),
    );
}

/// The two fields of a ledger entry this reader needs. The format is rebound-ops'
/// `ledger::Entry`, whose golden-JSON test pins it; the cases below are those lines.
#[derive(Deserialize)]
struct LedgerEntry {
    dead_letter: String,
    action: String,
}

/// The dead letter a ledger entry resolves: `redriven` or `discarded` on a DLT position (`p@o`;
/// entries about archive copies, `archive:p@o`, are not about the DLT).
fn resolution(record: &Record) -> Option<DeadLetterAt> {
    let entry: LedgerEntry = serde_json::from_slice(record.payload()?).ok()?;
    if entry.action != "redriven" && entry.action != "discarded" {
        return None;
    }
    let (partition, offset) = entry.dead_letter.split_once('@')?;
    Some((partition.parse().ok()?, offset.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrives_and_discards_of_dlt_positions_resolve() {
        let cases = [
            (
                r#"{"v":1,"dead_letter":"3@17","action":"redriven","run":"r","by":"me","at":1}"#,
                Some((3, 17)),
            ),
            (
                r#"{"v":1,"dead_letter":"0@5","action":"discarded","run":"r","by":"me","at":1,"reason":"탈퇴"}"#,
                Some((0, 5)),
            ),
            (
                r#"{"v":1,"dead_letter":"3@17","action":"claim","run":"r","by":"me","at":1}"#,
                None,
            ),
            (
                r#"{"v":1,"dead_letter":"3@17","action":"released","run":"r","by":"me","at":1}"#,
                None,
            ),
            (
                r#"{"v":1,"dead_letter":"archive:0@5","action":"redriven","run":"r","by":"me","at":1}"#,
                None,
            ),
            ("not json", None),
        ];
        for (payload, expected) in cases {
            let record =
                Record::new("t.dlt.ledger", 0, 0).with_payload(payload.as_bytes().to_vec());
            assert_eq!(resolution(&record), expected, "{payload}");
        }
    }
}
