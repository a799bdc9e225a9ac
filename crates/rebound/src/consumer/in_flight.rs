//! The bookkeeping of a partition whose records run concurrently ([`ProcessingOrder::Key`] and
//! [`ProcessingOrder::Unordered`]), with no I/O: which offset may be stored while records finish
//! out of order ([`Window`]), and which records wait for an earlier record of their key
//! ([`KeyQueues`]).
//!
//! [`ProcessingOrder::Key`]: super::ProcessingOrder::Key
//! [`ProcessingOrder::Unordered`]: super::ProcessingOrder::Unordered

use std::collections::{BTreeSet, HashMap, VecDeque};

use bytes::Bytes;

use super::done_marks;
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

    /// The offset to commit next (the lowest record not finished) and the metadata marking the
    /// records finished above it (see [`done_marks`]); `None` when nothing above it is finished.
    pub(crate) fn marks(&self) -> Option<(i64, String)> {
        let lowest = *self.unfinished.first()?;
        let highest = self.highest?.min(lowest + done_marks::MAX_MARKED);
        let done = (lowest + 1..=highest).filter(|offset| !self.unfinished.contains(offset));
        done_marks::encode(lowest, done).map(|marks| (lowest, marks))
    }
}

/// The key a record is ordered by: its key's bytes; records without a key are ordered among
/// themselves as one key (so a keyless topic in `Key` mode keeps the partition's order).
pub(crate) type OrderKey = Option<Bytes>;

/// Which keys have a record running, and the records waiting behind it, in offset order. A key
/// may also wait with nothing running: held by a record of it in the retry chain.
#[derive(Debug, Default)]
pub(crate) struct KeyQueues {
    busy: HashMap<OrderKey, KeyState>,
    /// Keys with records waiting and nothing running (held from outside).
    blocked: usize,
}

#[derive(Debug, Default)]
struct KeyState {
    running: bool,
    waiting: VecDeque<Record>,
}

impl KeyQueues {
    /// `record` with key `key` is next in offset order: returns it if it may run now, or keeps it
    /// behind the running record of its key, or behind the hold on its key (`held`).
    pub(crate) fn admit(&mut self, key: OrderKey, record: Record, held: bool) -> Option<Record> {
        match self.busy.get_mut(&key) {
            Some(state) => {
                state.waiting.push_back(record);
                None
            }
            None if held => {
                self.blocked += 1;
                let waiting = VecDeque::from([record]);
                self.busy.insert(
                    key,
                    KeyState {
                        running: false,
                        waiting,
                    },
                );
                None
            }
            None => {
                self.busy.insert(
                    key,
                    KeyState {
                        running: true,
                        waiting: VecDeque::new(),
                    },
                );
                Some(record)
            }
        }
    }

    /// The running record of `key` finished: returns the next record of the key to run, if one
    /// waits and the key is not `held`; else frees the key, or leaves its records blocked.
    pub(crate) fn release(&mut self, key: &OrderKey, held: bool) -> Option<Record> {
        let state = self.busy.get_mut(key)?;
        state.running = false;
        if state.waiting.is_empty() {
            self.busy.remove(key);
            return None;
        }
        if held {
            self.blocked += 1;
            return None;
        }
        state.running = true;
        state.waiting.pop_front()
    }

    /// Whether some key has records waiting on a hold.
    pub(crate) fn has_blocked(&self) -> bool {
        self.blocked > 0
    }

    /// The first waiting record of every blocked key that `held` no longer holds.
    pub(crate) fn unblock(&mut self, held: impl Fn(&OrderKey) -> bool) -> Vec<Record> {
        let mut ready = Vec::new();
        for (key, state) in self.busy.iter_mut() {
            if state.running || held(key) {
                continue;
            }
            if let Some(record) = state.waiting.pop_front() {
                state.running = true;
                self.blocked -= 1;
                ready.push(record);
            }
        }
        ready
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

    fn record(offset: i64) -> Record {
        Record::new("t", 0, offset)
    }

    fn key(k: &str) -> OrderKey {
        Some(Bytes::copy_from_slice(k.as_bytes()))
    }

    #[test]
    fn a_key_runs_one_record_at_a_time_in_offset_order() {
        let mut keys = KeyQueues::default();
        let offset = |r: Option<Record>| r.map(|r| r.offset());
        assert!(keys.admit(key("a"), record(0), false).is_some());
        assert!(
            keys.admit(key("b"), record(1), false).is_some(),
            "other keys run"
        );
        assert!(keys.admit(key("a"), record(2), false).is_none(), "behind 0");
        assert!(keys.admit(key("a"), record(3), false).is_none(), "behind 2");
        assert!(
            keys.admit(None, record(4), false).is_some(),
            "keyless: one key"
        );
        assert!(keys.admit(None, record(5), false).is_none());
        assert_eq!(offset(keys.release(&key("a"), false)), Some(2));
        assert_eq!(offset(keys.release(&key("a"), false)), Some(3));
        assert_eq!(offset(keys.release(&key("a"), false)), None);
        assert!(
            keys.admit(key("a"), record(6), false).is_some(),
            "free again"
        );
        assert_eq!(offset(keys.release(&None, false)), Some(5));
        assert_eq!(offset(keys.release(&None, false)), None);
        assert!(!keys.has_blocked());
    }

    #[test]
    fn a_held_key_waits_until_its_hold_is_gone() {
        let mut keys = KeyQueues::default();
        let offsets = |records: Vec<Record>| records.iter().map(Record::offset).collect::<Vec<_>>();
        // A record of "a" went to a retry topic: its key is held when it finishes here.
        assert!(keys.admit(key("a"), record(0), false).is_some());
        assert!(keys.admit(key("a"), record(1), false).is_none());
        assert!(keys.release(&key("a"), true).is_none(), "held: 1 stays");
        assert!(keys.has_blocked());
        // A new record of a held key waits even with nothing running.
        assert!(keys.admit(key("b"), record(2), true).is_none());
        assert!(keys.admit(key("b"), record(3), false).is_none(), "behind 2");
        assert!(
            keys.admit(key("c"), record(4), false).is_some(),
            "other keys flow"
        );
        assert_eq!(
            offsets(keys.unblock(|k| *k == key("a"))),
            [2],
            "b is free, a is not"
        );
        assert_eq!(offsets(keys.unblock(|_| false)), [1]);
        assert!(!keys.has_blocked());
        assert_eq!(keys.release(&key("b"), false).map(|r| r.offset()), Some(3));
    }
}
