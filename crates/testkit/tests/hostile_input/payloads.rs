//! Hostile payloads: undecodable, a megabyte of text, too large to copy, and large but valid.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_payloads_go_to_the_dlt_once_and_are_never_retried() {
    init_tracing();
    let topic = unique("hostile-payloads");
    create_topic(&topic, 1).await;
    let calls = Recorder::new();
    let (retry, dlt, running) = start(&topic, email_handler(&calls));

    let producer = producer();
    let cases = hostile_payloads();
    let mut offsets = Vec::new();
    for (key, payload, _) in &cases {
        let (_, offset) = send(
            &producer,
            &topic,
            key,
            payload.as_deref(),
            OwnedHeaders::new(),
        )
        .await;
        offsets.push(offset);
    }
    let good = r#"{"to":"member@naver.com","subject":"제목","body":"내용"}"#.as_bytes();
    send(&producer, &topic, "good", Some(good), OwnedHeaders::new()).await;

    // One partition, handled in order: once the good record is handled, every hostile one
    // before it has been dead-lettered (the copy was acknowledged before going on).
    wait_until(Duration::from_secs(60), "the good record", || async {
        calls.for_key("good").iter().any(Call::succeeded)
    })
    .await;
    assert!(running.is_running(), "the consumer is still running");

    let dead = read_all(&dlt);
    assert_eq!(
        dead.len(),
        cases.len(),
        "every hostile payload dead-lettered once"
    );
    assert_eq!(count(&retry), 0, "no hostile payload was retried");
    for ((key, payload, reason), offset) in cases.iter().zip(&offsets) {
        let copies: Vec<&Record> = dead
            .iter()
            .filter(|r| r.key_text().as_deref() == Some(*key))
            .collect();
        assert_eq!(copies.len(), 1, "{key}: one dead letter");
        let copy = copies[0];
        assert_eq!(
            copy.headers().text(h::FAILURE_CLASS).as_deref(),
            Some("undecodable"),
            "{key}"
        );
        let message = copy
            .headers()
            .text(h::EXCEPTION_MESSAGE)
            .unwrap_or_default();
        assert!(
            message.contains(reason),
            "{key}: the reason {message:?} says {reason:?}"
        );
        assert!(
            message.len() < 500,
            "{key}: the reason is short ({} bytes)",
            message.len()
        );
        assert!(copy.headers().text(h::EXCEPTION_FQCN).is_some(), "{key}");
        assert_eq!(
            copy.headers().last(h::ATTEMPTS),
            Some(&[0, 0, 0, 2][..]),
            "{key}: one delivery (Spring writes deliveries + 1 on a DLT copy)"
        );
        let provenance = Provenance::read(copy.headers()).unwrap();
        assert_eq!(
            (provenance.topic.as_str(), provenance.offset),
            (topic.as_str(), Some(*offset)),
            "{key}"
        );
        match payload {
            None => assert!(
                copy.payload().unwrap_or_default().is_empty(),
                "{key}: no payload in, no payload out"
            ),
            Some(bytes) => assert!(
                copy.payload() == Some(&bytes[..]),
                "{key}: the payload is kept byte for byte"
            ),
        }
        assert_eq!(calls.for_key(key).len(), 1, "{key}: the handler ran once");
    }
    println!(
        "dead-letter reasons:\n{}",
        dead.iter()
            .map(|r| format!(
                "  {:<24} {}",
                r.key_text().unwrap_or_default(),
                r.headers().text(h::EXCEPTION_MESSAGE).unwrap_or_default()
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    running.stop().await.unwrap();
}

/// "1 MB of text": 1,000,000 bytes, the size librdkafka's producer accepts by default. The DLT copy
/// carries the same payload plus the failure headers, so it is a little larger than the source;
/// the forwarder allows what a broker accepts by default (1,048,588 bytes), so it keeps the payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_text_is_dead_lettered_and_the_partition_goes_on() {
    init_tracing();
    let topic = unique("hostile-megabyte");
    create_topic(&topic, 1).await;
    let calls = Recorder::new();
    let (retry, dlt, running) = start(&topic, email_handler(&calls));

    let producer = big_producer();
    let big = "x".repeat(1_000_000).into_bytes();
    send(
        &producer,
        &topic,
        "megabyte",
        Some(&big),
        OwnedHeaders::new(),
    )
    .await;
    let good = br#"{"to":"member@naver.com","subject":"s","body":"b"}"#;
    send(&producer, &topic, "good", Some(good), OwnedHeaders::new()).await;

    wait_until(
        Duration::from_secs(60),
        "the good record after the megabyte",
        || async { calls.for_key("good").iter().any(Call::succeeded) },
    )
    .await;
    let dead = read_all(&dlt);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload().map(<[u8]>::len), Some(big.len()));
    assert_eq!(count(&retry), 0);
    assert_eq!(calls.for_key("megabyte").len(), 1);
    assert!(running.is_running());
    running.stop().await.unwrap();
}

/// A record larger than any copy may be (the source's producer allowed more than the forwarder
/// does) and failing transiently: the retry topic refuses the copy, so the record goes to the DLT
/// at once, and the DLT copy leaves the payload behind with a header that says where it is. The
/// partition goes on either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_too_large_to_copy_is_dead_lettered_without_its_payload() {
    init_tracing();
    let topic = unique("hostile-too-large");
    // The source topic takes records up to 2 MB (Kafka's default is about 1 MB); the retry topic,
    // created by Rebound with the broker's defaults, does not.
    create_topic_with(&topic, 1, &[("max.message.bytes", "2000000")]).await;
    let calls = Recorder::new();
    let (retry, dlt, running) = start(&topic, keyed_handler(&calls));

    let producer = big_producer();
    let huge = vec![b'x'; 1_200_000];
    send(
        &producer,
        &topic,
        "fail-huge",
        Some(&huge),
        OwnedHeaders::new(),
    )
    .await;
    send(&producer, &topic, "after", Some(b"{}"), OwnedHeaders::new()).await;

    wait_until(
        Duration::from_secs(60),
        "the record after the huge one",
        || async { !calls.for_key("after").is_empty() },
    )
    .await;
    // The partition goes on while the copy steps down (retry topic refused, then the DLT's
    // full copy refused): the dead letter may land after the next record is handled.
    wait_until(
        Duration::from_secs(60),
        "the huge record's dead letter",
        || async { count(&dlt) >= 1 },
    )
    .await;
    let dead = read_all(&dlt);
    assert_eq!(dead.len(), 1, "one dead letter");
    let letter = &dead[0];
    assert_eq!(letter.key_text().as_deref(), Some("fail-huge"));
    assert!(letter.payload().is_none_or(<[u8]>::is_empty));
    let omitted = letter
        .headers()
        .text(h::PAYLOAD_OMITTED)
        .expect("payload-omitted header");
    assert!(omitted.contains("1200000 bytes"), "{omitted}");
    assert!(omitted.contains(&format!("{topic}-0@0")), "{omitted}");
    let refused = letter
        .headers()
        .text(h::RETRY_REFUSED)
        .expect("retry-refused header");
    assert!(refused.contains(&retry), "{refused}");
    assert_eq!(
        letter.headers().text(h::EXCEPTION_MESSAGE).as_deref(),
        Some("fail-huge fails")
    );
    assert_eq!(
        letter.headers().text(h::ORIGINAL_TOPIC).as_deref(),
        Some(topic.as_str())
    );
    assert_eq!(count(&retry), 0, "the retry topic holds nothing");
    assert_eq!(
        calls.for_key("fail-huge").len(),
        1,
        "handled once, never retried"
    );
    assert!(running.is_running());
    running.stop().await.unwrap();
}

/// Large or deep records that *can* be decoded are handled like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_and_deep_valid_records_are_handled() {
    init_tracing();
    let topic = unique("hostile-large-valid");
    create_topic(&topic, 1).await;
    let calls = Recorder::new();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(3).backoff(Backoff::Fixed(Duration::from_millis(100))))
        .handler(email_handler(&calls))
        .build()
        .unwrap();
    let dlt = consumer.chain().dlt.clone().unwrap();
    let running = RunningConsumer::spawn(consumer);
    let body = "가".repeat(300_000); // 900 kB of UTF-8
    let payload = serde_json::json!({"to": "a@b.c", "subject": "big", "body": body}).to_string();
    send(
        &producer(),
        &topic,
        "large-valid",
        Some(payload.as_bytes()),
        OwnedHeaders::new(),
    )
    .await;
    // A deep value in a field the handler does not know is valid JSON: serde_json skips it
    // without recursion (and so without a depth limit), and the record is handled.
    let deep_unknown = format!(
        r#"{{"to":"a@b.c","subject":"s","body":"b","unknown":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    send(
        &producer(),
        &topic,
        "deep-unknown-field",
        Some(deep_unknown.as_bytes()),
        OwnedHeaders::new(),
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        "the large and deep records",
        || async {
            calls.for_key("large-valid").iter().any(Call::succeeded)
                && calls
                    .for_key("deep-unknown-field")
                    .iter()
                    .any(Call::succeeded)
        },
    )
    .await;
    assert_eq!(count(&dlt), 0);
    running.stop().await.unwrap();
}
