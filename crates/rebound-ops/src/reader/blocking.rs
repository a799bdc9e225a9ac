//! The blocking primitives of [`reader`](super): each call waits on librdkafka (metadata
//! requests, polls) on the calling thread. Operations call them through the async functions of
//! [`reader`](super), on Tokio's blocking pool; they are public for callers that are threads of
//! their own (a test's synchronous helper, a follower thread).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use rebound::{EpochMillis, KafkaConfig, Record};

use crate::error::Error;

pub(super) const TIMEOUT: Duration = Duration::from_secs(10);

/// A consumer that reads by assignment: no group, nothing committed.
pub(crate) fn assigning_consumer(kafka: &KafkaConfig) -> Result<BaseConsumer, Error> {
    Ok(kafka
        .client_config(&[
            ("group.id", "rebound-operator"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
            // Reading to the end: do not let the broker hold a fetch for more data.
            ("fetch.wait.max.ms", "10"),
        ])
        .create()?)
}

/// Partition count of `topic`, `None` when it does not exist. Blocks.
pub fn partitions(kafka: &KafkaConfig, topic: &str) -> Result<Option<i32>, Error> {
    let consumer = assigning_consumer(kafka)?;
    partitions_with(&consumer, topic)
}

pub(crate) fn partitions_with(consumer: &BaseConsumer, topic: &str) -> Result<Option<i32>, Error> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    Ok(metadata
        .topics()
        .first()
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as i32))
}

/// `(partition, low, high)`: the watermarks of every partition of `topic` (empty when it does
/// not exist). Blocks.
pub fn watermarks(kafka: &KafkaConfig, topic: &str) -> Result<Vec<(i32, i64, i64)>, Error> {
    let consumer = assigning_consumer(kafka)?;
    let Some(count) = partitions_with(&consumer, topic)? else {
        return Ok(Vec::new());
    };
    (0..count)
        .map(|p| {
            let (low, high) = watermarks_of(&consumer, topic, p)?;
            Ok((p, low, high))
        })
        .collect()
}

/// The low and high watermarks of one partition. A partition between leaders (a topic just
/// created, a broker that died) answers `NotLeaderForPartition` or `LeaderNotAvailable` for a
/// moment; those are asked again until [`TIMEOUT`], other errors return at once.
pub(crate) fn watermarks_of(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), Error> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match consumer.fetch_watermarks(topic, partition, TIMEOUT) {
            Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::NotLeaderForPartition | RDKafkaErrorCode::LeaderNotAvailable,
            )) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => return Ok(other?),
        }
    }
}

/// One partition's offsets at a series of instants ([`offsets_at_times`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetsAtTimes {
    /// The partition.
    pub partition: i32,
    /// For each instant asked for, the offset of the partition's first record with a timestamp
    /// at or after it; `None` when it has none (Kafka's answer -1: the instant is after its last
    /// record).
    pub at: Vec<Option<i64>>,
    /// The low watermark (the log start), asked for after the instants.
    pub low: i64,
    /// The high watermark (the next offset to be written), asked for after the instants.
    pub high: i64,
}

/// For each partition of `topic`: the offset of its first record at or after each of `times`,
/// then its watermarks. One ListOffsets call per instant covers every partition (librdkafka sends
/// one request per partition leader), and two more the watermarks: no record is read. Records
/// written while asking may make the answers disagree by a few offsets; the caller evens them
/// out ([`crate::inflow`] does). [`Error::NoSuchTopic`] when `topic` does not exist. Blocks.
pub fn offsets_at_times(
    kafka: &KafkaConfig,
    topic: &str,
    times: &[EpochMillis],
) -> Result<Vec<OffsetsAtTimes>, Error> {
    // ListOffsets' own special timestamps: the log start and the high watermark.
    const EARLIEST: i64 = -2;
    const LATEST: i64 = -1;
    let consumer = assigning_consumer(kafka)?;
    let count =
        partitions_with(&consumer, topic)?.ok_or_else(|| Error::NoSuchTopic(topic.to_string()))?;
    let mut answers: Vec<OffsetsAtTimes> = (0..count)
        .map(|partition| OffsetsAtTimes {
            partition,
            at: Vec::with_capacity(times.len()),
            low: 0,
            high: 0,
        })
        .collect();
    for time in times {
        let offsets = offsets_for_time(&consumer, topic, count, time.as_i64())?;
        for (answer, offset) in answers.iter_mut().zip(offsets) {
            answer.at.push(offset);
        }
    }
    let lows = offsets_for_time(&consumer, topic, count, EARLIEST)?;
    let highs = offsets_for_time(&consumer, topic, count, LATEST)?;
    for ((answer, low), high) in answers.iter_mut().zip(lows).zip(highs) {
        answer.low = low.unwrap_or(0);
        answer.high = high.unwrap_or(answer.low);
    }
    Ok(answers)
}

/// Every partition's offset at `timestamp` (or a special one, [`offsets_at_times`]), in partition
/// order, in one call. A partition between leaders is asked again until [`TIMEOUT`], as in
/// [`watermarks_of`].
fn offsets_for_time(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
    timestamp: i64,
) -> Result<Vec<Option<i64>>, Error> {
    let mut asked = TopicPartitionList::new();
    for p in 0..partitions {
        asked.add_partition_offset(topic, p, Offset::from_raw(timestamp))?;
    }
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let answer = consumer
            .offsets_for_times(asked.clone(), TIMEOUT)
            .and_then(|answered| {
                let mut offsets = vec![None; partitions as usize];
                for element in answered.elements_for_topic(topic) {
                    element.error()?;
                    if let (Some(slot), Offset::Offset(offset)) = (
                        offsets.get_mut(element.partition() as usize),
                        element.offset(),
                    ) {
                        *slot = Some(offset);
                    }
                }
                Ok(offsets)
            });
        match answer {
            Err(KafkaError::OffsetFetch(
                RDKafkaErrorCode::NotLeaderForPartition | RDKafkaErrorCode::LeaderNotAvailable,
            )) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => return Ok(other?),
        }
    }
}

/// Calls `on_record` with every record in `topic` now, in offset order within each partition
/// (partitions interleave as the broker answers), until the end or until it answers
/// [`ControlFlow::Break`]. Records written while reading are left for the next read. Nothing is
/// kept here: what to keep is the caller's choice. Blocks.
pub fn scan(
    kafka: &KafkaConfig,
    topic: &str,
    on_record: impl FnMut(Record) -> ControlFlow<()>,
) -> Result<(), Error> {
    let consumer = assigning_consumer(kafka)?;
    scan_with(&consumer, topic, on_record).map(|_| ())
}

/// [`scan`] with a consumer of the caller's, which it can keep to read on ([`super::Resume`]).
/// Returns where the read ended, each partition's high watermark as the read started (the next
/// offset to read there; none when the topic does not exist), or `None` when `on_record` broke.
pub(crate) fn scan_with(
    consumer: &BaseConsumer,
    topic: &str,
    mut on_record: impl FnMut(Record) -> ControlFlow<()>,
) -> Result<Option<HashMap<i32, i64>>, Error> {
    let Some(count) = partitions_with(consumer, topic)? else {
        return Ok(Some(HashMap::new()));
    };
    // Where "now" ends in each partition; those with records are read.
    let mut highs = HashMap::new();
    let mut ends = HashMap::new();
    let mut list = TopicPartitionList::new();
    for p in 0..count {
        let (low, high) = watermarks_of(consumer, topic, p)?;
        highs.insert(p, high);
        if high > low {
            ends.insert(p, high);
            list.add_partition_offset(topic, p, Offset::Offset(low))?;
        }
    }
    if ends.is_empty() {
        return Ok(Some(highs));
    }
    consumer.assign(&list)?;
    let mut last_progress = Instant::now();
    while !ends.is_empty() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                let end = ends.get(&m.partition()).copied();
                if end.is_some_and(|end| m.offset() + 1 >= end) {
                    ends.remove(&m.partition());
                }
                if end.is_some_and(|end| m.offset() < end)
                    && on_record(Record::from_message(&m)).is_break()
                {
                    return Ok(None);
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None if last_progress.elapsed() > TIMEOUT => {
                return Err(Error::Incomplete {
                    topic: topic.to_string(),
                    partitions: ends.keys().copied().collect(),
                })
            }
            None => {}
        }
    }
    Ok(Some(highs))
}

/// The record at `offset` of `partition` in `topic`; `None` when there is none there (the topic
/// or partition does not exist, the offset is outside the watermarks, or it was removed by
/// retention, compaction or a transaction marker). Reads that one record, not the topic. Blocks.
pub fn read_at(
    kafka: &KafkaConfig,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Option<Record>, Error> {
    let consumer = assigning_consumer(kafka)?;
    let Some(count) = partitions_with(&consumer, topic)? else {
        return Ok(None);
    };
    if !(0..count).contains(&partition) {
        return Ok(None);
    }
    let (low, high) = watermarks_of(&consumer, topic, partition)?;
    if offset < low || offset >= high {
        return Ok(None);
    }
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    consumer.assign(&list)?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            // The first record at or after `offset`: a later one means `offset` is gone.
            Some(Ok(m)) => return Ok((m.offset() == offset).then(|| Record::from_message(&m))),
            Some(Err(e)) => return Err(e.into()),
            None if Instant::now() > deadline => {
                return Err(Error::Incomplete {
                    topic: topic.to_string(),
                    partitions: vec![partition],
                })
            }
            None => {}
        }
    }
}

/// Follows `topic` live, calling `on_record` for each new record until `stop` is set. Starts at
/// the end, or at the beginning with `from_beginning`. Blocking: run it on its own thread.
pub fn follow(
    kafka: &KafkaConfig,
    topic: &str,
    from_beginning: bool,
    stop: &std::sync::atomic::AtomicBool,
    on_record: impl FnMut(Record),
) -> Result<(), Error> {
    let start = if from_beginning {
        Offset::Beginning
    } else {
        Offset::End
    };
    follow_from(kafka, topic, &|_| start, stop, on_record)
}

/// [`follow`], starting each partition where `start` says: a caller that took the watermarks
/// before acting (a redrive watching for its own records coming back) misses nothing written
/// between its look and the assignment, as [`Offset::End`] would.
pub(crate) fn follow_from(
    kafka: &KafkaConfig,
    topic: &str,
    start: &dyn Fn(i32) -> Offset,
    stop: &std::sync::atomic::AtomicBool,
    mut on_record: impl FnMut(Record),
) -> Result<(), Error> {
    let consumer = assigning_consumer(kafka)?;
    let count =
        partitions_with(&consumer, topic)?.ok_or_else(|| Error::NoSuchTopic(topic.to_string()))?;
    let mut list = TopicPartitionList::new();
    for p in 0..count {
        list.add_partition_offset(topic, p, start(p))?;
    }
    consumer.assign(&list)?;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => on_record(Record::from_message(&m)),
            Some(Err(e)) => tracing::warn!(error = %e, "while following {topic}"),
            None => {}
        }
    }
    Ok(())
}
