//! [`ProcessingOrder::Key`] as one optional gate: a key's records run one at a time, in offset
//! order, through the retry chain too, and (with `hold_until_redriven`) across a person's redrive.
//!
//! The engine knows nothing of keys. A consumer in `Key` order has a [`KeyOrder`] in its
//! context; the engine asks it for each main or retry partition's [`KeyAdmission`] (which record
//! may start, which waits behind its key), the poller tells it which retry records it hands out,
//! the forwarder which copies were acknowledged, and the rebalance callbacks which partitions
//! went. A consumer in any other order has none, and none of this runs.
//!
//! | file | job |
//! |---|---|
//! | `check.rs` | whether key order can hold with these settings and on this cluster |
//! | `queues.rs` | pure: a key runs one record at a time, the rest wait behind it |
//! | `held.rs` | which keys a record in the retry chain holds |
//! | `parked.rs` | `hold_until_redriven`: which keys wait behind a pending dead letter |
//! | `follower.rs` | the thread that reads the DLT and its ledger for `parked.rs` |
//! | `admission.rs` | one partition's gate: queues, holds and parks together |
//! | `start.rs` | what a main partition waits for after it is assigned |
//!
//! [`ProcessingOrder::Key`]: super::ProcessingOrder::Key

mod admission;
mod check;
mod follower;
mod held;
mod parked;
mod queues;
mod start;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub(crate) use admission::KeyAdmission;
pub(crate) use check::check_settings;
pub(crate) use parked::DeadLetterAt;
pub(crate) use queues::OrderKey;

use self::follower::Followed;
use self::held::HeldKeys;
use self::parked::ParkedKeys;
use super::registry::Tp;
use super::settings::{ProcessingOrder, Settings};
use crate::error::Error;
use crate::naming::{Stage, TopicChain};
use crate::record::{Delivery, Record};

/// Key order's state for one consumer: the keys held by records in the retry chain and, with
/// `hold_until_redriven`, the keys parked behind pending dead letters.
pub(crate) struct KeyOrder {
    chain: TopicChain,
    held: HeldKeys,
    parked: Option<Arc<ParkedKeys>>,
}

impl KeyOrder {
    /// Key order for a consumer with `settings`: `None` in any other order; an error when the
    /// cluster cannot keep it (see [`check`]). With `hold_until_redriven`, starts the thread that
    /// follows the DLT and its ledger until `stopping` is set.
    pub(crate) fn start(
        settings: &Settings,
        partitions: &HashMap<String, i32>,
        stopping: &Arc<AtomicBool>,
    ) -> Result<Option<Arc<KeyOrder>>, Error> {
        if settings.order != ProcessingOrder::Key {
            return Ok(None);
        }
        check::check_key_order(settings, partitions)?;
        let chain = settings.chain.clone();
        let parked = match (settings.hold_until_redriven, &chain.dlt) {
            (true, Some(dlt)) => {
                let parked = Arc::new(ParkedKeys::default());
                let followed = Followed {
                    kafka: settings.kafka.clone(),
                    dlt: dlt.clone(),
                    chain_topics: std::iter::once(chain.main.clone())
                        .chain(chain.retries.iter().map(|r| r.name.clone()))
                        .collect(),
                };
                let (parked_, stopping) = (parked.clone(), stopping.clone());
                std::thread::Builder::new()
                    .name("rebound-dead-letters".into())
                    .spawn(move || follower::follow(followed, parked_, stopping))
                    .map_err(|e| Error::Crashed(e.to_string()))?;
                Some(parked)
            }
            _ => None,
        };
        Ok(Some(Arc::new(KeyOrder {
            chain,
            held: HeldKeys::counted_in(metrics::gauge!(
                crate::metrics::KEYS_HELD,
                "group" => settings.group.clone()
            )),
            parked,
        })))
    }

    /// The poller hands `records` of `tp` to its task: retry records hold their keys from now
    /// (counted once, whether this or the acknowledgement of their copy comes first).
    pub(crate) fn dispatched(&self, tp: &Tp, records: &Delivery) {
        if !matches!(self.chain.stage_of(&tp.topic), Some(Stage::Retry(_))) {
            return;
        }
        for (offset, key) in records.keys() {
            let at = (tp.topic.clone(), tp.partition, offset);
            self.held.taken(key, at);
        }
    }

    /// The copy of `record` was acknowledged at `partition@offset` of the retry topic `topic`.
    pub(crate) fn copied_to_retry(
        &self,
        record: &Record,
        topic: &str,
        partition: i32,
        offset: i64,
    ) {
        self.held
            .copied(record.order_key(), (Arc::from(topic), partition, offset));
    }

    /// `record` was dead-lettered at `partition@offset` of the DLT.
    pub(crate) fn dead_lettered(&self, record: &Record, partition: i32, offset: i64) {
        if let Some(parked) = &self.parked {
            parked.dead_lettered((partition, offset), record.partition(), record.order_key());
        }
    }

    /// `tp` was revoked: its holds are forgotten (its next owner counts them anew).
    pub(crate) fn revoked(&self, tp: &Tp) {
        self.held.forget(tp.partition);
    }

    /// The gate of partition `tp`'s task, which lets at most `limit` records run at once.
    pub(crate) fn admission(self: &Arc<Self>, tp: &Tp, limit: usize) -> KeyAdmission {
        KeyAdmission::new(self.clone(), tp.clone(), limit)
    }
}
