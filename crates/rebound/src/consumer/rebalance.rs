//! The rebalance callbacks. They run on the polling thread, inside `poll`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientContext, TopicPartitionList};

use super::key_order::KeyOrder;
use super::registry::{self, wait_for_tasks, Registry, Tp};
use crate::metrics::LagGauges;

pub(crate) struct RebalanceContext {
    pub registry: Arc<Mutex<Registry>>,
    pub grace: Duration,
    /// Told of revoked partitions, in `Key` order (their next owner counts their holds anew).
    pub key_order: Option<Arc<KeyOrder>>,
    /// Set from librdkafka's statistics, which it hands over on the polling thread.
    pub lag: LagGauges,
}

impl ClientContext for RebalanceContext {
    /// Read as raw bytes: parsing librdkafka's whole `Statistics` for the lag alone would cost
    /// the polling thread more than the few fields `LagGauges` reads.
    fn stats_raw(&self, statistics: &[u8]) {
        self.lag.update(statistics);
    }
}

fn tps(list: &TopicPartitionList) -> Vec<Tp> {
    list.elements()
        .iter()
        .map(|e| Tp {
            topic: e.topic().into(),
            partition: e.partition(),
        })
        .collect()
}

fn names(tps: &[Tp]) -> String {
    tps.iter().map(Tp::to_string).collect::<Vec<_>>().join(", ")
}

impl ConsumerContext for RebalanceContext {
    /// Before partitions go: let their tasks finish the record in hand (bounded by the grace
    /// period), then commit what is done. Committing after the revocation would fail.
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let revoked = tps(list);
            let tasks = registry::lock(&self.registry).release(&revoked);
            wait_for_tasks(&tasks, self.grace);
            commit_stored(consumer);
            if let Some(key_order) = &self.key_order {
                revoked.iter().for_each(|tp| key_order.revoked(tp));
            }
            tracing::info!(partitions = %names(&revoked), "partitions revoked");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let assigned = tps(list);
                tracing::info!(partitions = %names(&assigned), "partitions assigned");
                registry::lock(&self.registry).assigned.extend(assigned);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
        }
    }
}

/// Commits the offsets the tasks stored. "Nothing to commit" is not an error.
pub(crate) fn commit_stored<C: ConsumerContext>(consumer: &BaseConsumer<C>) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {}
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not commit offsets; the records will be handled again")
        }
    }
}
