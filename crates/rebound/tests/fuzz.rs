//! Property-based fuzzing of everything that reads bytes from the outside: the header decoders
//! (`decode_attempts`, `decode_big_integer`, `decode_i32`, `decode_i64`, `Provenance::read`,
//! `FailureInfo::read`, the `Headers` accessors) and the payload decoders (`Record::json`,
//! `Record::text`). None may panic, and each must agree with a plain model of what it decodes.
//!
//! Each property runs `REBOUND_FUZZ_CASES` cases (default 2000, the CI size). The full run:
//!
//! ```sh
//! REBOUND_FUZZ_CASES=1000000 cargo test -p rebound --test fuzz --release
//! ```

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::Config;
use rebound::headers::{self as h, FailureInfo, HeaderError, Headers, Provenance};
use rebound::{FailureClass, Record};

fn config() -> Config {
    let cases = std::env::var("REBOUND_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(2000);
    Config {
        cases,
        // Nothing written next to the sources; a failure prints its minimal input instead.
        failure_persistence: None,
        max_shrink_iters: 10_000,
        ..Config::default()
    }
}

fn record(payload: Option<Vec<u8>>, headers: Headers) -> Record {
    let record = Record::new("fuzz", 0, 0).with_headers(headers);
    match payload {
        Some(payload) => record.with_payload(Bytes::from(payload)),
        None => record,
    }
}

/// Header names a chain reads, plus arbitrary ones.
fn header_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            h::ATTEMPTS,
            h::BACKOFF_TIMESTAMP,
            h::ORIGINAL_TIMESTAMP_RETRY,
            h::ORIGINAL_TOPIC,
            h::ORIGINAL_PARTITION,
            h::ORIGINAL_OFFSET,
            h::ORIGINAL_TIMESTAMP,
            h::ORIGINAL_CONSUMER_GROUP,
            h::EXCEPTION_FQCN,
            h::EXCEPTION_CAUSE_FQCN,
            h::EXCEPTION_MESSAGE,
            h::EXCEPTION_STACKTRACE,
            h::DLT_ORIGINAL_TOPIC,
            h::DLT_ORIGINAL_PARTITION,
            h::DLT_ORIGINAL_OFFSET,
            h::DLT_ORIGINAL_TIMESTAMP,
            h::DLT_ORIGINAL_CONSUMER_GROUP,
            h::DLT_EXCEPTION_FQCN,
            h::DLT_EXCEPTION_MESSAGE,
            h::FAILURE_CLASS,
        ])
        .prop_map(String::from),
        1 => "[a-z_-]{0,24}",
        1 => any::<String>(),
    ]
}

/// Header values: short binary (the integer encodings' lengths and their neighbours), text, or null.
fn header_value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..10).prop_map(Some),
        2 => any::<String>().prop_map(|s| Some(s.into_bytes())),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Some),
        1 => Just(None),
    ]
}

fn headers() -> impl Strategy<Value = Headers> {
    prop::collection::vec((header_key(), header_value()), 0..24).prop_map(|pairs| {
        let mut headers = Headers::new();
        for (k, v) in pairs {
            match v {
                Some(v) => headers.push(k, v),
                None => headers.push_null(k),
            }
        }
        headers
    })
}

/// The last value of `key` as Kafka's `lastHeader` gives it (a null value reads as absent).
fn model_last(pairs: &Headers, key: &str) -> Option<Vec<u8>> {
    pairs
        .iter()
        .filter(|x| x.key == key)
        .last()
        .and_then(|x| x.value.as_ref().map(|v| v.to_vec()))
}

/// JSON-like text: fragments of JSON glued together, so that most inputs get past the first byte.
fn json_like() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            " ",
            "\"to\"",
            "\"subject\"",
            "\"body\"",
            "\"meta\"",
            "\"a@b.c\"",
            "\"제목\"",
            "1",
            "-0",
            "1e400",
            "-1.5E-7",
            "18446744073709551616",
            "null",
            "true",
            "false",
            "\"\\u00e9\"",
            "\"\\ud800\"",
            "\"\\uDBFF\\uDFFF\"",
            "\"\\x\"",
            "\"",
            "\u{feff}",
            "\n",
            "\0",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..4),
        any::<String>().prop_map(|s| serde_json::to_vec(&s).unwrap()),
    ];
    prop::collection::vec(fragment, 0..40).prop_map(|parts| parts.concat())
}

/// A valid JSON value, serialized, then possibly cut short or with one byte changed.
fn json_mutated() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(8, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::vec(("[a-z]{0,6}", inner), 0..8)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    });
    (value, any::<prop::sample::Index>(), any::<u8>(), 0u8..3).prop_map(|(value, at, byte, how)| {
        let mut bytes = serde_json::to_vec(&value).unwrap();
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            match how {
                0 => bytes.truncate(i),
                1 => bytes[i] = byte,
                _ => {}
            }
        }
        bytes
    })
}

/// The scenario's e-mail, as a handler would decode it.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Email {
    to: String,
    subject: String,
    body: String,
    #[serde(default)]
    meta: Option<serde_json::Value>,
}

fn check_payload(bytes: &[u8]) -> Result<(), TestCaseError> {
    let rec = record(Some(bytes.to_vec()), Headers::new());
    match rec.text() {
        Ok(text) => prop_assert_eq!(text.as_bytes(), bytes),
        Err(failure) => {
            prop_assert!(std::str::from_utf8(bytes).is_err());
            prop_assert_eq!(failure.class(), Some(FailureClass::Undecodable));
        }
    }
    match rec.json::<serde_json::Value>() {
        Ok(value) => {
            prop_assert!(serde_json::from_slice::<serde_json::Value>(bytes)
                .is_ok_and(|model| model == value))
        }
        Err(failure) => {
            prop_assert_eq!(failure.class(), Some(FailureClass::Undecodable));
            prop_assert!(failure
                .to_string()
                .starts_with("the payload is not the expected JSON"));
        }
    }
    match rec.json::<Email>() {
        Ok(_) => {}
        Err(failure) => prop_assert_eq!(failure.class(), Some(FailureClass::Undecodable)),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn attempts_decode_as_spring_writes_them(bytes in prop::collection::vec(any::<u8>(), 0..10)) {
        match h::decode_attempts(&bytes) {
            Ok(attempt) => {
                // spring-kafka 4.0.6: one byte unsigned, 1 to Short.MAX_VALUE.
                let model = match bytes.len() {
                    1 => bytes[0] as i64,
                    4 => i32::from_be_bytes(bytes[..].try_into().unwrap()) as i64,
                    _ => unreachable!("only 1 or 4 bytes decode"),
                };
                prop_assert!((1..=i16::MAX as u32).contains(&attempt));
                prop_assert_eq!(attempt as i64, model);
            }
            Err(HeaderError::BadLength { len, .. }) => {
                prop_assert!(len != 1 && len != 4);
                prop_assert_eq!(len, bytes.len());
            }
            Err(HeaderError::OutOfRange { value, .. }) => {
                prop_assert!(!(1..=i16::MAX as i64).contains(&value))
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn big_integers_round_trip(value in any::<i64>()) {
        let bytes = h::encode_big_integer(value);
        prop_assert!(!bytes.is_empty() && bytes.len() <= 8);
        prop_assert_eq!(h::decode_big_integer(h::BACKOFF_TIMESTAMP, &bytes), Ok(value));
        // An 8-byte long, as another writer may use, reads the same.
        prop_assert_eq!(h::decode_big_integer(h::BACKOFF_TIMESTAMP, &value.to_be_bytes()), Ok(value));
    }

    #[test]
    fn any_bytes_decode_as_big_integer_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..12)) {
        match h::decode_big_integer(h::BACKOFF_TIMESTAMP, &bytes) {
            Ok(value) => {
                prop_assert!((1..=8).contains(&bytes.len()));
                // Re-encoding gives the minimal form, which decodes to the same value and is
                // never longer than the input.
                let minimal = h::encode_big_integer(value);
                prop_assert!(minimal.len() <= bytes.len());
                prop_assert_eq!(h::decode_big_integer(h::BACKOFF_TIMESTAMP, &minimal), Ok(value));
            }
            Err(_) => prop_assert!(bytes.is_empty() || bytes.len() > 8),
        }
    }

    #[test]
    fn fixed_width_integers(bytes in prop::collection::vec(any::<u8>(), 0..12)) {
        match h::decode_i32(h::ORIGINAL_PARTITION, &bytes) {
            Ok(v) => prop_assert_eq!(v.to_be_bytes().to_vec(), bytes.clone()),
            Err(_) => prop_assert_ne!(bytes.len(), 4),
        }
        match h::decode_i64(h::ORIGINAL_OFFSET, &bytes) {
            Ok(v) => prop_assert_eq!(v.to_be_bytes().to_vec(), bytes.clone()),
            Err(_) => prop_assert_ne!(bytes.len(), 8),
        }
    }

    #[test]
    fn provenance_and_failure_never_panic(headers in headers()) {
        let lossy = |v: Vec<u8>| String::from_utf8_lossy(&v).into_owned();
        let topic = model_last(&headers, h::ORIGINAL_TOPIC)
            .or_else(|| model_last(&headers, h::DLT_ORIGINAL_TOPIC))
            .map(lossy);
        match Provenance::read(&headers) {
            None => prop_assert!(topic.is_none()),
            Some(p) => {
                prop_assert_eq!(Some(p.topic), topic);
                let partition = model_last(&headers, h::ORIGINAL_PARTITION)
                    .map(|v| h::decode_i32(h::ORIGINAL_PARTITION, &v).ok())
                    .or_else(|| model_last(&headers, h::DLT_ORIGINAL_PARTITION)
                        .map(|v| h::decode_i32(h::DLT_ORIGINAL_PARTITION, &v).ok()))
                    .flatten();
                prop_assert_eq!(p.partition, partition);
            }
        }
        let info = FailureInfo::read(&headers);
        let message = model_last(&headers, h::EXCEPTION_MESSAGE)
            .or_else(|| model_last(&headers, h::DLT_EXCEPTION_MESSAGE))
            .map(lossy);
        prop_assert_eq!(info.message, message);
        // The class is typed: a value this version does not know reads as absent.
        let class = model_last(&headers, h::FAILURE_CLASS)
            .map(lossy)
            .and_then(|text| text.parse::<FailureClass>().ok());
        prop_assert_eq!(info.class, class);
    }

    #[test]
    fn headers_set_and_remove(mut headers in headers(), key in header_key(), value in prop::collection::vec(any::<u8>(), 0..8)) {
        let others = headers.iter().filter(|x| x.key != key).count();
        headers.set(&key, value.clone());
        prop_assert_eq!(headers.last(&key), Some(&value[..]));
        prop_assert_eq!(headers.iter().filter(|x| x.key == key).count(), 1);
        prop_assert_eq!(headers.len(), others + 1);
        headers.remove(&key);
        prop_assert!(!headers.contains(&key));
        prop_assert_eq!(headers.len(), others);
    }

    #[test]
    fn any_bytes_as_payload(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_payload(&bytes)?;
    }

    #[test]
    fn json_like_payloads(bytes in json_like()) {
        check_payload(&bytes)?;
    }

    #[test]
    fn mutated_json_payloads(bytes in json_mutated()) {
        check_payload(&bytes)?;
    }
}

#[test]
fn a_missing_payload_is_undecodable() {
    let rec = record(None, Headers::new());
    assert_eq!(
        rec.text().unwrap_err().class(),
        Some(FailureClass::Undecodable)
    );
    let failure = rec.json::<serde_json::Value>().unwrap_err();
    assert_eq!(failure.class(), Some(FailureClass::Undecodable));
    assert_eq!(failure.to_string(), "the record has no payload");
}

/// Deeply nested JSON stops at serde_json's depth limit (128) instead of overflowing the stack:
/// checked on a thread with a 512 KiB stack, a quarter of a Tokio worker's (measured: the 128
/// levels need 256–512 KiB in a debug build, 64–128 KiB in a release build).
#[test]
fn deep_json_does_not_overflow_a_small_stack() {
    let cases: Vec<Vec<u8>> = vec![
        "[".repeat(1_000_000).into_bytes(),
        format!("{}{}", "[".repeat(200_000), "]".repeat(200_000)).into_bytes(),
        r#"{"a":"#.repeat(200_000).into_bytes(),
        format!(
            r#"{{"to":"a","subject":"s","body":"b","meta":{}}}"#,
            "[".repeat(200_000)
        )
        .into_bytes(),
    ];
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            for bytes in cases {
                let rec = record(Some(bytes), Headers::new());
                let failure = rec.json::<serde_json::Value>().unwrap_err();
                assert!(
                    failure.to_string().contains("recursion limit exceeded"),
                    "{failure}"
                );
                assert_eq!(failure.class(), Some(FailureClass::Undecodable));
                assert!(rec.json::<Email>().is_err());
            }
            // Skipped (unknown) fields are walked without recursion: deep but valid is fine.
            let deep_unknown = format!(
                r#"{{"to":"a","subject":"s","body":"b","x":{}{}}}"#,
                "[".repeat(200_000),
                "]".repeat(200_000)
            );
            let rec = record(Some(deep_unknown.into_bytes()), Headers::new());
            assert!(rec.json::<Email>().is_ok());
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
}
