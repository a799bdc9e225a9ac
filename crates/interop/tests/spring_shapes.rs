//! Test 4 of INTEROP.md: Spring's other shapes. Spring's default suffixes (`-retry-<delay>`,
//! `-dlt`), a fixed back-off (one `-retry` topic), the plain `DeadLetterPublishingRecoverer` with
//! `DefaultErrorHandler` (`kafka_dlt-*` headers, `<topic>-dlt` since spring-kafka 3.3.0), and Spring's JSON serializer with
//! its type header: Rebound names the same topics, reads each dead letter and redrives it without
//! losing a header Spring needs; the Spring listener, its failure lifted, handles it.

use std::time::Duration;

use interop::*;
use rebound::headers::{self as h, Headers};
use rebound::naming::TopicChain;
use rebound::{Backoff, RetryPolicy};
use serde_json::Value;
use testkit::{count, unique};

const KOREAN: &str = "잘못된 이메일 주소로 인해 발송 실패";

/// Runs the Spring peer with `properties` on `main`'s chain (`topics`, created first), sends
/// `fail@naver.com` through the blog's producer (keyed), waits for its dead letter in `dlt`, checks
/// what `rebound dlt list` says, lifts the failure, redrives, and returns the headers of the
/// redriven delivery the Spring listener handled.
async fn dead_letter_and_redrive(
    name: &str,
    main: &str,
    topics: &[String],
    dlt: &str,
    properties: &[(&str, &str)],
) -> (Headers, Headers) {
    create_topics(topics, 1).await;
    let dir = temp_dir(name);
    let lift = dir.join("fixed");
    let lift_arg = lift.display().to_string();
    let group = unique("email-send-group");
    let dlt_group = unique("email-send-dlt-group");
    let mut all = vec![
        ("interop.topic", main),
        ("interop.group", group.as_str()),
        ("interop.dlt-group", dlt_group.as_str()),
        ("interop.dlt-topic", dlt),
        ("interop.lift-file", lift_arg.as_str()),
    ];
    all.extend_from_slice(properties);
    let mut spring = Spring::start(&dir, "spring", &all);
    let mut producer = vec![("interop.key", "to")];
    producer.extend(properties.iter().filter(|(k, _)| *k == "interop.shape"));
    Spring::produce(&dir, main, &[email("fail@naver.com")], &producer);
    spring
        .wait_for(
            Duration::from_secs(90),
            "the dead letter reaches the DLT listener",
            |e| e.iter().any(|e| e["event"] == "dlt"),
        )
        .await;
    assert_eq!(count(dlt), 1);
    for topic in &topics[1..] {
        assert!(
            count(topic) >= 1,
            "Spring wrote nothing to {topic}: Rebound's names differ"
        );
    }
    let dead_headers = event_headers(&spring.events_of("dlt")[0]);

    let listed: Vec<Value> = rebound_cli(&["dlt", "list", dlt, "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["key"], "fail@naver.com");
    assert_eq!(listed[0]["origin"]["topic"], main);
    assert_eq!(listed[0]["origin"]["offset"], 0);
    assert!(
        listed[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains(KOREAN),
        "{listed:?}"
    );

    std::fs::write(&lift, "").unwrap();
    let out = rebound_cli(&["dlt", "redrive", dlt]);
    assert!(out.contains(&format!("sent to {main}")), "{out}");
    spring
        .wait_for(
            Duration::from_secs(60),
            "the redriven record handled",
            |e| {
                e.iter().any(|e| {
                    e["event"] == "handled" && e["topic"] == main && e["key"] == "fail@naver.com"
                })
            },
        )
        .await;
    let redriven = spring
        .events_of("delivery")
        .into_iter()
        .rfind(|e| e["topic"] == main)
        .unwrap();
    assert_eq!(redriven["payload"], email("fail@naver.com").to_string());
    // The redriven record as it is in Kafka (Spring's JsonDeserializer removes the type headers
    // from the record it hands on, so the listener's view would not show them).
    let on_main = testkit::read_all(main);
    assert_eq!(on_main.len(), 2, "the original and the redriven record");
    assert_eq!(on_main[1].key_text().as_deref(), Some("fail@naver.com"));
    (dead_headers, on_main[1].headers().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn springs_default_suffixes() {
    let main = unique("email.send");
    let policy = RetryPolicy::new(3).backoff(Backoff::exponential(Duration::from_millis(200), 2.0));
    let chain = TopicChain::new(&main, &policy);
    let names: Vec<String> = chain.topic_names().iter().map(|s| s.to_string()).collect();
    assert_eq!(
        names,
        [
            main.clone(),
            format!("{main}-retry-200"),
            format!("{main}-retry-400"),
            format!("{main}-dlt")
        ]
    );
    let dlt = format!("{main}-dlt");
    let (dead, redriven) = dead_letter_and_redrive(
        "shape-default-suffixes",
        &main,
        &names,
        &dlt,
        &[
            ("interop.attempts", "3"),
            ("interop.delay", "200"),
            ("interop.dlt-suffix", "-dlt"),
        ],
    )
    .await;
    assert!(dead.contains(h::ATTEMPTS) && dead.contains(h::ORIGINAL_TOPIC));
    assert!(
        !redriven.contains(h::ATTEMPTS),
        "a redriven record starts again at attempt 1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn springs_fixed_backoff_single_retry_topic() {
    let main = unique("email.send");
    let policy = RetryPolicy::new(3).backoff(Backoff::Fixed(Duration::from_millis(200)));
    let chain = TopicChain::new(&main, &policy);
    let names: Vec<String> = chain.topic_names().iter().map(|s| s.to_string()).collect();
    assert_eq!(
        names,
        [main.clone(), format!("{main}-retry"), format!("{main}-dlt")]
    );
    let retry = names[1].clone();
    let dlt = names[2].clone();
    let (dead, _) = dead_letter_and_redrive(
        "shape-fixed",
        &main,
        &names,
        &dlt,
        &[
            ("interop.attempts", "3"),
            ("interop.delay", "200"),
            ("interop.multiplier", "0"),
            ("interop.dlt-suffix", "-dlt"),
        ],
    )
    .await;
    assert_eq!(
        count(&retry),
        2,
        "both retries went through the one -retry topic"
    );
    assert!(dead.contains(h::ATTEMPTS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn springs_plain_dead_letter_publishing_recoverer() {
    let main = unique("email.send");
    // spring-kafka 3.3 and later: `<topic>-dlt` (2.x to 3.2 wrote `<topic>.DLT`; INTEROP.md D9).
    let dlt = format!("{main}-dlt");
    let (dead, redriven) = dead_letter_and_redrive(
        "shape-plain",
        &main,
        &[main.clone(), dlt.clone()],
        &dlt,
        &[
            ("interop.shape", "error-handler"),
            ("interop.attempts", "3"),
        ],
    )
    .await;
    // The plain recoverer writes the kafka_dlt-* family and no retry headers.
    for key in [
        h::DLT_ORIGINAL_TOPIC,
        h::DLT_ORIGINAL_PARTITION,
        h::DLT_ORIGINAL_OFFSET,
        h::DLT_EXCEPTION_MESSAGE,
    ] {
        assert!(dead.contains(key), "{key} missing: {dead:?}");
    }
    assert!(!dead.contains(h::ATTEMPTS) && !dead.contains(h::ORIGINAL_TOPIC));
    assert!(dead
        .text(h::DLT_EXCEPTION_MESSAGE)
        .unwrap()
        .contains(KOREAN));
    for key in [
        h::DLT_ORIGINAL_TOPIC,
        h::DLT_EXCEPTION_MESSAGE,
        h::DLT_EXCEPTION_STACKTRACE,
    ] {
        assert!(!redriven.contains(key), "{key} kept on the redriven record");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn springs_json_serializer_type_header() {
    let main = unique("email.send");
    let names = chain(&main, &[200, 400]);
    let dlt = names[3].clone();
    let (dead, redriven) = dead_letter_and_redrive(
        "shape-json",
        &main,
        &names,
        &dlt,
        &[
            ("interop.shape", "json"),
            ("interop.attempts", "3"),
            ("interop.delay", "200"),
        ],
    )
    .await;
    let type_id = "com.example.emailsend.EmailSendMessage";
    assert_eq!(dead.text("__TypeId__").as_deref(), Some(type_id));
    // The JSON deserializer needs the type header: the redriven record keeps it.
    let kept: Vec<_> = redriven.iter().filter(|x| x.key == "__TypeId__").collect();
    assert_eq!(kept.len(), 1, "{redriven:?}");
    assert_eq!(redriven.text("__TypeId__").as_deref(), Some(type_id));
}
