//! One record's life in its partition's task, whatever the processing order: its attempt
//! number and due time ([`prepare`]), a permit of the consumer's `max_in_flight` when records
//! run at once, the handler, and for a failed record the copy to its next topic, which the task
//! sends within the copy budget ([`Processed::Forwarding`]).

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::attempt::{handle_now, Processed};
use super::parked::park_behind;
use crate::consumer::context::Context;
use crate::consumer::dead_letters::deliver_dead_letter;
use crate::consumer::key_order::{DeadLetterAt, OrderKey};
use crate::consumer::route::{attempt_of, wait_until_due};
use crate::naming::Stage;
use crate::record::Record;
use crate::trace::{AttemptSpan, Outcome};

/// A record's processing ended: its offset, its key (in `Key` order), and how.
pub(crate) struct Processing {
    pub offset: i64,
    pub key: OrderKey,
    pub processed: Processed,
}

/// What a record needs besides itself to start.
pub(crate) struct Start {
    /// The key it is ordered by (`None` outside `Key` order, where nothing asks).
    pub key: OrderKey,
    /// What the task took for it as it was taken: a start ticket, or the permit itself.
    pub pass: Pass,
    /// Whether the record needs a permit of `max_in_flight` for its handler (records at once).
    pub needs_permit: bool,
    /// In `Key` order with `hold_until_redriven`, for a record whose key looked parked: the
    /// check that it still is, then it follows its dead letter into the DLT instead of running.
    pub parked: Option<BoxFuture<'static, Option<DeadLetterAt>>>,
}

/// What the task hands a record for its start: in `Key` and `Unordered` order a fresh record
/// (of the main topic or the DLT) needs a start ticket before it may wait for a permit, so that
/// a retry record, or a held key's next record, waits behind at most `max_in_flight` of them.
pub(crate) enum Pass {
    /// Nothing: `Partition` order, a retry record, or a key's next record released to start.
    None,
    /// A start ticket, given back once the record has its permit.
    Ticket(
        #[allow(dead_code, reason = "held for its drop, which gives it back")] OwnedSemaphorePermit,
    ),
    /// The permit itself, free as the record was taken: a record that can start at once needs
    /// no ticket. One semaphore's take and give-back less per record, and a give-back takes the
    /// semaphore's lock (two per record were an eighth of `Key` order's cost with a no-op handler).
    Permit(OwnedSemaphorePermit),
}

/// A record started: finished already, or the rest of its processing as a future.
pub(crate) enum Started {
    Now(Processing),
    Later(BoxFuture<'static, Processing>),
}

/// Starts a record's processing: its due time, a permit when records run at once (held only
/// while the handler runs), the handler. The copy of a failed record is returned unsent.
///
/// A record that is due, needs no check of a parked key and gets its permit at once is handled
/// here and now ([`handle_now`]): on the happy path nothing is boxed but the handler's call.
pub(crate) fn start(
    context: &Arc<Context>,
    record: Record,
    start: Start,
    stop: &Arc<CancellationToken>,
) -> Started {
    let offset = record.offset();
    if start.parked.is_some() {
        return Started::Later(start_later(context, record, start, stop));
    }
    let record = match due_now(context, record) {
        Due::Now(record) => record,
        Due::Waits(record) | Due::DeadLetter(record) => {
            return Started::Later(start_later(context, record, start, stop))
        }
    };
    let Start {
        key,
        pass,
        needs_permit,
        ..
    } = start;
    let permit = match permit_now(context, needs_permit, pass) {
        Ok(permit) => permit,
        Err(pass) => {
            let start = Start {
                key,
                pass,
                needs_permit,
                parked: None,
            };
            return Started::Later(start_later(context, record, start, stop));
        }
    };
    match handle_now(context, record, stop) {
        Ok(processed) => Started::Now(Processing {
            offset,
            key,
            processed,
        }),
        Err(later) => Started::Later(Box::pin(async move {
            let processed = later.await;
            drop(permit);
            Processing {
                offset,
                key,
                processed,
            }
        })),
    }
}

/// The permit for a record that is due now, if it needs one: the one it brought, or one free
/// now (its ticket, if any, goes back); the pass back when none is free.
fn permit_now(
    context: &Context,
    needs_permit: bool,
    pass: Pass,
) -> Result<Option<OwnedSemaphorePermit>, Pass> {
    match (needs_permit, pass) {
        (_, Pass::Permit(permit)) => Ok(Some(permit)),
        (false, _) => Ok(None),
        (true, pass) => match context.in_flight.clone().try_acquire_owned() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => Err(pass),
        },
    }
}

/// Where a record stands in the chain, with its attempt number set: the one reading of the
/// stage, for the start here and now and for [`prepare`].
enum Due {
    /// A main-topic record, or a retry that is due.
    Now(Record),
    /// A retry not due yet.
    Waits(Record),
    /// A record of the DLT, for the dead-letter hook.
    DeadLetter(Record),
}

fn due_now(context: &Context, record: Record) -> Due {
    match context.settings.chain.stage_of(record.topic()) {
        Some(Stage::Main) | None => Due::Now(record.with_attempt(1)),
        Some(Stage::Retry(topic)) => {
            let attempt = attempt_of(&record, *topic.attempts.start());
            let record = record.with_attempt(attempt);
            match wait_until_due(&record) {
                None => Due::Now(record),
                Some(_) => Due::Waits(record),
            }
        }
        Some(Stage::Dlt) => Due::DeadLetter(record),
    }
}

/// A record's processing as one future, for a record that waits: its parked key's check, its
/// due time, its permit, or the dead-letter hook.
fn start_later(
    context: &Arc<Context>,
    record: Record,
    start: Start,
    stop: &Arc<CancellationToken>,
) -> BoxFuture<'static, Processing> {
    let (context, stop) = (context.clone(), stop.clone());
    let offset = record.offset();
    let Start {
        key,
        pass,
        needs_permit,
        parked,
    } = start;
    Box::pin(async move {
        if let Some(parked) = parked {
            if let Some(behind) = parked.await {
                let copy = park_behind(context.clone(), record, behind, (*stop).clone());
                let processed = Processed::Forwarding(Box::pin(copy));
                return Processing {
                    offset,
                    key,
                    processed,
                };
            }
        }
        let processed = match prepare(&context, record, &stop).await {
            Prepared::Ready(record) => {
                let permit = match (needs_permit, pass) {
                    (_, Pass::Permit(permit)) => Some(permit),
                    (false, _) => None,
                    (true, ticket) => {
                        let permit = tokio::select! {
                            biased;
                            _ = stop.cancelled() => None,
                            permit = context.in_flight.clone().acquire_owned() => permit.ok(),
                        };
                        drop(ticket);
                        permit
                    }
                };
                match permit.is_some() || !needs_permit {
                    false => Processed::Stopped,
                    true => handle(&context, record, &stop).await,
                }
            }
            Prepared::DeadLetter(record) => {
                // The dead-letter hook may retry for minutes: it holds no ticket (nor a
                // permit) meanwhile.
                drop(pass);
                let span = AttemptSpan::start(&context, &record);
                match span
                    .in_scope(deliver_dead_letter(&context, record, &stop))
                    .await
                {
                    true => {
                        span.end(Outcome::DeadLetterHandled, None);
                        Processed::Done
                    }
                    false => Processed::Stopped,
                }
            }
            Prepared::Stopped => Processed::Stopped,
        };
        Processing {
            offset,
            key,
            processed,
        }
    })
}

/// A record ready for its handler, or for the dead-letter hook.
pub(crate) enum Prepared {
    /// Due (a retry record waited until its due time), with its attempt number set.
    Ready(Record),
    /// A record of the DLT, for the dead-letter hook.
    DeadLetter(Record),
    /// Stopped while waiting for the due time.
    Stopped,
}

/// Sets a record's attempt number from its place in the chain and, on a retry topic, waits
/// until it is due (measured now: a parked key's check may have come first).
pub(crate) async fn prepare(
    context: &Context,
    record: Record,
    stop: &CancellationToken,
) -> Prepared {
    match due_now(context, record) {
        Due::Now(record) => Prepared::Ready(record),
        Due::DeadLetter(record) => Prepared::DeadLetter(record),
        Due::Waits(record) => {
            if let Some(wait) = wait_until_due(&record) {
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return Prepared::Stopped,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Prepared::Ready(record)
        }
    }
}

/// Runs the handler on a due record and starts the copy of a failed one.
pub(crate) async fn handle(
    context: &Arc<Context>,
    record: Record,
    stop: &Arc<CancellationToken>,
) -> Processed {
    match handle_now(context, record, stop) {
        Ok(processed) => processed,
        Err(later) => later.await,
    }
}
