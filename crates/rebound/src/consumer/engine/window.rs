//! A partition's offset window, with no I/O: records are taken in offset order and may finish
//! in any order (a record whose copy is on its way, records of other keys, records at once);
//! the offset that may be stored is the one before the lowest unfinished record, and the records
//! finished above it are marked in the commit's metadata (see [`done_marks`]).

use std::collections::VecDeque;

use super::done_marks;

/// The offsets taken from a partition and not finished yet, in every processing order. The
/// offset that may be stored is the one before the lowest unfinished record: what finished above
/// it is marked in the commit's metadata, and handled again after a crash only if the marks are
/// lost (at most the records in flight).
///
/// Records are taken in offset order, so the window is a queue: finishing looks the record up
/// by binary search and the front drains as it finishes, with no allocation per record once the
/// queue has grown to the partition's records in flight.
#[derive(Debug, Default)]
pub(crate) struct Window {
    /// Taken records in offset order, from the lowest unfinished one on: offset and finished.
    taken: VecDeque<(i64, bool)>,
    /// How many of `taken` are unfinished.
    unfinished: usize,
    /// The highest offset taken so far.
    highest: Option<i64>,
    /// The last offset returned as storable (before anything finished: the one before the first
    /// record taken).
    stored: Option<i64>,
}

impl Window {
    /// A record was taken from the partition (in offset order). `false` for an offset at or
    /// below one taken before: a redelivery, which must not run twice.
    pub(crate) fn take(&mut self, offset: i64) -> bool {
        if self.highest.is_some_and(|highest| offset <= highest) {
            return false;
        }
        // Nothing before the first record taken is ours to store.
        self.stored.get_or_insert(offset - 1);
        self.taken.push_back((offset, false));
        self.unfinished += 1;
        self.highest = Some(offset);
        true
    }

    /// A record finished. Returns the offset to store, when it moved past what was stored (or,
    /// before anything was, past the offset before the first record taken).
    pub(crate) fn finish(&mut self, offset: i64) -> Option<i64> {
        let index = self.taken.binary_search_by_key(&offset, |(o, _)| *o).ok()?;
        let (_, finished) = &mut self.taken[index];
        if std::mem::replace(finished, true) {
            return None;
        }
        self.unfinished -= 1;
        while self.taken.front().is_some_and(|(_, finished)| *finished) {
            self.taken.pop_front();
        }
        let storable = match self.taken.front() {
            Some((lowest, _)) => lowest - 1,
            None => self.highest?,
        };
        if storable <= self.stored? {
            return None;
        }
        self.stored = Some(storable);
        Some(storable)
    }

    /// Records taken and not finished.
    pub(crate) fn len(&self) -> usize {
        self.unfinished
    }

    /// The offset to commit next (the lowest record not finished) and the metadata marking the
    /// records finished above it (see [`done_marks`]); `None` when nothing above it is finished.
    pub(crate) fn marks(&self) -> Option<(i64, String)> {
        let (lowest, _) = *self.taken.front()?;
        let last = lowest + done_marks::MAX_MARKED;
        let done = self
            .taken
            .iter()
            .take_while(|(offset, _)| *offset <= last)
            .filter(|(_, finished)| *finished)
            .map(|(offset, _)| *offset);
        done_marks::encode(lowest, done).map(|marks| (lowest, marks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_offset_waits_for_the_lowest_unfinished_record() {
        let mut window = Window::default();
        for offset in 10..15 {
            window.take(offset);
        }
        // (finished, expected offset to store)
        let steps = [
            (12, None),
            (11, None),
            (10, Some(12)),
            (14, None),
            (13, Some(14)),
        ];
        for (finished, expected) in steps {
            assert_eq!(window.finish(finished), expected, "after {finished}");
        }
        assert_eq!(window.len(), 0);
        window.take(15);
        assert_eq!(window.finish(15), Some(15));
    }

    #[test]
    fn a_window_never_moves_backwards() {
        let mut window = Window::default();
        window.take(0);
        assert_eq!(window.finish(0), Some(0));
        window.take(1);
        window.take(2);
        assert_eq!(window.finish(2), None, "1 is still running");
        assert_eq!(window.finish(1), Some(2));
    }

    #[test]
    fn marks_name_the_records_finished_above_the_lowest_unfinished() {
        let mut window = Window::default();
        assert_eq!(window.marks(), None);
        for offset in 10..15 {
            window.take(offset);
        }
        assert_eq!(window.marks(), None, "nothing finished");
        window.finish(11);
        window.finish(13);
        let (next, marks) = window.marks().unwrap();
        assert_eq!(next, 10);
        assert_eq!(
            done_marks::decode(&marks, 10),
            std::collections::HashSet::from([11, 13])
        );
        window.finish(10);
        window.finish(12);
        window.finish(14);
        assert_eq!(window.marks(), None, "all finished: the offset says it all");
    }
}

/// The same rule where a record's copy is on its way while the next records are handled (the
/// offset never passes a copy that is not acknowledged yet), in the words of a partition handled
/// one record at a time: `copying` is taken and not finished, `ack` finishes it.
#[cfg(test)]
mod around_copies {
    use super::Window;

    #[test]
    fn offsets_are_stored_in_order_around_copies_in_flight() {
        let mut window = Window::default();
        window.take(0);
        assert_eq!(
            window.finish(0),
            Some(0),
            "nothing in flight: stored at once"
        );
        window.take(1); // its copy is on its way
        window.take(2);
        assert_eq!(window.finish(2), None, "behind the copy of 1");
        window.take(3);
        assert_eq!(window.finish(3), None);
        window.take(4); // its copy is on its way
        window.take(5);
        assert_eq!(window.finish(5), None);
        assert_eq!(
            window.finish(1),
            Some(3),
            "up to the copy of 4, still in flight"
        );
        assert_eq!(window.finish(4), Some(5), "everything processed");
        window.take(6);
        assert_eq!(window.finish(6), Some(6));
    }

    #[test]
    fn an_acknowledged_copy_with_nothing_after_it_stores_its_own_offset() {
        let mut window = Window::default();
        window.take(7);
        assert_eq!(window.finish(7), Some(7));
    }

    #[test]
    fn consecutive_copies_free_their_offsets_one_by_one() {
        let mut window = Window::default();
        for offset in 10..13 {
            window.take(offset);
        }
        assert_eq!(window.finish(10), Some(10));
        assert_eq!(window.finish(11), Some(11));
        assert_eq!(window.finish(12), Some(12));
    }

    #[test]
    fn a_redelivered_offset_is_not_taken_twice() {
        let mut window = Window::default();
        assert!(window.take(3));
        assert!(!window.take(3), "the same record again");
        assert!(!window.take(2), "an older one");
        assert_eq!(window.len(), 1);
        assert_eq!(window.finish(2), None, "never taken: nothing to finish");
        assert_eq!(window.finish(3), Some(3));
        assert_eq!(window.finish(3), None, "finished once");
    }
}
