//! Test 5 of INTEROP.md: Spring's DLT options, each against the peer's `configured` shape (a
//! `RetryTopicConfiguration` bean whose every option is a property): exception-based DLT routing
//! (spring-kafka 3.2+), and the DLT strategies `FAIL_ON_ERROR`, `ALWAYS_RETRY_ON_ERROR` and
//! `NO_DLT`. Rebound derives the topics Spring writes to, names and reads what Spring wrote there
//! (`rebound topics`, `rebound dlt list`, `redrive`), and writes the same names itself.

use std::collections::BTreeMap;
use std::time::Duration;

use interop::*;
use rebound::headers::{self as h, Headers, Provenance};
use rebound::naming::TopicChain;
use rebound::{
    Backoff, DltRoute, DltStrategy, Failure, Record, RetryPolicy, RetryingConsumer, TopicReuse,
};
use serde_json::Value;
use testkit::{count, kafka, unique, RunningConsumer};

/// Rebound's twin of the peer's `InvalidAddressException`.
#[derive(Debug)]
struct InvalidAddress(String);

impl std::fmt::Display for InvalidAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "없는 메일 주소: {}", self.0)
    }
}

impl std::error::Error for InvalidAddress {}

/// Two deliveries, 200 ms apart, Spring's `-dlt`: the peer's `interop.attempts=2`,
/// `interop.delay=200`, `interop.multiplier=0`, `interop.dlt-suffix=-dlt`. One topic per attempt:
/// `RetryTopicConfigurationBuilder`'s default (`MULTIPLE_TOPICS`, where `@RetryableTopic` has
/// `SINGLE_TOPIC`), so the one retry topic is `-retry-200`, not `-retry`.
fn policy() -> RetryPolicy {
    RetryPolicy::new(2)
        .backoff(Backoff::Fixed(Duration::from_millis(200)))
        .topic_reuse(TopicReuse::TopicPerAttempt)
        .dlt_suffix("-dlt")
}

/// The peer's properties for `policy()` on `main`, plus `extra`.
fn peer<'a>(
    main: &'a str,
    group: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![
        ("interop.shape", "configured"),
        ("interop.topic", main),
        ("interop.group", group),
        ("interop.attempts", "2"),
        ("interop.delay", "200"),
        ("interop.multiplier", "0"),
        ("interop.dlt-suffix", "-dlt"),
        // Spring's own containers only: the scenario's DLT consumer is not part of these.
        ("interop.run", "main,retry,dlt"),
    ];
    all.extend_from_slice(extra);
    all
}

fn names(chain: &TopicChain) -> Vec<String> {
    chain.topic_names().iter().map(|s| s.to_string()).collect()
}

/// `rebound dlt list <dlt> --json`, one value per dead letter.
fn listed(dlt: &str) -> Vec<Value> {
    rebound_cli(&["dlt", "list", dlt, "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The topics and roles `rebound topics` shows for the chain of `main`.
fn chain_on_cluster(main: &str) -> Vec<(String, String)> {
    let chains: Vec<Value> = rebound_cli(&["topics", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let chain = chains
        .iter()
        .find(|c| c["main"] == main)
        .unwrap_or_else(|| panic!("rebound topics has no chain {main}: {chains:#?}"));
    chain["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let field = |k: &str| t[k].as_str().unwrap().to_string();
            (field("name"), field("role"))
        })
        .collect()
}

/// Each header name and how often it occurs, Rebound's own (`rebound-*`) aside.
fn header_shape(headers: &Headers) -> BTreeMap<String, usize> {
    let mut shape = BTreeMap::new();
    for header in headers.iter().filter(|x| !x.key.starts_with(h::PREFIX)) {
        *shape.entry(header.key.clone()).or_default() += 1;
    }
    shape
}

fn dlt_handler_calls(spring: &Spring, topic: &str) -> usize {
    spring
        .events_of("dlt-handler")
        .iter()
        .filter(|e| e["topic"] == topic)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn springs_exception_based_dlt_routing() {
    let dir = temp_dir("dlt-routing");
    let main = unique("email.send");
    let policy = policy().dlt_route(DltRoute::new("-invalid").on::<InvalidAddress>());
    let chain = TopicChain::new(&main, &policy);
    let (retry, invalid, dlt) = (
        format!("{main}-retry-200"),
        format!("{main}-invalid-dlt"),
        format!("{main}-dlt"),
    );
    // Spring's `createCustomDltProperties`: the route's suffix before the DLT's.
    assert_eq!(
        names(&chain),
        [main.clone(), retry.clone(), invalid.clone(), dlt.clone()]
    );
    create_topics(&names(&chain), 1).await;
    let lift = dir.join("fixed");
    let lift_arg = lift.display().to_string();
    let group = unique("email-send-group");
    let mut spring = Spring::start(
        &dir,
        "spring",
        &peer(
            &main,
            &group,
            &[
                ("interop.dlt-route-suffix", "-invalid"),
                ("interop.invalid-to", "invalid@naver.com"),
                ("interop.fail-to", "fail@naver.com"),
                ("interop.lift-file", lift_arg.as_str()),
            ],
        ),
    );
    spring.wait_started().await;
    Spring::produce(
        &dir,
        &main,
        &[email("invalid@naver.com"), email("fail@naver.com")],
        &[("interop.key", "to")],
    );
    spring
        .wait_for(
            Duration::from_secs(90),
            "both dead letters reach Spring's DLT handler",
            |e| e.iter().filter(|e| e["event"] == "dlt-handler").count() == 2,
        )
        .await;
    // Both walked the one retry; the routed failure died in its own DLT.
    assert_eq!(count(&retry), 2);
    assert_eq!((count(&invalid), count(&dlt)), (1, 1));
    let spring_dead = testkit::read_all(&invalid).remove(0);
    assert_eq!(spring_dead.key_text().as_deref(), Some("invalid@naver.com"));
    assert_eq!(
        spring_dead
            .headers()
            .text(h::EXCEPTION_CAUSE_FQCN)
            .as_deref(),
        Some("com.example.emailsend.InvalidAddressException")
    );

    // Rebound's tools name Spring's routed DLT and read it like any DLT.
    let on_cluster = chain_on_cluster(&main);
    for (topic, role) in [
        (&main, "main"),
        (&retry, "retry"),
        (&invalid, "dlt"),
        (&dlt, "dlt"),
    ] {
        assert!(
            on_cluster.contains(&(topic.clone(), role.to_string())),
            "{topic} as {role}: {on_cluster:?}"
        );
    }
    let dead = listed(&invalid);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["key"], "invalid@naver.com");
    assert_eq!(dead[0]["origin"]["topic"], main);
    assert!(
        dead[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("없는 메일 주소"),
        "{dead:?}"
    );
    assert_eq!(listed(&dlt)[0]["key"], "fail@naver.com");
    std::fs::write(&lift, "").unwrap();
    let out = rebound_cli(&["dlt", "redrive", &invalid]);
    assert!(out.contains(&format!("sent to {main}")), "{out}");
    spring
        .wait_for(
            Duration::from_secs(60),
            "the redriven record handled",
            |e| {
                e.iter().any(|e| {
                    e["event"] == "handled" && e["topic"] == main && e["key"] == "invalid@naver.com"
                })
            },
        )
        .await;

    // Rebound writes the same names, and the same headers on the routed dead letter.
    let ours = unique("email.send");
    let consumer = RetryingConsumer::builder(kafka(), &ours, &unique("email-send-group"))
        .policy(policy.clone())
        .default_partitions(1)
        .handler(|record: Record| async move {
            let message: Value = record.json()?;
            match message["to"].as_str().unwrap_or_default() {
                "invalid@naver.com" => Err(InvalidAddress("invalid@naver.com".into()).into()),
                "fail@naver.com" => Err(Failure::msg("잘못된 이메일 주소로 인해 발송 실패")),
                _ => Ok(()),
            }
        })
        .build()
        .unwrap();
    let ours_chain = consumer.chain().clone();
    assert_eq!(
        names(&ours_chain),
        names(&chain)
            .iter()
            .map(|n| n.replacen(&main, &ours, 1))
            .collect::<Vec<_>>()
    );
    let running = RunningConsumer::spawn(consumer);
    let ours_invalid = format!("{ours}-invalid-dlt");
    testkit::wait_until(Duration::from_secs(30), "Rebound's routed DLT", || async {
        testkit::partition_count(&ours_invalid).is_some()
    })
    .await;
    Spring::produce(
        &dir,
        &ours,
        &[email("invalid@naver.com"), email("fail@naver.com")],
        &[("interop.key", "to")],
    );
    let ours_dlt = format!("{ours}-dlt");
    testkit::wait_until(
        Duration::from_secs(30),
        "Rebound's dead letters",
        || async { count(&ours_invalid) == 1 && count(&ours_dlt) == 1 },
    )
    .await;
    running.stop().await.unwrap();
    let rebound_dead = testkit::read_all(&ours_invalid).remove(0);
    assert_eq!(
        rebound_dead.key_text().as_deref(),
        Some("invalid@naver.com")
    );
    let origin = Provenance::read(rebound_dead.headers()).unwrap();
    assert_eq!(origin.topic, ours);
    assert_eq!(
        header_shape(rebound_dead.headers()),
        header_shape(spring_dead.headers()),
        "the routed dead letter's headers, by name and count"
    );
    assert_eq!(
        rebound_dead
            .headers()
            .text(h::EXCEPTION_CAUSE_FQCN)
            .as_deref(),
        Some("spring_dlt_options::InvalidAddress"),
        "a type, where Spring writes a class (D10)"
    );
}

/// Spring with `interop.dlt-strategy=strategy` dead-letters `fail@naver.com`, whose dead letter
/// its DLT handler fails on (until `lift` exists). Returns the peer, the chain and the lift file.
async fn dead_letter_with(
    name: &str,
    strategy: &str,
    policy: &RetryPolicy,
) -> (Spring, TopicChain, std::path::PathBuf) {
    let dir = temp_dir(name);
    let main = unique("email.send");
    let chain = TopicChain::new(&main, policy);
    create_topics(&names(&chain), 1).await;
    let lift = dir.join("fixed");
    let lift_arg = lift.display().to_string();
    let group = unique("email-send-group");
    let mut spring = Spring::start(
        &dir,
        "spring",
        &peer(
            &main,
            &group,
            &[
                ("interop.dlt-strategy", strategy),
                ("interop.fail-to", "fail@naver.com"),
                ("interop.dlt-fail-to", "fail@naver.com"),
                ("interop.lift-file", lift_arg.as_str()),
            ],
        ),
    );
    spring.wait_started().await;
    Spring::produce(
        &dir,
        &main,
        &[email("fail@naver.com")],
        &[("interop.key", "to")],
    );
    (spring, chain, lift)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn springs_fail_on_error_skips_the_dead_letter() {
    let policy = policy().dlt_strategy(DltStrategy::FailOnError);
    let (mut spring, chain, _) =
        dead_letter_with("dlt-fail-on-error", "FAIL_ON_ERROR", &policy).await;
    let dlt = chain.dlt.clone().unwrap();
    spring
        .wait_for(Duration::from_secs(90), "the DLT handler fails", |e| {
            e.iter()
                .any(|e| e["event"] == "failed" && e["topic"] == dlt.as_str())
        })
        .await;
    // Longer than a republish takes: nothing more comes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(dlt_handler_calls(&spring, &dlt), 1, "called once");
    assert_eq!(count(&dlt), 1, "the dead letter is not sent back");
    let dead = listed(&dlt);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["key"], "fail@naver.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn springs_always_retry_on_error_sends_the_dead_letter_back() {
    let policy = policy();
    assert_eq!(
        policy.dead_letter_strategy(),
        DltStrategy::AlwaysRetryOnError
    );
    let (mut spring, chain, lift) =
        dead_letter_with("dlt-always-retry", "ALWAYS_RETRY_ON_ERROR", &policy).await;
    let dlt = chain.dlt.clone().unwrap();
    let topic = dlt.clone();
    spring
        .wait_for(
            Duration::from_secs(90),
            "three failures in the DLT handler",
            |e| {
                e.iter()
                    .filter(|e| e["event"] == "failed" && e["topic"] == topic.as_str())
                    .count()
                    >= 3
            },
        )
        .await;
    std::fs::write(&lift, "").unwrap();
    let topic = dlt.clone();
    spring
        .wait_for(Duration::from_secs(60), "the DLT handler succeeds", |e| {
            e.iter()
                .any(|e| e["event"] == "handled" && e["topic"] == topic.as_str())
        })
        .await;
    // Each failure sent the dead letter back to the end of the DLT: one record per call.
    let calls = dlt_handler_calls(&spring, &dlt);
    assert!(calls >= 4, "{calls}");
    assert_eq!(count(&dlt) as usize, calls);
    // `rebound dlt list` shows every copy, each naming the same origin.
    let dead = listed(&dlt);
    assert_eq!(dead.len(), calls, "{dead:?}");
    let main = chain.main.clone();
    for letter in &dead {
        assert_eq!(letter["key"], "fail@naver.com");
        assert_eq!(letter["origin"]["topic"], main);
        assert_eq!(letter["origin"]["offset"], 0);
    }
    let attempts: Vec<Value> = dead.iter().map(|d| d["attempts"].clone()).collect();
    eprintln!("attempts of the copies, as `rebound dlt list` reads them: {attempts:?}");
    let copies = testkit::read_all(&dlt);
    let said: Vec<Option<u32>> = copies
        .iter()
        .map(|r| {
            r.headers()
                .last(h::ATTEMPTS)
                .and_then(|v| h::decode_attempts(v).ok())
        })
        .collect();
    eprintln!("retry_topic-attempts of the copies: {said:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn springs_no_dlt_drops_the_record() {
    let policy = policy().without_dlt();
    let (mut spring, chain, _) = dead_letter_with("dlt-none", "NO_DLT", &policy).await;
    let main = chain.main.clone();
    assert_eq!(names(&chain), [main.clone(), format!("{main}-retry-200")]);
    let retry = chain.retries[0].name.clone();
    let topic = retry.clone();
    spring
        .wait_for(Duration::from_secs(90), "the last delivery fails", |e| {
            e.iter()
                .any(|e| e["event"] == "failed" && e["topic"] == topic.as_str())
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(count(&retry), 1);
    assert!(
        testkit::partition_count(&format!("{main}-dlt")).is_none(),
        "Spring wrote no DLT"
    );
    assert_eq!(spring.events_of("dlt-handler").len(), 0);
    let log = spring.process.log_text();
    assert!(!log.contains(&format!("{main}-dlt")), "{}", tail(&log, 40));
    assert_eq!(
        chain_on_cluster(&main),
        [
            (main.clone(), "main".to_string()),
            (retry, "retry".to_string())
        ]
    );
}
