//! The four dialects side by side in a real headless Chromium, on a broker of its own: the
//! scenario's Spring chain, a Kafka Connect DLQ, a share group's DLQ and a Kafka Streams DLQ, each
//! holding the records its real writer wrote (the header bytes captured from Connect, the broker
//! and Streams by crates/interop's tests: `crates/rebound-ops/tests/golden/`, names made
//! readable). The chains page names each DLT's dialect; a Connect dead letter and a share-group
//! pointer (resolved to its source record) are shown in full. Screenshots under
//! `target/screenshots/` (`dialects_chains`, `connect_dead_letter`, `share_group_dead_letter`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use rebound::headers::{self as h, Headers};
use rebound_console::{Console, Settings};
use serde_json::Value;
use testkit::browser::fantoccini::{Client, Locator};
use testkit::browser::Browser;
use testkit::process::free_port;
use testkit::*;

/// The names the captured records are given here.
const RENAMES: &[(&str, &str)] = &[
    ("orders-", "orders"),
    ("orders-sink-", "orders-sink"),
    ("jobs-", "jobs"),
    ("job-workers-", "job-workers"),
    ("words-", "words"),
];

/// A record to write: key, value, headers.
type Raw = (Option<Vec<u8>>, Option<Vec<u8>>, Headers);

fn bytes(hex: &Value) -> Option<Vec<u8>> {
    let hex = hex.as_str()?;
    Some(
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect(),
    )
}

/// The captured records of `name` (key, value, headers), their run-unique names made readable.
fn golden(name: &str) -> Vec<Raw> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../rebound-ops/tests/golden/{name}.json"));
    let records: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    records
        .iter()
        .map(|r| {
            let mut headers = Headers::new();
            for header in r["headers"].as_array().unwrap() {
                let mut value = bytes(&header["value_hex"]).unwrap_or_default();
                if let Ok(text) = std::str::from_utf8(&value) {
                    let renamed = RENAMES.iter().find(|(prefix, _)| {
                        text.strip_prefix(prefix).is_some_and(|rest| {
                            rest.bytes().all(|b| b.is_ascii_digit() || b == b'-')
                        })
                    });
                    if let Some((_, readable)) = renamed {
                        value = readable.as_bytes().to_vec();
                    }
                }
                headers.push(header["key"].as_str().unwrap(), value);
            }
            (bytes(&r["key_hex"]), bytes(&r["value_hex"]), headers)
        })
        .collect()
}

async fn write(cluster: &Cluster, topic: &str, records: Vec<Raw>) {
    let producer = cluster.producer();
    for (key, value, headers) in records {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(0)
            .headers(headers.to_kafka());
        if let Some(key) = &key {
            record = record.key(key);
        }
        if let Some(value) = &value {
            record = record.payload(value);
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
    }
}

async fn screenshot(client: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn body(client: &Client) -> String {
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn wait_for_text(client: &Client, url: &str, text: &str) {
    wait_until(
        Duration::from_secs(60),
        &format!("{url} to show {text}"),
        || async { client.goto(url).await.is_ok() && body(client).await.contains(text) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_dialects_side_by_side_in_a_browser() {
    // Connect's and Streams' DLQs follow no naming convention: the console is told their names
    // (the only test of this file, so no other test sees the variable).
    std::env::set_var("REBOUND_DLQS", "orders-connect-dlq,upper.dlq");
    let broker = PrivateBroker::start();
    let cluster = Cluster(broker.kafka());
    let topics = [
        "email.send",
        "email.send.dlt",
        "orders",
        "orders-connect-dlq",
        "jobs",
        "words",
        "upper.dlq",
    ];
    cluster.create_topics(&topics, 1, &[]).await;
    cluster
        .create_topics(
            &["dlq.jobs"],
            1,
            &[("errors.deadletterqueue.group.enable", "true")],
        )
        .await;

    let mut spring = Headers::new();
    spring.push(h::ORIGINAL_TOPIC, "email.send".to_string());
    spring.push(h::ORIGINAL_PARTITION, h::encode_i32(0));
    spring.push(h::ORIGINAL_OFFSET, h::encode_i64(0));
    spring.push(h::EXCEPTION_FQCN, "java.lang.RuntimeException".to_string());
    spring.push(
        h::EXCEPTION_MESSAGE,
        "잘못된 이메일 주소로 인해 발송 실패".to_string(),
    );
    spring.push(h::ATTEMPTS, h::encode_i32(5));
    let email = r#"{"to":"fail@naver.com","subject":"제목","body":"내용"}"#;
    write(
        &cluster,
        "email.send.dlt",
        vec![(
            Some(b"fail@naver.com".to_vec()),
            Some(email.as_bytes().to_vec()),
            spring,
        )],
    )
    .await;
    write(&cluster, "orders-connect-dlq", golden("connect")).await;
    write(&cluster, "upper.dlq", golden("streams")).await;
    // The share group's pointers point at jobs-0@0, @2 and @3: the source records are there.
    let mut trace = Headers::new();
    trace.push("trace", "내용".as_bytes().to_vec());
    let jobs = [
        "reject, then deleted",
        "accept me",
        "reject 제목",
        "release me",
    ];
    let sources = jobs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                Some(format!("r{i}").into_bytes()),
                Some(v.as_bytes().to_vec()),
                trace.clone(),
            )
        })
        .collect();
    write(&cluster, "jobs", sources).await;
    write(&cluster, "dlq.jobs", golden("share-group")).await;

    let port = free_port();
    let settings = Settings {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        ..Settings::default()
    };
    let console = Console::new(broker.kafka(), settings).unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(console.serve(listener, async {
        let _ = stopped.await;
    }));
    let base = format!("http://127.0.0.1:{port}");
    let browser = Browser::start().await;
    let client = &browser.client;

    wait_for_text(client, &format!("{base}/"), "upper.dlq").await;
    // The inflows are measured after the first read: the screenshot shows them.
    wait_until(
        Duration::from_secs(60),
        "every DLT's inflow measured",
        || async {
            client.goto(&format!("{base}/")).await.is_ok()
                && !body(client).await.contains("inflow unknown")
        },
    )
    .await;
    let chains = body(client).await;
    for (dlt, dialect) in [
        ("email.send.dlt", "spring"),
        ("orders-connect-dlq", "connect"),
        ("dlq.jobs", "share-group"),
        ("upper.dlq", "streams"),
    ] {
        let row = chains
            .lines()
            .find(|l| l.contains(dlt) && l.starts_with("dlt"))
            .unwrap_or_else(|| panic!("{dlt}: {chains}"));
        assert!(row.starts_with(&format!("dlt {dialect}")), "{row}");
    }
    screenshot(client, "dialects_chains").await;

    wait_for_text(
        client,
        &format!("{base}/dlt/orders-connect-dlq/0@0"),
        "VALUE_CONVERTER",
    )
    .await;
    let text = body(client).await;
    assert!(
        text.contains("connector orders-sink task 0 at VALUE_CONVERTER"),
        "{text}"
    );
    assert!(text.contains("제목: not JSON"), "{text}");
    screenshot(client, "connect_dead_letter").await;

    wait_for_text(client, &format!("{base}/dlt/dlq.jobs/0@1"), "share-group").await;
    let text = body(client).await;
    assert!(text.contains("jobs-0@2 (a share-group pointer"), "{text}");
    assert!(text.contains("reject 제목"), "the source's payload: {text}");
    screenshot(client, "share_group_dead_letter").await;

    browser.close().await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
