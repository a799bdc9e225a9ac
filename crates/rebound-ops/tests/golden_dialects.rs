//! The real writers' dead letters, as captured byte for byte from their records
//! (`tests/golden/<dialect>.json`, written by crates/interop's dialect tests with
//! `REBOUND_CAPTURE_GOLDEN`): each reads in its dialect with every field where it belongs and no
//! warning. No broker needed.

use std::path::Path;

use rebound::headers::Headers;
use rebound::Record;
use rebound_ops::dialect::{Dialect, Owner};
use rebound_ops::DeadLetter;
use serde_json::Value;

fn bytes(hex: &Value) -> Option<Vec<u8>> {
    let hex = hex.as_str()?;
    Some(
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect(),
    )
}

/// The dead letters of `tests/golden/<name>.json`, at offsets 0, 1, … of a topic `<name>-dlq`.
fn golden(name: &str) -> Vec<DeadLetter> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let records: Vec<Value> = serde_json::from_str(&text).expect("golden JSON");
    records
        .iter()
        .enumerate()
        .map(|(offset, r)| {
            let mut headers = Headers::new();
            for h in r["headers"].as_array().expect("headers") {
                let key = h["key"].as_str().expect("key");
                match bytes(&h["value_hex"]) {
                    Some(value) => headers.push(key, value),
                    None => headers.push_null(key),
                }
            }
            let mut record =
                Record::new(format!("{name}-dlq"), 0, offset as i64).with_headers(headers);
            if let Some(key) = bytes(&r["key_hex"]) {
                record = record.with_key(key);
            }
            if let Some(value) = bytes(&r["value_hex"]) {
                record = record.with_payload(value);
            }
            DeadLetter::from_record(record)
        })
        .collect()
}

#[test]
fn connect_worker_dead_letters_read_in_connects_dialect() {
    let dead = golden("connect");
    assert_eq!(dead.len(), 2);
    for (dl, offset) in dead.iter().zip([0, 2]) {
        assert_eq!(dl.dialect, Dialect::Connect);
        assert!(dl.warnings.is_empty(), "{:?}", dl.warnings);
        let origin = dl.origin.as_ref().expect("origin");
        assert!(origin.topic.starts_with("orders-"), "{origin:?}");
        assert_eq!((origin.partition, origin.offset), (Some(0), Some(offset)));
        assert!(matches!(
            dl.owner.as_ref(),
            Some(Owner::Connector { name, task: Some(task), stage: Some(stage) })
                if name.starts_with("orders-sink-") && task == "0" && stage == "VALUE_CONVERTER"
        ));
        assert_eq!(
            dl.error_class(),
            "org.apache.kafka.connect.errors.DataException"
        );
        assert_eq!(
            dl.failure.cause_fqcn.as_deref(),
            Some("org.apache.kafka.connect.json.JsonConverter")
        );
        assert!(dl
            .error_message()
            .starts_with("Converting byte[] to Kafka Connect data failed"));
        assert!(dl
            .failure
            .stacktrace
            .as_deref()
            .unwrap()
            .contains("\tat org.apache.kafka.connect.json.JsonConverter"));
        assert_eq!(dl.attempts, None);
        assert!(dl.payload_omitted.is_none());
    }
    assert_eq!(
        dead[0].record.headers().text("trace").as_deref(),
        Some("내용")
    );
    assert_eq!(dead[0].record.payload(), Some("제목: not JSON".as_bytes()));
}

#[test]
fn share_group_broker_dead_letters_read_as_pointers() {
    let dead = golden("share-group");
    assert_eq!(dead.len(), 3);
    let expected = [
        (0, 1, "Offset rejected by client."),
        (2, 1, "Offset rejected by client."),
        (3, 2, "Offset delivery count exceeded the threshold."),
    ];
    for (dl, (offset, deliveries, message)) in dead.iter().zip(expected) {
        assert_eq!(dl.dialect, Dialect::ShareGroup);
        assert!(dl.warnings.is_empty(), "{:?}", dl.warnings);
        let origin = dl.origin.as_ref().expect("origin");
        assert!(origin.topic.starts_with("jobs-"), "{origin:?}");
        assert_eq!((origin.partition, origin.offset), (Some(0), Some(offset)));
        assert!(
            matches!(dl.owner.as_ref(), Some(Owner::Group { name }) if name.starts_with("job-workers-"))
        );
        assert_eq!(dl.attempts, Some(deliveries));
        assert_eq!(dl.error_message(), message);
        // A pointer: nothing to redrive until its source is read (rebound_ops::pointer::resolve).
        assert!(dl.record.payload().is_none() && dl.record.key().is_none());
        assert!(dl
            .payload_omitted
            .as_deref()
            .unwrap()
            .contains("share-group pointer"));
    }
}

#[test]
fn streams_application_dead_letters_read_in_streams_dialect() {
    let dead = golden("streams");
    assert_eq!(dead.len(), 1);
    let dl = &dead[0];
    assert_eq!(dl.dialect, Dialect::Streams);
    assert!(dl.warnings.is_empty(), "{:?}", dl.warnings);
    let origin = dl.origin.as_ref().expect("origin");
    assert!(origin.topic.starts_with("words-"), "{origin:?}");
    assert_eq!((origin.partition, origin.offset), (Some(0), Some(0)));
    assert_eq!(dl.error_class(), "java.lang.IllegalStateException");
    assert_eq!(dl.error_message(), "refused 제목: fail 제목");
    assert!(dl
        .failure
        .stacktrace
        .as_deref()
        .unwrap()
        .contains("\tat rs.rebound.writers.StreamsDeadLetters"));
    // No application id among the headers: the owner is unknown from the record alone.
    assert_eq!(dl.owner, None);
    assert_eq!(dl.record.headers().text("trace").as_deref(), Some("내용"));
    assert_eq!(dl.record.payload(), Some("fail 제목".as_bytes()));
}

#[test]
fn share_group_copies_carry_key_and_value_but_not_the_source_headers() {
    let dead = golden("share-group-copy");
    assert!(!dead.is_empty());
    for dl in &dead {
        assert_eq!(dl.dialect, Dialect::ShareGroup);
        assert!(dl.warnings.is_empty(), "{:?}", dl.warnings);
        assert!(dl.record.key().is_some() && dl.record.payload().is_some());
        assert!(dl.payload_omitted.is_none(), "a copy is no pointer");
        // Kafka 4.4.0 writes the six `__dlq.errors.*` headers and nothing of the source's.
        assert!(dl
            .record
            .headers()
            .iter()
            .all(|h| h.key.starts_with("__dlq.errors.")));
        assert_eq!(dl.record.headers().len(), 6);
    }
    assert_eq!(dead[0].record.payload(), Some("reject 제목".as_bytes()));
}
