//! The retry chain on a real broker, in process: the scenario, permanent failures, blocking
//! retries, corrupt headers, and partition independence.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rebound::headers::{self as h, Headers};
use rebound::{Backoff, BlockingRetries, Failure, Record, RetryPolicy, RetryingConsumer};
use testkit::*;

mod faults;
mod partitions;
mod scenario;

/// What the handler saw: payload, attempt, topic, and when the call started and ended.
#[derive(Debug, Clone)]
struct Call {
    payload: String,
    attempt: u32,
    topic: String,
    started: Instant,
    ended: Instant,
}

type Calls = Arc<Mutex<Vec<Call>>>;

fn calls_of(calls: &Calls, needle: &str) -> Vec<Call> {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.payload.contains(needle))
        .cloned()
        .collect()
}

fn scenario_policy() -> RetryPolicy {
    RetryPolicy::new(5)
        .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
        .dlt_suffix(".dlt")
}

/// Fails every e-mail to fail@naver.com (transient), succeeds otherwise, and records each call.
fn scenario_handler(calls: Calls) -> impl rebound::Handler {
    move |record: Record| {
        let calls = calls.clone();
        async move {
            let started = Instant::now();
            let payload = record.text()?.to_string();
            let fails = payload.contains("fail@naver.com");
            calls.lock().unwrap().push(Call {
                payload,
                attempt: record.attempt(),
                topic: record.topic().to_string(),
                started,
                ended: Instant::now(),
            });
            if fails {
                Err(Failure::msg("잘못된 이메일 주소로 인해 발송 실패"))
            } else {
                Ok(())
            }
        }
    }
}
