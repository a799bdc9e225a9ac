//! Test 2 of INTEROP.md: Spring dead letters, Rebound operations. The Spring peer's chain
//! dead-letters `fail@naver.com`; `rebound dlt list/show/stats` show where it came from, its
//! attempts, times, exception and Korean message; `rebound dlt redrive` sends it back and the Spring
//! listener, its failure lifted, handles the original payload and key; `discard` and `archive` too.

use std::time::Duration;

use interop::*;
use rebound::headers as h;
use serde_json::Value;
use testkit::{count, unique};

const KOREAN: &str = "잘못된 이메일 주소로 인해 발송 실패";

/// What `rebound dlt list` shows as attempts for a dead letter of Spring's five-delivery chain:
/// the deliveries. Spring writes `retry_topic-attempts` = deliveries + 1 on its DLT copy (D4 in
/// INTEROP.md), which Rebound reads as such.
const SPRING_DEAD_LETTER_TRY: u64 = 5;

fn json_lines_of(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebound_operates_on_springs_dead_letters() {
    let dir = temp_dir("spring-dlt");
    let main = unique("email.send");
    let topics = chain(&main, &[200, 400, 800, 1600]);
    create_topics(&topics, 1).await;
    let dlt = format!("{main}.dlt");
    let lift = dir.join("smtp-fixed");
    let lift_arg = lift.display().to_string();
    let mut spring = Spring::start(
        &dir,
        "spring",
        &[
            ("interop.topic", &main),
            ("interop.group", &unique("email-send-group")),
            ("interop.dlt-group", &unique("email-send-dlt-group")),
            ("interop.delay", "200"),
            ("interop.fail-to", "fail@naver.com,gone@naver.com"),
            ("interop.lift-file", &lift_arg),
        ],
    );
    // The blog's producer, keyed by recipient so that the key's round trip shows.
    let produced = Spring::produce(
        &dir,
        &main,
        &[
            email("member@naver.com"),
            email("fail@naver.com"),
            email("gone@naver.com"),
        ],
        &[("interop.key", "to")],
    );
    assert_eq!(produced.len(), 3, "{produced:?}");
    let fail_offset = produced[1]["offset"].as_i64().unwrap();

    spring
        .wait_for(
            Duration::from_secs(90),
            "two dead letters received by the DLT listener",
            |e| e.iter().filter(|e| e["event"] == "dlt").count() == 2,
        )
        .await;
    assert_eq!(count(&dlt), 2);
    let log = spring.process.log_text();
    assert!(
        log.contains(&format!("Received message in dlt listener: {dlt}-0@0")),
        "{log}"
    );

    // list: origin, attempts, times, exception, the Korean message.
    let listed = json_lines_of(&rebound_cli(&["dlt", "list", &dlt, "--json"]));
    assert_eq!(listed.len(), 2, "{listed:?}");
    let fail = listed
        .iter()
        .find(|l| l["key"] == "fail@naver.com")
        .expect("fail@naver.com listed");
    assert_eq!(fail["origin"]["topic"], main.as_str());
    assert_eq!(fail["origin"]["partition"], 0);
    assert_eq!(fail["origin"]["offset"], fail_offset);
    assert_eq!(fail["attempts"], SPRING_DEAD_LETTER_TRY, "{fail}");
    assert_eq!(fail["status"], "pending");
    // D5: Spring records no first failure time (Rebound's `rebound-first-failed-at`).
    assert!(fail["first_failed_at"].is_null(), "{fail}");
    let error = fail["error"].as_str().unwrap();
    assert!(error.contains(KOREAN), "{error}");
    let died = fail["died_at"].as_i64().unwrap();
    let first_produced = produced[1]["at"].as_i64().unwrap();
    assert!(
        died >= first_produced + 200 + 400 + 800 + 1600,
        "died {died}, sent {first_produced}"
    );
    let text = rebound_cli(&["dlt", "list", &dlt]);
    assert!(
        text.contains(KOREAN) && text.contains(&format!("{main}-0@{fail_offset}")),
        "{text}"
    );

    // show: every header decoded, the exception and stack trace, the payload.
    let position = fail["position"].as_str().unwrap().to_string();
    let shown: Value =
        serde_json::from_str(rebound_cli(&["dlt", "show", &dlt, &position, "--json"]).trim())
            .unwrap();
    assert_eq!(shown["payload"], email("fail@naver.com"));
    assert_eq!(
        shown["exception"],
        "org.springframework.kafka.listener.ListenerExecutionFailedException"
    );
    let stack = shown["stacktrace"].as_str().unwrap();
    assert!(
        stack.contains(&format!("java.lang.RuntimeException: {KOREAN}")),
        "{stack}"
    );
    let headers = shown["headers"].as_array().unwrap();
    let header = |key: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|x| x["key"] == key)
            .map(|x| x["value"].as_str().unwrap())
            .collect()
    };
    assert_eq!(header(h::ORIGINAL_TOPIC), [main.as_str()]);
    assert_eq!(
        header(h::EXCEPTION_CAUSE_FQCN),
        ["java.lang.RuntimeException"]
    );
    assert_eq!(
        header(h::ATTEMPTS),
        ["2", "3", "4", "5", "6"],
        "Spring appends one per hop"
    );
    let human = rebound_cli(&["dlt", "show", &dlt, &position]);
    assert!(
        human.contains(KOREAN) && human.contains("\"subject\": \"제목\""),
        "{human}"
    );

    // stats: both pending, one fault (the Korean message) for both.
    let stats: Value =
        serde_json::from_str(rebound_cli(&["dlt", "stats", &dlt, "--json"]).trim()).unwrap();
    assert_eq!(
        (stats["total"].as_u64(), stats["pending"].as_u64()),
        (Some(2), Some(2)),
        "{stats}"
    );
    assert!(stats.to_string().contains(KOREAN), "{stats}");

    // The fault is fixed: redrive sends it back; Spring's listener handles payload and key.
    std::fs::write(&lift, "").unwrap();
    let out = rebound_cli(&["dlt", "redrive", &dlt, "--key", "fail@naver.com"]);
    assert!(out.contains(&format!("sent to {main}")), "{out}");
    spring
        .wait_for(
            Duration::from_secs(60),
            "the redriven record handled on the main topic",
            |e| {
                e.iter().any(|e| {
                    e["event"] == "handled"
                        && e["topic"] == main.as_str()
                        && e["key"] == "fail@naver.com"
                })
            },
        )
        .await;
    let deliveries: Vec<Value> = spring
        .events_of("delivery")
        .into_iter()
        .filter(|e| e["topic"] == main.as_str() && e["key"] == "fail@naver.com")
        .collect();
    assert_eq!(
        deliveries.len(),
        2,
        "first delivery and the redriven one: {deliveries:?}"
    );
    let redriven = &deliveries[1];
    assert_eq!(redriven["payload"], email("fail@naver.com").to_string());
    let redriven_headers = event_headers(redriven);
    assert!(
        !redriven_headers.contains(h::ATTEMPTS) && !redriven_headers.contains(h::EXCEPTION_MESSAGE)
    );
    assert_eq!(
        redriven_headers.text(h::REDRIVE_COUNT).as_deref(),
        Some("1")
    );
    assert_eq!(
        redriven_headers.text(h::REDRIVEN_FROM),
        Some(format!("{dlt}-{position}"))
    );

    // The ledger says redriven; a second redrive sends nothing.
    let redriven_list = json_lines_of(&rebound_cli(&[
        "dlt", "list", &dlt, "--status", "redriven", "--json",
    ]));
    assert_eq!(redriven_list.len(), 1);
    assert_eq!(redriven_list[0]["key"], "fail@naver.com");
    let again = rebound_cli(&["dlt", "redrive", &dlt, "--key", "fail@naver.com"]);
    assert!(again.contains("already redriven"), "{again}");

    // discard (archived first) and archive.
    let out = rebound_cli(&[
        "dlt",
        "discard",
        &dlt,
        "--key",
        "gone@naver.com",
        "--reason",
        "탈퇴한 사용자",
    ]);
    assert!(out.contains("discarded"), "{out}");
    let archive = rebound_cli(&["dlt", "archive", &dlt, "--json"]);
    let archived = json_lines_of(&archive);
    assert_eq!(archived.len(), 1, "{archive}");
    assert_eq!(archived[0]["key"], "gone@naver.com");
    assert!(archived[0]["error"].as_str().unwrap().contains(KOREAN));
    let stats: Value =
        serde_json::from_str(rebound_cli(&["dlt", "stats", &dlt, "--json"]).trim()).unwrap();
    assert_eq!(
        (
            stats["pending"].as_u64(),
            stats["redriven"].as_u64(),
            stats["discarded"].as_u64()
        ),
        (Some(0), Some(1), Some(1)),
        "{stats}"
    );
}
