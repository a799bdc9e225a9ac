//! A read that reached the end of a topic, kept to read on from there: a redrive reads the
//! ledger, writes its claims, then reads only what came after, with the consumer of its first
//! read (no client start, metadata or watermarks again: a read from the start with a new client
//! was a fifth of a 40,000 run's time, BENCHMARKS.md 5c).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use rebound::Record;

use crate::error::Error;

use super::blocking::TIMEOUT;
use super::{close_later, unblock};

/// Where a [`scan`](super::scan) of a topic ended, with its consumer: see
/// [`Scan::resume`](super::Scan::resume).
pub(crate) struct Resume {
    /// Taken only by [`Drop`], which closes it off the caller's path.
    consumer: Option<BaseConsumer>,
    topic: String,
    /// Each partition's next offset to read (its high watermark when the scan started); a
    /// partition not named (the topic did not exist then) is read from its beginning.
    next: HashMap<i32, i64>,
}

impl std::fmt::Debug for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resume")
            .field("topic", &self.topic)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Resume {
    /// Keeps `consumer`, which read `topic` up to `next`, unassigned meanwhile: it does not ask
    /// the broker for more every few milliseconds while the caller does something else.
    pub(super) fn new(consumer: BaseConsumer, topic: String, next: HashMap<i32, i64>) -> Resume {
        if let Err(e) = consumer.unassign() {
            tracing::debug!(error = %e, "could not unassign a finished scan of {topic}");
        }
        Resume {
            consumer: Some(consumer),
            topic,
            next,
        }
    }

    fn consumer(&self) -> &BaseConsumer {
        self.consumer
            .as_ref()
            .expect("only Drop takes the consumer")
    }

    /// The records of `partition` from where the scan ended up to `until` (exclusive), in
    /// offset order: every record written there before `until`, whoever wrote it. The caller
    /// knows `until` exists (its own acknowledged record is at `until - 1`), so this waits for
    /// it (up to ten seconds without progress).
    pub(crate) async fn read_to(self, partition: i32, until: i64) -> Result<Vec<Record>, Error> {
        unblock(move || self.read_to_blocking(partition, until)).await
    }

    fn read_to_blocking(&self, partition: i32, until: i64) -> Result<Vec<Record>, Error> {
        let from = self.next.get(&partition).copied();
        if from.is_some_and(|from| from >= until) {
            return Ok(Vec::new());
        }
        if from.is_none() {
            // A topic created since the scan (a DLT's first redrive creates its ledger): ask for
            // its metadata now. Assigned unknown, the partition would wait for librdkafka's
            // periodic topic scan (once a second) to find its leader: 0.5 s on average.
            super::blocking::partitions_with(self.consumer(), &self.topic)?;
        }
        let mut list = TopicPartitionList::new();
        let start = from.map_or(Offset::Beginning, Offset::Offset);
        list.add_partition_offset(&self.topic, partition, start)?;
        self.consumer().assign(&list)?;
        let mut records = Vec::new();
        // Offsets below `next` were read already: a message fetched before the assignment
        // changed may still be queued, and it is not read twice.
        let mut next = from.unwrap_or(0);
        let mut last_progress = Instant::now();
        while next < until {
            match self.consumer().poll(Duration::from_millis(200)) {
                Some(Ok(m)) if m.partition() == partition && m.offset() >= next => {
                    last_progress = Instant::now();
                    next = m.offset() + 1;
                    if m.offset() < until {
                        records.push(Record::from_message(&m));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None if last_progress.elapsed() > TIMEOUT => {
                    return Err(Error::Incomplete {
                        topic: self.topic.clone(),
                        partitions: vec![partition],
                    })
                }
                None => {}
            }
        }
        Ok(records)
    }
}

impl Drop for Resume {
    /// A resumed read, or one never resumed (a dry run, an error): the consumer is closed on the
    /// blocking pool, not on the thread that drops it (perhaps a runtime's worker).
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            close_later(consumer);
        }
    }
}
