//! One partition's key gate: which record may start now, which waits behind the running record
//! of its key, behind its key's record in the retry chain, or (with `hold_until_redriven`)
//! behind its key's pending dead letter.
//!
//! On a main partition, a key is held while a record of it is in the retry chain; on a retry
//! partition, a record that finishes frees its key for the main partition.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::queues::{KeyQueues, OrderKey};
use super::{start, DeadLetterAt, KeyOrder};
use crate::consumer::cluster::Handle;
use crate::consumer::registry::Tp;
use crate::headers::names::REDRIVEN_FROM;
use crate::naming::{ledger_topic, Stage};
use crate::record::Record;

/// How many records may wait behind their key, per record the partition may run.
const WAITING_PER_RUNNING: usize = 8;

/// The key gate of one partition's task.
pub(crate) struct KeyAdmission {
    order: Arc<KeyOrder>,
    tp: Tp,
    queues: KeyQueues,
    /// A main partition: its keys wait on their records in the retry chain.
    waits_on_holds: bool,
    /// A retry partition: its records free their keys when they finish.
    frees_holds: bool,
    /// A main partition with `hold_until_redriven`: parked keys' records follow their dead letter.
    parks: bool,
    /// Bumped whenever a key is freed, consumer-wide.
    released: watch::Receiver<u64>,
    /// Records that may run at once on this partition.
    limit: usize,
}

impl KeyAdmission {
    pub(super) fn new(order: Arc<KeyOrder>, tp: Tp, limit: usize) -> Self {
        let stage = order.chain.stage_of(&tp.topic);
        let waits_on_holds = matches!(stage, Some(Stage::Main));
        let frees_holds = matches!(stage, Some(Stage::Retry(_)));
        let parks = waits_on_holds && order.parked.is_some();
        let released = order.held.watch();
        KeyAdmission {
            order,
            tp,
            queues: KeyQueues::default(),
            waits_on_holds,
            frees_holds,
            parks,
            released,
            limit,
        }
    }

    /// Before a main partition's first record: the retry records an earlier owner left hold
    /// their keys first, and the parked keys are known. `false` when stopped meanwhile.
    pub(crate) async fn ready<C: rdkafka::consumer::ConsumerContext + 'static>(
        &self,
        consumer: &Handle<C>,
        stop: &CancellationToken,
    ) -> bool {
        if !self.waits_on_holds {
            return true;
        }
        let retries = self.order.chain.retries.iter().map(|r| r.name.clone());
        if !start::wait_for_retry_tails(
            &self.order.held,
            consumer,
            &self.tp,
            retries.collect(),
            stop,
        )
        .await
        {
            return false;
        }
        match (&self.order.parked, self.parks) {
            (Some(parked), true) => start::wait_for_parked_keys(parked, &self.tp, stop).await,
            _ => true,
        }
    }

    /// Whether the partition may take another record, with `unfinished` taken and not finished.
    pub(crate) fn has_room(&self, unfinished: usize) -> bool {
        let waiting = self.queues.waiting();
        unfinished - waiting < self.limit && waiting < self.limit * WAITING_PER_RUNNING
    }

    /// The record next in offset order: returned if it may start now, else kept behind its key.
    pub(crate) fn admit(&mut self, record: Record) -> Option<Record> {
        let key = record.order_key();
        let held = self.is_held(&key);
        self.queues.admit(key, record, held)
    }

    /// The record at `offset` with `key` finished (or was skipped, finished by an earlier
    /// owner): returns the next record of its key that may start, if any.
    pub(crate) fn finished(&mut self, key: &OrderKey, offset: i64) -> Option<Record> {
        if self.frees_holds {
            let at = (self.tp.topic.clone(), self.tp.partition, offset);
            self.order.held.finished(key.clone(), at);
        }
        let held = self.is_held(key);
        self.queues.release(key, held)
    }

    /// A record the previous owner finished, skipped without running.
    pub(crate) fn skipped(&self, record: &Record) {
        if self.frees_holds {
            let at = (self.tp.topic.clone(), self.tp.partition, record.offset());
            self.order.held.finished(record.order_key(), at);
        }
    }

    /// Waits until some key is freed, when records wait on a hold (else never returns).
    pub(crate) async fn released(&mut self) {
        if !self.queues.has_blocked() || self.released.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The first waiting record of every blocked key that is no longer held.
    pub(crate) fn unblocked(&mut self) -> Vec<Record> {
        let (order, partition, waits) = (&self.order, self.tp.partition, self.waits_on_holds);
        self.queues
            .unblock(|key| waits && order.held.is_held(partition, key))
    }

    /// Whether `record`'s key looks parked behind a pending dead letter (a quick look; see
    /// [`still_parked`](Self::still_parked)). A redriven copy is the person's way out: never.
    pub(crate) fn looks_parked(&self, record: &Record) -> bool {
        self.parks
            && !record.headers().contains(REDRIVEN_FROM)
            && self.order.parked.as_ref().is_some_and(|parked| {
                parked
                    .parked_behind(record.partition(), &record.order_key())
                    .is_some()
            })
    }

    /// The pending dead letter that parks `record`'s key, once the ledger is read to its end.
    pub(crate) fn still_parked<C: rdkafka::consumer::ConsumerContext + 'static>(
        &self,
        consumer: &Handle<C>,
        record: &Record,
    ) -> impl std::future::Future<Output = Option<DeadLetterAt>> + Send + 'static {
        let parked = self.order.parked.clone();
        let ledger = self.order.chain.dlt.as_deref().map(ledger_topic);
        let (consumer, partition, key) = (consumer.clone(), record.partition(), record.order_key());
        let coordinates = record.coordinates();
        async move {
            let (parked, ledger) = (parked?, ledger?);
            start::still_parked(&parked, &consumer, &ledger, partition, &key, &coordinates).await
        }
    }

    fn is_held(&self, key: &OrderKey) -> bool {
        self.waits_on_holds && self.order.held.is_held(self.tp.partition, key)
    }
}
