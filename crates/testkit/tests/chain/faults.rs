//! Faults a handler or a record brings: short faults blocking retries absorb, corrupt retry headers, panics and hangs.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_retries_absorb_short_faults() {
    init_tracing();
    let topic = unique("blocking");
    create_topic(&topic, 1).await;
    let tries = Arc::new(Mutex::new(0u32));
    let counter = tries.clone();
    let policy = RetryPolicy::new(3)
        .backoff(Backoff::Fixed(Duration::from_millis(100)))
        .blocking_retries(BlockingRetries::new(
            3,
            Backoff::Fixed(Duration::from_millis(20)),
        ));
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(policy)
        .handler(move |_record: Record| {
            let counter = counter.clone();
            async move {
                let mut n = counter.lock().unwrap();
                *n += 1;
                if *n <= 2 {
                    return Err(Failure::msg(format!("flaky call {n}")));
                }
                Ok(())
            }
        })
        .build()
        .unwrap();
    let running = RunningConsumer::spawn(consumer);
    produce(&producer(), &topic, None, None, b"{}", &Headers::new()).await;
    wait_until(Duration::from_secs(30), "the third try", || async {
        *tries.lock().unwrap() == 3
    })
    .await;
    running.stop().await.unwrap();
    assert_eq!(*tries.lock().unwrap(), 3);
    assert_eq!(count(&format!("{topic}-retry")), 0);
    assert_eq!(count(&format!("{topic}-dlt")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_retry_headers_are_tolerated() {
    init_tracing();
    let topic = unique("corrupt");
    create_topic(&topic, 1).await;
    let calls = Recorder::new();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(3).backoff(Backoff::Fixed(Duration::from_millis(100))))
        .handler(scenario_handler(&calls))
        .build()
        .unwrap();
    let retry = consumer.chain().retries[0].name.clone();
    let running = RunningConsumer::spawn(consumer);
    // The retry topic exists once the consumer started.
    wait_until(Duration::from_secs(20), "retry topic", || async {
        partition_count(&retry).is_some()
    })
    .await;
    let producer = producer();
    type Case<'a> = (&'a str, Vec<(&'a str, Vec<u8>)>);
    let cases: Vec<Case> = vec![
        (
            "wrong-length",
            vec![
                (h::ATTEMPTS, vec![0, 2]),
                (h::BACKOFF_TIMESTAMP, vec![1; 9]),
            ],
        ),
        ("zero", vec![(h::ATTEMPTS, vec![0, 0, 0, 0])]),
        (
            "negative",
            vec![(h::ATTEMPTS, (-3i32).to_be_bytes().to_vec())],
        ),
        ("huge", vec![(h::ATTEMPTS, i32::MAX.to_be_bytes().to_vec())]),
        (
            "far-future",
            vec![(
                h::BACKOFF_TIMESTAMP,
                h::encode_big_integer(i64::MAX / 2).to_vec(),
            )],
        ),
        (
            "far-past",
            vec![(h::BACKOFF_TIMESTAMP, h::encode_big_integer(-5).to_vec())],
        ),
        (
            "garbage",
            vec![
                (h::BACKOFF_TIMESTAMP, vec![]),
                (h::ORIGINAL_PARTITION, b"xyz".to_vec()),
            ],
        ),
        (
            "duplicates",
            vec![
                (h::ATTEMPTS, vec![0, 0, 0, 2]),
                (h::ATTEMPTS, vec![0, 0, 0, 3]),
            ],
        ),
        ("none", vec![]),
    ];
    for (name, headers) in &cases {
        let mut hs = Headers::new();
        for (k, v) in headers {
            hs.push(*k, v.clone());
        }
        produce(
            &producer,
            &retry,
            None,
            None,
            format!("ok {name}").as_bytes(),
            &hs,
        )
        .await;
    }
    wait_until(
        Duration::from_secs(30),
        "every corrupt record handled",
        || async { calls.len() == cases.len() },
    )
    .await;
    let calls = calls.calls();
    let attempt_of = |name: &str| {
        calls
            .iter()
            .find(|c| c.payload == format!("ok {name}"))
            .unwrap()
            .attempt
    };
    assert_eq!(
        attempt_of("zero"),
        2,
        "an invalid attempts header falls back to the topic's attempt"
    );
    assert_eq!(
        attempt_of("huge"),
        2,
        "an attempt above Spring's hard cap (Short.MAX_VALUE, spring-kafka 4.0.6) is out of range: the topic's attempt"
    );
    assert_eq!(
        attempt_of("duplicates"),
        3,
        "the last header wins, as Kafka's lastHeader"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_and_hangs_become_transient_failures() {
    init_tracing();
    let topic = unique("hostile-handler");
    create_topic(&topic, 1).await;
    let calls = Recorder::new();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_millis(100))))
        .handler_timeout(Duration::from_millis(500))
        .handler(calls.handler(|record: Record| async move {
            match record.text()? {
                "panic" => panic!("handler bug on 제목"),
                "hang" => std::future::pending::<()>().await,
                _ => {}
            }
            Ok(())
        }))
        .build()
        .unwrap();
    let running = RunningConsumer::spawn(consumer);
    let producer = producer();
    for payload in ["panic", "hang", "fine"] {
        produce(
            &producer,
            &topic,
            None,
            None,
            payload.as_bytes(),
            &Headers::new(),
        )
        .await;
    }
    let dlt = format!("{topic}-dlt");
    wait_until(
        Duration::from_secs(30),
        "both bad records dead-lettered",
        || async { count(&dlt) == 2 },
    )
    .await;
    wait_until(
        Duration::from_secs(10),
        "the good record handled",
        || async { !calls.containing("fine").is_empty() },
    )
    .await;
    let dead = read_all(&dlt);
    let message = |i: usize| dead[i].headers().text(h::EXCEPTION_MESSAGE).unwrap();
    assert_eq!(message(0), "handler panicked: handler bug on 제목");
    assert_eq!(message(1), "handler did not finish within 500 ms");
    assert_eq!(
        count(&format!("{topic}-retry")),
        2,
        "each went through the retry topic once"
    );
    assert_eq!(
        calls.containing("panic").len(),
        2,
        "the worker survived the panic and retried"
    );
    running.stop().await.unwrap();
}
