//! Key order through the retry chain, in [`ProcessingOrder::Key`]: a key whose record is in a
//! retry topic holds its later records on the main topic until that record is handled or
//! dead-lettered, while every other key flows.
//!
//! The count of a key's records in the chain, per partition number (a record keeps its partition
//! number on each hop, and the consumer holds partition *p* of every chain topic, which
//! [`check_key_order`](super::check::check_key_order) makes sure of):
//!
//! - a copy to a retry topic acknowledged: +1, and the copy is remembered as expected;
//! - a retry record taken by its partition's task that this consumer did not write (it was
//!   there before a restart or a rebalance): +1;
//! - a retry record finished (handled, sent to the next retry topic, or dead-lettered): -1.
//!
//! A copy can be taken back before its acknowledgement reaches the forwarder (the broker answers
//! the consumer's fetch first): then the take counts it and the acknowledgement does not, so
//! each record in the chain counts once whichever comes first.
//!
//! A key is held while its count is above zero. Every change that frees a key bumps a version
//! the main topic's tasks watch, so none misses a release.
//!
//! [`ProcessingOrder::Key`]: crate::ProcessingOrder::Key

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::queues::OrderKey;
use crate::consumer::registry::lock;

/// A record's place: topic, partition, offset.
type Coordinates = (Arc<str>, i32, i64);

/// The keys held by records in the retry chain, consumer-wide.
pub(crate) struct HeldKeys {
    inner: Mutex<Inner>,
    /// How many keys are held: a lookup while none is skips the lock (the common case of a
    /// healthy chain, asked once per record).
    any: AtomicUsize,
    released: watch::Sender<u64>,
    /// `rebound_keys_held`, set to `any` at each change (under the lock, so in order).
    gauge: metrics::Gauge,
}

#[derive(Default)]
struct Inner {
    /// Per partition number, the count of each held key's records in the chain.
    held: HashMap<i32, HashMap<OrderKey, u32>>,
    /// Copies this consumer wrote to retry topics and has not taken back yet.
    expected: HashSet<Coordinates>,
    /// Retry records counted when taken (not expected then), until they finish.
    counted_on_take: HashSet<Coordinates>,
    /// Per retry partition, the highest offset its task has taken (for the start-up gate).
    taken_until: HashMap<(Arc<str>, i32), i64>,
}

impl Default for HeldKeys {
    fn default() -> Self {
        HeldKeys {
            inner: Mutex::new(Inner::default()),
            any: AtomicUsize::new(0),
            released: watch::channel(0).0,
            gauge: metrics::Gauge::noop(),
        }
    }
}

impl HeldKeys {
    /// Held keys counted in `gauge` (`rebound_keys_held`).
    pub(crate) fn counted_in(gauge: metrics::Gauge) -> Self {
        HeldKeys {
            gauge,
            ..HeldKeys::default()
        }
    }

    fn count_changed(&self) {
        self.gauge.set(self.any.load(Ordering::SeqCst) as f64);
    }

    /// A copy of a record with `key` was acknowledged at `copy` in a retry topic.
    pub(crate) fn copied(&self, key: OrderKey, copy: Coordinates) {
        let mut inner = lock(&self.inner);
        if inner.counted_on_take.contains(&copy) {
            return; // Taken back before this acknowledgement: already counted.
        }
        self.hold(&mut inner, copy.1, key);
        inner.expected.insert(copy);
    }

    fn hold(&self, inner: &mut Inner, partition: i32, key: OrderKey) {
        let count = inner
            .held
            .entry(partition)
            .or_default()
            .entry(key)
            .or_default();
        if *count == 0 {
            self.any.fetch_add(1, Ordering::SeqCst);
            self.count_changed();
        }
        *count += 1;
    }

    /// A retry partition's task took the record at `at`.
    pub(crate) fn taken(&self, key: OrderKey, at: Coordinates) {
        let mut inner = lock(&self.inner);
        let until = inner
            .taken_until
            .entry((at.0.clone(), at.1))
            .or_insert(at.2);
        *until = (*until).max(at.2);
        if !inner.expected.remove(&at) {
            self.hold(&mut inner, at.1, key);
            inner.counted_on_take.insert(at);
        }
    }

    /// The retry record of `key` at `at` finished.
    pub(crate) fn finished(&self, key: OrderKey, at: Coordinates) {
        let freed = {
            let mut inner = lock(&self.inner);
            inner.counted_on_take.remove(&at);
            let Some(keys) = inner.held.get_mut(&at.1) else {
                return;
            };
            match keys.get_mut(&key) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => {
                    keys.remove(&key);
                    self.any.fetch_sub(1, Ordering::SeqCst);
                    self.count_changed();
                    true
                }
                None => false,
            }
        };
        if freed {
            self.released.send_modify(|version| *version += 1);
        }
    }

    /// Whether records of `key` on partition `partition` must wait.
    pub(crate) fn is_held(&self, partition: i32, key: &OrderKey) -> bool {
        if self.any.load(Ordering::SeqCst) == 0 {
            return false;
        }
        lock(&self.inner)
            .held
            .get(&partition)
            .is_some_and(|keys| keys.contains_key(key))
    }

    /// The highest offset taken from a retry partition, if any.
    pub(crate) fn taken_until(&self, topic: &str, partition: i32) -> Option<i64> {
        lock(&self.inner)
            .taken_until
            .iter()
            .find(|((t, p), _)| &**t == topic && *p == partition)
            .map(|(_, until)| *until)
    }

    /// Forgets everything about partition number `partition` of the chain: it was revoked, and
    /// whoever owns it next counts its retry records again from the topics.
    pub(crate) fn forget(&self, partition: i32) {
        let mut inner = lock(&self.inner);
        if let Some(keys) = inner.held.remove(&partition) {
            self.any.fetch_sub(keys.len(), Ordering::SeqCst);
            self.count_changed();
        }
        inner.expected.retain(|(_, p, _)| *p != partition);
        inner.counted_on_take.retain(|(_, p, _)| *p != partition);
        inner.taken_until.retain(|(_, p), _| *p != partition);
    }

    /// A receiver that changes whenever a key is freed.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.released.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn key(k: &str) -> OrderKey {
        Some(Bytes::copy_from_slice(k.as_bytes()))
    }

    fn at(topic: &str, partition: i32, offset: i64) -> Coordinates {
        (Arc::from(topic), partition, offset)
    }

    #[test]
    fn a_key_is_held_from_its_copy_until_its_retry_finishes() {
        let held = HeldKeys::default();
        let mut released = held.watch();
        held.copied(key("a"), at("t-retry-1000", 2, 7));
        assert!(held.is_held(2, &key("a")));
        assert!(!held.is_held(1, &key("a")), "per partition");
        assert!(!held.is_held(2, &key("b")));
        held.taken(key("a"), at("t-retry-1000", 2, 7));
        assert!(
            held.is_held(2, &key("a")),
            "taken back: still one in the chain"
        );
        // On to the next retry topic: the copy counts before the source finishes.
        held.copied(key("a"), at("t-retry-2000", 2, 3));
        held.finished(key("a"), at("t-retry-1000", 2, 7));
        assert!(held.is_held(2, &key("a")));
        assert!(!released.has_changed().unwrap());
        held.taken(key("a"), at("t-retry-2000", 2, 3));
        held.finished(key("a"), at("t-retry-2000", 2, 3));
        assert!(
            !held.is_held(2, &key("a")),
            "handled or dead-lettered: free"
        );
        assert!(released.has_changed().unwrap());
        released.mark_unchanged();
    }

    #[test]
    fn a_retry_record_from_before_a_restart_holds_its_key() {
        let held = HeldKeys::default();
        held.taken(None, at("t-retry", 0, 40));
        assert!(held.is_held(0, &None), "keyless records are one key");
        assert_eq!(held.taken_until("t-retry", 0), Some(40));
        assert_eq!(held.taken_until("t-retry", 1), None);
        held.finished(None, at("t-retry", 0, 40));
        assert!(!held.is_held(0, &None));
        held.finished(None, at("t-retry", 0, 40));
        assert!(!held.is_held(0, &None), "never below zero");
    }

    #[test]
    fn a_copy_taken_back_before_its_acknowledgement_counts_once() {
        let held = HeldKeys::default();
        held.taken(key("a"), at("t-retry", 1, 9));
        held.copied(key("a"), at("t-retry", 1, 9));
        assert!(held.is_held(1, &key("a")));
        held.finished(key("a"), at("t-retry", 1, 9));
        assert!(!held.is_held(1, &key("a")), "one record, counted once");
    }

    #[test]
    fn a_revoked_partition_is_forgotten() {
        let held = HeldKeys::default();
        held.copied(key("a"), at("t-retry", 3, 1));
        held.copied(key("a"), at("t-retry", 4, 1));
        held.forget(3);
        assert!(!held.is_held(3, &key("a")));
        assert!(held.is_held(4, &key("a")));
        // Taken again by the next owner (maybe this one): counted once, not expected twice.
        held.taken(key("a"), at("t-retry", 3, 1));
        held.finished(key("a"), at("t-retry", 3, 1));
        assert!(!held.is_held(3, &key("a")));
    }
}
