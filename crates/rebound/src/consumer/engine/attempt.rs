//! One attempt of the handler on a due record: begun (metrics, clock, span), called, concluded
//! (done, or the copy of a failed record to its next topic).
//!
//! The call is made and polled once before anything is boxed: a handler that finishes without
//! waiting, which is most of them, costs its own future and nothing of Rebound's. Only a call
//! that waits, or a failure retried in place, becomes a future of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::consumer::context::Context;
use crate::consumer::events::Event;
use crate::consumer::forward::{forward_failed, Failed};
use crate::consumer::handler::{self, Attempt, Call, InPlace};
use crate::consumer::route::next_hop;
use crate::consumer::settings::Settings;
use crate::record::Record;
use crate::time::EpochMillis;
use crate::trace::{AttemptSpan, Outcome};

/// A copy on its way: yields once it is acknowledged (`true`), or `false` if stopped before.
/// Nothing is sent before it is first polled, which the task does within the copy budget.
pub(crate) type Copy = Pin<Box<dyn Future<Output = bool> + Send>>;

/// What handling a record in place led to.
pub(crate) enum Processed {
    /// The record is done: handled, dead-lettered by its listener, or given up (no DLT).
    Done,
    /// The record failed; its copy to the next retry topic or the DLT waits to be sent.
    Forwarding(Copy),
    /// Stopped before the record was done.
    Stopped,
}

/// An attempt in progress: what its end reports.
struct Begun {
    span: AttemptSpan,
    started: Instant,
}

/// How the handler is called and retried in place, from the settings.
fn in_place(settings: &Settings) -> InPlace<'_> {
    InPlace {
        handler: settings.handler.as_ref(),
        timeout: settings.handler_timeout,
        classifier: &settings.classifier,
        blocking: settings.policy.blocking(),
    }
}

/// Runs the handler on a due record: `Ok` with how it ended when the call finished on its first
/// poll (and is not retried in place), else `Err` with the rest of the attempt as a future.
pub(crate) fn handle_now(
    context: &Arc<Context>,
    record: Record,
    stop: &Arc<CancellationToken>,
) -> Result<Processed, BoxFuture<'static, Processed>> {
    context.metrics.started(&record);
    let begun = Begun {
        started: Instant::now(),
        span: AttemptSpan::start(context, &record),
    };
    let call = {
        let _in_span = begun.span.enter();
        handler::call(context.settings.handler.as_ref(), &record)
    };
    let attempt = match call {
        Call::Finished(Ok(())) => Attempt::Done,
        Call::Finished(Err(failure)) if !in_place(&context.settings).retries(&failure, 1) => {
            Attempt::Failed(failure)
        }
        call => {
            return Err(Box::pin(finish_later(
                context.clone(),
                record,
                begun,
                call,
                stop.clone(),
            )))
        }
    };
    Ok(conclude(context, record, begun, attempt, stop))
}

/// The rest of an attempt whose first call waits or is retried in place.
async fn finish_later(
    context: Arc<Context>,
    record: Record,
    begun: Begun,
    call: Call,
    stop: Arc<CancellationToken>,
) -> Processed {
    let in_place = in_place(&context.settings);
    let attempt = begun
        .span
        .in_scope(async {
            let first = match call {
                Call::Finished(outcome) => outcome,
                Call::Waiting(waiting) => waiting.finish(in_place.timeout).await,
            };
            match first {
                Ok(()) => Attempt::Done,
                Err(failure) => in_place.after_failure(&record, failure, 1, &stop).await,
            }
        })
        .await;
    conclude(&context, record, begun, attempt, &stop)
}

/// Ends an attempt: a success is reported, a failure classified and its copy started (unsent:
/// the task sends it within the copy budget).
fn conclude(
    context: &Arc<Context>,
    record: Record,
    begun: Begun,
    attempt: Attempt,
    stop: &CancellationToken,
) -> Processed {
    let settings = &context.settings;
    let Begun { span, started } = begun;
    let failure = match attempt {
        Attempt::Done => {
            span.end(Outcome::Handled, None);
            context.emit(Event::Handled {
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
    span.failed(&failure, class);
    context.emit(Event::Failed {
        topic: record.topic(),
        attempt: record.attempt(),
        class,
        latency: started.elapsed(),
    });
    let now = EpochMillis::now();
    let Some(hop) = next_hop(&settings.chain, &settings.policy, &record, class, now) else {
        tracing::error!(
            record = %record.coordinates(), attempt = record.attempt(), %class, error = %failure,
            "record failed and there is no dead-letter topic: skipped"
        );
        span.end(Outcome::Dropped, None);
        return Processed::Done;
    };
    let failed = Failed {
        record,
        failure,
        class,
        at: now,
        span,
    };
    Processed::Forwarding(Box::pin(forward_failed(
        context.clone(),
        failed,
        hop,
        stop.clone(),
    )))
}
