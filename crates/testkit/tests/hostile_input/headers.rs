//! Hostile retry headers: corrupt, missing or duplicated.

use super::*;

/// What a retry-topic case sends and expects.
struct HeaderCase {
    key: &'static str,
    headers: Headers,
    /// The handler fails (transiently) on this record.
    fails: bool,
    /// The attempt the handler must see.
    attempt: u32,
}

fn case(
    key: &'static str,
    fails: bool,
    attempt: u32,
    headers: &[(&str, Option<Vec<u8>>)],
) -> HeaderCase {
    let mut hs = Headers::new();
    for (k, v) in headers {
        match v {
            Some(v) => hs.push(*k, v.clone()),
            None => hs.push_null(*k),
        }
    }
    HeaderCase {
        key,
        headers: hs,
        fails,
        attempt,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_retry_headers_are_read_as_designed() {
    init_tracing();
    let topic = unique("hostile-headers");
    create_topic(&topic, 1).await;
    let calls = Recorder::new();
    // Three deliveries, one retry topic (`-retry`) for attempts 2 and 3.
    let (retry, dlt, running) = start(&topic, keyed_handler(&calls));
    wait_until(Duration::from_secs(20), "the retry topic", || async {
        partition_count(&retry).is_some()
    })
    .await;

    // A few rows that prove the wiring; what each header value means is specified without a
    // broker, in the unit tables of `rebound::headers` (decoding) and the consumer's `route`
    // (falling back to the topic's attempt, "due now").
    let now = rebound::EpochMillis::now().as_i64();
    let int = |v: i32| Some(v.to_be_bytes().to_vec());
    let cases = vec![
        // A corrupt attempts header (5 bytes): the first attempt the topic delivers (2).
        case(
            "attempts-text",
            false,
            2,
            &[(h::ATTEMPTS, Some(b"three".to_vec()))],
        ),
        // A header with no value: as if missing.
        case("attempts-null", false, 2, &[(h::ATTEMPTS, None)]),
        // A corrupt back-off timestamp (Spring 4.0.7's length guard: more than 8 bytes is no due
        // time, even one Java reads as an hour ahead): due now.
        case(
            "backoff-9-bytes",
            false,
            2,
            &[(
                h::BACKOFF_TIMESTAMP,
                Some([&[0u8][..], &(now + 3_600_000).to_be_bytes()].concat()),
            )],
        ),
        // A failing record with duplicated, corrupt provenance and failure headers (a message and
        // a class that are not UTF-8): it is on its last attempt, so to the DLT, with one (new)
        // failure message and provenance read from the last header of each name.
        case(
            "fail-duplicate-provenance",
            true,
            3,
            &[
                (h::ATTEMPTS, int(3)),
                (h::ORIGINAL_TOPIC, Some(b"first".to_vec())),
                (h::ORIGINAL_TOPIC, Some(b"second".to_vec())),
                (h::ORIGINAL_PARTITION, Some(b"xyz".to_vec())),
                (h::ORIGINAL_OFFSET, Some(vec![1, 2, 3])),
                (h::EXCEPTION_MESSAGE, Some(b"old one".to_vec())),
                (h::EXCEPTION_MESSAGE, Some(b"\xff\xfe old two".to_vec())),
                (h::EXCEPTION_FQCN, Some(b"\xc3\x28".to_vec())),
                (h::FAILURE_CLASS, Some(b"bogus".to_vec())),
            ],
        ),
    ];
    let producer = producer();
    let mut sent_at = Vec::new();
    for case in &cases {
        let payload = format!("payload of {}", case.key);
        send(
            &producer,
            &retry,
            case.key,
            Some(payload.as_bytes()),
            case.headers.to_kafka(),
        )
        .await;
        sent_at.push(rebound::EpochMillis::now().as_i64());
    }
    // Last on the partition (it holds up the records behind it while it waits): duplicated
    // back-off timestamps whose last one is 2 s ahead: not handled before then.
    let due = rebound::EpochMillis::now().as_i64() + 2000;
    let mut later = Headers::new();
    later.push(
        h::BACKOFF_TIMESTAMP,
        h::encode_big_integer(rebound::EpochMillis::now().as_i64()),
    );
    later.push(h::BACKOFF_TIMESTAMP, h::encode_big_integer(due));
    send(
        &producer,
        &retry,
        "backoff-duplicate-last-later",
        Some(b"later"),
        later.to_kafka(),
    )
    .await;

    // The main topic: a record that carries stale retry headers from some other chain is a
    // first delivery all the same (attempt 1, not held back by the back-off).
    let mut stale = Headers::new();
    stale.push(h::ATTEMPTS, h::encode_i32(3));
    stale.push(
        h::BACKOFF_TIMESTAMP,
        h::encode_big_integer(rebound::EpochMillis::now().as_i64() + 3_600_000),
    );
    send(
        &producer,
        &topic,
        "main-stale-headers",
        Some(b"m"),
        stale.to_kafka(),
    )
    .await;
    send(
        &producer,
        &topic,
        "fail-main-stale-headers",
        Some(b"m"),
        stale.to_kafka(),
    )
    .await;

    wait_until(Duration::from_secs(60), "every case handled", || async {
        cases.iter().all(|c| !calls.for_key(c.key).is_empty())
            && !calls.for_key("backoff-duplicate-last-later").is_empty()
            && !calls.for_key("main-stale-headers").is_empty()
            // The failing main record walks the chain: attempts 1, 2, 3, then the DLT.
            && calls.for_key("fail-main-stale-headers").len() == 3
    })
    .await;
    wait_until(Duration::from_secs(30), "two dead letters", || async {
        count(&dlt) == 2
    })
    .await;

    for (case, sent) in cases.iter().zip(&sent_at) {
        let seen = calls.for_key(case.key);
        assert_eq!(seen.len(), 1, "{}: handled once", case.key);
        assert_eq!(seen[0].attempt, case.attempt, "{}: attempt", case.key);
        assert!(
            seen[0].at.as_i64() - sent < 10_000,
            "{}: handled at once, not held back ({} ms)",
            case.key,
            seen[0].at.as_i64() - sent
        );
    }
    let later = calls.for_key("backoff-duplicate-last-later");
    assert!(
        later[0].at.as_i64() >= due,
        "the last back-off header counts: handled {} ms before it was due",
        due - later[0].at.as_i64()
    );
    let main_stale = calls.for_key("main-stale-headers");
    assert_eq!(
        main_stale[0].attempt, 1,
        "the main topic always delivers attempt 1"
    );
    let walked: Vec<u32> = calls
        .for_key("fail-main-stale-headers")
        .iter()
        .map(|c| c.attempt)
        .collect();
    assert_eq!(walked, [1, 2, 3], "stale headers do not skip the chain");

    let dead = read_all(&dlt);
    for case in &cases {
        let in_dlt = dead
            .iter()
            .any(|r| r.key_text().as_deref() == Some(case.key));
        assert_eq!(
            in_dlt, case.fails,
            "{}: in the DLT only if it fails",
            case.key
        );
    }
    let dead_of = |key: &str| {
        dead.iter()
            .find(|r| r.key_text().as_deref() == Some(key))
            .unwrap_or_else(|| panic!("{key} is in the DLT"))
    };
    let dup = dead_of("fail-duplicate-provenance");
    let messages: Vec<_> = dup
        .headers()
        .iter()
        .filter(|x| x.key == h::EXCEPTION_MESSAGE)
        .collect();
    assert_eq!(messages.len(), 1, "one failure message on the copy");
    assert_eq!(
        dup.headers().text(h::EXCEPTION_MESSAGE).as_deref(),
        Some("fail-duplicate-provenance fails")
    );
    assert_eq!(
        dup.headers().text(h::FAILURE_CLASS).as_deref(),
        Some("transient")
    );
    let provenance = Provenance::read(dup.headers()).unwrap();
    assert_eq!(provenance.topic, "second", "the last header wins");
    assert_eq!(
        (provenance.partition, provenance.offset),
        (None, None),
        "corrupt fields read as absent"
    );
    let walked_copy = dead_of("fail-main-stale-headers");
    assert_eq!(
        walked_copy.headers().last(h::ATTEMPTS),
        Some(&[0, 0, 0, 4][..]),
        "three deliveries: Spring's DLT copy says 4, the attempt a next delivery would have"
    );

    // The failing retry records did not produce new retry copies (3 = the failing main record's
    // two hops + nothing else beyond what the test wrote).
    let retry_records = read_all(&retry);
    let written = cases.len() + 1;
    assert_eq!(
        retry_records.len(),
        written + 2,
        "only the failing main record was copied to the retry topic (twice)"
    );

    // Still alive: one more record on each topic.
    send(
        &producer,
        &topic,
        "after-main",
        Some(b"a"),
        OwnedHeaders::new(),
    )
    .await;
    send(
        &producer,
        &retry,
        "after-retry",
        Some(b"a"),
        OwnedHeaders::new(),
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        "records after the hostile ones",
        || async {
            !calls.for_key("after-main").is_empty() && !calls.for_key("after-retry").is_empty()
        },
    )
    .await;
    assert!(running.is_running());
    running.stop().await.unwrap();
}
