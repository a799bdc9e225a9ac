//! Delivering the copy of a failed record to its next topic (a retry topic or the DLT) through
//! an idempotent `acks=all` producer: tried again until acknowledged, redirected to the DLT when
//! a retry topic refuses it for good, and made smaller when the DLT refuses it for its size. The
//! caller stores the source offset only after the acknowledgement.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::OwnedHeaders;
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::events::Event;
use super::refusal::{after_refusal, refused_for_good, AfterRefusal, CopyShape};
use super::route::{dead_letter_topic, Hop};
use crate::failure::{Failure, FailureClass};
use crate::headers::{self, HopStamp, KafkaHeaders};
use crate::policy::Backoff;
use crate::record::Record;
use crate::time::EpochMillis;
use crate::trace::traceparent::CopyParent;
use crate::trace::{AttemptSpan, Outcome};

/// A record that failed, on its way to the next hop.
pub(crate) struct Failed {
    pub record: Record,
    pub failure: Failure,
    pub class: FailureClass,
    pub at: EpochMillis,
    /// The failed attempt's span: the copy's `traceparent` names it; ended once the copy is written.
    pub span: AttemptSpan,
}

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
    let delivered = deliver(&shared, &failed, hop, &stop).await;
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

/// How delivering a copy ended.
enum Delivered {
    /// The copy was acknowledged at `partition@offset`. `hop` is the hop taken: the DLT instead
    /// of the planned retry topic when that refused the copy.
    Written {
        hop: Hop,
        partition: i32,
        offset: i64,
    },
    /// The retry topic refused the copy for good and there is no DLT: the record is dropped,
    /// as any failure is when a chain has no DLT.
    Dropped,
    /// Stopped before the copy was acknowledged: the source offset stays uncommitted.
    Stopped,
}

/// Sends the copy, trying again with back-off until the broker acknowledges it. The source
/// offset stays uncommitted meanwhile, so a crash here loses nothing.
///
/// A copy refused for good (too large, invalid) is never sent again as it was (see
/// [`after_refusal`]), so one record cannot stall its partition forever.
async fn deliver(
    shared: &Context,
    failed: &Failed,
    mut hop: Hop,
    stop: &CancellationToken,
) -> Delivered {
    let (record, failure, class, at) = (&failed.record, &failed.failure, failed.class, failed.at);
    let backoff =
        Backoff::exponential(Duration::from_millis(200), 2.0).with_max(Duration::from_secs(10));
    let mut failures = 0u32;
    let mut shape = CopyShape::Full;
    let mut refusal = String::new();
    let mut retry_refused: Option<String> = None;
    loop {
        if !target_has_partition(shared, record, hop.topic(), stop).await {
            return Delivered::Stopped;
        }
        let stamp = HopStamp {
            failure,
            class,
            group: &shared.settings.group,
            failed_at: at,
            next: hop.next_delivery(),
        };
        let headers = copy_headers(failed, &stamp, shape, &refusal, retry_refused.as_deref());
        let error = match shared
            .forwarder
            .send(record, hop.topic(), shape, headers)
            .await
        {
            Ok((partition, offset)) => {
                return Delivered::Written {
                    hop,
                    partition,
                    offset,
                }
            }
            Err(e) => e,
        };
        shared.emit(Event::ForwardFailed {
            from: record.topic(),
            to: hop.topic(),
        });
        if refused_for_good(&error) {
            refusal = format!("{} refused it: {error}", hop.topic());
            let settings = &shared.settings;
            let dlt = dead_letter_topic(&settings.chain, &settings.policy, failure, class);
            match after_refusal(&hop, dlt.as_deref(), shape) {
                AfterRefusal::ToDeadLetters(topic) => {
                    tracing::error!(
                        record = %record.coordinates(),
                        "{refusal}; it cannot be retried and goes to {topic} instead"
                    );
                    retry_refused = Some(refusal.clone());
                    hop = Hop::DeadLetter { topic };
                    continue;
                }
                AfterRefusal::Drop => {
                    tracing::error!(
                        record = %record.coordinates(),
                        "{refusal}; there is no dead-letter topic: skipped"
                    );
                    return Delivered::Dropped;
                }
                AfterRefusal::Shrink(smaller) => {
                    tracing::error!(
                        record = %record.coordinates(),
                        "{refusal}; writing a smaller copy ({smaller:?})"
                    );
                    shape = smaller;
                    continue;
                }
                // The record stays uncommitted, so nothing is lost; said loudly below.
                AfterRefusal::KeepTrying => {}
            }
        }
        failures += 1;
        let delay = backoff.delay_after(failures);
        tracing::warn!(
            record = %record.coordinates(), target = hop.topic(), error = %error,
            "could not write the copy; the source offset stays uncommitted; trying again in {} ms",
            delay.as_millis()
        );
        tokio::select! {
            biased;
            _ = stop.cancelled() => return Delivered::Stopped,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// The copy's headers, in librdkafka's list. A full copy's are written straight into it (no
/// list of our own built and copied: see `headers/sink.rs`); a smaller copy, after a refusal,
/// is cut down from the full list first.
fn copy_headers(
    failed: &Failed,
    stamp: &HopStamp<'_>,
    shape: CopyShape,
    refusal: &str,
    retry_refused: Option<&str>,
) -> OwnedHeaders {
    let record = &failed.record;
    if shape == CopyShape::Full && retry_refused.is_none() {
        let trace = failed.span.copy_parent();
        let replaced: &[&str] = match trace {
            Some(_) => &CopyParent::REPLACED,
            None => &[],
        };
        // The source's headers and the ~15 a hop adds, without growing the list.
        let mut list = KafkaHeaders::with_capacity(record.headers().len() + 16);
        stamp.write(record, replaced, &mut list);
        if let Some(trace) = trace {
            trace.write(&mut list);
        }
        return list.into_inner();
    }
    let mut headers = shape.apply(stamp.headers_for(record), record, refusal);
    if let Some(why) = retry_refused {
        headers::mark_retry_refused(&mut headers, why);
    }
    if let Some(trace) = failed.span.copy_parent() {
        trace.replace_in(&mut headers);
    }
    headers.to_kafka()
}

/// A copy lands on its source's partition number, which the target may not have yet when the
/// main topic just grew: the chain is asked to grow at once (`growth.rs`) and the copy waits for
/// it (Key order relies on the number; Spring keeps it too). `false` if stopped meanwhile. A
/// consumer that does not manage its topics, outside Key order, sends at once (the producer
/// picks a partition, and `growth.rs` says loudly which topic to grow).
async fn target_has_partition(
    shared: &Context,
    record: &Record,
    topic: &str,
    stop: &CancellationToken,
) -> bool {
    if shared.key_order.is_none() && !shared.settings.create_topics {
        return true;
    }
    let mut told = false;
    while shared
        .forwarder
        .partition_count(topic)
        .is_some_and(|n| record.partition() >= n)
    {
        shared.forwarder.ask_to_grow();
        if !std::mem::replace(&mut told, true) {
            tracing::warn!(record = %record.coordinates(), "{topic} has no partition {} yet: the copy waits until the chain has grown, so the key's order holds", record.partition());
        }
        tokio::select! {
            biased;
            _ = stop.cancelled() => return false,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    true
}
