//! The retry chain on a real broker, in process: the scenario, permanent failures, blocking
//! retries, corrupt headers, and partition independence.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rebound::headers::{self as h, Headers};
use rebound::{Backoff, BlockingRetries, Failure, Record, RetryPolicy, RetryingConsumer};
use testkit::*;

mod faults;
mod flow_control;
mod partitions;
mod scenario;

fn scenario_policy() -> RetryPolicy {
    RetryPolicy::new(5)
        .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
        .dlt_suffix(".dlt")
}

/// Fails every e-mail to fail@naver.com (transient), succeeds otherwise, its calls noted.
fn scenario_handler(calls: &Recorder) -> impl rebound::Handler {
    calls.handler(|record: Record| async move {
        if record.text()?.contains("fail@naver.com") {
            Err(Failure::msg("잘못된 이메일 주소로 인해 발송 실패"))
        } else {
            Ok(())
        }
    })
}

/// Runs `consumer` and waits until its first retry topic has `partitions` partitions (the
/// consumer creates it); returns the running consumer and that topic's name.
async fn run_with_retry_topic(
    consumer: RetryingConsumer,
    partitions: usize,
) -> (RunningConsumer, String) {
    let retry = consumer.chain().retries[0].name.clone();
    let running = RunningConsumer::spawn(consumer);
    wait_until(Duration::from_secs(20), "retry topic", || async {
        partition_count(&retry) == Some(partitions)
    })
    .await;
    (running, retry)
}
