//! The writer's delivery reports: each record it sends carries a ticket (its delivery opaque, a
//! number, nothing allocated), and librdkafka's report of it lands here, on the producer's polling
//! thread, for the one task waiting on the writer to take.
//!
//! A `FutureProducer` gives every record a boxed future and a oneshot channel, both allocated and
//! freed per copy, and a redrive of 40,000 spent more of its copy phase on them and on the
//! `FuturesUnordered` around them than on librdkafka (BENCHMARKS.md, 5c). Reports taken here in
//! batches cost one lock and one wake-up per batch the polling thread serves.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::ClientContext;
use tokio::sync::Notify;

use crate::id::Position;

/// A record's number, given when it is sent, named again by its report.
pub(crate) type Ticket = usize;

/// Where a record landed, or why it did not.
pub(crate) type Delivered = (Ticket, Result<Position, KafkaError>);

/// Reports not yet taken, and the wake-up of whoever waits for them.
#[derive(Default)]
pub(crate) struct Deliveries {
    reports: Mutex<Vec<Delivered>>,
    arrived: Notify,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Ticket;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: Ticket) {
        let report = match result {
            Ok(message) => Ok(Position {
                partition: message.partition(),
                offset: message.offset(),
            }),
            Err((e, _)) => Err(e.clone()),
        };
        self.reports
            .lock()
            .expect("no panic while holding the reports")
            .push((ticket, report));
        // One stored permit at most: a waiter that arrives later takes it and finds the reports.
        self.arrived.notify_one();
    }
}

impl Deliveries {
    /// Every report that arrived since the last call, waiting for one when there is none. One
    /// waiter at a time: a second would take the first one's reports.
    pub(crate) async fn next_batch(&self) -> Vec<Delivered> {
        loop {
            let batch = std::mem::take(
                &mut *self
                    .reports
                    .lock()
                    .expect("no panic while holding the reports"),
            );
            if !batch.is_empty() {
                return batch;
            }
            // A report pushed between the take and here left its permit: this returns at once.
            self.arrived.notified().await;
        }
    }
}

/// Copies and entries in flight, by ticket.
pub(crate) type TicketMap<V> = HashMap<Ticket, V, BuildHasherDefault<TicketHasher>>;

/// Entries in flight, by ticket.
pub(crate) type TicketSet = HashSet<Ticket, BuildHasherDefault<TicketHasher>>;

/// A ticket's hash: tickets are distinct counters, so a multiplication spreads them over the
/// table's bits (Fibonacci hashing). The default SipHash cost more than the rest of taking a
/// report (BENCHMARKS.md, 5c).
#[derive(Default)]
pub(crate) struct TicketHasher(u64);

impl Hasher for TicketHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_usize` is used (a ticket is a `usize`); other input still hashes.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}
