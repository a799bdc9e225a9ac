//! Copies a failed record to its next topic (a retry topic or the DLT) with the headers of the
//! hop, through an idempotent `acks=all` producer. The caller commits the source offset only after
//! this returns the broker's acknowledgement.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use crate::config::{KafkaConfig, RELIABLE_PRODUCER};
use crate::failure::{Failure, FailureClass};
use crate::headers::{self as h, Headers};
use crate::record::Record;

/// Where a failed record goes next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Hop {
    /// To retry topic `topic`, delivering attempt `attempt`, not before `due_ms`.
    Retry {
        topic: String,
        attempt: u32,
        due_ms: i64,
        delay: Duration,
    },
    DeadLetter {
        topic: String,
    },
}

impl Hop {
    pub fn topic(&self) -> &str {
        match self {
            Hop::Retry { topic, .. } | Hop::DeadLetter { topic } => topic,
        }
    }
}

/// Kafka's default `message.max.bytes` on a broker (1 MiB plus the record batch overhead).
const BROKER_DEFAULT_MAX_MESSAGE_BYTES: &str = "1048588";

pub(crate) struct Forwarder {
    producer: FutureProducer,
    partitions: HashMap<String, i32>,
}

impl Forwarder {
    pub fn new(kafka: &KafkaConfig, partitions: HashMap<String, i32>) -> Result<Self, KafkaError> {
        // A copy is its source plus the failure headers, so it is larger than anything the
        // source's producer was allowed to write under librdkafka's own 1,000,000-byte default.
        // Allow what a Kafka broker accepts by default; a user's `-X message.max.bytes` wins.
        let mut defaults = RELIABLE_PRODUCER.to_vec();
        defaults.push(("message.max.bytes", BROKER_DEFAULT_MAX_MESSAGE_BYTES));
        let producer = kafka.client_config(&defaults).create()?;
        Ok(Forwarder {
            producer,
            partitions,
        })
    }

    /// Sends the copy and waits for the acknowledgement. Returns the copy's partition and offset.
    /// `shape` says whether the payload goes with it (see [`CopyShape`]).
    pub async fn send(
        &self,
        record: &Record,
        hop: &Hop,
        shape: CopyShape,
        headers: Headers,
    ) -> Result<(i32, i64), KafkaError> {
        let topic = hop.topic();
        let mut copy = FutureRecord::<[u8], [u8]>::to(topic).headers(to_kafka_headers(&headers));
        // Same partition number as the source, as Spring does, when the target has it.
        if self
            .partitions
            .get(topic)
            .is_some_and(|n| record.partition() < *n)
        {
            copy = copy.partition(record.partition());
        }
        if let Some(key) = record.key() {
            copy = copy.key(key);
        }
        if let Some(payload) = record.payload().filter(|_| shape.keeps_payload()) {
            copy = copy.payload(payload);
        }
        self.producer
            .send(copy, Timeout::Never)
            .await
            .map(|delivery| (delivery.partition, delivery.offset))
            .map_err(|(e, _)| e)
    }
}

fn to_kafka_headers(headers: &Headers) -> OwnedHeaders {
    headers.iter().fold(
        OwnedHeaders::new_with_capacity(headers.len()),
        |acc, header| {
            acc.insert(KafkaHeader {
                key: &header.key,
                value: header.value.as_deref(),
            })
        },
    )
}

/// Whether the broker (or the producer, before sending) refused the copy for what it is, so
/// that sending the same bytes again can never succeed: too large, or an invalid record. Every
/// other error (broker down, leader moving, topic not there yet) is worth waiting out.
pub(crate) fn refused_for_good(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}

/// How much of a failed record its copy carries. A record that fitted in its source topic can
/// still be refused as a copy: the failure headers make it larger, and the target topic may
/// allow less. Rather than stall the partition on a copy that will never be accepted, the
/// forwarder steps down until the copy fits (the steps are only taken on such a refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CopyShape {
    /// Payload and every header.
    Full,
    /// Payload and headers, with the failure's stack trace dropped and its message cut short.
    Slim,
    /// No payload, and only the chain's headers: the copy points at the original record, which
    /// stays in the main topic (for its retention time), and says why the payload is missing.
    WithoutPayload,
}

impl CopyShape {
    pub fn keeps_payload(self) -> bool {
        self != CopyShape::WithoutPayload
    }

    /// The next, smaller shape to try, if any.
    pub fn smaller(self) -> Option<CopyShape> {
        match self {
            CopyShape::Full => Some(CopyShape::Slim),
            CopyShape::Slim => Some(CopyShape::WithoutPayload),
            CopyShape::WithoutPayload => None,
        }
    }

    /// Cuts `headers` (built by [`hop_headers`]) down to this shape. `refusal` says why.
    pub fn apply(self, mut headers: Headers, record: &Record, refusal: &str) -> Headers {
        if self == CopyShape::Full {
            return headers;
        }
        headers.remove(h::EXCEPTION_STACKTRACE);
        if let Some(message) = headers.text(h::EXCEPTION_MESSAGE) {
            headers.set(h::EXCEPTION_MESSAGE, cut(&message, SLIM_MESSAGE_BYTES));
        }
        if self == CopyShape::WithoutPayload {
            headers = headers
                .iter()
                .filter(|x| {
                    h::CHAIN_HEADERS.contains(&x.key.as_str()) || x.key.starts_with(h::PREFIX)
                })
                .cloned()
                .collect();
            let size = record.payload().map_or(0, |p| p.len());
            let original = match h::Provenance::read(&headers) {
                Some(h::Provenance {
                    topic,
                    partition: Some(partition),
                    offset: Some(offset),
                    ..
                }) => format!("{topic}-{partition}@{offset}"),
                _ => record.coordinates(),
            };
            headers.set(
                h::PAYLOAD_OMITTED,
                format!("{size} bytes not copied ({refusal}); the original is {original}"),
            );
        }
        headers
    }
}

/// How much of the failure's message a slim copy keeps.
const SLIM_MESSAGE_BYTES: usize = 1024;

/// `text` cut to at most `max` bytes on a character boundary, marked when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// What the hop writes about the failure.
pub(crate) struct FailureReport<'a> {
    pub failure: &'a Failure,
    pub class: FailureClass,
    pub group: &'a str,
    pub now_ms: i64,
}

/// The headers of the copy: the source's own headers, provenance of the first hop (kept as it
/// was), the latest failure (replacing an earlier one), and the retry state of the next delivery.
pub(crate) fn hop_headers(record: &Record, hop: &Hop, report: &FailureReport<'_>) -> Headers {
    let mut headers = record.headers().clone();
    if !headers.contains(h::ORIGINAL_TOPIC) {
        headers.push(h::ORIGINAL_TOPIC, record.topic().to_string());
        headers.push(h::ORIGINAL_PARTITION, h::encode_i32(record.partition()));
        headers.push(h::ORIGINAL_OFFSET, h::encode_i64(record.offset()));
        if let Some(ts) = record.timestamp() {
            headers.push(h::ORIGINAL_TIMESTAMP, h::encode_i64(ts.as_i64()));
            // Java's `TimestampType.toString()`, which Spring writes and `forName` reads back.
            headers.push(h::ORIGINAL_TIMESTAMP_TYPE, "CreateTime");
        }
    }
    // Spring 3.x writes the failing group under the `kafka_dlt-` name in a retry chain too;
    // either name already there (a record from an older Rebound) is kept.
    if !headers.contains(h::DLT_ORIGINAL_CONSUMER_GROUP)
        && !headers.contains(h::ORIGINAL_CONSUMER_GROUP)
    {
        headers.push(h::DLT_ORIGINAL_CONSUMER_GROUP, report.group.to_string());
    }
    let failure = report.failure;
    headers.set(h::EXCEPTION_FQCN, failure.type_name().to_string());
    match failure.root_cause() {
        Some(cause) => headers.set(h::EXCEPTION_CAUSE_FQCN, cause),
        None => headers.remove(h::EXCEPTION_CAUSE_FQCN),
    }
    headers.set(h::EXCEPTION_MESSAGE, failure.to_string());
    headers.set(h::EXCEPTION_STACKTRACE, failure.chain_text());
    headers.set(h::FAILURE_CLASS, report.class.as_str());
    if !headers.contains(h::FIRST_FAILED_AT) {
        headers.push(h::FIRST_FAILED_AT, report.now_ms.to_string());
    }
    headers.set(h::FAILED_AT, report.now_ms.to_string());
    // As Spring does (spring-kafka 3.3 and 4.0, measured in INTEROP.md, D3 and D4): the three
    // retry headers are appended on every hop, the DLT's included, and readers take the last. A
    // DLT copy carries the attempt a next delivery would have (deliveries + 1), due at the
    // failure, so `rebound dlt` and Spring's tools count the same deliveries.
    let original_ms = headers
        .last(h::ORIGINAL_TIMESTAMP_RETRY)
        .and_then(|v| h::decode_big_integer(h::ORIGINAL_TIMESTAMP_RETRY, v).ok())
        .unwrap_or_else(|| record.timestamp().map_or(report.now_ms, |t| t.as_i64()));
    let (attempt, due_ms) = match hop {
        Hop::Retry {
            attempt, due_ms, ..
        } => (*attempt, *due_ms),
        Hop::DeadLetter { .. } => (record.attempt().saturating_add(1), report.now_ms),
    };
    let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
    headers.push(
        h::ORIGINAL_TIMESTAMP_RETRY,
        h::encode_big_integer(original_ms),
    );
    headers.push(h::ATTEMPTS, h::encode_i32(attempt));
    headers.push(h::BACKOFF_TIMESTAMP, h::encode_big_integer(due_ms));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Message;

    fn record() -> Record {
        let mut headers = Headers::new();
        headers.push("traceparent", "00-abc");
        Record::new("email.send", 2, 7)
            .with_payload("{}")
            .with_timestamp(crate::EpochMillis::new(1_764_320_000_000))
            .with_headers(headers)
    }

    #[test]
    fn first_hop_writes_spring_headers() {
        let failure = Failure::transient(Message("잘못된 이메일 주소로 인해 발송 실패".into()));
        let report = FailureReport {
            failure: &failure,
            class: FailureClass::Transient,
            group: "email-send-group",
            now_ms: 1_764_320_001_000,
        };
        let hop = Hop::Retry {
            topic: "email.send-retry-1000".into(),
            attempt: 2,
            due_ms: 1_764_320_002_000,
            delay: Duration::from_secs(1),
        };
        let headers = hop_headers(&record(), &hop, &report);
        assert_eq!(headers.last("traceparent"), Some(&b"00-abc"[..]));
        assert_eq!(headers.last(h::ATTEMPTS), Some(&[0, 0, 0, 2][..]));
        assert_eq!(headers.last(h::ORIGINAL_TOPIC), Some(&b"email.send"[..]));
        assert_eq!(headers.last(h::ORIGINAL_PARTITION), Some(&[0, 0, 0, 2][..]));
        assert_eq!(
            headers.last(h::ORIGINAL_OFFSET),
            Some(&[0, 0, 0, 0, 0, 0, 0, 7][..])
        );
        assert_eq!(
            h::decode_big_integer(
                h::BACKOFF_TIMESTAMP,
                headers.last(h::BACKOFF_TIMESTAMP).unwrap()
            )
            .unwrap(),
            1_764_320_002_000
        );
        assert_eq!(headers.last(h::BACKOFF_TIMESTAMP).unwrap().len(), 6);
        assert_eq!(
            headers.text(h::EXCEPTION_MESSAGE).unwrap(),
            "잘못된 이메일 주소로 인해 발송 실패"
        );
        assert_eq!(
            headers.text(h::ORIGINAL_TIMESTAMP_TYPE).unwrap(),
            "CreateTime"
        );
        // The name Spring 3.x writes (measured against spring-kafka 3.3, INTEROP.md D1).
        assert_eq!(
            headers.text(h::DLT_ORIGINAL_CONSUMER_GROUP).as_deref(),
            Some("email-send-group")
        );
        assert!(!headers.contains(h::ORIGINAL_CONSUMER_GROUP));
    }

    #[test]
    fn later_hops_keep_provenance_and_replace_the_failure() {
        let first = Failure::msg("first");
        let report = |f| FailureReport {
            failure: f,
            class: FailureClass::Transient,
            group: "g",
            now_ms: 10,
        };
        let hop1 = Hop::Retry {
            topic: "t-retry-1000".into(),
            attempt: 2,
            due_ms: 20,
            delay: Duration::from_secs(1),
        };
        let second_record = Record::new("t-retry-1000", 2, 99)
            .with_payload("{}")
            .with_headers(hop_headers(&record(), &hop1, &report(&first)))
            .with_attempt(2);
        let second = Failure::msg("second");
        let dlt = Hop::DeadLetter {
            topic: "t.dlt".into(),
        };
        let headers = hop_headers(&second_record, &dlt, &report(&second));
        assert_eq!(headers.text(h::ORIGINAL_TOPIC).unwrap(), "email.send");
        assert_eq!(
            headers.last(h::ORIGINAL_OFFSET),
            Some(&[0, 0, 0, 0, 0, 0, 0, 7][..])
        );
        assert_eq!(headers.text(h::EXCEPTION_MESSAGE).unwrap(), "second");
        assert_eq!(
            headers
                .iter()
                .filter(|x| x.key == h::EXCEPTION_MESSAGE)
                .count(),
            1
        );
        // Spring's DLT copy: the attempt a next delivery would have (2 deliveries: 3), due at
        // the failure, appended after the first hop's values.
        assert_eq!(headers.last(h::ATTEMPTS), Some(&[0, 0, 0, 3][..]));
        assert_eq!(
            headers.iter().filter(|x| x.key == h::ATTEMPTS).count(),
            2,
            "one per hop"
        );
        assert_eq!(
            h::decode_big_integer(
                h::BACKOFF_TIMESTAMP,
                headers.last(h::BACKOFF_TIMESTAMP).unwrap()
            )
            .unwrap(),
            10
        );
    }
}
