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
