//! Storing a partition's progress: the offset before the lowest unfinished record, handed to
//! librdkafka (which commits it) with the marks of the records finished above it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::consumer::context::Context;
use crate::consumer::registry::Tp;

/// The offset a partition may store, handed to librdkafka once per batch rather than once per
/// record (each store looks the topic up in librdkafka), and always before the task ends: it
/// flushes when dropped. librdkafka commits `offset + 1`, the next record to read, with its next
/// auto-commit (every 500 ms), on revocation and at shutdown.
///
/// The commit also carries which records above it are done ([`done_marks`](super::done_marks)).
pub(crate) struct OffsetStore {
    context: Arc<Context>,
    tp: Tp,
    pending: Option<i64>,
    last_flush: Instant,
    /// The last offset handed to librdkafka.
    stored: Option<i64>,
    /// The latest marks: the next offset they belong to, and their text.
    marks: Option<(i64, String)>,
    marks_changed: bool,
    last_marks: Instant,
}

/// How often the marks are worked out and, while the offset stands still, committed.
const MARK_EVERY: Duration = Duration::from_secs(1);

impl OffsetStore {
    pub(crate) fn new(context: Arc<Context>, tp: Tp) -> Self {
        OffsetStore {
            context,
            tp,
            pending: None,
            last_flush: Instant::now(),
            stored: None,
            marks: None,
            marks_changed: false,
            last_marks: Instant::now(),
        }
    }

    /// Flushes when the last flush is older than `age`.
    pub(crate) fn flush_if_older_than(&mut self, age: Duration) {
        if self.pending.is_some() && self.last_flush.elapsed() >= age {
            self.flush();
        }
    }

    /// Everything up to `offset` is done.
    pub(crate) fn set(&mut self, offset: i64) {
        self.pending = Some(offset);
    }

    /// Whether it is time to work the marks out again (they cost a walk over the window).
    pub(crate) fn marks_due(&self) -> bool {
        self.last_marks.elapsed() >= MARK_EVERY
    }

    /// The records finished above the offset, as [`Window::marks`](super::in_flight::Window::marks)
    /// says; flushed with the offset, or on their own when the offset stands still.
    pub(crate) fn set_marks(&mut self, marks: Option<(i64, String)>) {
        self.last_marks = Instant::now();
        if marks != self.marks {
            self.marks_changed = marks.is_some() || self.marks.is_some();
            self.marks = marks;
        }
    }

    /// Hands the latest done offset, and the marks that go with it, to librdkafka.
    pub(crate) fn flush(&mut self) {
        let pending = self.pending.take();
        let marks_changed = std::mem::take(&mut self.marks_changed);
        // Marks on their own are stored with the offset they belong to: the one before the
        // lowest record not finished, which may not have been stored yet (the first record
        // taken is the stuck one).
        let marked = self.marks.as_ref().map(|(next, _)| next - 1);
        let Some(offset) = pending.or(marked.or(self.stored).filter(|_| marks_changed)) else {
            return;
        };
        self.last_flush = Instant::now();
        self.stored = Some(offset);
        let tp = &self.tp;
        let consumer = &self.context.consumer;
        let marks = self
            .marks
            .as_ref()
            .filter(|(next, _)| *next == offset + 1)
            .map(|(_, marks)| marks.as_str());
        let stored = match marks {
            None if pending.is_none() => return,
            None => consumer.store_offset(&tp.topic, tp.partition, offset),
            Some(marks) => {
                let mut list = TopicPartitionList::new();
                list.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(offset + 1))
                    .and_then(|()| {
                        if let Some(mut element) = list.find_partition(&tp.topic, tp.partition) {
                            element.set_metadata(marks);
                        }
                        consumer.store_offsets(&list)
                    })
                    .and_then(|()| match pending {
                        Some(_) => Ok(()),
                        // librdkafka's auto-commit skips a partition whose offset did not move,
                        // metadata or not: while one slow record holds the offset, commit the
                        // marks ourselves so a crash redoes little.
                        None => consumer.commit(&list, CommitMode::Async),
                    })
            }
        };
        if let Err(e) = stored {
            // The partition was revoked meanwhile: its new owner handles the record again.
            tracing::debug!(%tp, offset, error = %e, "could not store offset");
        }
    }
}

impl Drop for OffsetStore {
    fn drop(&mut self) {
        self.flush();
    }
}
