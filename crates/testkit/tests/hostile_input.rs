//! Hostile input on a real broker: payloads a handler cannot decode, and retry headers that are
//! corrupt, absurd or duplicated. Undecodable payloads go to the DLT once with a clear reason and
//! are never retried; bad headers are read as `rebound::headers` documents (Spring's own tolerances); the worker goes on after all of them.
//! (`tests/chain.rs` `corrupt_retry_headers_are_tolerated` covers the first header cases: attempts
//! of 2 bytes, 0, negative and 2^31−1 on a record that succeeds, 9-byte and empty back-off, and
//! duplicate attempts headers; this file covers the rest.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rebound::headers::{self as h, Headers, Provenance};
use rebound::{Backoff, Failure, Record, RetryPolicy, RetryingConsumer, RELIABLE_PRODUCER};
use testkit::*;

/// Sends one record with any payload (or none) and headers given as raw Kafka headers.
async fn send(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    payload: Option<&[u8]>,
    headers: OwnedHeaders,
) -> (i32, i64) {
    let mut record = FutureRecord::<str, [u8]>::to(topic)
        .key(key)
        .headers(headers);
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    deliver(producer, record).await
}

/// A producer that accepts records up to 2 MB (librdkafka's default limit is 1,000,000 bytes).
fn big_producer() -> FutureProducer {
    kafka()
        .client_config(
            &[
                RELIABLE_PRODUCER,
                &[("linger.ms", "2"), ("message.max.bytes", "2000000")],
            ]
            .concat(),
        )
        .create()
        .unwrap()
}

/// The e-mail of the scenario, as a handler decodes it.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Email {
    to: String,
    subject: String,
    body: String,
    /// Free-form JSON: decoding it recurses into the value (serde_json stops at depth 128).
    #[serde(default)]
    meta: Option<serde_json::Value>,
}

/// What a handler saw: the record's key, its attempt, and when (epoch ms).
#[derive(Debug, Clone)]
struct Call {
    key: String,
    attempt: u32,
    at_ms: i64,
    decoded: bool,
}

type Calls = Arc<Mutex<Vec<Call>>>;

fn calls_for(calls: &Calls, key: &str) -> Vec<Call> {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.key == key)
        .cloned()
        .collect()
}

/// A consumer of `topic` in a fresh group, 3 attempts 100 ms apart, running: what most tests
/// here need. Returns its retry topic, its DLT and the running consumer.
fn start(topic: &str, handler: impl rebound::Handler) -> (String, String, RunningConsumer) {
    let consumer = RetryingConsumer::builder(kafka(), topic, &unique("g"))
        .policy(RetryPolicy::new(3).backoff(Backoff::Fixed(Duration::from_millis(100))))
        .handler(handler)
        .build()
        .unwrap();
    let retry = consumer.chain().retries[0].name.clone();
    let dlt = consumer.chain().dlt.clone().unwrap();
    (retry, dlt, RunningConsumer::spawn(consumer))
}

/// Decodes an [`Email`] with `record.json()` (undecodable: straight to the DLT) and notes the call.
fn email_handler(calls: Calls) -> impl rebound::Handler {
    move |record: Record| {
        let calls = calls.clone();
        async move {
            let mut call = Call {
                key: record.key_text().unwrap_or_default(),
                attempt: record.attempt(),
                at_ms: rebound::EpochMillis::now().as_i64(),
                decoded: false,
            };
            let decoded = record.json::<Email>();
            call.decoded = decoded.is_ok();
            calls.lock().unwrap().push(call);
            decoded.map(|_| ())
        }
    }
}

fn hostile_payloads() -> Vec<(&'static str, Option<Vec<u8>>, &'static str)> {
    let head = r#"{"to":"a@b.c","subject":"s","body":"b","meta":"#;
    let deep_top = "[".repeat(100_000).into_bytes();
    let deep_open = format!("{head}{}", "[".repeat(100_000)).into_bytes();
    let deep_closed =
        format!("{head}{}{}}}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let deep_object = format!("{head}{}", r#"{"a":"#.repeat(50_000)).into_bytes();
    vec![
        ("no-payload", None, "the record has no payload"),
        ("empty", Some(Vec::new()), "EOF while parsing"),
        (
            "invalid-utf8",
            Some(b"\xff\xfe\xfd garbage".to_vec()),
            "expected value",
        ),
        (
            "invalid-utf8-in-string",
            Some(b"{\"to\":\"\xff\xfe\",\"subject\":\"s\",\"body\":\"b\"}".to_vec()),
            "invalid unicode code point",
        ),
        ("not-json", Some(b"hello, world".to_vec()), "expected value"),
        (
            "wrong-shape",
            Some(br#"{"to":["a@b.c"],"subject":1,"body":null}"#.to_vec()),
            "invalid type",
        ),
        ("array", Some(b"[1,2,3]".to_vec()), "invalid type"),
        (
            "missing-field",
            Some(br#"{"to":"a@b.c"}"#.to_vec()),
            "missing field `subject`",
        ),
        (
            "trailing-garbage",
            Some(br#"{"to":"a","subject":"s","body":"b"} and more"#.to_vec()),
            "trailing characters",
        ),
        ("nul-bytes", Some(vec![0; 64]), "expected value"),
        // 100k '[': the struct rejects the first one; inside a field of free-form JSON, serde_json
        // stops at depth 128 instead of overflowing the stack.
        ("deep-array-top", Some(deep_top), "invalid type: sequence"),
        (
            "deep-array-in-field",
            Some(deep_open),
            "recursion limit exceeded",
        ),
        (
            "deep-array-in-field-closed",
            Some(deep_closed),
            "recursion limit exceeded",
        ),
        (
            "deep-object-in-field",
            Some(deep_object),
            "recursion limit exceeded",
        ),
        (
            "half-megabyte-of-text",
            Some("x".repeat(500_000).into_bytes()),
            "expected value",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_payloads_go_to_the_dlt_once_and_are_never_retried() {
    init_tracing();
    let topic = unique("hostile-payloads");
    create_topic(&topic, 1).await;
    let calls: Calls = Arc::default();
    let (retry, dlt, running) = start(&topic, email_handler(calls.clone()));

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
        calls_for(&calls, "good").iter().any(|c| c.decoded)
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
        assert_eq!(
            calls_for(&calls, key).len(),
            1,
            "{key}: the handler ran once"
        );
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
    let calls: Calls = Arc::default();
    let (retry, dlt, running) = start(&topic, email_handler(calls.clone()));

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
        || async { calls_for(&calls, "good").iter().any(|c| c.decoded) },
    )
    .await;
    let dead = read_all(&dlt);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload().map(<[u8]>::len), Some(big.len()));
    assert_eq!(count(&retry), 0);
    assert_eq!(calls_for(&calls, "megabyte").len(), 1);
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
    let calls: Calls = Arc::default();
    let (retry, dlt, running) = start(&topic, keyed_handler(calls.clone()));

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
        || async { !calls_for(&calls, "after").is_empty() },
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
        calls_for(&calls, "fail-huge").len(),
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
    let calls: Calls = Arc::default();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(3).backoff(Backoff::Fixed(Duration::from_millis(100))))
        .handler(email_handler(calls.clone()))
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
            calls_for(&calls, "large-valid").iter().any(|c| c.decoded)
                && calls_for(&calls, "deep-unknown-field")
                    .iter()
                    .any(|c| c.decoded)
        },
    )
    .await;
    assert_eq!(count(&dlt), 0);
    running.stop().await.unwrap();
}

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

/// Fails records whose key starts with `fail`, succeeds otherwise, and notes every call.
fn keyed_handler(calls: Calls) -> impl rebound::Handler {
    move |record: Record| {
        let calls = calls.clone();
        async move {
            let key = record.key_text().unwrap_or_default();
            calls.lock().unwrap().push(Call {
                key: key.clone(),
                attempt: record.attempt(),
                at_ms: rebound::EpochMillis::now().as_i64(),
                decoded: true,
            });
            if key.starts_with("fail") {
                return Err(Failure::msg(format!("{key} fails")));
            }
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_retry_headers_are_read_as_designed() {
    init_tracing();
    let topic = unique("hostile-headers");
    create_topic(&topic, 1).await;
    let calls: Calls = Arc::default();
    // Three deliveries, one retry topic (`-retry`) for attempts 2 and 3.
    let (retry, dlt, running) = start(&topic, keyed_handler(calls.clone()));
    wait_until(Duration::from_secs(20), "the retry topic", || async {
        partition_count(&retry).is_some()
    })
    .await;

    let now = rebound::EpochMillis::now().as_i64();
    let day_and_an_hour = 25 * 3600 * 1000;
    let big = |v: i64| Some(h::encode_big_integer(v).to_vec());
    let int = |v: i32| Some(v.to_be_bytes().to_vec());
    let cases = vec![
        // Attempts: anything but 1 or 4 bytes holding a number from 1 to 32767 falls back to
        // the first attempt the topic delivers (2). One byte is unsigned (spring-kafka 4.0.6).
        case(
            "attempts-1-byte-255",
            false,
            255,
            &[(h::ATTEMPTS, Some(vec![0xff]))],
        ),
        case(
            "attempts-over-the-cap",
            false,
            2,
            &[(h::ATTEMPTS, int(i32::MAX))],
        ),
        case(
            "attempts-1-byte-zero",
            false,
            2,
            &[(h::ATTEMPTS, Some(vec![0]))],
        ),
        case(
            "attempts-1-byte-3",
            false,
            3,
            &[(h::ATTEMPTS, Some(vec![3]))],
        ),
        case(
            "attempts-8-bytes",
            false,
            2,
            &[(h::ATTEMPTS, Some(3i64.to_be_bytes().to_vec()))],
        ),
        case("attempts-null", false, 2, &[(h::ATTEMPTS, None)]),
        case(
            "attempts-i32-min",
            false,
            2,
            &[(h::ATTEMPTS, int(i32::MIN))],
        ),
        case(
            "attempts-text",
            false,
            2,
            &[(h::ATTEMPTS, Some(b"three".to_vec()))],
        ),
        // 32767 (the cap) on a record that fails: it has no attempt left, so straight to the
        // DLT, which says deliveries + 1, as Spring.
        case(
            "fail-attempts-cap",
            true,
            i16::MAX as u32,
            &[(h::ATTEMPTS, int(i16::MAX as i32))],
        ),
        // Back-off timestamps more than a day ahead, absurd, or garbage mean "due now".
        case(
            "backoff-beyond-a-day",
            false,
            2,
            &[(h::BACKOFF_TIMESTAMP, big(now + day_and_an_hour))],
        ),
        case(
            "backoff-i64-max",
            false,
            2,
            &[(h::BACKOFF_TIMESTAMP, Some(i64::MAX.to_be_bytes().to_vec()))],
        ),
        case(
            "backoff-i64-min",
            false,
            2,
            &[(h::BACKOFF_TIMESTAMP, big(i64::MIN))],
        ),
        case(
            "backoff-text",
            false,
            2,
            &[(h::BACKOFF_TIMESTAMP, Some(b"zzzzzzzz".to_vec()))],
        ),
        case(
            "backoff-1-byte",
            false,
            2,
            &[(h::BACKOFF_TIMESTAMP, Some(vec![5]))],
        ),
        case("backoff-null", false, 2, &[(h::BACKOFF_TIMESTAMP, None)]),
        // Spring 4.0.7's length guard: no bytes, or more than 8, is no due time.
        case(
            "backoff-no-bytes",
            false,
            2,
            &[(h::BACKOFF_TIMESTAMP, Some(vec![]))],
        ),
        case(
            "backoff-9-bytes",
            false,
            2,
            &[(
                h::BACKOFF_TIMESTAMP,
                Some([&[0u8][..], &(now + 3_600_000).to_be_bytes()].concat()),
            )],
        ),
        // Duplicates: the last header wins, as Kafka's lastHeader (what Spring reads).
        case(
            "backoff-duplicate-last-now",
            false,
            2,
            &[
                (h::BACKOFF_TIMESTAMP, big(now + 3_600_000)),
                (h::BACKOFF_TIMESTAMP, big(now)),
            ],
        ),
        // A failing record with duplicated, corrupt provenance and failure headers: it is on its
        // last attempt, so to the DLT, with one (new) failure message and provenance read from
        // the last header of each name.
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
        cases.iter().all(|c| !calls_for(&calls, c.key).is_empty())
            && !calls_for(&calls, "backoff-duplicate-last-later").is_empty()
            && !calls_for(&calls, "main-stale-headers").is_empty()
            // The failing main record walks the chain: attempts 1, 2, 3, then the DLT.
            && calls_for(&calls, "fail-main-stale-headers").len() == 3
    })
    .await;
    wait_until(Duration::from_secs(30), "three dead letters", || async {
        count(&dlt) == 3
    })
    .await;

    for (case, sent) in cases.iter().zip(&sent_at) {
        let seen = calls_for(&calls, case.key);
        assert_eq!(seen.len(), 1, "{}: handled once", case.key);
        assert_eq!(seen[0].attempt, case.attempt, "{}: attempt", case.key);
        assert!(
            seen[0].at_ms - sent < 10_000,
            "{}: handled at once, not held back ({} ms)",
            case.key,
            seen[0].at_ms - sent
        );
    }
    let later = calls_for(&calls, "backoff-duplicate-last-later");
    assert!(
        later[0].at_ms >= due,
        "the last back-off header counts: handled {} ms before it was due",
        due - later[0].at_ms
    );
    let main_stale = calls_for(&calls, "main-stale-headers");
    assert_eq!(
        main_stale[0].attempt, 1,
        "the main topic always delivers attempt 1"
    );
    let walked: Vec<u32> = calls_for(&calls, "fail-main-stale-headers")
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
    let max = dead_of("fail-attempts-cap");
    assert_eq!(
        max.headers().last(h::ATTEMPTS),
        Some(&32768i32.to_be_bytes()[..]),
        "deliveries + 1 on the DLT copy, as Spring writes it"
    );
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
            !calls_for(&calls, "after-main").is_empty()
                && !calls_for(&calls, "after-retry").is_empty()
        },
    )
    .await;
    assert!(running.is_running());
    running.stop().await.unwrap();
}

/// Kafka header keys are strings, but nothing on the wire forces them to be UTF-8 (a client in
/// another language, or a proxy, can write any bytes). Such a record must not stop the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_key_that_is_not_utf8_does_not_stop_the_worker() {
    init_tracing();
    let topic = unique("hostile-header-key");
    create_topic(&topic, 1).await;
    let calls: Calls = Arc::default();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_millis(100))))
        .handler(keyed_handler(calls.clone()))
        .build()
        .unwrap();
    let mut running = RunningConsumer::spawn(consumer);

    let producer = producer();
    let headers = OwnedHeaders::new();
    let key = b"bad-\xff\xfe-key";
    let value = b"v";
    // SAFETY: `as_borrowed` points at the librdkafka headers object that `headers` owns;
    // rd_kafka_header_add copies the name and value.
    let err = unsafe {
        let native = headers.as_borrowed() as *const rdkafka::message::BorrowedHeaders
            as *mut rdkafka::bindings::rd_kafka_headers_t;
        rdkafka::bindings::rd_kafka_header_add(
            native,
            key.as_ptr() as *const std::os::raw::c_char,
            key.len() as isize,
            value.as_ptr() as *const std::os::raw::c_void,
            value.len() as isize,
        )
    };
    assert_eq!(
        err,
        rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
    );
    send(&producer, &topic, "odd-header-key", Some(b"x"), headers).await;
    send(&producer, &topic, "after", Some(b"y"), OwnedHeaders::new()).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline && running.is_running() {
        if !calls_for(&calls, "after").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(outcome) = running.outcome().await {
        panic!("the consumer stopped: {outcome:?}");
    }
    assert!(
        !calls_for(&calls, "odd-header-key").is_empty(),
        "the record with the odd header key was handled"
    );
    assert!(
        !calls_for(&calls, "after").is_empty(),
        "the next record was handled"
    );
    running.stop().await.unwrap();
}
