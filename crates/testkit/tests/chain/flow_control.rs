//! Flow control: a partition whose task holds more than `max_buffered` records is paused, and
//! resumed as it drains, without losing, repeating or reordering a record, while the others go on.

use super::*;

/// Records per partition: several poll rounds' worth, so that the waiting partition is paused
/// with most of its records still on the broker and fetched again after each resume.
const RECORDS: usize = 3_000;

/// Records into `partition` of `retry`, attempt 2, due at `due`, payloads `{prefix}-{i}`.
async fn fill(retry: &str, partition: i32, prefix: &str, due: rebound::EpochMillis) {
    let producer = producer();
    let mut headers = Headers::new();
    headers.push(h::ATTEMPTS, h::encode_i32(2));
    headers.push(h::BACKOFF_TIMESTAMP, h::encode_big_integer(due.as_i64()));
    let sends = (0..RECORDS).map(|i| {
        let (producer, headers) = (&producer, &headers);
        let payload = format!("{prefix}-{i}");
        async move {
            produce(
                producer,
                retry,
                Some(partition),
                None,
                payload.as_bytes(),
                headers,
            )
            .await
        }
    });
    futures::future::join_all(sends).await;
}

/// The indexes of `prefix`'s calls, in the order the handler saw them.
fn indexes(calls: &Recorder, prefix: &str) -> Vec<usize> {
    calls
        .containing(&format!("{prefix}-"))
        .iter()
        .map(|c| c.payload[prefix.len() + 1..].parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_waiting_partition_is_paused_and_resumed_losing_nothing() {
    init_tracing();
    let topic = unique("flow-control");
    create_topic(&topic, 2).await;
    let calls = Recorder::new();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_secs(1))))
        .max_buffered(4)
        .handler(calls.handler(|_: Record| async { Ok(()) }))
        .build()
        .unwrap();
    let (running, retry) = run_with_retry_topic(consumer, 2).await;

    // Partition 0 waits: its records are due in 12 s. Partition 1's are due now.
    let wait = Duration::from_secs(12);
    let due = rebound::EpochMillis::now().as_i64() + wait.as_millis() as i64;
    let filled = Instant::now();
    fill(&retry, 0, "waiting", rebound::EpochMillis::new(due)).await;
    fill(&retry, 1, "due", rebound::EpochMillis::now()).await;

    wait_until(
        wait,
        "partition 1's records, while partition 0 waits",
        || async { calls.containing("due-").len() >= RECORDS },
    )
    .await;
    assert!(
        calls.containing("waiting-").is_empty() && filled.elapsed() < wait,
        "partition 1 went on while partition 0 waited, and nothing of 0 was handled early"
    );
    wait_until(Duration::from_secs(60), "partition 0's records", || async {
        calls.containing("waiting-").len() >= RECORDS
    })
    .await;
    running.stop().await.unwrap();

    let expected: Vec<usize> = (0..RECORDS).collect();
    assert_eq!(
        indexes(&calls, "due"),
        expected,
        "partition 1: each once, in order"
    );
    assert_eq!(
        indexes(&calls, "waiting"),
        expected,
        "partition 0, paused and resumed: each once, in order"
    );
}
