//! A partition's progress: which offset may be stored while copies of failed records are still
//! on their way, and the consumer-wide budget of such copies.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::stream::{FuturesOrdered, StreamExt};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::registry::Tp;
use super::runtime::Shared;

/// A copy on its way: yields once it is acknowledged (`true`), or `false` if stopped before.
pub(crate) type Copy = Pin<Box<dyn Future<Output = bool> + Send>>;

/// The records of one partition that are done in order, and the copies still in flight.
///
/// The partition goes on with the next records while copies of failed ones wait for their
/// acknowledgement (a round trip of the broker's `acks=all`), so failures do not serialise the
/// partition on the broker's latency. Offsets are still stored in order: never past a copy that
/// is not acknowledged yet. How many copies may be in flight is bounded per consumer and per
/// partition ([`Settings::copies_per_partition`](super::builder::Settings::copies_per_partition)).
#[derive(Default)]
pub(crate) struct Progress {
    /// Copies in flight, oldest first, with their source offsets in the same order.
    pub copies: FuturesOrdered<Copy>,
    copy_offsets: VecDeque<i64>,
    /// The last record processed (handled, or its copy sent off).
    last_processed: Option<i64>,
}

impl Progress {
    /// A record done in place. Returns the offset to store, if nothing before it is in flight.
    pub(crate) fn done(&mut self, offset: i64) -> Option<i64> {
        self.last_processed = Some(offset);
        self.copy_offsets.is_empty().then_some(offset)
    }

    /// A record whose copy is on its way.
    pub(crate) fn copying(&mut self, offset: i64, copy: Copy) {
        self.last_processed = Some(offset);
        self.copy_offsets.push_back(offset);
        self.copies.push_back(copy);
    }

    /// The oldest copy was acknowledged: everything before the next copy in flight is done.
    pub(crate) fn acknowledged(&mut self) -> Option<i64> {
        self.copy_offsets.pop_front();
        match self.copy_offsets.front() {
            Some(next) => Some(next - 1),
            None => self.last_processed,
        }
    }
}

/// What waiting for room in the consumer's copy budget led to.
pub(crate) enum Room {
    Granted(tokio::sync::OwnedSemaphorePermit),
    /// Stopping: the copy was not sent, so the record is not done (nor anything after it).
    Stopped,
    /// Aborted, or one of the partition's own copies was stopped: the task ends.
    End,
}

/// Waits for a permit of the consumer's copy budget. Meanwhile this partition's own copies are
/// settled as they are acknowledged, which frees their permits: a partition never waits on
/// permits that only it could give back.
pub(crate) async fn room_for_copy(
    shared: &Shared,
    tp: &Tp,
    offsets: &mut OffsetStore<'_>,
    progress: &mut Progress,
    stop: &CancellationToken,
    abort: &CancellationToken,
) -> Room {
    if let Ok(permit) = shared.copy_permits.clone().try_acquire_owned() {
        return Room::Granted(permit);
    }
    tracing::debug!(%tp, "waiting for room in the consumer's budget of copies in flight");
    // One request for the whole wait, so that it keeps its place in the semaphore's queue.
    let permit = shared.copy_permits.clone().acquire_owned();
    tokio::pin!(permit);
    loop {
        tokio::select! {
            biased;
            _ = abort.cancelled() => return Room::End,
            Some(acknowledged) = progress.copies.next(), if !progress.copies.is_empty() => {
                if !settle_copy(offsets, progress, acknowledged) {
                    return Room::End;
                }
                offsets.flush();
            }
            _ = stop.cancelled() => return Room::Stopped,
            permit = &mut permit => {
                // The semaphore is never closed.
                return permit.map_or(Room::End, Room::Granted);
            }
        }
    }
}

/// The oldest copy in flight finished: marks what it frees as done. `false` if it was stopped
/// before its acknowledgement, in which case nothing from it on may be stored and the task ends.
pub(crate) fn settle_copy(
    offsets: &mut OffsetStore<'_>,
    progress: &mut Progress,
    acknowledged: bool,
) -> bool {
    if !acknowledged {
        return false;
    }
    if let Some(offset) = progress.acknowledged() {
        offsets.set(offset);
    }
    true
}

/// The offset a partition may store, handed to librdkafka once per batch rather than once per
/// record (each store looks the topic up in librdkafka), and always before the task ends: it
/// flushes when dropped. librdkafka commits `offset + 1`, the next record to read, with its next
/// auto-commit (every 500 ms), on revocation and at shutdown.
///
/// In `Key` and `Unordered` order the commit also carries which records above it are done
/// ([`done_marks`](super::done_marks)).
pub(crate) struct OffsetStore<'a> {
    shared: &'a Shared,
    tp: &'a Tp,
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

impl<'a> OffsetStore<'a> {
    pub(crate) fn new(shared: &'a Shared, tp: &'a Tp) -> Self {
        OffsetStore {
            shared,
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
        let tp = self.tp;
        let consumer = &self.shared.consumer;
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

impl Drop for OffsetStore<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy() -> Copy {
        Box::pin(async { true })
    }

    #[test]
    fn offsets_are_stored_in_order_around_copies_in_flight() {
        let mut progress = Progress::default();
        assert_eq!(
            progress.done(0),
            Some(0),
            "nothing in flight: stored at once"
        );
        progress.copying(1, copy());
        assert_eq!(progress.done(2), None, "behind the copy of 1");
        assert_eq!(progress.done(3), None);
        progress.copying(4, copy());
        assert_eq!(progress.done(5), None);
        assert_eq!(
            progress.acknowledged(),
            Some(3),
            "up to the copy of 4, still in flight"
        );
        assert_eq!(progress.acknowledged(), Some(5), "everything processed");
        assert_eq!(progress.done(6), Some(6));
    }

    #[test]
    fn an_acknowledged_copy_with_nothing_after_it_stores_its_own_offset() {
        let mut progress = Progress::default();
        progress.copying(7, copy());
        assert_eq!(progress.acknowledged(), Some(7));
    }

    #[test]
    fn consecutive_copies_free_their_offsets_one_by_one() {
        let mut progress = Progress::default();
        progress.copying(10, copy());
        progress.copying(11, copy());
        progress.copying(12, copy());
        assert_eq!(progress.acknowledged(), Some(10));
        assert_eq!(progress.acknowledged(), Some(11));
        assert_eq!(progress.acknowledged(), Some(12));
    }
}
