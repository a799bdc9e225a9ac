//! The bookkeeping of a partition whose records run concurrently ([`ProcessingOrder::Key`] and
//! [`ProcessingOrder::Unordered`]), with no I/O: which offset may be stored while records finish
//! out of order ([`Window`]), and which records wait for an earlier record of their key
//! ([`KeyQueues`]).
//!
//! [`ProcessingOrder::Key`]: super::ProcessingOrder::Key
//! [`ProcessingOrder::Unordered`]: super::ProcessingOrder::Unordered

use std::collections::{BTreeSet, HashMap, VecDeque};

use bytes::Bytes;

use crate::record::Record;

/// The offsets taken from a partition and not finished yet. The offset that may be stored is
/// the one before the lowest unfinished record: what finished above it is handled again after a
/// crash (at most the records in flight, which `max_in_flight` bounds).
#[derive(Debug, Default)]
pub(crate) struct Window {
    unfinished: BTreeSet<i64>,
    /// The highest offset taken so far.
    highest: Option<i64>,
    /// The last offset returned as storable (before anything finished: the one before the first
    /// record taken).
    stored: Option<i64>,
}

impl Window {
    /// A record was taken from the partition (in offset order).
    pub(crate) fn take(&mut self, offset: i64) {
        // Nothing before the first record taken is ours to store.
        self.stored.get_or_insert(offset - 1);
        self.unfinished.insert(offset);
        self.highest = Some(self.highest.map_or(offset, |h| h.max(offset)));
    }

    /// A record finished. Returns the offset to store, when it moved past what was stored (or,
    /// before anything was, past the offset before the first record taken).
    pub(crate) fn finish(&mut self, offset: i64) -> Option<i64> {
        self.unfinished.remove(&offset);
        let storable = match self.unfinished.first() {
            Some(lowest) => lowest - 1,
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
        self.unfinished.len()
    }
}

/// The key a record is ordered by: its key's bytes; records without a key are ordered among
/// themselves as one key (so a keyless topic in `Key` mode keeps the partition's order).
pub(crate) type OrderKey = Option<Bytes>;

/// Which keys have a record running, and the records waiting behind it, in offset order.
#[derive(Debug, Default)]
pub(crate) struct KeyQueues {
    /// A key is here while a record of it runs (or is held); its queue holds the ones waiting.
    busy: HashMap<OrderKey, VecDeque<Record>>,
}

impl KeyQueues {
    /// `record` with key `key` is next in offset order: returns it if it may run now, or keeps it
    /// behind the running record of its key.
    pub(crate) fn admit(&mut self, key: OrderKey, record: Record) -> Option<Record> {
        match self.busy.get_mut(&key) {
            Some(queue) => {
                queue.push_back(record);
                None
            }
            None => {
                self.busy.insert(key, VecDeque::new());
                Some(record)
            }
        }
    }

    /// The running record of `key` finished: returns the next record of the key to run, if any
    /// waits (the key stays busy with it), else frees the key.
    pub(crate) fn release(&mut self, key: &OrderKey) -> Option<Record> {
        let queue = self.busy.get_mut(key)?;
        match queue.pop_front() {
            Some(next) => Some(next),
            None => {
                self.busy.remove(key);
                None
            }
        }
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

    fn record(offset: i64) -> Record {
        Record::new("t", 0, offset)
    }

    fn key(k: &str) -> OrderKey {
        Some(Bytes::copy_from_slice(k.as_bytes()))
    }

    #[test]
    fn a_key_runs_one_record_at_a_time_in_offset_order() {
        let mut keys = KeyQueues::default();
        assert!(keys.admit(key("a"), record(0)).is_some());
        assert!(keys.admit(key("b"), record(1)).is_some(), "other keys run");
        assert!(keys.admit(key("a"), record(2)).is_none(), "behind 0");
        assert!(keys.admit(key("a"), record(3)).is_none(), "behind 2");
        assert!(
            keys.admit(None, record(4)).is_some(),
            "keyless records are one key"
        );
        assert!(keys.admit(None, record(5)).is_none());
        assert_eq!(keys.release(&key("a")).map(|r| r.offset()), Some(2));
        assert_eq!(keys.release(&key("a")).map(|r| r.offset()), Some(3));
        assert_eq!(keys.release(&key("a")).map(|r| r.offset()), None);
        assert!(keys.admit(key("a"), record(6)).is_some(), "free again");
        assert_eq!(keys.release(&None).map(|r| r.offset()), Some(5));
        assert_eq!(keys.release(&None).map(|r| r.offset()), None);
    }
}
