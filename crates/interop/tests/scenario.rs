//! Test 0 of INTEROP.md: the scenario end to end across languages. (1) Java producer, Rust
//! consumer: the Spring peer sends the blog's messages as the blog's producer server does; `mailer
//! worker` sends the good one over SMTP and the chain dead-letters `fail@naver.com`. (2) The
//! reverse: the mailer API's records are consumed by the Spring listener.

use std::time::Duration;

use interop::*;
use rebound::headers as h;
use testkit::process::free_port;
use testkit::{count, create_topic, read_all, text, unique, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_producer_rust_worker() {
    let dir = temp_dir("scenario-java-to-rust");
    let topic = unique("email.send");
    let dlt = format!("{topic}.dlt");
    create_topic(&topic, 1).await;
    let smtp_port = free_port().to_string();
    let smtp_out = dir.join("smtp.jsonl");
    let dlt_log = dir.join("dlt.jsonl");
    let _smtp = mailer(
        &dir,
        "smtp",
        &[
            "smtp-sink",
            "--listen",
            &format!("127.0.0.1:{smtp_port}"),
            "--out",
            smtp_out.to_str().unwrap(),
        ],
    );
    let status = format!("{topic}.status");
    let kafka_args = ["--topic", &topic, "--status-topic", &status];
    let group = unique("email-send-group");
    let worker_args = [
        "worker",
        "--group",
        &group,
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &smtp_port,
    ];
    let _worker = mailer(&dir, "worker", &[&worker_args[..], &kafka_args].concat());
    let dlt_group = unique("email-send-dlt-group");
    let dlt_args = [
        "dlt-worker",
        "--group",
        &dlt_group,
        "--log-file",
        dlt_log.to_str().unwrap(),
    ];
    let _dlt_worker = mailer(&dir, "dlt-worker", &[&dlt_args[..], &kafka_args].concat());

    // The blog's producer server: KafkaTemplate<String, String>.send("email.send", json), no key.
    let produced = Spring::produce(
        &dir,
        &topic,
        &[email("member@naver.com"), email("fail@naver.com")],
        &[],
    );
    assert_eq!(produced.len(), 2);

    wait_until(
        Duration::from_secs(90),
        "the good e-mail sent and the bad one dead-lettered",
        || async { json_lines(&smtp_out).len() == 1 && count(&dlt) == 1 },
    )
    .await;
    let mails = json_lines(&smtp_out);
    assert_eq!(mails[0]["to"], serde_json::json!(["member@naver.com"]));
    assert_eq!(
        (mails[0]["subject"].as_str(), mails[0]["body"].as_str()),
        (Some("제목"), Some("내용"))
    );
    for delay in [1000, 2000, 4000, 8000] {
        assert_eq!(count(&format!("{topic}-retry-{delay}")), 1, "retry-{delay}");
    }
    let dead = read_all(&dlt);
    assert_eq!(
        text(&dead[0]),
        email("fail@naver.com").to_string(),
        "the blog's bytes, unchanged"
    );
    assert_eq!(
        dead[0].headers().text(h::FAILURE_CLASS).as_deref(),
        Some("transient")
    );
    wait_until(
        Duration::from_secs(30),
        "the DLT worker logs it",
        || async { !json_lines(&dlt_log).is_empty() },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_api_spring_listener() {
    let dir = temp_dir("scenario-rust-to-java");
    let topic = unique("email.send");
    let topics = scenario_chain(&topic);
    create_topics(&topics, 1).await;
    let dlt = format!("{topic}.dlt");
    let status = format!("{topic}.status");
    let api_port = free_port();
    let _api = mailer(
        &dir,
        "api",
        &[
            "api",
            "--listen",
            &format!("127.0.0.1:{api_port}"),
            "--topic",
            &topic,
            "--status-topic",
            &status,
        ],
    );
    // The blog's listener reads with a strict `new ObjectMapper()`: the API's message must be
    // the blog's four fields and nothing else (D8 in INTEROP.md; the id travels in a header).
    let mut spring = Spring::start(
        &dir,
        "spring",
        &[
            ("interop.topic", &topic),
            ("interop.group", &unique("email-send-group")),
            ("interop.dlt-group", &unique("email-send-dlt-group")),
        ],
    );
    let base = format!("http://127.0.0.1:{api_port}");
    let client = reqwest::Client::new();
    wait_until(Duration::from_secs(30), "the API is up", || async {
        client.get(format!("{base}/healthz")).send().await.is_ok()
    })
    .await;
    for to in ["member@naver.com", "fail@naver.com"] {
        let response = client
            .post(format!("{base}/emails"))
            .json(&email(to))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    spring
        .wait_for(
            Duration::from_secs(90),
            "member handled and fail@naver.com dead-lettered",
            |e| {
                e.iter().any(|e| {
                    e["event"] == "handled"
                        && e["key"] == "member@naver.com"
                        && e["topic"] == topic.as_str()
                }) && e
                    .iter()
                    .any(|e| e["event"] == "dlt" && e["key"] == "fail@naver.com")
            },
        )
        .await;
    let deliveries = spring.events_of("delivery");
    let fail: Vec<_> = deliveries
        .iter()
        .filter(|e| e["key"] == "fail@naver.com")
        .collect();
    assert_eq!(fail.len(), 5, "five deliveries of fail@naver.com: {fail:?}");
    let dead = &spring.events_of("dlt")[0];
    let payload: serde_json::Value =
        serde_json::from_str(dead["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["to"], "fail@naver.com");
    assert_eq!(payload["subject"], "제목");
    assert_eq!(count(&dlt), 1);
    let log = spring.process.log_text();
    assert!(
        log.contains(&format!("Received message in dlt listener: {dlt}-0@0")),
        "{log}"
    );
    assert!(log.contains("이메일 발송 완료"), "the blog's success line");
}
