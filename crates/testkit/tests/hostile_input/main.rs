//! Hostile input on a real broker: payloads a handler cannot decode, and retry headers that are
//! corrupt, absurd or duplicated. Undecodable payloads go to the DLT once with a clear reason and
//! are never retried; bad headers are read as `rebound::headers` documents (Spring's own
//! tolerances); the worker goes on after all of them.
//!
//! What each header value means is specified without a broker, in the unit tables of
//! `rebound::headers` (decoding), the consumer's `route` (which attempt, when due) and the fuzz
//! properties (`crates/rebound/tests/fuzz.rs`); the header rows here prove the wiring: one of each
//! kind, through a broker (`tests/chain/` `corrupt_retry_headers_are_tolerated` has a few more).

use std::time::Duration;

use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rebound::headers::{self as h, Headers, Provenance};
use rebound::{Backoff, Failure, Record, RetryPolicy, RetryingConsumer, RELIABLE_PRODUCER};
use testkit::*;

mod header_key;
mod headers;
mod payloads;

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

/// Decodes an [`Email`] with `record.json()` (undecodable: straight to the DLT), its calls noted.
fn email_handler(calls: &Recorder) -> impl rebound::Handler {
    calls.handler(|record: Record| async move { record.json::<Email>().map(|_| ()) })
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

/// Fails records whose key starts with `fail`, succeeds otherwise, its calls noted.
fn keyed_handler(calls: &Recorder) -> impl rebound::Handler {
    calls.handler(|record: Record| async move {
        let key = record.key_text().unwrap_or_default();
        if key.starts_with("fail") {
            return Err(Failure::msg(format!("{key} fails")));
        }
        Ok(())
    })
}
