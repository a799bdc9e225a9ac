//! Which record of a key may run: a key runs one record at a time, in offset order, and its
//! later records wait behind it, or behind a hold from outside (a record of the key in the retry
//! chain, a pending dead letter). Pure, with no I/O.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use crate::record::Record;

/// The key a record is ordered by: its key's bytes; records without a key are ordered among
/// themselves as one key (so a keyless topic in `Key` mode keeps the partition's order).
pub(crate) type OrderKey = Option<Bytes>;

/// Which keys have a record running, and the records waiting behind it, in offset order. A key
/// may also wait with nothing running: held by a record of it in the retry chain.
///
/// Every record of a `Key`-order partition goes in and out of `busy`: its hasher is foldhash, not
/// SipHash (SipHash and a second lookup per record were a sixth of a no-op handler's cost in `Key`
/// order; BENCHMARKS.md). Keys come from producers, so the seed is random per map; the map holds
/// at most the records the partition may run or keep waiting, so a crafted collision costs little.
#[derive(Debug, Default)]
pub(crate) struct KeyQueues {
    busy: HashMap<OrderKey, KeyState, foldhash::fast::RandomState>,
    /// Keys with records waiting and nothing running (held from outside).
    blocked: usize,
    /// Records waiting behind their key, all keys together.
    waiting: usize,
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
        match self.busy.entry(key) {
            Entry::Occupied(mut busy) => {
                busy.get_mut().waiting.push_back(record);
                self.waiting += 1;
                None
            }
            Entry::Vacant(free) if held => {
                self.blocked += 1;
                self.waiting += 1;
                free.insert(KeyState {
                    running: false,
                    waiting: VecDeque::from([record]),
                });
                None
            }
            Entry::Vacant(free) => {
                free.insert(KeyState {
                    running: true,
                    waiting: VecDeque::new(),
                });
                Some(record)
            }
        }
    }

    /// The running record of `key` finished: returns the next record of the key to run, if one
    /// waits and the key is not `held`; else frees the key, or leaves its records blocked.
    pub(crate) fn release(&mut self, key: &OrderKey, held: bool) -> Option<Record> {
        // Mostly nothing waits behind the key: one lookup frees it, and a key with records
        // waiting goes back in.
        let (key, mut state) = self.busy.remove_entry(key)?;
        if state.waiting.is_empty() {
            return None;
        }
        let next = match held {
            true => {
                self.blocked += 1;
                state.running = false;
                None
            }
            false => {
                self.waiting -= 1;
                state.waiting.pop_front()
            }
        };
        self.busy.insert(key, state);
        next
    }

    /// Records waiting behind their key (a running record of it, or a hold).
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
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
                self.waiting -= 1;
                ready.push(record);
            }
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(keys.waiting(), 1, "5 behind 4");
        assert_eq!(offset(keys.release(&None, false)), Some(5));
        assert_eq!(offset(keys.release(&None, false)), None);
        assert!(!keys.has_blocked());
        assert_eq!(keys.waiting(), 0);
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
        assert_eq!(keys.waiting(), 3, "1, 2 and 3");
        assert_eq!(
            offsets(keys.unblock(|k| *k == key("a"))),
            [2],
            "b is free, a is not"
        );
        assert_eq!(offsets(keys.unblock(|_| false)), [1]);
        assert!(!keys.has_blocked());
        assert_eq!(keys.release(&key("b"), false).map(|r| r.offset()), Some(3));
        assert_eq!(keys.waiting(), 0);
    }
}
