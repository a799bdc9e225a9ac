//! The scenario through every retry topic into the DLT, and failures that go straight to the DLT.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_walks_the_chain_and_lands_in_the_dlt() {
    init_tracing();
    let topic = unique("email.send");
    create_topic(&topic, 1).await;
    let calls = Recorder::new();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = events.clone();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("email-send-group"))
        .policy(scenario_policy())
        .handler(scenario_handler(&calls))
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
    let failing = calls.containing("fail@naver.com");
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
        let gap = pair[1].started.duration_since(pair[0].ended()).as_millis();
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
    let good_calls = calls.containing("member@naver.com");
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
