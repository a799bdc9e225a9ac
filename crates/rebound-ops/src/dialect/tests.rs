//! Each dialect read from hand-made headers (the real writers' bytes are in `tests/golden/`),
//! hostile ones included: never a panic, a warning for each value that cannot be read.

use proptest::prelude::*;
use rebound::headers::{self as h, Headers};

use super::*;

/// Header name and value pairs, as the tests write them.
type Pairs<'a> = &'a [(&'a str, &'a [u8])];

fn headers(pairs: Pairs<'_>) -> Headers {
    let mut headers = Headers::new();
    for (key, value) in pairs {
        headers.push(*key, value.to_vec());
    }
    headers
}

#[test]
fn each_dialect_is_told_by_its_headers() {
    let cases: &[(Pairs<'_>, Dialect)] = &[
        (&[(h::ORIGINAL_TOPIC, b"t")], Dialect::Spring),
        (&[(connect::TOPIC, b"t")], Dialect::Connect),
        (&[(share_group::GROUP, b"g")], Dialect::ShareGroup),
        (&[(streams::EXCEPTION, b"E")], Dialect::Streams),
        (&[("trace", b"x")], Dialect::Unknown),
        (&[], Dialect::Unknown),
        // A redrive's stamp says nothing of who failed it.
        (&[(h::REDRIVE_ID, b"r")], Dialect::Unknown),
        // The latest writer wins: Connect copies a Spring record's headers, then adds its own.
        (
            &[(h::ORIGINAL_TOPIC, b"t"), (connect::TOPIC, b"u")],
            Dialect::Connect,
        ),
        (
            &[(connect::TOPIC, b"u"), (h::EXCEPTION_FQCN, b"E")],
            Dialect::Spring,
        ),
        (
            &[(streams::TOPIC, b"u"), (h::REDRIVE_ID, b"r")],
            Dialect::Streams,
        ),
    ];
    for (pairs, dialect) in cases {
        assert_eq!(Dialect::detect(&headers(pairs)), *dialect, "{pairs:?}");
    }
}

#[test]
fn dialect_names_round_trip() {
    for dialect in Dialect::ALL {
        assert_eq!(dialect.as_str().parse::<Dialect>(), Ok(dialect));
    }
    assert!("kafka".parse::<Dialect>().is_err());
}

#[test]
fn connect_reads_its_context_headers() {
    let view = DialectView::read(&headers(&[
        (connect::TOPIC, b"orders"),
        (connect::PARTITION, b"2"),
        (connect::OFFSET, b"41"),
        (connect::CONNECTOR, b"orders-sink"),
        (connect::TASK, b"0"),
        (connect::STAGE, b"VALUE_CONVERTER"),
        (
            connect::CLASS,
            b"org.apache.kafka.connect.json.JsonConverter",
        ),
        (
            connect::EXCEPTION_CLASS,
            b"org.apache.kafka.connect.errors.DataException",
        ),
        (connect::EXCEPTION_MESSAGE, "제목 내용".as_bytes()),
        (connect::EXCEPTION_STACKTRACE, b"at x"),
    ]));
    assert_eq!(view.dialect, Dialect::Connect);
    let origin = view.origin.unwrap();
    assert_eq!(
        (origin.topic.as_str(), origin.partition, origin.offset),
        ("orders", Some(2), Some(41))
    );
    assert_eq!(view.failure.message.as_deref(), Some("제목 내용"));
    assert_eq!(
        view.failure.fqcn.as_deref(),
        Some("org.apache.kafka.connect.errors.DataException")
    );
    assert_eq!(
        view.owner.unwrap().to_string(),
        "connector orders-sink task 0 at VALUE_CONVERTER"
    );
    assert!(view.warnings.is_empty(), "{:?}", view.warnings);
}

#[test]
fn share_group_reads_its_pointer() {
    let view = DialectView::read(&headers(&[
        (share_group::TOPIC, b"jobs"),
        (share_group::PARTITION, b"0"),
        (share_group::OFFSET, b"7"),
        (share_group::GROUP, b"workers"),
        (share_group::DELIVERY_COUNT, b"3"),
    ]));
    assert_eq!(view.dialect, Dialect::ShareGroup);
    assert_eq!(view.attempts, Some(3));
    let origin = view.origin.unwrap();
    assert_eq!(origin.coordinates().to_string(), "jobs-0@7");
    assert_eq!(origin.consumer_group.as_deref(), Some("workers"));
    assert_eq!(view.owner.unwrap().to_string(), "group workers");
    assert!(view.failure.message.is_none());
    assert!(view.warnings.is_empty(), "{:?}", view.warnings);
}

#[test]
fn streams_reads_its_exception() {
    let view = DialectView::read(&headers(&[
        (streams::EXCEPTION, b"java.lang.IllegalStateException"),
        (streams::MESSAGE, b"bad"),
        (streams::STACKTRACE, b"at y"),
        (streams::TOPIC, b"in"),
        (streams::PARTITION, b"1"),
        (streams::OFFSET, b"9"),
    ]));
    assert_eq!(view.dialect, Dialect::Streams);
    assert_eq!(view.origin.unwrap().coordinates().to_string(), "in-1@9");
    assert_eq!(
        view.failure.fqcn.as_deref(),
        Some("java.lang.IllegalStateException")
    );
    assert_eq!(view.failure.stacktrace.as_deref(), Some("at y"));
}

#[test]
fn hostile_headers_are_warned_about_not_trusted() {
    // Wrong type: Spring's binary int where a decimal string belongs; not UTF-8; missing topic.
    let view = DialectView::read(&headers(&[
        (share_group::PARTITION, &h::encode_i32(3)),
        (share_group::OFFSET, b"-x"),
        (share_group::GROUP, &[0xff, 0xfe]),
        (share_group::DELIVERY_COUNT, b"99999999999"),
    ]));
    assert_eq!(view.dialect, Dialect::ShareGroup);
    assert!(view.origin.is_none());
    assert_eq!(view.attempts, None);
    let warnings = view.warnings.join("\n");
    for expected in [
        "__dlq.errors.topic is missing",
        "__dlq.errors.group is not UTF-8",
        "__dlq.errors.delivery.count is not a decimal number",
    ] {
        assert!(warnings.contains(expected), "{expected} in {warnings}");
    }

    let view = DialectView::read(&headers(&[
        (connect::TOPIC, b"t"),
        (connect::PARTITION, b"\x00\x00\x00\x01"),
    ]));
    assert_eq!(view.origin.unwrap().partition, None);
    assert!(view.warnings[0].contains("__connect.errors.partition is not a decimal number: \"\\0"));

    let view = DialectView::read(&headers(&[
        (h::ORIGINAL_TOPIC, b"t"),
        (h::ORIGINAL_PARTITION, b"1"),
    ]));
    assert!(
        view.warnings[0].contains("not a 4-byte int"),
        "{:?}",
        view.warnings
    );
}

#[test]
fn hostile_streams_and_connect_headers_are_warned_about() {
    // Streams: no exception header, a non-UTF-8 message, a partition in Spring's binary form.
    let view = DialectView::read(&headers(&[
        (streams::MESSAGE, &[0xc3, 0x28]),
        (streams::TOPIC, b"in"),
        (streams::PARTITION, &h::encode_i32(1)),
        (streams::OFFSET, b"12"),
    ]));
    assert_eq!(view.dialect, Dialect::Streams);
    let origin = view.origin.unwrap();
    assert_eq!((origin.partition, origin.offset), (None, Some(12)));
    assert_eq!(view.failure.message.as_deref(), Some("\u{fffd}("));
    let warnings = view.warnings.join("\n");
    for expected in [
        "__streams.errors.exception is missing",
        "__streams.errors.message is not UTF-8",
        "__streams.errors.partition is not a decimal number",
    ] {
        assert!(warnings.contains(expected), "{expected} in {warnings}");
    }
    // Connect: a null topic reads as absent, a missing connector leaves no owner.
    let mut nulls = Headers::new();
    nulls.push_null(connect::TOPIC);
    nulls.push(connect::EXCEPTION_MESSAGE, "x".as_bytes().to_vec());
    let view = DialectView::read(&nulls);
    assert_eq!(view.dialect, Dialect::Connect);
    assert!(view.origin.is_none() && view.owner.is_none());
    assert!(view.warnings[0].contains("__connect.errors.topic is missing"));
}

fn any_header() -> impl Strategy<Value = (String, Option<Vec<u8>>)> {
    let known: Vec<&'static str> = CONNECT_HEADERS
        .iter()
        .chain(SHARE_GROUP_HEADERS)
        .chain(STREAMS_HEADERS)
        .chain(
            [
                h::ORIGINAL_TOPIC,
                h::ORIGINAL_PARTITION,
                h::ATTEMPTS,
                h::FAILED_AT,
            ]
            .iter(),
        )
        .copied()
        .collect();
    (
        prop::sample::select(known).prop_map(str::to_string),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..12)),
    )
}

proptest! {
    /// Any mix of known headers with any bytes (null values included) reads without a panic, as
    /// the dialect it is detected as, and every number read back is one the bytes spell.
    #[test]
    fn any_header_bytes_read_without_panic(pairs in prop::collection::vec(any_header(), 0..10)) {
        let mut headers = Headers::new();
        for (key, value) in &pairs {
            match value {
                Some(value) => headers.push(key.clone(), value.clone()),
                None => headers.push_null(key.clone()),
            }
        }
        let view = DialectView::read(&headers);
        prop_assert_eq!(view.dialect, Dialect::detect(&headers));
        if view.dialect == Dialect::ShareGroup {
            if let Some(count) = view.attempts {
                let text = headers.text(share_group::DELIVERY_COUNT).unwrap();
                prop_assert_eq!(text.trim().parse::<u32>().ok(), Some(count));
            }
        }
    }
}
