//! The on-call story against a real broker: redrive after a fixed fault, filters and dry runs,
//! rate, discard with archive, Spring's dead letters, and two operators at once.

mod support;

use support::rebound;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rebound::headers::{self as h, Headers};
use rebound::{Backoff, Failure, Record, RetryPolicy, RetryingConsumer};
use rebound_ops::redrive::{redrive, RedriveOptions};
use rebound_ops::{self as ops, Filter, Source, Status};
use testkit::*;
use tokio_util::sync::CancellationToken;

fn end_offsets(topics: &[&str]) -> Vec<i64> {
    topics.iter().map(|t| count(t)).collect()
}

/// Writes `n` dead letters straight into `dlt`, as a chain on `main` would have.
async fn seed_dead_letters(
    main: &str,
    dlt: &str,
    n: usize,
    key: impl Fn(usize) -> String,
    error: impl Fn(usize) -> String,
) {
    let producer = producer();
    for i in 0..n {
        let mut headers = Headers::new();
        headers.push(h::ORIGINAL_TOPIC, main.to_string());
        headers.push(h::ORIGINAL_PARTITION, h::encode_i32(0));
        headers.push(h::ORIGINAL_OFFSET, h::encode_i64(i as i64));
        headers.push(h::EXCEPTION_MESSAGE, error(i));
        headers.push(h::ATTEMPTS, h::encode_i32(5));
        let payload = format!(r#"{{"n":{i}}}"#);
        produce(
            &producer,
            dlt,
            None,
            Some(&key(i)),
            payload.as_bytes(),
            &headers,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_after_the_fault_is_fixed() {
    init_tracing();
    let topic = unique("signup-mail");
    create_topic(&topic, 1).await;
    let broken = Arc::new(AtomicBool::new(true));
    let handled: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let (is_broken, seen) = (broken.clone(), handled.clone());
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(
            RetryPolicy::new(2)
                .backoff(Backoff::Fixed(Duration::from_millis(100)))
                .dlt_suffix(".dlt"),
        )
        .handler(move |record: Record| {
            let (is_broken, seen) = (is_broken.clone(), seen.clone());
            async move {
                if is_broken.load(Ordering::SeqCst) {
                    return Err(Failure::msg("SMTP relay down"));
                }
                seen.lock().unwrap().insert(record.text()?.to_string());
                Ok(())
            }
        })
        .build()
        .unwrap();
    let dlt = consumer.chain().dlt.clone().unwrap();
    let task = RunningConsumer::spawn(consumer);
    let producer = producer();
    for i in 0..5 {
        produce(
            &producer,
            &topic,
            None,
            Some("k"),
            format!("mail {i}").as_bytes(),
            &Headers::new(),
        )
        .await;
    }
    wait_until(Duration::from_secs(30), "five dead letters", || async {
        count(&dlt) == 5
    })
    .await;
    let listing = rebound(&["dlt", "list", &dlt, "--status", "pending"]);
    assert_eq!(
        listing.lines().count(),
        6,
        "a header and five rows:\n{listing}"
    );
    assert!(listing.contains("SMTP relay down"));

    // The fault is fixed; the operator redrives.
    broken.store(false, Ordering::SeqCst);
    let out = rebound(&["dlt", "redrive", &dlt]);
    assert_eq!(
        out.lines().filter(|l| l.contains("sent to")).count(),
        5,
        "{out}"
    );
    wait_until(
        Duration::from_secs(30),
        "the healthy worker handles them",
        || async { handled.lock().unwrap().len() == 5 },
    )
    .await;

    // A second identical redrive sends nothing.
    let before = count(&topic);
    let again = rebound(&["dlt", "redrive", &dlt]);
    assert_eq!(
        again.lines().filter(|l| l.contains("sent to")).count(),
        0,
        "{again}"
    );
    assert!(again.contains("already redriven"));
    assert_eq!(count(&topic), before);
    let statuses = rebound(&["dlt", "list", &dlt, "--status", "redriven", "--json"]);
    assert_eq!(statuses.lines().count(), 5);
    task.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_dry_run_change_nothing() {
    init_tracing();
    let main = unique("filters");
    let dlt = format!("{main}.dlt");
    create_topic(&main, 1).await;
    create_topic(&dlt, 1).await;
    seed_dead_letters(
        &main,
        &dlt,
        6,
        |i| {
            if i % 2 == 0 {
                "fail@naver.com".into()
            } else {
                "nobody@naver.com".into()
            }
        },
        |i| {
            if i < 3 {
                "451 mailbox busy".into()
            } else {
                "550 no such user".into()
            }
        },
    )
    .await;
    let ledger = rebound::naming::ledger_topic(&dlt);
    let before = end_offsets(&[&main, &dlt]);
    let out = rebound(&[
        "dlt",
        "redrive",
        &dlt,
        "--dry-run",
        "--key",
        "fail@naver.com",
        "--error",
        "^451",
    ]);
    let positions: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("would be sent"))
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(positions, ["0@0", "0@2"], "{out}");
    assert_eq!(
        end_offsets(&[&main, &dlt]),
        before,
        "a dry run writes nothing"
    );
    assert_eq!(partition_count(&ledger), None, "not even a ledger");

    let json = rebound(&[
        "dlt", "list", &dlt, "--json", "--error", "550", "--limit", "2",
    ]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r["error"] == "550 no such user" && r["status"] == "pending"));
    assert_eq!(rows[0]["origin"]["topic"], main.as_str());
    let until_past = rebound(&["dlt", "list", &dlt, "--until", "2000-01-01T00:00:00Z"]);
    assert_eq!(
        until_past.lines().count(),
        1,
        "only the header: {until_past}"
    );
    let stats = rebound(&["dlt", "stats", &dlt, "--json"]);
    let stats: serde_json::Value = serde_json::from_str(stats.trim()).unwrap();
    assert_eq!(stats["total"], 6);
    assert_eq!(stats["by_error"][0][1], 3);
    // A group of `stats` and an origin select as the web console's links do.
    let rows = |args: &[&str]| {
        let mut all = vec!["dlt", "list", &dlt];
        all.extend(args);
        rebound(&all).lines().count() - 1
    };
    assert_eq!(rows(&["--fingerprint", "<n> no such user"]), 3);
    assert_eq!(
        rows(&["--fingerprint", "<n> no such"]),
        0,
        "the whole fingerprint"
    );
    assert_eq!(rows(&["--origin", &main]), 6);
    assert_eq!(rows(&["--origin", "elsewhere"]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_redrive_keeps_the_pace() {
    init_tracing();
    let main = unique("paced");
    let dlt = format!("{main}.dlt");
    create_topic(&main, 1).await;
    create_topic(&dlt, 1).await;
    seed_dead_letters(&main, &dlt, 1000, |i| format!("k{i}"), |_| "boom".into()).await;
    let options = RedriveOptions {
        rate: Some(200.0),
        ..RedriveOptions::new("tester")
    };
    // The pace is measured from the first acknowledged copy to the last: listing and claiming
    // before it depend on the broker (Tansu reads single-record batches slowly), not on --rate.
    let acks: Mutex<Vec<Instant>> = Mutex::default();
    let on_progress =
        |_: rebound_ops::redrive::RedriveProgress| acks.lock().unwrap().push(Instant::now());
    let report = redrive(
        &kafka(),
        &dlt,
        &Filter::default(),
        &options,
        &on_progress,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    let acks = acks.into_inner().unwrap();
    let elapsed = acks[acks.len() - 1] - acks[0];
    println!("1000 records at --rate 200: first to last copy in {elapsed:?}");
    assert_eq!(report.sent(), 1000);
    assert!(
        elapsed >= Duration::from_millis(4700) && elapsed < Duration::from_millis(6000),
        "999 intervals at 200/s should take about 5 s, took {elapsed:?}"
    );
    assert_eq!(count(&main), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_archives_first_and_the_archive_can_be_redriven() {
    init_tracing();
    let main = unique("discard");
    let dlt = format!("{main}.dlt");
    create_topic(&main, 1).await;
    create_topic(&dlt, 1).await;
    seed_dead_letters(
        &main,
        &dlt,
        3,
        |i| format!("user{i}@naver.com"),
        |_| "550 user deleted".into(),
    )
    .await;

    let out = rebound(&[
        "dlt",
        "discard",
        &dlt,
        "--key",
        "user1@naver.com",
        "--reason",
        "탈퇴한 사용자",
        "--by",
        "oncall",
    ]);
    assert!(out.contains("0@1\tdiscarded"), "{out}");
    let archive = rebound::naming::archive_topic(&dlt);
    let archived = read_all(&archive);
    assert_eq!(archived.len(), 1);
    assert_eq!(
        archived[0].headers().text(h::DISCARD_REASON).as_deref(),
        Some("탈퇴한 사용자")
    );
    assert_eq!(
        archived[0].headers().text(h::DISCARDED_BY).as_deref(),
        Some("oncall")
    );
    assert_eq!(archived[0].payload(), Some(&br#"{"n":1}"#[..]));
    // The ledger entry follows the archive copy and points at it.
    let ledger = read_all(&rebound::naming::ledger_topic(&dlt));
    let entry: serde_json::Value =
        serde_json::from_slice(ledger.last().unwrap().payload().unwrap()).unwrap();
    assert_eq!(entry["action"], "discarded");
    assert_eq!(entry["copy"], "0@0");

    let listed = ops::list(&kafka(), &dlt, Source::Dlt, &Filter::default())
        .await
        .unwrap();
    let statuses: Vec<Status> = listed.iter().map(|l| l.status).collect();
    assert_eq!(
        statuses,
        [Status::Pending, Status::Discarded, Status::Pending]
    );
    let archive_list = rebound(&["dlt", "archive", &dlt]);
    assert!(archive_list.contains("user1@naver.com"), "{archive_list}");
    // A discarded dead letter is not redriven from the DLT, but can be from the archive.
    let out = rebound(&["dlt", "redrive", &dlt, "--key", "user1@naver.com"]);
    assert!(out.contains("skipped: discarded"), "{out}");
    let out = rebound(&[
        "dlt",
        "redrive",
        &dlt,
        "--archived",
        "--key",
        "user1@naver.com",
    ]);
    assert!(out.contains(&format!("sent to {main}")), "{out}");
    let redriven = read_all(&main);
    assert_eq!(redriven.len(), 1);
    assert_eq!(redriven[0].key(), Some(&b"user1@naver.com"[..]));
    assert!(
        !redriven[0].headers().contains(h::DISCARD_REASON),
        "archive headers removed"
    );
    assert!(
        !redriven[0].headers().contains(h::EXCEPTION_MESSAGE),
        "failure headers removed"
    );
    assert_eq!(
        redriven[0].headers().text(h::REDRIVE_COUNT).as_deref(),
        Some("1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_dead_letters_are_listed_and_shown() {
    init_tracing();
    let dlt = unique("orders") + "-dlt";
    create_topic(&dlt, 1).await;
    let producer = producer();
    // Exactly as Spring Kafka's retry-topic chain writes them (RetryTopicPublishingRecoverer).
    let mut chain = Headers::new();
    chain.push("kafka_original-topic", "orders");
    chain.push("kafka_original-partition", vec![0u8, 0, 0, 2]);
    chain.push("kafka_original-offset", vec![0u8, 0, 0, 0, 0, 0, 0, 42]);
    chain.push(
        "kafka_original-timestamp",
        1_764_320_000_000i64.to_be_bytes().to_vec(),
    );
    chain.push("kafka_original-timestamp-type", "CreateTime");
    chain.push(
        "kafka_exception-fqcn",
        "org.springframework.kafka.listener.ListenerExecutionFailedException",
    );
    chain.push("kafka_exception-cause-fqcn", "java.lang.RuntimeException");
    chain.push(
        "kafka_exception-message",
        "Listener failed; 잘못된 이메일 주소로 인해 발송 실패",
    );
    chain.push("kafka_exception-stacktrace", "java.lang.RuntimeException: 잘못된 이메일 주소로 인해 발송 실패\n\tat com.example.EmailSendConsumer.consume(EmailSendConsumer.java:32)");
    chain.push("retry_topic-attempts", vec![0u8, 0, 0, 5]);
    chain.push(
        "retry_topic-original-timestamp",
        vec![0x01u8, 0x9a, 0xc9, 0xaa, 0xb8, 0x00],
    );
    produce(
        &producer,
        &dlt,
        None,
        Some("fail@naver.com"),
        r#"{"to":"fail@naver.com","subject":"제목"}"#.as_bytes(),
        &chain,
    )
    .await;
    // As Spring's plain DeadLetterPublishingRecoverer writes them.
    let mut plain = Headers::new();
    plain.push("kafka_dlt-original-topic", "payments");
    plain.push("kafka_dlt-original-partition", vec![0u8, 0, 0, 0]);
    plain.push("kafka_dlt-original-offset", vec![0u8, 0, 0, 0, 0, 0, 0, 7]);
    plain.push("kafka_dlt-original-consumer-group", "payments-group");
    plain.push("kafka_dlt-exception-message", "Cannot convert payload");
    produce(&producer, &dlt, None, None, b"\x00\x01binary", &plain).await;
    // And a record with no headers at all.
    produce(&producer, &dlt, None, None, b"bare", &Headers::new()).await;

    let rows: Vec<serde_json::Value> = rebound(&["dlt", "list", &dlt, "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["origin"]["topic"], "orders");
    assert_eq!(rows[0]["origin"]["partition"], 2);
    assert_eq!(rows[0]["origin"]["offset"], 42);
    assert_eq!(rows[0]["attempts"], 5);
    assert_eq!(
        rows[0]["error"],
        "Listener failed; 잘못된 이메일 주소로 인해 발송 실패"
    );
    assert_eq!(rows[1]["origin"]["topic"], "payments");
    assert_eq!(rows[1]["origin"]["consumer_group"], "payments-group");
    assert_eq!(rows[1]["error"], "Cannot convert payload");
    assert!(rows[2]["origin"].is_null());

    let shown = rebound(&["dlt", "show", &dlt, "0@0"]);
    assert!(
        shown.contains("kafka_original-offset                42"),
        "{shown}"
    );
    assert!(
        shown.contains("retry_topic-original-timestamp       1764320000000 (2025-11-28T08:53:20Z)"),
        "{shown}"
    );
    assert!(
        shown.contains("at com.example.EmailSendConsumer.consume"),
        "{shown}"
    );
    assert!(shown.contains("\"subject\": \"제목\""), "{shown}");
    let binary = rebound(&["dlt", "show", &dlt, "0@1"]);
    assert!(
        binary.contains("00000000  000162696e617279"),
        "binary payloads in hex: {binary}"
    );
    // Without headers there is nowhere to send it back to unless the operator names a topic.
    let out = rebound(&["dlt", "redrive", &dlt, "--at", "0@2", "--dry-run"]);
    assert!(out.contains("skipped: no original topic"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_at_once_send_each_record_once() {
    init_tracing();
    let main = unique("race");
    let dlt = format!("{main}.dlt");
    create_topic(&main, 1).await;
    create_topic(&dlt, 1).await;
    seed_dead_letters(&main, &dlt, 200, |i| format!("k{i}"), |_| "boom".into()).await;
    let dlt = dlt.as_str();
    let run = |by: &'static str| async move {
        let options = RedriveOptions::new(by);
        redrive(
            &kafka(),
            dlt,
            &Filter::default(),
            &options,
            &|_| {},
            &CancellationToken::new(),
        )
        .await
        .unwrap()
    };
    let (a, b) = tokio::join!(run("alice"), run("bob"));
    println!("alice sent {}, bob sent {}", a.sent(), b.sent());
    assert_eq!(
        a.sent() + b.sent(),
        200,
        "every dead letter sent by one of them"
    );
    assert_eq!(count(&main), 200, "and only once");
    let keys: BTreeSet<_> = read_all(&main)
        .iter()
        .map(|r| r.key_text().unwrap())
        .collect();
    assert_eq!(keys.len(), 200);
}
