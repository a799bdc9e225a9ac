//! The traces test's questions to Zipkin and to trace headers.

use std::time::Duration;

use rebound::headers::Headers;
use serde_json::Value;
use testkit::wait_until;
use testkit::zipkin::trace;

/// The trace headers this test reports on: W3C's two, B3's single and multi forms, baggage.
const TRACE_HEADERS: [&str; 6] = [
    "traceparent",
    "tracestate",
    "b3",
    "X-B3-TraceId",
    "X-B3-SpanId",
    "baggage",
];

/// How many headers named `name` (case-insensitively: Kafka's names are bytes, B3's are not
/// written the same way everywhere).
pub(crate) fn count_named(headers: &Headers, name: &str) -> usize {
    headers
        .iter()
        .filter(|h| h.key.eq_ignore_ascii_case(name))
        .count()
}

/// Prints which trace headers a record carries and their values (seen with `--nocapture`; the
/// figures INTEROP.md's `traceparent` row reports).
pub(crate) fn print_trace_headers(what: &str, headers: &Headers) {
    let found: Vec<String> = headers
        .iter()
        .filter(|h| TRACE_HEADERS.iter().any(|t| h.key.eq_ignore_ascii_case(t)))
        .map(|h| {
            let value = h.value.as_deref().map(String::from_utf8_lossy);
            format!("{}={}", h.key, value.unwrap_or_default())
        })
        .collect();
    let all: Vec<&str> = headers.iter().map(|h| h.key.as_str()).collect();
    eprintln!("{what}: trace headers {found:?}; all headers {all:?}");
}

/// Waits until Zipkin's `/api/v2/trace/{id}` answers spans that satisfy `done`; returns them.
pub(crate) async fn wait_for_trace(
    id: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut spans = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    wait_until(Duration::from_secs(90), what, || {
        spans = trace(id);
        // The last look prints what Zipkin has, so that a failure says which span is missing.
        if std::time::Instant::now() + Duration::from_millis(600) > deadline {
            eprintln!("{what}: Zipkin has {spans:#?}");
        }
        std::future::ready(done(&spans))
    })
    .await;
    spans
}

/// Whether every span's parent is in the trace too: the services report in batches of their own,
/// so a child can reach Zipkin before its parent.
pub(crate) fn no_orphans(spans: &[Value]) -> bool {
    spans.iter().all(|s| {
        s["parentId"]
            .as_str()
            .is_none_or(|parent| spans.iter().any(|p| p["id"].as_str() == Some(parent)))
    })
}

/// The span whose id is `id`; panics naming the spans otherwise.
pub(crate) fn span_with_id<'a>(spans: &'a [Value], id: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("no span {id} in {spans:#?}"))
}

/// Spring's listener spans for records of `topic`: `CONSUMER` spans of `spring-email` whose name
/// or one of whose tags is the topic (spring-kafka 3.3 names them `<topic> receive`, 4.0
/// `<topic> process`; 3.3's tag is `messaging.source.name`).
pub(crate) fn spring_consumer_spans<'a>(spans: &'a [Value], topic: &str) -> Vec<&'a Value> {
    spans
        .iter()
        .filter(|s| {
            s["localEndpoint"]["serviceName"] == "spring-email"
                && s["kind"] == "CONSUMER"
                && names_topic(s, topic)
        })
        .collect()
}

fn names_topic(span: &Value, topic: &str) -> bool {
    let topic = topic.to_lowercase(); // Zipkin lower-cases span names
    let named = span["name"]
        .as_str()
        .is_some_and(|n| n.split(' ').any(|word| word == topic));
    let tagged = span["tags"]
        .as_object()
        .is_some_and(|tags| tags.values().any(|v| v.as_str() == Some(topic.as_str())));
    named || tagged
}

/// Prints the trace as a tree, children under their parents (with `--nocapture`).
pub(crate) fn print_tree(what: &str, spans: &[Value]) {
    fn walk(spans: &[Value], parent: Option<&str>, depth: usize, out: &mut String) {
        let children = spans.iter().filter(|s| s["parentId"].as_str() == parent);
        for span in children {
            out.push_str(&format!(
                "{}{} [{} {}] {}\n",
                "  ".repeat(depth),
                span["name"].as_str().unwrap_or("?"),
                span["localEndpoint"]["serviceName"].as_str().unwrap_or("?"),
                span["kind"].as_str().unwrap_or("-"),
                span["id"].as_str().unwrap_or("?"),
            ));
            walk(spans, span["id"].as_str(), depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(spans, None, 0, &mut out);
    eprintln!("{what}: {} spans\n{out}", spans.len());
}
