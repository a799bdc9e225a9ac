//! Issue 25: Spring and Rebound on the same trace, both ways, in one Zipkin. The Spring peer runs
//! with Micrometer Tracing (Brave, W3C) when given `interop.zipkin-url`; Rebound's services with
//! `--zipkin-url`. One consumer JVM serves both halves (its retryable topic for (b), its DLT
//! consumer for (a)); the producer of (a) is the peer's own short producer run.
//!
//! (a) Spring's producer starts the trace, `mailer worker` fails the e-mail through Rebound's
//! chain, Spring's DLT listener handles the dead letter: one trace, producer → attempt 1 → … →
//! attempt 4 → DLT listener, and the dead letter carries exactly one `traceparent`.
//! (b) The mailer API starts the trace, Spring's retry containers run the retries: one trace, API
//! → main listener → send → retry listener → … → DLT listener.
//! (c) A record with a `traceparent`, `tracestate`, `baggage` and `b3` neither side wrote, through
//! each side's chain: both replace `traceparent` and copy the other three once (`foreign.rs`).

mod foreign;
mod support;

use std::time::Duration;

use interop::*;
use rebound::trace::traceparent::{TraceParent, TRACEPARENT};
use support::*;
use testkit::process::free_port;
use testkit::zipkin::tag;
use testkit::{read_all, unique, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_and_rebound_share_one_trace_both_ways() {
    let zipkin = tokio::task::spawn_blocking(testkit::zipkin::url)
        .await
        .unwrap();
    let dir = temp_dir("spring-traces");
    // (a)'s chain is Rebound's (`--attempts 4 --delay-ms 100`), (b)'s is Spring's (5 attempts,
    // 100 ms doubling); both created up front, so that the peer's listeners find them.
    let rebound_main = unique("email.send");
    let rebound_chain = chain(&rebound_main, &[100, 200, 400]);
    let spring_main = unique("email.send");
    let spring_chain = chain(&spring_main, &[100, 200, 400, 800]);
    create_topics(&[rebound_chain.clone(), spring_chain.clone()].concat(), 1).await;
    let rebound_dlt = rebound_chain.last().unwrap().clone();
    let mut spring = Spring::start(
        &dir,
        "spring",
        &[
            ("interop.zipkin-url", &zipkin),
            ("interop.topic", &spring_main),
            ("interop.group", &unique("email-send-group")),
            ("interop.delay", "100"),
            ("interop.fail-to", "fail@naver.com"),
            ("interop.dlt-topic", &rebound_dlt),
            ("interop.dlt-group", &unique("email-send-dlt-group")),
        ],
    );
    spring.wait_started().await;

    let _rebound =
        java_producer_rebound_attempts_spring_dlt(&dir, &zipkin, &mut spring, &rebound_chain).await;
    mailer_api_spring_retries(&dir, &zipkin, &mut spring, &spring_chain).await;

    // (c) Trace headers neither side wrote, through each side's chain.
    let payload = email("fail@naver.com").to_string();
    let (main, retry) = (&rebound_chain[0], &rebound_chain[1]);
    let rebound = foreign::probe("Rebound", main, retry, &payload).await;
    rebound.assert_continues_the_trace("Rebound");
    let (main, retry) = (&spring_chain[0], &spring_chain[1]);
    let spring_copy = foreign::probe("Spring", main, retry, &payload).await;
    spring_copy.assert_continues_the_trace("Spring");
    rebound.assert_copies_the_others("Rebound");
    spring_copy.assert_copies_the_others("Spring");
}

/// (a): Spring's producer → Rebound's four attempts → Spring's DLT listener.
async fn java_producer_rebound_attempts_spring_dlt(
    dir: &std::path::Path,
    zipkin: &str,
    spring: &mut Spring,
    chain: &[String],
) -> (Process, Process) {
    let (main, dlt) = (&chain[0], chain.last().unwrap());
    let smtp_port = free_port().to_string();
    let smtp_listen = format!("127.0.0.1:{smtp_port}");
    let smtp = mailer(dir, "smtp", &["smtp-sink", "--listen", &smtp_listen]);
    let group = unique("traces-group");
    let status = format!("{main}.status");
    let worker = mailer(
        dir,
        "worker",
        &[
            "worker",
            "--group",
            &group,
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &smtp_port,
            "--attempts",
            "4",
            "--delay-ms",
            "100",
            "--topic",
            main,
            "--status-topic",
            &status,
            "--zipkin-url",
            zipkin,
        ],
    );
    let produced = Spring::produce(
        dir,
        main,
        &[email("fail@naver.com")],
        &[("interop.zipkin-url", zipkin), ("interop.key", "to")],
    );
    assert_eq!(produced.len(), 1, "{produced:?}");

    // What Spring's producer wrote: one traceparent naming its PRODUCER span.
    let sent = read_all(main);
    assert_eq!(sent.len(), 1);
    print_trace_headers("Spring's producer", sent[0].headers());
    assert_eq!(count_named(sent[0].headers(), TRACEPARENT), 1);
    let producer = TraceParent::read(sent[0].headers()).expect("Spring wrote a traceparent");
    let trace_id = producer.trace_id_hex();

    spring
        .wait_for(Duration::from_secs(120), "the DLT listener got it", |e| {
            e.iter()
                .any(|e| e["event"] == "dlt" && e["topic"].as_str() == Some(dlt.as_str()))
        })
        .await;
    let dead = read_all(dlt);
    assert_eq!(dead.len(), 1);
    assert_korean(&testkit::text(&dead[0]));
    print_trace_headers("Rebound's dead letter", dead[0].headers());
    assert_eq!(
        count_named(dead[0].headers(), TRACEPARENT),
        1,
        "{:?}",
        dead[0].headers()
    );
    let dead_parent = TraceParent::read(dead[0].headers()).unwrap();
    assert_eq!(dead_parent.trace_id_hex(), trace_id);

    // Zipkin: Spring's producer span, four attempts, Spring's DLT listener span: one trace.
    let spans = wait_for_trace(&trace_id, "producer, 4 attempts, DLT listener", |spans| {
        spans.len() >= 6 && !spring_consumer_spans(spans, dlt).is_empty() && no_orphans(spans)
    })
    .await;
    print_tree("(a)", &spans);
    assert_eq!(spans.len(), 6, "{spans:#?}");
    let root = span_with_id(&spans, &producer.parent_id_hex());
    assert_eq!(root["kind"], "PRODUCER", "{root}");
    assert_eq!(
        root["localEndpoint"]["serviceName"], "spring-email",
        "{root}"
    );
    assert!(root.get("parentId").is_none(), "{root}");
    let mut parent = root;
    for (n, topic) in chain[..chain.len() - 1].iter().enumerate() {
        let name = format!("process {topic}");
        let attempt = spans
            .iter()
            .find(|s| s["name"] == name.to_lowercase())
            .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"));
        let what = format!("attempt {}: {attempt}", n + 1);
        assert_eq!(attempt["parentId"], parent["id"], "{what}");
        assert_eq!(
            attempt["localEndpoint"]["serviceName"], "mailer-worker",
            "{what}"
        );
        assert_eq!(
            tag(attempt, "rebound.attempt"),
            Some(&*(n + 1).to_string()),
            "{what}"
        );
        parent = attempt;
    }
    assert_eq!(tag(parent, "rebound.outcome"), Some("dead_lettered"));
    assert_eq!(dead_parent.parent_id_hex(), parent["id"].as_str().unwrap());
    let listeners = spring_consumer_spans(&spans, dlt);
    assert_eq!(listeners.len(), 1, "{listeners:#?}");
    assert_eq!(listeners[0]["parentId"], parent["id"], "{}", listeners[0]);
    (smtp, worker)
}

/// (b): the mailer API → Spring's main listener → Spring's retry containers → Spring's DLT.
async fn mailer_api_spring_retries(
    dir: &std::path::Path,
    zipkin: &str,
    spring: &mut Spring,
    chain: &[String],
) {
    let (main, dlt) = (&chain[0], chain.last().unwrap());
    let api_listen = format!("127.0.0.1:{}", free_port());
    let status = format!("{main}.status");
    let _api = mailer(
        dir,
        "api",
        &[
            "api",
            "--listen",
            &api_listen,
            "--topic",
            main,
            "--status-topic",
            &status,
            "--zipkin-url",
            zipkin,
        ],
    );
    let base = format!("http://{api_listen}");
    let client = reqwest::Client::new();
    wait_until(Duration::from_secs(30), "the API answers", || async {
        client.get(format!("{base}/healthz")).send().await.is_ok()
    })
    .await;
    let response = client
        .post(format!("{base}/emails"))
        .json(&email("fail@naver.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let root = TraceParent::parse(response.headers()["traceresponse"].to_str().unwrap()).unwrap();
    let trace_id = root.trace_id_hex();

    spring
        .wait_for(
            Duration::from_secs(120),
            "Spring's own DLT container handled it",
            |e| {
                e.iter()
                    .any(|e| e["event"] == "handled" && e["topic"].as_str() == Some(dlt.as_str()))
            },
        )
        .await;
    // Every copy Spring wrote on the chain: exactly one traceparent, in the API's trace
    // (spring-kafka #3816: before 3.3.4 each hop appended one more).
    let mut sends = Vec::new(); // the span each copy names: Spring's send span for it
    for topic in &chain[1..] {
        let copies = read_all(topic);
        assert_eq!(copies.len(), 1, "{topic}");
        assert_korean(&testkit::text(&copies[0]));
        print_trace_headers(&format!("Spring's copy on {topic}"), copies[0].headers());
        assert_eq!(count_named(copies[0].headers(), TRACEPARENT), 1, "{topic}");
        let copy = TraceParent::read(copies[0].headers()).unwrap();
        assert_eq!(copy.trace_id_hex(), trace_id, "{topic}");
        sends.push(copy.parent_id_hex());
    }

    // Zipkin: API → main listener → send to retry-100 → its listener → … → DLT listener. A
    // retry topic's listener can have more than one span: a delivery before the due time fails
    // with KafkaBackoffException (not due) and comes again.
    let spans = wait_for_trace(&trace_id, "Spring's listener and send spans", |spans| {
        let listened = chain
            .iter()
            .all(|t| !spring_consumer_spans(spans, t).is_empty());
        listened
            && sends.iter().all(|id| spans.iter().any(|s| s["id"] == **id))
            && no_orphans(spans)
    })
    .await;
    print_tree("(b)", &spans);
    let api = span_with_id(&spans, &root.parent_id_hex());
    assert_eq!(api["localEndpoint"]["serviceName"], "mailer-api", "{api}");
    assert_eq!(api["kind"], "SERVER", "{api}");
    assert!(api.get("parentId").is_none(), "{api}");
    let first = spring_consumer_spans(&spans, &chain[0]);
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(first[0]["parentId"], api["id"], "{}", first[0]);
    for (n, topic) in chain[1..].iter().enumerate() {
        // Spring's copy names Spring's send span (the header replaced, not copied), a child of
        // the failed attempt's listener span on the topic before.
        let send = span_with_id(&spans, &sends[n]);
        assert_eq!(send["kind"], "PRODUCER", "{topic}: {send}");
        assert_eq!(send["localEndpoint"]["serviceName"], "spring-email");
        let failed = span_with_id(&spans, send["parentId"].as_str().unwrap());
        assert!(
            spring_consumer_spans(&spans, &chain[n]).contains(&failed),
            "{topic}: the send's parent is not a listener span on {}: {failed}",
            chain[n]
        );
        for listener in spring_consumer_spans(&spans, topic) {
            assert_eq!(listener["parentId"], send["id"], "{topic}: {listener}");
        }
    }
}

/// The scenario's Korean subject and body, intact.
fn assert_korean(payload: &str) {
    let message: serde_json::Value = serde_json::from_str(payload).expect(payload);
    assert_eq!(message["subject"], "제목", "{payload}");
    assert_eq!(message["body"], "내용", "{payload}");
}
