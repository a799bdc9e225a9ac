//! One partition's worker: takes records in offset order, waits until a retry record is due,
//! runs the handler (with in-place retries), forwards failures, and stores the offset once the
//! record is done. A waiting partition holds up nobody else: each partition has its own task.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::Future;
use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use rdkafka::consumer::Consumer;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::forward::{hop_headers, refused_for_good, CopyShape, FailureReport, Hop};
use super::registry::{ExitGuard, Tp};
use super::{Event, Shared};
use crate::failure::{Failure, FailureClass, Message};
use crate::headers::{self as h};
use crate::naming::Stage;
use crate::policy::{Backoff, BlockingRetries};
use crate::record::Record;

/// Records further in the future than this are treated as having no due time (Spring does too).
const MAX_FUTURE: Duration = Duration::from_secs(24 * 3600);

pub(crate) struct WorkerControl {
    pub stop: CancellationToken,
    pub abort: CancellationToken,
    pub buffered: Arc<std::sync::atomic::AtomicUsize>,
    pub exit: ExitGuard,
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Epoch milliseconds, rounded up: a due time computed from it is never before the real instant
/// plus the delay.
pub(crate) fn now_ms() -> i64 {
    (now_micros() + 999) / 1000
}

/// A copy on its way: yields once it is acknowledged (`true`), or `false` if stopped before.
type Copy = Pin<Box<dyn Future<Output = bool> + Send>>;

/// The records of one partition that are done in order, and the copies still in flight.
///
/// The partition goes on with the next records while copies of failed ones wait for their
/// acknowledgement (a round trip of the broker's `acks=all`), so failures do not serialise the
/// partition on the broker's latency. Offsets are still stored in order: never past a copy that
/// is not acknowledged yet. How many copies may be in flight is bounded per consumer and per
/// partition ([`Settings::copies_per_partition`](super::Settings::copies_per_partition)).
#[derive(Default)]
struct Progress {
    /// Copies in flight, oldest first, with their source offsets in the same order.
    copies: FuturesOrdered<Copy>,
    copy_offsets: VecDeque<i64>,
    /// The last record processed (handled, or its copy sent off).
    last_processed: Option<i64>,
}

impl Progress {
    /// A record done in place. Returns the offset to store, if nothing before it is in flight.
    fn done(&mut self, offset: i64) -> Option<i64> {
        self.last_processed = Some(offset);
        self.copy_offsets.is_empty().then_some(offset)
    }

    fn copying(&mut self, offset: i64, copy: Copy) {
        self.last_processed = Some(offset);
        self.copy_offsets.push_back(offset);
        self.copies.push_back(copy);
    }

    /// The oldest copy was acknowledged: everything before the next copy in flight is done.
    fn acknowledged(&mut self) -> Option<i64> {
        self.copy_offsets.pop_front();
        match self.copy_offsets.front() {
            Some(next) => Some(next - 1),
            None => self.last_processed,
        }
    }
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    tp: Tp,
    mut records: UnboundedReceiver<Record>,
    control: WorkerControl,
) {
    let _exit = control.exit;
    let mut progress = Progress::default();
    let copies_per_partition = shared.settings.copies_per_partition();
    loop {
        let record = tokio::select! {
            biased;
            _ = control.abort.cancelled() => return,
            Some(acknowledged) = progress.copies.next(), if !progress.copies.is_empty() => {
                if !settle_copy(&shared, &tp, &mut progress, acknowledged) {
                    return;
                }
                continue;
            }
            _ = control.stop.cancelled() => break,
            next = records.recv(), if progress.copies.len() < copies_per_partition => match next {
                Some(record) => record,
                None => break,
            },
        };
        let left = control.buffered.fetch_sub(1, Ordering::SeqCst) - 1;
        if left == shared.settings.resume_below {
            // The poller resumes the partition if it paused it.
            let _ = shared.resume.send(tp.clone());
        }
        let offset = record.offset();
        let processed = tokio::select! {
            biased;
            _ = control.abort.cancelled() => return,
            processed = process(&shared, record, &control.stop) => processed,
        };
        match processed {
            Processed::Done => {
                if let Some(offset) = progress.done(offset) {
                    store_offset(&shared, &tp, offset);
                }
            }
            Processed::Forwarding(copy) => {
                match room_for_copy(&shared, &tp, &mut progress, &control.stop, &control.abort)
                    .await
                {
                    Room::Granted(permit) => {
                        // The permit goes back when the copy is acknowledged (or given up).
                        let copy = copy.map(move |acknowledged| {
                            drop(permit);
                            acknowledged
                        });
                        progress.copying(offset, Box::pin(copy));
                    }
                    Room::Stopped => break,
                    Room::End => return,
                }
            }
            Processed::Stopped => break,
        }
    }
    // Stopping: what is done so far is stored; copies still waiting for their acknowledgement
    // get it or give up when the stop reaches their back-off (`abort` cuts the wait short).
    while !progress.copies.is_empty() {
        let acknowledged = tokio::select! {
            biased;
            _ = control.abort.cancelled() => return,
            acknowledged = progress.copies.next() => acknowledged == Some(true),
        };
        if !settle_copy(&shared, &tp, &mut progress, acknowledged) {
            return;
        }
    }
}

/// What waiting for room in the consumer's copy budget led to.
enum Room {
    Granted(tokio::sync::OwnedSemaphorePermit),
    /// Stopping: the copy was not sent, so the record is not done (nor anything after it).
    Stopped,
    /// Aborted, or one of the partition's own copies was stopped: the task ends.
    End,
}

/// Waits for a permit of the consumer's copy budget. Meanwhile this partition's own copies are
/// settled as they are acknowledged, which frees their permits: a partition never waits on
/// permits that only it could give back.
async fn room_for_copy(
    shared: &Shared,
    tp: &Tp,
    progress: &mut Progress,
    stop: &CancellationToken,
    abort: &CancellationToken,
) -> Room {
    if let Ok(permit) = shared.copy_permits.clone().try_acquire_owned() {
        return Room::Granted(permit);
    }
    tracing::debug!(%tp, "waiting for room in the consumer's budget of copies in flight");
    // One request for the whole wait, so that it keeps its place in the semaphore's queue.
    let permit = shared.copy_permits.clone().acquire_owned();
    tokio::pin!(permit);
    loop {
        tokio::select! {
            biased;
            _ = abort.cancelled() => return Room::End,
            Some(acknowledged) = progress.copies.next(), if !progress.copies.is_empty() => {
                if !settle_copy(shared, tp, progress, acknowledged) {
                    return Room::End;
                }
            }
            _ = stop.cancelled() => return Room::Stopped,
            permit = &mut permit => {
                // The semaphore is never closed.
                return permit.map_or(Room::End, Room::Granted);
            }
        }
    }
}

/// The oldest copy in flight finished: stores what it frees. `false` if it was stopped before
/// its acknowledgement, in which case nothing from it on may be stored and the task ends.
fn settle_copy(shared: &Shared, tp: &Tp, progress: &mut Progress, acknowledged: bool) -> bool {
    if !acknowledged {
        return false;
    }
    if let Some(offset) = progress.acknowledged() {
        store_offset(shared, tp, offset);
    }
    true
}

fn store_offset(shared: &Shared, tp: &Tp, offset: i64) {
    // librdkafka stores `offset + 1`, the next record to read.
    if let Err(e) = shared
        .consumer
        .store_offset(&tp.topic, tp.partition, offset)
    {
        // The partition was revoked meanwhile: its new owner handles the record again.
        tracing::debug!(%tp, offset, error = %e, "could not store offset");
    }
}

/// What handling a record in place led to.
enum Processed {
    /// The record is done: handled, or given up (no DLT).
    Done,
    /// The record failed; its copy to the next retry topic or the DLT is on its way.
    Forwarding(Copy),
    /// Stopped before the record was done.
    Stopped,
}

/// Handles one record: waits until it is due, runs the handler, and starts the copy of a
/// failed record.
async fn process(shared: &Arc<Shared>, mut record: Record, stop: &CancellationToken) -> Processed {
    let settings = &shared.settings;
    match settings.chain.stage_of(record.topic()) {
        Some(Stage::Retry(topic)) => {
            let first_attempt = *topic.attempts.start();
            let attempt = read_attempt(&record, first_attempt);
            record = record.with_attempt(attempt);
            if let Some(wait) = read_due(&record) {
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return Processed::Stopped,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        Some(Stage::Dlt) => {
            return match deliver_dead_letter(shared, record, stop).await {
                true => Processed::Done,
                false => Processed::Stopped,
            }
        }
        Some(Stage::Main) | None => record = record.with_attempt(1),
    }

    let started = std::time::Instant::now();
    let failure = match attempt_in_place(shared, &record, settings.policy.blocking(), stop).await {
        Attempt::Done => {
            shared.emit(Event::Handled {
                topic: record.topic(),
                attempt: record.attempt(),
                latency: started.elapsed(),
            });
            return Processed::Done;
        }
        Attempt::Stopped => return Processed::Stopped,
        Attempt::Failed(failure) => failure,
    };
    let class = settings.classifier.classify(&failure);
    shared.emit(Event::Failed {
        topic: record.topic(),
        attempt: record.attempt(),
        class,
        latency: started.elapsed(),
    });
    let now = now_ms();
    let Some(hop) = next_hop(shared, &record, class, now) else {
        tracing::error!(
            record = %record.coordinates(), attempt = record.attempt(), %class, error = %failure,
            "record failed and there is no dead-letter topic: skipped"
        );
        return Processed::Done;
    };
    let failed = Failed {
        record,
        failure,
        class,
        now,
    };
    Processed::Forwarding(Box::pin(finish_failed(
        shared.clone(),
        failed,
        hop,
        stop.clone(),
    )))
}

/// A record that failed, on its way to the next hop.
struct Failed {
    record: Record,
    failure: Failure,
    class: FailureClass,
    now: i64,
}

/// Writes the copy of a failed record, then logs the hop. `true` once the copy is acknowledged
/// (or the record is dropped, having nowhere to go), `false` if stopped before.
async fn finish_failed(
    shared: Arc<Shared>,
    failed: Failed,
    hop: Hop,
    stop: CancellationToken,
) -> bool {
    let Failed {
        record,
        failure,
        class,
        now,
    } = failed;
    let settings = &shared.settings;
    let report = FailureReport {
        failure: &failure,
        class,
        group: &settings.group,
        now_ms: now,
    };
    let (hop, partition, offset) = match forward(&shared, &record, hop, &report, &stop).await {
        Forwarded::Written {
            hop,
            partition,
            offset,
        } => (hop, partition, offset),
        Forwarded::Skipped => return true,
        Forwarded::Stopped => return false,
    };
    let attempts = settings.policy.attempts();
    shared.emit(match &hop {
        Hop::Retry { topic, .. } => Event::Forwarded {
            from: record.topic(),
            to: topic,
        },
        Hop::DeadLetter { topic } => Event::DeadLettered {
            from: record.topic(),
            to: topic,
        },
    });
    match &hop {
        Hop::Retry { topic, delay, .. } => tracing::info!(
            "{} failed on attempt {}/{} ({class}: {failure}); retrying through {topic}-{partition}@{offset} in {} ms",
            record.coordinates(), record.attempt(), attempts, delay.as_millis()
        ),
        Hop::DeadLetter { topic } => tracing::warn!(
            "{} failed on attempt {}/{} ({class}: {failure}); dead-lettered to {topic}-{partition}@{offset}",
            record.coordinates(), record.attempt(), attempts
        ),
    }
    true
}

/// The attempt number of a record on a retry topic, from its header. A missing or corrupt header
/// falls back to the first attempt this topic delivers, with a warning.
fn read_attempt(record: &Record, first_attempt: u32) -> u32 {
    match record.headers().last(h::ATTEMPTS).map(h::decode_attempts) {
        Some(Ok(attempt)) => attempt,
        Some(Err(e)) => {
            tracing::warn!(record = %record.coordinates(), error = %e, "corrupt attempts header; taking attempt {first_attempt}");
            first_attempt
        }
        None => {
            tracing::warn!(record = %record.coordinates(), "no attempts header; taking attempt {first_attempt}");
            first_attempt
        }
    }
}

/// How long until a retry record is due. Missing, corrupt or absurd due times mean "now".
fn read_due(record: &Record) -> Option<Duration> {
    let bytes = record.headers().last(h::BACKOFF_TIMESTAMP)?;
    let due = match h::decode_big_integer(h::BACKOFF_TIMESTAMP, bytes) {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(record = %record.coordinates(), error = %e, "corrupt back-off header; handling now");
            return None;
        }
    };
    let wait = due.saturating_mul(1000).saturating_sub(now_micros());
    if wait <= 0 {
        return None;
    }
    let wait = Duration::from_micros(wait as u64);
    if wait > MAX_FUTURE {
        tracing::warn!(record = %record.coordinates(), due, "back-off timestamp more than a day ahead; handling now");
        return None;
    }
    Some(wait)
}

enum Attempt {
    Done,
    Failed(Failure),
    Stopped,
}

/// Runs the handler, retrying in place as `blocking` says while the failure is transient.
async fn attempt_in_place(
    shared: &Shared,
    record: &Record,
    blocking: Option<&BlockingRetries>,
    stop: &CancellationToken,
) -> Attempt {
    let handler = &shared.settings.handler;
    let tries = blocking.map_or(1, |b| b.attempts);
    let mut n = 1u32;
    loop {
        let failure = match invoke(shared, handler.as_ref(), record).await {
            Ok(()) => return Attempt::Done,
            Err(failure) => failure,
        };
        let class = shared.settings.classifier.classify(&failure);
        if !class.is_retryable() || n >= tries {
            return Attempt::Failed(failure);
        }
        let delay = blocking.map_or(Duration::ZERO, |b| b.backoff.delay_after(n));
        tracing::debug!(record = %record.coordinates(), try_ = n, error = %failure, "retrying in place in {delay:?}");
        tokio::select! {
            biased;
            _ = stop.cancelled() => return Attempt::Stopped,
            _ = tokio::time::sleep(delay) => {}
        }
        n = n.saturating_add(1);
    }
}

/// One call of a handler; a panic or a timeout becomes a transient failure.
async fn invoke(
    shared: &Shared,
    handler: &dyn super::Handler,
    record: &Record,
) -> Result<(), Failure> {
    let call = AssertUnwindSafe(handler.handle(record.clone())).catch_unwind();
    let outcome = match shared.settings.handler_timeout {
        Some(limit) => match tokio::time::timeout(limit, call).await {
            Ok(outcome) => outcome,
            Err(_) => {
                return Err(Failure::transient(Message(format!(
                    "handler did not finish within {} ms",
                    limit.as_millis()
                ))))
            }
        },
        None => call.await,
    };
    outcome.unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic payload".into());
        Err(Failure::transient(Message(format!(
            "handler panicked: {text}"
        ))))
    })
}

/// Where a record goes after failing: the next retry topic while attempts and time remain,
/// otherwise the DLT (if there is one).
pub(crate) fn next_hop(
    shared: &Shared,
    record: &Record,
    class: FailureClass,
    now: i64,
) -> Option<Hop> {
    let settings = &shared.settings;
    let policy = &settings.policy;
    if class.is_retryable() && record.attempt() < policy.attempts() {
        let next = record.attempt() + 1;
        if let Some(topic) = settings.chain.retry_topic_for(next) {
            let delay = policy.delay_with_jitter(record.attempt());
            let due_ms = now + delay.as_millis() as i64;
            let within_timeout = policy.overall_timeout().is_none_or(|limit| {
                let origin = record
                    .headers()
                    .last(h::ORIGINAL_TIMESTAMP_RETRY)
                    .and_then(|b| h::decode_big_integer(h::ORIGINAL_TIMESTAMP_RETRY, b).ok())
                    .or(record.timestamp().map(|t| t.as_i64()))
                    .unwrap_or(now);
                due_ms <= origin + limit.as_millis() as i64
            });
            if within_timeout {
                return Some(Hop::Retry {
                    topic: topic.name.clone(),
                    attempt: next,
                    due_ms,
                    delay,
                });
            }
        }
    }
    settings
        .chain
        .dlt
        .clone()
        .map(|topic| Hop::DeadLetter { topic })
}

/// How forwarding a failed record ended.
enum Forwarded {
    /// The copy was acknowledged at `partition@offset`. `hop` is the hop taken: the DLT instead
    /// of the planned retry topic when that refused the copy.
    Written {
        hop: Hop,
        partition: i32,
        offset: i64,
    },
    /// The retry topic refused the copy for good and there is no DLT: the record is dropped,
    /// as any failure is when a chain has no DLT.
    Skipped,
    /// Stopped before the copy was acknowledged: the source offset stays uncommitted.
    Stopped,
}

/// Sends the copy, trying again with back-off until the broker acknowledges it. The source
/// offset stays uncommitted meanwhile, so a crash here loses nothing.
///
/// A copy refused for good (too large, invalid) is never sent again as it was: a retry topic's
/// refusal sends the record to the DLT at once (it could never be retried), and the DLT's
/// refusal steps the copy down (see [`CopyShape`]) until it fits, so one record cannot stall
/// its partition forever.
async fn forward(
    shared: &Shared,
    record: &Record,
    mut hop: Hop,
    report: &FailureReport<'_>,
    stop: &CancellationToken,
) -> Forwarded {
    let backoff =
        Backoff::exponential(Duration::from_millis(200), 2.0).with_max(Duration::from_secs(10));
    let mut failures = 0u32;
    let mut shape = CopyShape::Full;
    let mut refusal = String::new();
    let mut retry_refused: Option<String> = None;
    loop {
        let mut headers = shape.apply(hop_headers(record, &hop, report), record, &refusal);
        if let Some(why) = &retry_refused {
            headers.set(h::RETRY_REFUSED, why.clone());
        }
        let error = match shared.forwarder.send(record, &hop, shape, headers).await {
            Ok((partition, offset)) => {
                return Forwarded::Written {
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
            match (&hop, shared.settings.chain.dlt.clone(), shape.smaller()) {
                (Hop::Retry { .. }, Some(topic), _) => {
                    tracing::error!(
                        record = %record.coordinates(),
                        "{refusal}; it cannot be retried and goes to {topic} instead"
                    );
                    retry_refused = Some(refusal.clone());
                    hop = Hop::DeadLetter { topic };
                    continue;
                }
                (Hop::Retry { .. }, None, _) => {
                    tracing::error!(
                        record = %record.coordinates(),
                        "{refusal}; there is no dead-letter topic: skipped"
                    );
                    return Forwarded::Skipped;
                }
                (Hop::DeadLetter { .. }, _, Some(smaller)) => {
                    tracing::error!(
                        record = %record.coordinates(),
                        "{refusal}; writing a smaller copy ({smaller:?})"
                    );
                    shape = smaller;
                    continue;
                }
                // Even the smallest copy was refused: keep trying (the record stays
                // uncommitted, so nothing is lost) and say so loudly below.
                (Hop::DeadLetter { .. }, _, None) => {}
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
            _ = stop.cancelled() => return Forwarded::Stopped,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// A record on the DLT, when this consumer listens to it: log it as Spring does, then run the
/// dead-letter hook until it succeeds (a dead letter is never dropped by its own listener).
async fn deliver_dead_letter(shared: &Shared, record: Record, stop: &CancellationToken) -> bool {
    tracing::info!("Received message in dlt listener: {}", record.coordinates());
    let Some(hook) = shared.settings.dlt_handler.as_ref() else {
        return true;
    };
    let forever = BlockingRetries::forever(
        Backoff::exponential(Duration::from_secs(1), 2.0).with_max(Duration::from_secs(60)),
    );
    let mut n = 1u32;
    loop {
        match invoke(shared, hook.as_ref(), &record).await {
            Ok(()) => return true,
            Err(failure) => {
                let delay = forever.backoff.delay_after(n);
                tracing::warn!(record = %record.coordinates(), error = %failure, "dead-letter handler failed; trying again in {} ms", delay.as_millis());
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return false,
                    _ = tokio::time::sleep(delay) => {}
                }
                n = n.saturating_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy() -> Copy {
        Box::pin(async { true })
    }

    #[test]
    fn offsets_are_stored_in_order_around_copies_in_flight() {
        let mut progress = Progress::default();
        assert_eq!(
            progress.done(0),
            Some(0),
            "nothing in flight: stored at once"
        );
        progress.copying(1, copy());
        assert_eq!(progress.done(2), None, "behind the copy of 1");
        assert_eq!(progress.done(3), None);
        progress.copying(4, copy());
        assert_eq!(progress.done(5), None);
        assert_eq!(
            progress.acknowledged(),
            Some(3),
            "up to the copy of 4, still in flight"
        );
        assert_eq!(progress.acknowledged(), Some(5), "everything processed");
        assert_eq!(progress.done(6), Some(6));
    }

    #[test]
    fn an_acknowledged_copy_with_nothing_after_it_stores_its_own_offset() {
        let mut progress = Progress::default();
        progress.copying(7, copy());
        assert_eq!(progress.acknowledged(), Some(7));
    }
}
