//! A record on the DLT, when this consumer listens to it (a dead-letter consumer, or a
//! `dlt_handler`): logged as Spring logs it, then given to the dead-letter hook until the hook
//! succeeds. A dead letter is never dropped by its own listener.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::handler::invoke;
use crate::policy::Backoff;
use crate::record::Record;

/// The hook's back-off: 1 s doubling, at most a minute, for as long as it fails.
fn hook_backoff() -> Backoff {
    Backoff::exponential(Duration::from_secs(1), 2.0).with_max(Duration::from_secs(60))
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
    let backoff = hook_backoff();
    let mut n = 1u32;
    loop {
        match invoke(hook.as_ref(), &record, shared.settings.handler_timeout).await {
            Ok(()) => return true,
            Err(failure) => {
                let delay = backoff.delay_after(n);
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
}
