//! A record on the DLT, when this consumer listens to it (a dead-letter consumer, or a
//! `dlt_handler`): logged as Spring logs it, then given to the dead-letter hook. Under the
//! policy's [`DltStrategy`] (Spring's): `AlwaysRetryOnError` (the default) calls the hook again
//! until it succeeds, so a dead letter is never dropped by its own listener; `FailOnError` logs
//! the hook's failure and skips the dead letter.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::handler::invoke;
use crate::policy::{Backoff, DltStrategy};
use crate::record::Record;

/// The hook's back-off: 1 s doubling, at most a minute, for as long as it fails.
fn hook_backoff() -> Backoff {
    Backoff::exponential(Duration::from_secs(1), 2.0).with_max(Duration::from_secs(60))
}

/// After the hook's `n`th failure on a dead letter: the wait before calling it again, or `None`
/// to skip the dead letter (`FailOnError`). `NoDlt` reaches here only on a consumer of a DLT
/// alone given such a policy: it keeps the default.
fn after_hook_failure(strategy: DltStrategy, n: u32) -> Option<Duration> {
    match strategy {
        DltStrategy::FailOnError => None,
        DltStrategy::AlwaysRetryOnError | DltStrategy::NoDlt => Some(hook_backoff().delay_after(n)),
    }
}

/// `true` once the hook handled the record (or there is none), `false` if stopped before.
pub(crate) async fn deliver_dead_letter(
    shared: &Context,
    record: Record,
    stop: &CancellationToken,
) -> bool {
    tracing::info!("Received message in dlt listener: {}", record.coordinates());
    let Some(hook) = shared.settings.dlt_handler.as_ref() else {
        return true;
    };
    let strategy = shared.settings.policy.dead_letter_strategy();
    let mut n = 1u32;
    loop {
        let started = std::time::Instant::now();
        match invoke(hook.as_ref(), &record, shared.settings.handler_timeout).await {
            Ok(()) => {
                shared.metrics.handled(record.topic(), started.elapsed());
                return true;
            }
            Err(failure) => {
                let class = shared.settings.classifier.classify(&failure);
                shared
                    .metrics
                    .failed(record.topic(), class, started.elapsed());
                let Some(delay) = after_hook_failure(strategy, n) else {
                    tracing::error!(record = %record.coordinates(), error = %failure, "dead-letter handler failed; FailOnError: the dead letter is skipped");
                    return true;
                };
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

    #[test]
    fn the_hook_backs_off_to_a_minute() {
        let delays: Vec<u64> = [1, 2, 3, 6, 7, 20]
            .iter()
            .map(|n| hook_backoff().delay_after(*n).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 32, 60, 60]);
    }

    #[test]
    fn the_strategy_says_whether_the_hook_is_called_again() {
        let again = |s| -> Vec<Option<u64>> {
            [1, 2, 7, 1000]
                .iter()
                .map(|n| after_hook_failure(s, *n).map(|d| d.as_secs()))
                .collect()
        };
        let forever = [Some(1), Some(2), Some(60), Some(60)];
        assert_eq!(again(DltStrategy::AlwaysRetryOnError), forever);
        assert_eq!(again(DltStrategy::NoDlt), forever);
        assert_eq!(again(DltStrategy::FailOnError), [None; 4]);
    }
}
