//! Delivering a copy: the first try queued at once, and the loop that tries again with
//! back-off, steps down to a smaller copy, or turns to the DLT when a retry topic refuses it.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::types::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;

use crate::consumer::context::Context;
use crate::consumer::events::Event;
use crate::consumer::producer::Acknowledgement;
use crate::consumer::refusal::{after_refusal, refused_for_good, AfterRefusal, CopyShape};
use crate::consumer::route::{dead_letter_topic, Hop};
use crate::failure::{Failure, FailureClass};
use crate::headers::{self, HopStamp, KafkaHeaders};
use crate::policy::Backoff;
use crate::record::Record;
use crate::time::EpochMillis;
use crate::trace::traceparent::CopyParent;
use crate::trace::AttemptSpan;

/// A record that failed, on its way to the next hop.
pub(crate) struct Failed {
    pub record: Record,
    pub failure: Failure,
    pub class: FailureClass,
    pub at: EpochMillis,
    /// The failed attempt's span: the copy's `traceparent` names it; ended once the copy is written.
    pub span: AttemptSpan,
}

/// How delivering a copy ended.
pub(super) enum Delivered {
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

/// Queues the full copy now, for the hop planned: its acknowledgement to await. `Err` when it
/// cannot be queued: `None` to start the loop afresh (the target is short of the partition, or
/// the producer's queue is full: the loop waits for either), else the refusal for the loop to
/// act on.
pub(super) fn queue_first(
    shared: &Context,
    failed: &Failed,
    hop: &Hop,
) -> Result<Acknowledgement, Option<KafkaError>> {
    let record = &failed.record;
    if partition_missing(shared, record, hop.topic()) {
        return Err(None);
    }
    let headers = copy_headers(
        failed,
        &stamp(shared, failed, hop),
        CopyShape::Full,
        "",
        None,
    );
    shared
        .forwarder
        .queue(record, hop.topic(), CopyShape::Full, headers)
        .map_err(|error| {
            let full = matches!(
                error,
                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
            );
            (!full).then_some(error)
        })
}

/// What the hop writes on the copy.
fn stamp<'a>(shared: &'a Context, failed: &'a Failed, hop: &Hop) -> HopStamp<'a> {
    HopStamp {
        failure: &failed.failure,
        class: failed.class,
        group: &shared.settings.group,
        failed_at: failed.at,
        next: hop.next_delivery(),
    }
}

/// Sends the copy, trying again with back-off until the broker acknowledges it. The source
/// offset stays uncommitted meanwhile, so a crash here loses nothing.
///
/// A copy refused for good (too large, invalid) is never sent again as it was (see
/// [`after_refusal`]), so one record cannot stall its partition forever.
pub(super) async fn deliver(
    shared: &Context,
    failed: &Failed,
    mut hop: Hop,
    stop: &CancellationToken,
    mut first_error: Option<KafkaError>,
) -> Delivered {
    let (record, failure, class) = (&failed.record, &failed.failure, failed.class);
    let backoff =
        Backoff::exponential(Duration::from_millis(200), 2.0).with_max(Duration::from_secs(10));
    let mut failures = 0u32;
    let mut shape = CopyShape::Full;
    let mut refusal = String::new();
    let mut retry_refused: Option<String> = None;
    loop {
        let error = match first_error.take() {
            Some(error) => error,
            None => {
                if !target_has_partition(shared, record, hop.topic(), stop).await {
                    return Delivered::Stopped;
                }
                let stamp = stamp(shared, failed, &hop);
                let headers =
                    copy_headers(failed, &stamp, shape, &refusal, retry_refused.as_deref());
                match shared
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
                }
            }
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
    let mut told = false;
    while partition_missing(shared, record, topic) {
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

/// Whether the copy must wait for `topic` to have the record's partition (see
/// [`target_has_partition`]).
fn partition_missing(shared: &Context, record: &Record, topic: &str) -> bool {
    (shared.key_order.is_some() || shared.settings.create_topics)
        && shared
            .forwarder
            .partition_count(topic)
            .is_some_and(|n| record.partition() >= n)
}
