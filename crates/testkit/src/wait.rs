//! Waiting on a condition instead of sleeping a fixed time: a test is as fast as the system under
//! test, and a slow machine only makes it slower, not red.
//!
//! [`wait_for`] is the one to reach for: its probe says what it saw each time the condition does
//! not hold yet, and a timeout panics with the last of it, so a red test says how far the system
//! got. [`wait_until`] is the short form for a condition whose state says nothing more.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is looked at.
const POLL: Duration = Duration::from_millis(50);

/// Polls `probe` every 50 ms until it returns `Ok`, and returns what it holds. After `timeout`,
/// panics naming `what` and the state the last `Err` described (text: several lines print as
/// they are).
///
/// ```no_run
/// # async fn example() {
/// use std::time::Duration;
/// let dlt = testkit::unique("orders-dlt");
/// let dead = testkit::wait_for(Duration::from_secs(30), "two dead letters", || async {
///     match testkit::count(&dlt) {
///         n if n >= 2 => Ok(n),
///         n => Err(format!("{n} dead letters")),
///     }
/// })
/// .await;
/// # }
/// ```
pub async fn wait_for<T, S, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S>>,
    S: Display,
{
    let deadline = Instant::now() + timeout;
    loop {
        let state = match probe().await {
            Ok(value) => return value,
            Err(state) => state,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last seen: {state}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `condition` every 50 ms until it holds; panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(timeout, what, || {
        let holds = condition();
        async move {
            holds
                .await
                .then_some(())
                .ok_or("the condition did not hold")
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_what_the_probe_found() {
        let mut looks = 0;
        let found = wait_for(Duration::from_secs(5), "the third look", || {
            looks += 1;
            let n = looks;
            async move {
                if n == 3 {
                    Ok(n)
                } else {
                    Err(n)
                }
            }
        })
        .await;
        assert_eq!(found, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for a miracle; last seen: still nothing")]
    async fn a_timeout_says_what_it_saw_last() {
        wait_for(Duration::from_millis(120), "a miracle", || async {
            Err::<(), _>("still nothing")
        })
        .await;
    }
}
