//! What differs between the processing orders, and nothing else: which record may start.
//!
//! | order | admission | a record may start when |
//! |---|---|---|
//! | `Partition` | [`Admission::OneAtATime`] | no other record of the partition is being handled |
//! | `Unordered` | [`Admission::Any`] | fewer than `max_in_flight` of the partition's records are unfinished |
//! | `Key` | [`Admission::ByKey`] | the same, and no earlier record of its key is unfinished or held |
//!
//! A record whose copy is on its way no longer counts as being handled in `Partition` order (the
//! partition goes on while the broker acknowledges), and every order shares one offset window
//! and one copy budget.

use tokio_util::sync::CancellationToken;

use super::record_life::{Pass, Start};
use crate::consumer::cluster::Handle;
use crate::consumer::context::Context;
use crate::consumer::key_order::{KeyAdmission, OrderKey};
use crate::consumer::rebalance::RebalanceContext;
use crate::consumer::registry::Tp;
use crate::consumer::settings::ProcessingOrder;
use crate::naming::Stage;
use crate::record::Record;

/// Which of a partition's records may start.
pub(crate) enum Admission {
    /// `Partition` order.
    OneAtATime,
    /// `Unordered`: up to `limit` unfinished records.
    Any { limit: usize, tickets: bool },
    /// `Key` order: key order's gate.
    ByKey { gate: KeyAdmission, tickets: bool },
}

impl Admission {
    /// The admission of partition `tp` for the consumer's order.
    pub(crate) fn of(context: &Context, tp: &Tp) -> Admission {
        let limit = context.settings.max_in_flight;
        // A fresh record (not a retry, not one released from behind its key) needs a start
        // ticket to start; its ticket goes back when its handler gets a permit. Tickets are
        // consumer-wide, `max_in_flight` of them: a record waiting for each permit keeps every
        // permit busy, and a retry record or a held key's next record (which need none) waits
        // behind at most that many for a permit.
        let stage = context.settings.chain.stage_of(&tp.topic);
        let tickets = !matches!(stage, Some(Stage::Retry(_)));
        match (&context.settings.order, &context.key_order) {
            (ProcessingOrder::Key, Some(order)) => Admission::ByKey {
                gate: order.admission(tp, limit),
                tickets,
            },
            (ProcessingOrder::Partition, _) => Admission::OneAtATime,
            _ => Admission::Any { limit, tickets },
        }
    }

    /// Before the partition's first record (key order's start-up waits). `false` when stopped.
    pub(crate) async fn ready(
        &self,
        consumer: &Handle<RebalanceContext>,
        stop: &CancellationToken,
    ) -> bool {
        match self {
            Admission::ByKey { gate, .. } => gate.ready(consumer, stop).await,
            _ => true,
        }
    }

    /// Whether another record may be taken, with `unfinished` records taken and not finished
    /// and `handling` of them being handled.
    pub(crate) fn has_room(&self, unfinished: usize, handling: usize) -> bool {
        match self {
            Admission::OneAtATime => handling == 0,
            Admission::Any { limit, .. } => unfinished < *limit,
            Admission::ByKey { gate, .. } => gate.has_room(unfinished),
        }
    }

    /// The record next in offset order: returned if it may start, else kept behind its key.
    pub(crate) fn admit(&mut self, record: Record) -> Option<Record> {
        match self {
            Admission::ByKey { gate, .. } => gate.admit(record),
            _ => Some(record),
        }
    }

    /// Whether a record taken from the partition needs a start ticket.
    pub(crate) fn needs_ticket(&self) -> bool {
        match self {
            Admission::OneAtATime => false,
            Admission::Any { tickets, .. } | Admission::ByKey { tickets, .. } => *tickets,
        }
    }

    /// What `record` needs to start, besides what the task took for it.
    pub(crate) fn start_of(&self, record: &Record, consumer: &Handle<RebalanceContext>) -> Start {
        let (key, parked) = match self {
            Admission::ByKey { gate, .. } => {
                let parked = gate
                    .looks_parked(record)
                    .then(|| Box::pin(gate.still_parked(consumer, record)) as _);
                (record.order_key(), parked)
            }
            _ => (None, None),
        };
        Start {
            key,
            pass: Pass::None,
            needs_permit: !matches!(self, Admission::OneAtATime),
            parked,
        }
    }

    /// The record at `offset` with `key` finished: the next record of its key that may start.
    pub(crate) fn finished(&mut self, key: &OrderKey, offset: i64) -> Option<Record> {
        match self {
            Admission::ByKey { gate, .. } => gate.finished(key, offset),
            _ => None,
        }
    }

    /// A record an earlier owner finished, skipped without running.
    pub(crate) fn skipped(&self, record: &Record) {
        if let Admission::ByKey { gate, .. } = self {
            gate.skipped(record);
        }
    }

    /// Waits until records held from outside may start (never, outside `Key` order).
    pub(crate) async fn released(&mut self) -> Vec<Record> {
        match self {
            Admission::ByKey { gate, .. } => {
                gate.released().await;
                gate.unblocked()
            }
            _ => std::future::pending().await,
        }
    }
}
