//! Calling the user's handler: the [`Handler`] trait, one call that turns a panic or a timeout
//! into a transient failure, and the in-place (blocking) retries around it.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::future::BoxFuture;
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

/// One call of a handler; a panic or a call longer than `timeout` becomes a transient failure.
pub(crate) async fn invoke(
    handler: &dyn Handler,
    record: &Record,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let call = AssertUnwindSafe(handler.handle(record.clone())).catch_unwind();
    let outcome = match timeout {
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

/// How handling a record in place ended.
pub(crate) enum Attempt {
    /// The handler succeeded.
    Done,
    /// It failed for good on this delivery (not retryable, or in-place retries exhausted).
    Failed(Failure),
    /// Stopped while waiting between in-place retries.
    Stopped,
}

/// Runs the handler, retrying in place as `blocking` says while the failure is transient.
pub(crate) async fn attempt_in_place(
    handler: &dyn Handler,
    record: &Record,
    timeout: Option<Duration>,
    classifier: &Classifier,
    blocking: Option<&BlockingRetries>,
    stop: &CancellationToken,
) -> Attempt {
    let tries = blocking.map_or(1, |b| b.attempts);
    let mut n = 1u32;
    loop {
        let failure = match invoke(handler, record, timeout).await {
            Ok(()) => return Attempt::Done,
            Err(failure) => failure,
        };
        if !classifier.classify(&failure).is_retryable() || n >= tries {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::FailureClass;

    fn record() -> Record {
        Record::new("t", 0, 0)
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
        let outcome = attempt_in_place(
            &handler,
            &record(),
            None,
            &Classifier::new(),
            Some(&blocking),
            &CancellationToken::new(),
        )
        .await;
        assert!(
            matches!(outcome, Attempt::Failed(f) if f.class() == Some(FailureClass::Permanent))
        );
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
