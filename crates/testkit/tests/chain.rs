//! The retry chain on a real broker, in process: the scenario, permanent failures, blocking
//! retries, corrupt headers, and partition independence.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rebound::headers::{self as h, Headers};
use rebound::{Backoff, BlockingRetries, Failure, Record, RetryPolicy, RetryingConsumer};
use testkit::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_walks_the_chain_and_lands_in_the_dlt() {
    init_tracing();
    let topic = unique("email.send");
    create_topic(&topic, 1).await;
    let calls: Calls = Arc::default();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = events.clone();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("email-send-group"))
        .policy(scenario_policy())
        .handler(scenario_handler(calls.clone()))
        .on_event(move |event| {
            let name = match event {
                rebound::Event::Handled { .. } => "handled",
                rebound::Event::Failed { .. } => "failed",
                rebound::Event::Forwarded { .. } => "forwarded",
                rebound::Event::DeadLettered { .. } => "dead-lettered",
                rebound::Event::ForwardFailed { .. } => "forward-failed",
                _ => "other",
            };
            log.lock().unwrap().push(name.to_string());
        })
        .build()
        .unwrap();
    let chain = consumer.chain().clone();
    let running = RunningConsumer::spawn(consumer);

    let producer = producer();
    let bad = r#"{"from":"sender@naver.com","to":"fail@naver.com","subject":"제목","body":"내용"}"#;
    let good =
        r#"{"from":"sender@naver.com","to":"member@naver.com","subject":"제목","body":"내용"}"#;
    produce(
        &producer,
        &topic,
        None,
        Some("fail@naver.com"),
        bad.as_bytes(),
        &Headers::new(),
    )
    .await;
    produce(
        &producer,
        &topic,
        None,
        Some("member@naver.com"),
        good.as_bytes(),
        &Headers::new(),
    )
    .await;

    let dlt = format!("{topic}.dlt");
    wait_until(Duration::from_secs(60), "the record in the DLT", || async {
        count(&dlt) == 1
    })
    .await;

    // The chain is Spring's, in order, each hop once.
    let names: Vec<String> = chain.retries.iter().map(|r| r.name.clone()).collect();
    assert_eq!(
        names,
        ["-retry-1000", "-retry-2000", "-retry-4000", "-retry-8000"].map(|s| format!("{topic}{s}"))
    );
    for name in &names {
        let records = read_all(name);
        assert_eq!(records.len(), 1, "{name} holds the failing record once");
        assert!(text(&records[0]).contains("fail@naver.com"));
    }

    // Each attempt came no earlier than its delay after the previous failure.
    let failing = calls_of(&calls, "fail@naver.com");
    let attempts: Vec<u32> = failing.iter().map(|c| c.attempt).collect();
    assert_eq!(attempts, [1, 2, 3, 4, 5]);
    let topics: Vec<&str> = failing.iter().map(|c| c.topic.as_str()).collect();
    assert_eq!(topics[0], topic);
    assert_eq!(
        &topics[1..],
        names.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let mut gaps = Vec::new();
    for (pair, expected) in failing.windows(2).zip([1000u128, 2000, 4000, 8000]) {
        let gap = pair[1].started.duration_since(pair[0].ended).as_millis();
        assert!(
            gap >= expected,
            "attempt {} came {gap} ms after the failure, before its {expected} ms",
            pair[1].attempt
        );
        assert!(
            gap < expected + 1000,
            "attempt {} came {gap} ms after the failure, far after {expected} ms",
            pair[1].attempt
        );
        gaps.push(gap);
    }
    println!("measured hop delays (ms): {gaps:?}");

    // The dead letter carries Spring's headers.
    let dead = &read_all(&dlt)[0];
    assert_eq!(text(dead), bad, "payload intact, Korean included");
    assert_eq!(
        dead.headers().text(h::ORIGINAL_TOPIC).as_deref(),
        Some(topic.as_str())
    );
    assert_eq!(
        dead.headers().last(h::ORIGINAL_PARTITION),
        Some(&[0, 0, 0, 0][..])
    );
    assert_eq!(
        dead.headers().last(h::ORIGINAL_OFFSET),
        Some(&[0, 0, 0, 0, 0, 0, 0, 0][..])
    );
    // Spring's meaning on a DLT copy: the attempt a next delivery would have (5 deliveries: 6).
    assert_eq!(dead.headers().last(h::ATTEMPTS), Some(&[0, 0, 0, 6][..]));
    assert_eq!(
        dead.headers().text(h::EXCEPTION_MESSAGE).as_deref(),
        Some("잘못된 이메일 주소로 인해 발송 실패")
    );
    assert_eq!(
        dead.headers().text(h::FAILURE_CLASS).as_deref(),
        Some("transient")
    );
    assert_eq!(dead.key(), Some(&b"fail@naver.com"[..]));

    let mut seen = events.lock().unwrap().clone();
    seen.sort();
    let expected = [
        vec!["dead-lettered"],
        vec!["failed"; 5],
        vec!["forwarded"; 4],
        vec!["handled"],
    ]
    .concat();
    assert_eq!(seen, expected, "the events a metrics exporter would count");

    // The good record was handled exactly once and never visited a retry topic.
    let good_calls = calls_of(&calls, "member@naver.com");
    assert_eq!(good_calls.len(), 1);
    for name in &names {
        assert!(read_all(name)
            .iter()
            .all(|r| !text(r).contains("member@naver.com")));
    }
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_and_undecodable_go_straight_to_the_dlt() {
    init_tracing();
    let topic = unique("orders");
    create_topic(&topic, 1).await;
    let handled: Arc<Mutex<Vec<u32>>> = Arc::default();
    let seen = handled.clone();
    #[derive(serde::Deserialize)]
    struct Order {
        id: u32,
        valid: bool,
    }
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(4).backoff(Backoff::Fixed(Duration::from_millis(100))))
        .handler(move |record: Record| {
            let seen = seen.clone();
            async move {
                let order: Order = record.json()?;
                seen.lock().unwrap().push(order.id);
                if !order.valid {
                    return Err(Failure::permanent(rebound::Message(format!(
                        "order {} is invalid",
                        order.id
                    ))));
                }
                Ok(())
            }
        })
        .build()
        .unwrap();
    let running = RunningConsumer::spawn(consumer);
    let producer = producer();
    for payload in [
        &br#"{"id":1,"valid":false}"#[..],
        b"\xff\xfe not json",
        br#"{"id":3,"valid":true}"#,
    ] {
        produce(&producer, &topic, None, None, payload, &Headers::new()).await;
    }
    let dlt = format!("{topic}-dlt");
    wait_until(Duration::from_secs(30), "two dead letters", || async {
        count(&dlt) == 2
    })
    .await;
    wait_until(Duration::from_secs(10), "order 3 handled", || async {
        handled.lock().unwrap().contains(&3)
    })
    .await;

    assert_eq!(
        count(&format!("{topic}-retry")),
        0,
        "nothing visited the retry topic"
    );
    let dead = read_all(&dlt);
    assert_eq!(
        dead[0].headers().text(h::FAILURE_CLASS).as_deref(),
        Some("permanent")
    );
    assert_eq!(
        dead[0].headers().text(h::EXCEPTION_MESSAGE).as_deref(),
        Some("order 1 is invalid")
    );
    assert_eq!(
        dead[0].headers().last(h::ATTEMPTS),
        Some(&[0, 0, 0, 2][..]),
        "1 delivery"
    );
    assert_eq!(
        dead[1].headers().text(h::FAILURE_CLASS).as_deref(),
        Some("undecodable")
    );
    let reason = dead[1].headers().text(h::EXCEPTION_MESSAGE).unwrap();
    assert!(reason.contains("not the expected JSON"), "{reason}");
    assert_eq!(
        dead[1].payload(),
        Some(&b"\xff\xfe not json"[..]),
        "bytes kept as they were"
    );
    assert_eq!(
        *handled.lock().unwrap(),
        [1, 3],
        "each handled once, none retried"
    );
    running.stop().await.unwrap();
}

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
    let calls: Calls = Arc::default();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(3).backoff(Backoff::Fixed(Duration::from_millis(100))))
        .handler(scenario_handler(calls.clone()))
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
        || async { calls.lock().unwrap().len() == cases.len() },
    )
    .await;
    let calls = calls.lock().unwrap().clone();
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
async fn a_waiting_partition_does_not_hold_up_another() {
    init_tracing();
    let topic = unique("isolation");
    create_topic(&topic, 2).await;
    let calls: Calls = Arc::default();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_secs(20))))
        .handler(scenario_handler(calls.clone()))
        .build()
        .unwrap();
    let retry = consumer.chain().retries[0].name.clone();
    let running = RunningConsumer::spawn(consumer);
    wait_until(Duration::from_secs(20), "retry topic", || async {
        partition_count(&retry) == Some(2)
    })
    .await;
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
            .all(|p| !calls_of(&calls, p).is_empty())
    })
    .await;
    let elapsed = sent.elapsed();
    assert!(
        calls_of(&calls, "waiting p0").is_empty(),
        "the waiting record is not handled early"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "other partitions went on: {elapsed:?}"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_and_hangs_become_transient_failures() {
    init_tracing();
    let topic = unique("hostile-handler");
    create_topic(&topic, 1).await;
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_millis(100))))
        .handler_timeout(Duration::from_millis(500))
        .handler(move |record: Record| {
            let seen = seen.clone();
            async move {
                let payload = record.text()?.to_string();
                let now = Instant::now();
                seen.lock().unwrap().push(Call {
                    payload: payload.clone(),
                    attempt: record.attempt(),
                    topic: record.topic().to_string(),
                    started: now,
                    ended: now,
                });
                match payload.as_str() {
                    "panic" => panic!("handler bug on 제목"),
                    "hang" => std::future::pending::<()>().await,
                    _ => {}
                }
                Ok(())
            }
        })
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
        || async { !calls_of(&calls, "fine").is_empty() },
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
        calls_of(&calls, "panic").len(),
        2,
        "the worker survived the panic and retried"
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
    let calls: Calls = Arc::default();
    let consumer = |name: &'static str| {
        let calls = calls.clone();
        RetryingConsumer::builder(kafka(), &topic, &group)
            .policy(RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_millis(100))))
            .handler(move |record: Record| {
                let calls = calls.clone();
                async move {
                    let now = Instant::now();
                    calls.lock().unwrap().push(Call {
                        payload: format!("{name}:{}", record.text()?),
                        attempt: record.attempt(),
                        topic: record.topic().to_string(),
                        started: now,
                        ended: now,
                    });
                    Ok(())
                }
            })
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

    let first = consumer("A");
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
        || async { calls_of(&calls, "A:first").len() == 2 },
    )
    .await;
    drop_tx.send(()).unwrap();
    dropped.await.unwrap();

    let second = RunningConsumer::spawn(consumer("B"));
    send_to_both("second").await;
    wait_until(
        Duration::from_secs(60),
        "B handled both second records",
        || async { calls_of(&calls, "B:second").len() == 2 },
    )
    .await;
    assert!(
        calls_of(&calls, "A:second").is_empty(),
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
    let again: Calls = Arc::default();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &group)
        .policy(RetryPolicy::new(3))
        .handler(scenario_handler(again.clone()))
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
        || async { calls_of(&again, "marker").len() == 4 },
    )
    .await;
    running.stop().await.unwrap();
    let handled: Vec<String> = again
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.payload.clone())
        .collect();
    assert_eq!(
        handled, ["marker"; 4],
        "nothing before the markers came back"
    );
}
