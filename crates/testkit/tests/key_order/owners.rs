//! Keys across a change of owner: a rebalance while keys are held, and records finished above a stuck one.

use super::*;

/// A rebalance between two live members while keys are held by their retries: whichever member
/// gets a key's partitions runs the key's retry before its next record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_while_keys_are_held_keeps_their_order() {
    init_tracing();
    let topic = unique("key-rebalance");
    create_topic(&topic, 2).await;
    let group = unique("key-rebalance-group");
    // Long enough that the second member joins while every retry waits for its due time.
    let policy = || RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_secs(6)));
    fn first_fails(_: &str, seq: u32, attempt: u32) -> Option<Failure> {
        (seq == 0 && attempt == 1).then(|| Failure::msg("451 mailbox busy"))
    }
    let start = |calls: &Recorder| {
        let consumer = consumer(&topic, &group, policy(), Duration::ZERO, calls, first_fails)
            .build()
            .unwrap();
        let retry_topic = consumer.chain().retries[0].name.clone();
        let run = RunningConsumer::spawn(consumer);
        (retry_topic, run)
    };
    let keys: Vec<String> = (0..8).map(|k| format!("member{k}@naver.com")).collect();

    let (first_calls, second_calls) = (Recorder::new(), Recorder::new());
    let (retry_topic, first) = start(&first_calls);
    produce_keys(&topic, &keys, 1).await;
    wait_until(
        Duration::from_secs(30),
        "every key's first record in the retry topic",
        || {
            let copied = count(&retry_topic) == keys.len() as i64;
            async move { copied }
        },
    )
    .await;
    let (_, second) = start(&second_calls);
    let producer = producer();
    for key in &keys {
        let payload = format!("{key}:1");
        produce(
            &producer,
            &topic,
            None,
            Some(key),
            payload.as_bytes(),
            &Headers::new(),
        )
        .await;
    }
    let all = || [first_calls.calls(), second_calls.calls()].concat();
    wait_until(
        Duration::from_secs(60),
        "every key's retry and next record handled",
        || {
            let done = all().len() == keys.len() * 3;
            async move { done }
        },
    )
    .await;
    let (first, second) = tokio::join!(first.stop(), second.stop());
    first.unwrap();
    second.unwrap();

    assert!(
        !second_calls.is_empty(),
        "the second member got partitions in the rebalance"
    );
    let merged = all();
    for (key, calls) in by_key(&merged) {
        assert_eq!(seqs(&calls), [(0, 1), (0, 2), (1, 1)], "key {key}");
    }
    assert_key_order(&merged);
}

/// Records finished above a stuck one are marked in the commit's metadata: the next owner of the
/// partition handles the stuck record again, and skips them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_finished_above_a_stuck_one_are_not_handled_again_by_the_next_owner() {
    init_tracing();
    let topic = unique("key-marks");
    create_topic(&topic, 1).await;
    let group = unique("key-marks-group");
    let keys: Vec<String> = (0..50).map(|k| format!("member{k}@naver.com")).collect();
    produce_keys(&topic, &keys, 1).await;
    // The first consumer's handler never finishes member0's record (offset 0).
    let start = |calls: &Recorder, stuck: bool| {
        let consumer = RetryingConsumer::builder(kafka(), &topic, &group)
            .processing_order(ProcessingOrder::Key)
            .shutdown_grace(Duration::from_millis(300))
            .handler(calls.handler(move |record: Record| async move {
                if stuck && record.text()?.starts_with("member0@") {
                    std::future::pending::<()>().await;
                }
                Ok(())
            }))
            .build()
            .unwrap();
        RunningConsumer::spawn(consumer)
    };

    // A call counts once it returned: member0's never does.
    let first_calls = Recorder::new();
    let run = start(&first_calls, true);
    wait_until(
        Duration::from_secs(30),
        "49 records handled around the stuck one",
        || {
            let done = first_calls.succeeded().len() == 49;
            async move { done }
        },
    )
    .await;
    run.stop().await.unwrap();

    // A record after them: once the next owner handled it, it took every record before it.
    let producer = producer();
    produce(
        &producer,
        &topic,
        None,
        Some("last"),
        b"last:0",
        &Headers::new(),
    )
    .await;
    let second_calls = Recorder::new();
    let run = start(&second_calls, false);
    wait_until(Duration::from_secs(30), "the last record handled", || {
        let done = second_calls
            .succeeded()
            .iter()
            .any(|c| c.payload == "last:0");
        async move { done }
    })
    .await;
    run.stop().await.unwrap();
    let mut second: Vec<String> = second_calls
        .succeeded()
        .into_iter()
        .map(|c| c.payload)
        .collect();
    second.sort();
    assert_eq!(
        second,
        ["last:0", "member0@naver.com:0"],
        "only the stuck record was handled again"
    );
}
