//! A partition's copies of failed records: sent within the consumer's copy budget (a permit per
//! copy, consumer-wide, and a quarter of the budget per partition), and reported as finished
//! records once acknowledged. The partition goes on handling records while its copies wait for
//! the broker's `acks=all`, so failures do not serialise it on the broker's latency.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

use super::attempt::Copy;
use crate::consumer::key_order::OrderKey;
use crate::metrics::CopyGauge;

/// A record finished: handled, or its copy acknowledged (`done`), or stopped before (not done:
/// it stays unfinished, nothing past it is stored, and its key's records stay behind it).
pub(super) struct Finished {
    pub offset: i64,
    pub key: OrderKey,
    pub done: bool,
}

/// A copy waiting for room in the budget.
struct Waiting {
    offset: i64,
    key: OrderKey,
    copy: Copy,
}

/// One partition's copies: waiting for room, then in flight until acknowledged.
pub(super) struct Copies {
    budget: Arc<Semaphore>,
    /// How many of this partition's copies may be in flight before it takes no new record.
    share: usize,
    in_flight: FuturesUnordered<BoxFuture<'static, Finished>>,
    /// Oldest first, with one request for room for the whole wait, so that it keeps its place
    /// in the semaphore's queue.
    waiting: VecDeque<Waiting>,
    room: Option<BoxFuture<'static, Result<OwnedSemaphorePermit, AcquireError>>>,
    /// `rebound_copies_in_flight`: counted from a copy's send to its acknowledgement.
    gauge: CopyGauge,
}

impl Copies {
    pub(super) fn new(budget: Arc<Semaphore>, share: usize, gauge: CopyGauge) -> Self {
        Copies {
            gauge,
            budget,
            share,
            in_flight: FuturesUnordered::new(),
            waiting: VecDeque::new(),
            room: None,
        }
    }

    /// The copy of the record at `offset`: sent at once if the budget has room, else queued.
    pub(super) fn push(&mut self, offset: i64, key: OrderKey, copy: Copy) {
        self.waiting.push_back(Waiting { offset, key, copy });
        self.send_waiting();
    }

    /// Whether the partition may take another record: no copy waits for room and its copies in
    /// flight are within its share.
    pub(super) fn leave_room(&self) -> bool {
        self.waiting.is_empty() && self.in_flight.len() < self.share
    }

    /// The next copy finished (acknowledged, or stopped before). Sends waiting copies as room
    /// comes. Pending while nothing is in flight or waiting; cancel-safe.
    pub(super) async fn next(&mut self) -> Finished {
        loop {
            let room = &mut self.room;
            tokio::select! {
                biased;
                Some(finished) = self.in_flight.next(), if !self.in_flight.is_empty() => return finished,
                permit = async { room.as_mut().expect("checked").await }, if room.is_some() => {
                    self.room = None;
                    // The semaphore is never closed.
                    if let Ok(permit) = permit {
                        self.send(permit);
                    }
                    self.send_waiting();
                }
                else => std::future::pending::<()>().await,
            }
        }
    }

    /// Stopping: copies not sent yet stay unsent (their records are not done); the ones in
    /// flight are still awaited.
    pub(super) fn drop_waiting(&mut self) {
        self.waiting.clear();
        self.room = None;
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn send_waiting(&mut self) {
        while !self.waiting.is_empty() && self.room.is_none() {
            match self.budget.clone().try_acquire_owned() {
                Ok(permit) => self.send(permit),
                Err(_) => {
                    tracing::debug!(
                        "waiting for room in the consumer's budget of copies in flight"
                    );
                    self.room = Some(Box::pin(self.budget.clone().acquire_owned()));
                }
            }
        }
    }

    /// Sends the oldest waiting copy with `permit`, which goes back once it is acknowledged.
    fn send(&mut self, permit: OwnedSemaphorePermit) {
        let Some(Waiting { offset, key, copy }) = self.waiting.pop_front() else {
            return;
        };
        let counted = self.gauge.count();
        self.in_flight.push(Box::pin(copy.map(move |done| {
            drop((permit, counted));
            Finished { offset, key, done }
        })));
    }
}
