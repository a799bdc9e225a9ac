//! One e-mail, one trace: an e-mail that always fails goes API → main → every retry topic → DLT →
//! DLT worker, each service exporting to a real Zipkin, and Zipkin's `/api/v2/trace/{id}` shows
//! one trace with one span per attempt, each the child of the one before, with the messaging and
//! Rebound attributes. The dead letter carries exactly one `traceparent`, naming the last attempt.

use std::path::Path;
use std::time::Duration;

use rebound::trace::traceparent::{TraceParent, TRACEPARENT};
use rebound_ops::redrive::{redrive, RedriveOptions};
use rebound_ops::Filter;
use serde_json::Value;
use testkit::process::{free_port, service, temp_dir, Process};
use testkit::zipkin::{tag, trace};
use testkit::*;
use tokio_util::sync::CancellationToken;

/// The trace as a person sees it: Zipkin's own page for it in a real Chromium, saved as
/// `target/screenshots/zipkin_trace.png` (the README shows a copy, `docs/screenshots/`) once the
/// page lists the worker's spans.
async fn screenshot_trace(zipkin: &str, trace_id: &str) {
    use testkit::browser::{fantoccini::Locator, Browser};
    let browser = Browser::start().await;
    let client = &browser.client;
    let page = format!("{zipkin}/zipkin/traces/{trace_id}");
    wait_until(
        Duration::from_secs(60),
        "Zipkin's page of the trace",
        || async {
            if client.goto(&page).await.is_err() {
                return false;
            }
            let Ok(body) = client.find(Locator::Css("body")).await else {
                return false;
            };
            body.text().await.is_ok_and(|text| {
                text.contains("mailer-worker") && text.contains("mailer-dlt-worker")
            })
        },
    )
    .await;
    let png = client.screenshot().await.expect("a screenshot");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("zipkin_trace.png"), png).unwrap();
    browser.close().await;
}

fn mailer(dir: &Path, name: &str, args: &[&str]) -> Process {
    service(dir, name, Path::new(env!("CARGO_BIN_EXE_mailer")), args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_email_is_one_trace_from_the_api_to_the_dlt_worker() {
    init_tracing();
    let zipkin = tokio::task::spawn_blocking(testkit::zipkin::url)
        .await
        .unwrap();
    let dir = temp_dir("traces");
    let topic = unique("email.send");
    let (dlt, status_topic) = (format!("{topic}.dlt"), format!("{topic}.status"));
    create_topic(&topic, 1).await;
    let (api_port, smtp_port) = (free_port(), free_port());
    let common = [
        "--topic",
        &topic,
        "--status-topic",
        &status_topic,
        "--zipkin-url",
        &zipkin,
    ];
    let smtp_listen = format!("127.0.0.1:{smtp_port}");
    let _smtp = mailer(&dir, "smtp", &["smtp-sink", "--listen", &smtp_listen]);
    let api_listen = format!("127.0.0.1:{api_port}");
    let _api = mailer(
        &dir,
        "api",
        &[&["api", "--listen", &api_listen][..], &common].concat(),
    );
    let (group, dlt_group) = (unique("traces-group"), unique("traces-dlt-group"));
    let smtp_port_text = smtp_port.to_string();
    let worker = [
        "worker",
        "--group",
        &group,
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &smtp_port_text,
        "--attempts",
        "4",
        "--delay-ms",
        "100",
    ];
    let _worker = mailer(&dir, "worker", &[&worker[..], &common].concat());
    let dlt_worker = ["dlt-worker", "--group", &dlt_group];
    let _dlt_worker = mailer(&dir, "dlt-worker", &[&dlt_worker[..], &common].concat());

    let client = reqwest::Client::new();
    let base = format!("http://{api_listen}");
    wait_until(Duration::from_secs(30), "the API answers", || async {
        client.get(format!("{base}/healthz")).send().await.is_ok()
    })
    .await;
    let body = serde_json::json!({"from":"sender@naver.com","to":"fail@naver.com","subject":"제목","body":"내용"});
    // A caller's traceparent that does not parse counts as none (and crashes nothing).
    let response = client
        .post(format!("{base}/emails"))
        .header("traceparent", "00-NOT-a-trace-<script>")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    // No valid traceparent was sent: the API's request span is the root, named in `traceresponse`.
    let root = TraceParent::parse(response.headers()["traceresponse"].to_str().unwrap()).unwrap();
    let trace_id = root.trace_id_hex();

    // The dead letter: exactly one traceparent, in the e-mail's trace.
    let mut dead = Vec::new();
    wait_until(Duration::from_secs(60), "the dead letter", || {
        dead = read_all(&dlt);
        std::future::ready(!dead.is_empty())
    })
    .await;
    assert_eq!(dead.len(), 1);
    let traceparents: Vec<_> = dead[0]
        .headers()
        .iter()
        .filter(|h| h.key == TRACEPARENT)
        .collect();
    assert_eq!(traceparents.len(), 1, "{:?}", dead[0].headers());
    let dead_parent = TraceParent::read(dead[0].headers()).unwrap();
    assert_eq!(dead_parent.trace_id_hex(), trace_id);

    // Zipkin: the API's span, four attempts, the DLT worker's span: six, one trace.
    let mut spans: Vec<Value> = Vec::new();
    wait_until(Duration::from_secs(60), "six spans in Zipkin", || {
        spans = trace(&trace_id);
        std::future::ready(spans.len() >= 6)
    })
    .await;
    assert_eq!(spans.len(), 6, "{spans:#?}");
    let named = |name: &str| -> &Value {
        spans
            .iter()
            .find(|s| s["name"].as_str() == Some(&name.to_lowercase())) // Zipkin lower-cases names
            .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
    };
    let api = named("post /emails");
    assert!(api.get("parentId").is_none(), "{api}");
    assert_eq!(api["localEndpoint"]["serviceName"], "mailer-api");
    assert_eq!(api["kind"], "SERVER");
    assert_eq!(api["id"], root.parent_id_hex());

    let stages = [
        (
            topic.clone(),
            "main",
            "retried",
            format!("{topic}-retry-100"),
        ),
        (
            format!("{topic}-retry-100"),
            "retry",
            "retried",
            format!("{topic}-retry-200"),
        ),
        (
            format!("{topic}-retry-200"),
            "retry",
            "retried",
            format!("{topic}-retry-400"),
        ),
        (
            format!("{topic}-retry-400"),
            "retry",
            "dead_lettered",
            dlt.clone(),
        ),
    ];
    let mut parent = api;
    for (n, (on, stage, outcome, next)) in stages.iter().enumerate() {
        let span = named(&format!("process {on}"));
        let what = format!("attempt {}: {span}", n + 1);
        assert_eq!(span["parentId"], parent["id"], "{what}");
        assert_eq!(span["kind"], "CONSUMER", "{what}");
        assert_eq!(
            span["localEndpoint"]["serviceName"], "mailer-worker",
            "{what}"
        );
        assert_eq!(
            tag(span, "rebound.attempt"),
            Some(&*(n + 1).to_string()),
            "{what}"
        );
        assert_eq!(tag(span, "rebound.stage"), Some(*stage), "{what}");
        assert_eq!(tag(span, "rebound.outcome"), Some(*outcome), "{what}");
        assert_eq!(
            tag(span, "rebound.next_topic"),
            Some(next.as_str()),
            "{what}"
        );
        assert_eq!(
            tag(span, "rebound.failure.class"),
            Some("transient"),
            "{what}"
        );
        assert!(tag(span, "error").unwrap().contains("451"), "{what}");
        assert_eq!(tag(span, "messaging.system"), Some("kafka"), "{what}");
        assert_eq!(
            tag(span, "messaging.operation.type"),
            Some("process"),
            "{what}"
        );
        assert_eq!(
            tag(span, "messaging.destination.name"),
            Some(on.as_str()),
            "{what}"
        );
        assert_eq!(
            tag(span, "messaging.kafka.message.key"),
            Some("fail@naver.com"),
            "{what}"
        );
        assert_eq!(tag(span, "messaging.kafka.offset"), Some("0"), "{what}");
        assert_eq!(
            tag(span, "messaging.consumer.group.name"),
            Some(group.as_str()),
            "{what}"
        );
        // Retries are due at a time and report how late they started; the first delivery is not.
        let lateness = tag(span, "rebound.lateness_ms").map(|l| l.parse::<i64>().unwrap());
        assert_eq!(lateness.is_some(), *stage == "retry", "{what}");
        parent = span;
    }
    assert_eq!(dead_parent.parent_id_hex(), parent["id"].as_str().unwrap());

    screenshot_trace(&zipkin, &trace_id).await;

    let listener = named(&format!("process {dlt}"));
    assert_eq!(listener["parentId"], parent["id"], "{listener}");
    assert_eq!(
        listener["localEndpoint"]["serviceName"],
        "mailer-dlt-worker"
    );
    assert_eq!(tag(listener, "rebound.stage"), Some("dlt"));
    assert_eq!(
        tag(listener, "rebound.outcome"),
        Some("dead_letter_handled")
    );
    assert_eq!(
        tag(listener, "messaging.consumer.group.name"),
        Some(dlt_group.as_str())
    );

    // The on-call person redrives it: a new trace, linked to the dead letter's, that the redriven
    // record continues.
    let exporting = mailer::telemetry::install("rebound-redrive", Some(&zipkin)).unwrap();
    let options = RedriveOptions::new("on-call");
    let report = redrive(
        &kafka(),
        &dlt,
        &Filter::default(),
        &options,
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.sent(), 1);
    drop(exporting); // sends the redrive's span
    let redriven = read_all(&topic);
    assert_eq!(redriven.len(), 2);
    let copies: Vec<_> = redriven[1]
        .headers()
        .iter()
        .filter(|h| h.key == TRACEPARENT)
        .collect();
    assert_eq!(copies.len(), 1, "{:?}", redriven[1].headers());
    let copy = TraceParent::read(redriven[1].headers()).unwrap();
    assert_ne!(
        copy.trace_id_hex(),
        trace_id,
        "a redrive is a trace of its own"
    );
    let mut spans: Vec<Value> = Vec::new();
    wait_until(
        Duration::from_secs(60),
        "the redrive and the next attempt in Zipkin",
        || {
            spans = trace(&copy.trace_id_hex());
            let attempt = spans
                .iter()
                .any(|s| s["parentId"].as_str() == Some(&copy.parent_id_hex()));
            std::future::ready(attempt)
        },
    )
    .await;
    let redrive_span = spans
        .iter()
        .find(|s| s["id"].as_str() == Some(&copy.parent_id_hex()))
        .unwrap_or_else(|| panic!("no redrive span in {spans:#?}"));
    assert!(redrive_span.get("parentId").is_none(), "{redrive_span}");
    assert_eq!(redrive_span["kind"], "PRODUCER");
    assert_eq!(
        redrive_span["localEndpoint"]["serviceName"],
        "rebound-redrive"
    );
    assert_eq!(
        tag(redrive_span, "rebound.dead_letter.trace_id"),
        Some(trace_id.as_str())
    );
    let link = format!("{trace_id}/{}", dead_parent.parent_id_hex());
    assert_eq!(tag(redrive_span, "links"), Some(link.as_str()));
    let next = spans
        .iter()
        .find(|s| s["parentId"].as_str() == Some(&copy.parent_id_hex()))
        .unwrap();
    assert_eq!(
        tag(next, "messaging.destination.name"),
        Some(topic.as_str()),
        "{next}"
    );
    assert_eq!(tag(next, "messaging.kafka.offset"), Some("1"), "{next}");
}
