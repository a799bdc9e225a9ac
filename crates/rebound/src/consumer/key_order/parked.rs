//! `hold_until_redriven` in [`ProcessingOrder::Key`]: a key whose record died stays held while its
//! dead letter is pending, and its later records follow it into the DLT instead of running.
//!
//! Why into the DLT and not into memory: a dead letter may wait hours for a person. Records kept
//! in the partition's window would stop its offset for as long, fill the window, and then stop the
//! whole partition, including the redriven copy the person sends to release the key (it arrives
//! at the partition's end, behind them). In the DLT they wait in their order (one key, one
//! partition number) and `rebound dlt redrive --key K` sends them back in that order.
//!
//! A key is parked while at least one dead letter of it is pending: read from the DLT (or
//! written by this consumer), and not yet marked `redriven` or `discarded` in the DLT's ledger.
//! Keys are per partition number, as in [`held`](super::held): a record keeps its
//! partition number on each hop, and its dead letter names it in `kafka_original-partition`.
//!
//! [`ProcessingOrder::Key`]: crate::ProcessingOrder::Key

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

use super::queues::OrderKey;
use crate::consumer::registry::lock;

/// A dead letter's place in the DLT: partition and offset (the ledger's `p@o`).
pub(crate) type DeadLetterAt = (i32, i64);

/// The keys parked behind their pending dead letters, consumer-wide.
pub(crate) struct ParkedKeys {
    inner: Mutex<Inner>,
    /// How many keys are parked: a lookup while none is skips the lock.
    any: AtomicUsize,
    /// Whether the DLT and its ledger were read up to where they ended at start.
    caught_up: watch::Sender<bool>,
    /// The ledger's next offset to read: everything before it is counted.
    ledger_read: watch::Sender<i64>,
}

#[derive(Default)]
struct Inner {
    /// Pending dead letters, with the partition number and key each parks.
    pending: HashMap<DeadLetterAt, (i32, OrderKey)>,
    /// Dead letters the ledger says were redriven or discarded, whether read before or after the
    /// dead letter itself (the DLT and the ledger are read side by side).
    resolved: HashSet<DeadLetterAt>,
    /// Per partition number and key, the pending dead letters that park it, oldest first.
    parked: HashMap<(i32, OrderKey), BTreeSet<DeadLetterAt>>,
}

impl Default for ParkedKeys {
    fn default() -> Self {
        ParkedKeys {
            inner: Mutex::new(Inner::default()),
            any: AtomicUsize::new(0),
            caught_up: watch::channel(false).0,
            ledger_read: watch::channel(0).0,
        }
    }
}

impl ParkedKeys {
    /// A dead letter of `key`, from partition number `partition`, is at `at` in the DLT. Said
    /// twice (written by this consumer, then read back) it counts once.
    pub(crate) fn dead_lettered(&self, at: DeadLetterAt, partition: i32, key: OrderKey) {
        let mut inner = lock(&self.inner);
        if inner.resolved.contains(&at) || inner.pending.contains_key(&at) {
            return;
        }
        inner.pending.insert(at, (partition, key.clone()));
        let letters = inner.parked.entry((partition, key)).or_default();
        if letters.is_empty() {
            self.any.fetch_add(1, Ordering::SeqCst);
        }
        letters.insert(at);
    }

    /// The ledger says the dead letter at `at` was redriven or discarded.
    pub(crate) fn resolved(&self, at: DeadLetterAt) {
        let mut inner = lock(&self.inner);
        inner.resolved.insert(at);
        let Some(parks) = inner.pending.remove(&at) else {
            return;
        };
        if let Some(letters) = inner.parked.get_mut(&parks) {
            letters.remove(&at);
            if letters.is_empty() {
                inner.parked.remove(&parks);
                self.any.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// The oldest pending dead letter that parks `key` on partition number `partition`, if any.
    pub(crate) fn parked_behind(&self, partition: i32, key: &OrderKey) -> Option<DeadLetterAt> {
        if self.any.load(Ordering::SeqCst) == 0 {
            return None;
        }
        lock(&self.inner)
            .parked
            .get(&(partition, key.clone()))
            .and_then(|letters| letters.first().copied())
    }

    /// The DLT and its ledger were read up to where they ended when the consumer started: the
    /// parked keys are known.
    pub(crate) fn mark_caught_up(&self) {
        self.caught_up.send_replace(true);
    }

    /// Waits until [`mark_caught_up`](Self::mark_caught_up).
    pub(crate) async fn wait_caught_up(&self) {
        let mut caught_up = self.caught_up.subscribe();
        // The sender lives as long as `self`, which outlives this borrow.
        let _ = caught_up.wait_for(|caught_up| *caught_up).await;
    }
}

impl ParkedKeys {
    /// The ledger was read up to `next` (exclusive).
    pub(crate) fn ledger_read_to(&self, next: i64) {
        self.ledger_read.send_if_modified(|read| {
            let later = next > *read;
            if later {
                *read = next;
            }
            later
        });
    }

    /// Waits until the ledger is read up to `end` (exclusive): then every redrive and discard
    /// written before `end` counts.
    pub(crate) async fn wait_ledger_read(&self, end: i64) {
        let mut read = self.ledger_read.subscribe();
        let _ = read.wait_for(|read| *read >= end).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn key(k: &str) -> OrderKey {
        Some(Bytes::copy_from_slice(k.as_bytes()))
    }

    #[test]
    fn a_key_stays_parked_until_every_dead_letter_of_it_is_resolved() {
        let parked = ParkedKeys::default();
        assert_eq!(parked.parked_behind(0, &key("a")), None);
        parked.dead_lettered((0, 7), 0, key("a"));
        parked.dead_lettered((0, 9), 0, key("a"));
        parked.dead_lettered((0, 7), 0, key("a")); // read back after writing it: once
        assert_eq!(parked.parked_behind(0, &key("a")), Some((0, 7)));
        assert_eq!(parked.parked_behind(1, &key("a")), None, "per partition");
        assert_eq!(parked.parked_behind(0, &key("b")), None);
        parked.resolved((0, 7));
        assert_eq!(parked.parked_behind(0, &key("a")), Some((0, 9)));
        parked.resolved((0, 9));
        assert_eq!(parked.parked_behind(0, &key("a")), None);
        assert_eq!(parked.any.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_resolution_read_before_its_dead_letter_still_counts() {
        let parked = ParkedKeys::default();
        parked.resolved((2, 40));
        parked.dead_lettered((2, 40), 5, None);
        assert_eq!(parked.parked_behind(5, &None), None);
        parked.dead_lettered((2, 41), 5, None);
        assert_eq!(
            parked.parked_behind(5, &None),
            Some((2, 41)),
            "keyless records are one key; the DLT partition may differ from the key's"
        );
    }

    #[tokio::test]
    async fn waiting_for_the_catch_up_ends_when_it_is_marked() {
        let parked = std::sync::Arc::new(ParkedKeys::default());
        let waiter = tokio::spawn({
            let parked = parked.clone();
            async move { parked.wait_caught_up().await }
        });
        parked.mark_caught_up();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }

    #[tokio::test]
    async fn waiting_for_the_ledger_ends_once_it_is_read_that_far() {
        let parked = std::sync::Arc::new(ParkedKeys::default());
        parked.ledger_read_to(3);
        parked.ledger_read_to(2); // never back
        let waiter = tokio::spawn({
            let parked = parked.clone();
            async move { parked.wait_ledger_read(5).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        parked.ledger_read_to(5);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
