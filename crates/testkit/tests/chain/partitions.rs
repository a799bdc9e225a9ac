//! Partitions on their own: one waiting does not hold up another, a dropped consumer leaves its partitions, a copy budget smaller than the partitions.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_partition_does_not_hold_up_another() {
    init_tracing();
    let topic = unique("isolation");
    create_topic(&topic, 2).await;
    let calls = Recorder::new();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_secs(20))))
        .handler(scenario_handler(&calls))
        .build()
        .unwrap();
    let (running, retry) = run_with_retry_topic(consumer, 2).await;
    let producer = producer();

    // Partition 0 of the retry topic: a record due in 20 s, then one due now behind it.
    let due_later = h::encode_big_integer(rebound::EpochMillis::now().as_i64() + 20_000);
    let mut later = Headers::new();
    later.push(h::ATTEMPTS, h::encode_i32(2));
    later.push(h::BACKOFF_TIMESTAMP, due_later);
    produce(&producer, &retry, Some(0), None, b"waiting p0", &later).await;
    // Partition 1 of the retry topic and both main partitions: due now.
    let mut now = Headers::new();
    now.push(h::ATTEMPTS, h::encode_i32(2));
    now.push(
        h::BACKOFF_TIMESTAMP,
        h::encode_big_integer(rebound::EpochMillis::now().as_i64()),
    );
    let sent = Instant::now();
    produce(&producer, &retry, Some(1), None, b"due p1", &now).await;
    produce(
        &producer,
        &topic,
        Some(0),
        None,
        b"main p0",
        &Headers::new(),
    )
    .await;
    produce(
        &producer,
        &topic,
        Some(1),
        None,
        b"main p1",
        &Headers::new(),
    )
    .await;

    wait_until(Duration::from_secs(15), "the three due records", || async {
        ["due p1", "main p0", "main p1"]
            .iter()
            .all(|p| !calls.containing(p).is_empty())
    })
    .await;
    let elapsed = sent.elapsed();
    assert!(
        calls.containing("waiting p0").is_empty(),
        "the waiting record is not handled early"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "other partitions went on: {elapsed:?}"
    );
    running.stop().await.unwrap();
}

/// A consumer whose `run` future is dropped (a `select!` that lost, an aborted task) stops
/// polling and leaves its group, instead of holding its partitions with no one to stop it: a
/// second member of the group then gets every partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_consumer_stops_and_leaves_its_partitions() {
    init_tracing();
    let topic = unique("dropped-run");
    let group = unique("g");
    create_topic(&topic, 2).await;
    // Each member's calls apart: A's, then B's.
    let (a_calls, b_calls) = (Recorder::new(), Recorder::new());
    let consumer = |calls: &Recorder| {
        RetryingConsumer::builder(kafka(), &topic, &group)
            .policy(RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_millis(100))))
            .handler(calls.handler(|_: Record| async { Ok(()) }))
            .build()
            .unwrap()
    };
    let producer = producer();
    let send_to_both = |payload: &'static str| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            for partition in 0..2 {
                produce(
                    &producer,
                    &topic,
                    Some(partition),
                    None,
                    payload.as_bytes(),
                    &Headers::new(),
                )
                .await;
            }
        }
    };

    let first = consumer(&a_calls);
    let (drop_tx, drop_rx) = tokio::sync::oneshot::channel::<()>();
    let dropped = tokio::spawn(async move {
        tokio::select! {
            _ = first.run(std::future::pending()) => panic!("run ended by itself"),
            _ = drop_rx => {}
        }
    });
    send_to_both("first").await;
    wait_until(
        Duration::from_secs(30),
        "A handled both first records",
        || async { a_calls.containing("first").len() == 2 },
    )
    .await;
    drop_tx.send(()).unwrap();
    dropped.await.unwrap();

    let second = RunningConsumer::spawn(consumer(&b_calls));
    send_to_both("second").await;
    wait_until(
        Duration::from_secs(60),
        "B handled both second records",
        || async { b_calls.containing("second").len() == 2 },
    )
    .await;
    assert!(
        a_calls.containing("second").is_empty(),
        "A stopped when dropped"
    );
    second.stop().await.unwrap();
}

/// A copy budget smaller than the number of partitions: partitions wait for each other's copies
/// to be acknowledged, settling their own meanwhile, and every failed record still reaches the
/// DLT once, in its partition's order, with the consumer's offsets committed past all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_budget_smaller_than_the_partitions_loses_nothing() {
    init_tracing();
    let topic = unique("copy-budget");
    let group = unique("g");
    create_topic(&topic, 4).await;
    let producer = producer();
    let per_partition = 15;
    for i in 0..per_partition {
        for partition in 0..4 {
            let payload = format!("p{partition}-{i}");
            produce(
                &producer,
                &topic,
                Some(partition),
                None,
                payload.as_bytes(),
                &Headers::new(),
            )
            .await;
        }
    }
    let consumer = RetryingConsumer::builder(kafka(), &topic, &group)
        .policy(RetryPolicy::new(3))
        .max_copies_in_flight(2)
        .handler(|record: Record| async move {
            Err(Failure::permanent(rebound::Message(format!(
                "{} is refused",
                record.text()?
            ))))
        })
        .build()
        .unwrap();
    let running = RunningConsumer::spawn(consumer);
    let dlt = format!("{topic}-dlt");
    wait_until(
        Duration::from_secs(60),
        "every record dead-lettered",
        || async { count(&dlt) == 4 * per_partition },
    )
    .await;
    running.stop().await.unwrap();

    let dead = read_all(&dlt);
    for partition in 0..4 {
        let payloads: Vec<String> = dead
            .iter()
            .filter(|r| r.partition() == partition)
            .map(text)
            .collect();
        let expected: Vec<String> = (0..per_partition)
            .map(|i| format!("p{partition}-{i}"))
            .collect();
        assert_eq!(
            payloads, expected,
            "partition {partition}: once each, in order"
        );
    }
    // The offsets were committed past every record: the same group has nothing left to read.
    // Records every call and succeeds (no payload here goes to fail@naver.com).
    let again = Recorder::new();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &group)
        .policy(RetryPolicy::new(3))
        .handler(scenario_handler(&again))
        .build()
        .unwrap();
    let running = RunningConsumer::spawn(consumer);
    for partition in 0..4 {
        produce(
            &producer,
            &topic,
            Some(partition),
            None,
            b"marker",
            &Headers::new(),
        )
        .await;
    }
    wait_until(
        Duration::from_secs(60),
        "a marker handled on each partition",
        || async { again.containing("marker").len() == 4 },
    )
    .await;
    running.stop().await.unwrap();
    let handled: Vec<String> = again.calls().iter().map(|c| c.payload.clone()).collect();
    assert_eq!(
        handled, ["marker"; 4],
        "nothing before the markers came back"
    );
}
