//! Delivering the copy of a failed record to its next topic (a retry topic or the DLT) through
//! an idempotent `acks=all` producer: tried again until acknowledged, redirected to the DLT when
//! a retry topic refuses it for good, and made smaller when the DLT refuses it for its size. The
//! caller stores the source offset only after the acknowledgement.

mod deliver;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub(crate) use self::deliver::Failed;
use self::deliver::{deliver, Delivered};
use super::context::Context;
use super::events::Event;
use super::route::Hop;
use crate::trace::Outcome;

/// Writes the copy of a failed record, then reports the hop. `true` once the copy is
/// acknowledged (or the record is dropped, having nowhere to go), `false` if stopped before.
pub(crate) async fn forward_failed(
    shared: Arc<Context>,
    failed: Failed,
    hop: Hop,
    stop: CancellationToken,
) -> bool {
    let (chain, policy) = (&shared.settings.chain, &shared.settings.policy);
    let hop = hop.routed(chain, policy, &failed.failure, failed.class);
    // The first try is made in this future, small enough to be an ordinary allocation: boxed
    // with the retry loop's state it was over glibc's 1 KiB large-chunk line, where every
    // allocation first consolidates the fast bins (a fifth of the one-hop scenario's worker
    // time). The loop is boxed only for a copy the first try did not deliver.
    let delivered = match deliver::queue_first(&shared, &failed, &hop) {
        Ok(acknowledgement) => match acknowledgement.await {
            Ok((partition, offset)) => Delivered::Written {
                hop,
                partition,
                offset,
            },
            Err(error) => Box::pin(deliver(&shared, &failed, hop, &stop, Some(error))).await,
        },
        Err(error) => Box::pin(deliver(&shared, &failed, hop, &stop, error)).await,
    };
    let Failed {
        record,
        failure,
        class,
        span,
        ..
    } = failed;
    let (hop, partition, offset) = match delivered {
        Delivered::Written {
            hop,
            partition,
            offset,
        } => (hop, partition, offset),
        Delivered::Dropped => {
            span.end(Outcome::Dropped, None);
            return true;
        }
        Delivered::Stopped => return false,
    };
    let attempts = shared.settings.policy.attempts();
    let from = record.topic();
    let outcome = match &hop {
        Hop::Retry { .. } => Outcome::Retried,
        Hop::DeadLetter { .. } => Outcome::DeadLettered,
    };
    span.end(outcome, Some(hop.topic()));
    match &hop {
        Hop::Retry { topic, delay, .. } => {
            if let Some(key_order) = &shared.key_order {
                // Before the source record counts as finished, so its key stays held.
                key_order.copied_to_retry(&record, topic, partition, offset);
            }
            shared.emit(Event::Forwarded { from, to: topic });
            tracing::info!(
                "{} failed on attempt {}/{} ({class}: {failure}); retrying through {topic}-{partition}@{offset} in {} ms",
                record.coordinates(), record.attempt(), attempts, delay.as_millis()
            );
        }
        Hop::DeadLetter { topic } => {
            if let Some(key_order) = &shared.key_order {
                // Before the source record counts as finished, so its key goes from held (by
                // its retry) to parked with no gap between.
                key_order.dead_lettered(&record, partition, offset);
            }
            shared.emit(Event::DeadLettered { from, to: topic });
            tracing::warn!(
                "{} failed on attempt {}/{} ({class}: {failure}); dead-lettered to {topic}-{partition}@{offset}",
                record.coordinates(), record.attempt(), attempts
            );
        }
    }
    true
}
