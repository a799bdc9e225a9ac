//! Calling the user's handler: the [`Handler`] trait, one call that turns a panic or a timeout
//! into a transient failure, and the in-place (blocking) retries around it.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use std::task::Poll;

use futures::future::{BoxFuture, CatchUnwind};
use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::failure::{Classifier, Failure, Message};
use crate::policy::BlockingRetries;
use crate::record::Record;

/// An async record handler. Implemented for any `Fn(Record) -> impl Future<Output = Result<(), Failure>>`.
///
/// ```
/// use rebound::{Failure, Handler, Record};
///
/// struct Mailer;
///
/// impl Handler for Mailer {
///     fn handle(&self, record: Record) -> futures::future::BoxFuture<'static, Result<(), Failure>> {
///         Box::pin(async move {
///             let text = record.text()?.to_string();
///             if text.is_empty() {
///                 return Err(Failure::permanent("an empty e-mail cannot be sent"));
///             }
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Handles one record. `Ok` commits it; a [`Failure`] sends it on through the chain.
    fn handle(&self, record: Record) -> BoxFuture<'static, Result<(), Failure>>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Record) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + Send + 'static,
{
    fn handle(&self, record: Record) -> BoxFuture<'static, Result<(), Failure>> {
        Box::pin(self(record))
    }
}

/// One call of a handler, polled once as it is made: most handlers finish without waiting, and
/// such a call costs no future of Rebound's around it. A panic, in the call or in the poll, is
/// caught either way.
pub(crate) enum Call {
    /// It finished on its first poll.
    Finished(Result<(), Failure>),
    /// It waits: [`Waiting::finish`] goes on with it.
    Waiting(Waiting),
}

/// A handler's call that did not finish on its first poll.
pub(crate) struct Waiting(CatchUnwind<AssertUnwindSafe<BoxFuture<'static, Result<(), Failure>>>>);

/// Makes one call of `handler` and polls it once, with a waker that drops the wake-up: a call
/// that waits is polled again, by whoever awaits [`Waiting::finish`], with its own.
pub(crate) fn call(handler: &dyn Handler, record: &Record) -> Call {
    let made = std::panic::catch_unwind(AssertUnwindSafe(|| handler.handle(record.clone())));
    let mut call = match made {
        Ok(future) => AssertUnwindSafe(future).catch_unwind(),
        Err(panic) => return Call::Finished(Err(panicked(panic))),
    };
    let mut first_poll = std::task::Context::from_waker(std::task::Waker::noop());
    match call.poll_unpin(&mut first_poll) {
        Poll::Ready(outcome) => Call::Finished(outcome.unwrap_or_else(|p| Err(panicked(p)))),
        Poll::Pending => Call::Waiting(Waiting(call)),
    }
}

impl Waiting {
    /// The call's outcome; one longer than `timeout` (counted from now, the first poll having
    /// just happened) is a transient failure.
    pub(crate) async fn finish(self, timeout: Option<Duration>) -> Result<(), Failure> {
        let outcome = match timeout {
            Some(limit) => match tokio::time::timeout(limit, self.0).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(Failure::transient(Message(format!(
                        "handler did not finish within {} ms",
                        limit.as_millis()
                    ))))
                }
            },
            None => self.0.await,
        };
        outcome.unwrap_or_else(|panic| Err(panicked(panic)))
    }
}

/// A handler's panic as a transient failure.
fn panicked(panic: Box<dyn std::any::Any + Send>) -> Failure {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".into());
    Failure::transient(Message(format!("handler panicked: {text}")))
}

/// One call of a handler; a panic or a call longer than `timeout` becomes a transient failure.
pub(crate) async fn invoke(
    handler: &dyn Handler,
    record: &Record,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    match call(handler, record) {
        Call::Finished(outcome) => outcome,
        Call::Waiting(waiting) => waiting.finish(timeout).await,
    }
}

/// How handling a record in place ended.
pub(crate) enum Attempt {
    /// The handler succeeded.
    Done,
    /// It failed for good on this delivery (not retryable, or in-place retries exhausted).
    Failed(Failure),
    /// Stopped while waiting between in-place retries.
    Stopped,
}

/// What the in-place retries need: the handler and how it is called and retried.
pub(crate) struct InPlace<'a> {
    pub handler: &'a dyn Handler,
    pub timeout: Option<Duration>,
    pub classifier: &'a Classifier,
    pub blocking: Option<&'a BlockingRetries>,
}

impl InPlace<'_> {
    /// Whether a record whose `tries`-th call failed with `failure` is called again in place.
    pub(crate) fn retries(&self, failure: &Failure, tries: u32) -> bool {
        let allowed = self.blocking.map_or(1, |b| b.attempts);
        self.classifier.classify(failure).is_retryable() && tries < allowed
    }

    /// Goes on after the `tries`-th call failed with `failure`: calls again after the back-off
    /// while the failure is retryable and tries are left.
    pub(crate) async fn after_failure(
        &self,
        record: &Record,
        mut failure: Failure,
        mut tries: u32,
        stop: &CancellationToken,
    ) -> Attempt {
        loop {
            if !self.retries(&failure, tries) {
                return Attempt::Failed(failure);
            }
            let delay = self
                .blocking
                .map_or(Duration::ZERO, |b| b.backoff.delay_after(tries));
            tracing::debug!(record = %record.coordinates(), try_ = tries, error = %failure, "retrying in place in {delay:?}");
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Attempt::Stopped,
                _ = tokio::time::sleep(delay) => {}
            }
            tries = tries.saturating_add(1);
            failure = match invoke(self.handler, record, self.timeout).await {
                Ok(()) => return Attempt::Done,
                Err(failure) => failure,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::FailureClass;

    fn record() -> Record {
        Record::new("t", 0, 0)
    }

    #[tokio::test]
    async fn a_panic_before_the_future_is_made_is_a_transient_failure_too() {
        let panics_at_once =
            |_: Record| -> std::future::Ready<Result<(), Failure>> { panic!("at once") };
        let failure = invoke(&panics_at_once, &record(), None).await.unwrap_err();
        assert_eq!(failure.class(), Some(FailureClass::Transient));
        assert_eq!(failure.to_string(), "handler panicked: at once");
    }

    #[tokio::test]
    async fn a_panic_and_a_timeout_are_transient_failures() {
        let panics = |_: Record| async { panic!("boom") };
        let failure = invoke(&panics, &record(), None).await.unwrap_err();
        assert_eq!(failure.class(), Some(FailureClass::Transient));
        assert_eq!(failure.to_string(), "handler panicked: boom");

        let slow = |_: Record| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        };
        let failure = invoke(&slow, &record(), Some(Duration::from_millis(10)))
            .await
            .unwrap_err();
        assert_eq!(failure.to_string(), "handler did not finish within 10 ms");
    }

    #[tokio::test]
    async fn in_place_retries_stop_at_a_permanent_failure() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = calls.clone();
        let handler = move |_: Record| {
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                match n {
                    0 => Err(Failure::msg("busy")),
                    _ => Err(Failure::permanent(Message("no such mailbox".into()))),
                }
            }
        };
        let blocking = BlockingRetries::new(5, crate::Backoff::Fixed(Duration::ZERO));
        let classifier = Classifier::new();
        let in_place = InPlace {
            handler: &handler,
            timeout: None,
            classifier: &classifier,
            blocking: Some(&blocking),
        };
        let first = invoke(&handler, &record(), None).await.unwrap_err();
        let outcome = in_place
            .after_failure(&record(), first, 1, &CancellationToken::new())
            .await;
        assert!(
            matches!(outcome, Attempt::Failed(f) if f.class() == Some(FailureClass::Permanent))
        );
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
