//! The record headers a retry chain reads and writes: Spring Kafka's names and byte encodings, plus
//! Rebound's own under the `rebound-` prefix. This module is the one place that owns the format.
//!
//! | header | encoding |
//! |---|---|
//! | `retry_topic-attempts` | 4-byte big-endian int: the attempt number of the next delivery (on a DLT copy, deliveries + 1); 1 byte also read |
//! | `retry_topic-backoff-timestamp` | epoch ms, Java `BigInteger.toByteArray()` (minimal two's complement): when the next delivery is due (on a DLT copy, the failure time); 1–8 bytes read |
//! | `retry_topic-original-timestamp` | same encoding: the first record's timestamp |
//!
//! The three `retry_topic-*` headers are appended on every hop, the DLT's included, as Spring
//! does; readers take the last value (Kafka's `lastHeader`).
//! | `kafka_original-topic` / `-partition` / `-offset` / `-timestamp` / `-timestamp-type` | UTF-8 / 4-byte BE / 8-byte BE / 8-byte BE / UTF-8 (`CreateTime`, Java's `TimestampType.toString()`), first hop kept |
//! | `kafka_exception-fqcn` / `-cause-fqcn` / `-message` / `-stacktrace` | UTF-8, latest failure only |
//! | `kafka_dlt-original-consumer-group` | UTF-8: the group that failed the record, under the name Spring 3.x writes in a retry chain too (`kafka_original-consumer-group`, which older Rebound wrote, is also read) |
//! | `kafka_dlt-original-*`, `kafka_dlt-exception-*` | read as well: Spring's plain dead-letter publisher writes these |
//! | `rebound-failure-class` | UTF-8: `transient`, `permanent` or `undecodable` |
//! | `rebound-first-failed-at`, `rebound-failed-at` | UTF-8 decimal epoch ms |
//! | `rebound-redrive-id`, `-redrive-count`, `-redriven-at`, `-redriven-by`, `-redriven-from` | UTF-8: written by a redrive (`-from` is `<dlt>-<p>@<o>`) |
//! | `rebound-discard-reason`, `-discarded-by`, `-discarded-at`, `rebound-dead-letter` | UTF-8: on an archive copy |
//! | `rebound-retry-refused` | UTF-8: on a DLT copy whose retry topic refused the record (too large) |
//! | `rebound-payload-omitted` | UTF-8: on a DLT copy too large to carry its payload: size, refusal, where the original is |
//!
//! Reading never fails hard: a header that is missing or malformed reads as absent, and the caller
//! decides the fallback (and logs a warning).

use bytes::Bytes;

pub const ATTEMPTS: &str = "retry_topic-attempts";
pub const BACKOFF_TIMESTAMP: &str = "retry_topic-backoff-timestamp";
pub const ORIGINAL_TIMESTAMP_RETRY: &str = "retry_topic-original-timestamp";

pub const ORIGINAL_TOPIC: &str = "kafka_original-topic";
pub const ORIGINAL_PARTITION: &str = "kafka_original-partition";
pub const ORIGINAL_OFFSET: &str = "kafka_original-offset";
pub const ORIGINAL_TIMESTAMP: &str = "kafka_original-timestamp";
pub const ORIGINAL_TIMESTAMP_TYPE: &str = "kafka_original-timestamp-type";
pub const ORIGINAL_CONSUMER_GROUP: &str = "kafka_original-consumer-group";
pub const EXCEPTION_FQCN: &str = "kafka_exception-fqcn";
pub const EXCEPTION_CAUSE_FQCN: &str = "kafka_exception-cause-fqcn";
pub const EXCEPTION_MESSAGE: &str = "kafka_exception-message";
pub const EXCEPTION_STACKTRACE: &str = "kafka_exception-stacktrace";

pub const DLT_ORIGINAL_TOPIC: &str = "kafka_dlt-original-topic";
pub const DLT_ORIGINAL_PARTITION: &str = "kafka_dlt-original-partition";
pub const DLT_ORIGINAL_OFFSET: &str = "kafka_dlt-original-offset";
pub const DLT_ORIGINAL_TIMESTAMP: &str = "kafka_dlt-original-timestamp";
pub const DLT_ORIGINAL_TIMESTAMP_TYPE: &str = "kafka_dlt-original-timestamp-type";
pub const DLT_ORIGINAL_CONSUMER_GROUP: &str = "kafka_dlt-original-consumer-group";
pub const DLT_EXCEPTION_FQCN: &str = "kafka_dlt-exception-fqcn";
pub const DLT_EXCEPTION_CAUSE_FQCN: &str = "kafka_dlt-exception-cause-fqcn";
pub const DLT_EXCEPTION_MESSAGE: &str = "kafka_dlt-exception-message";
pub const DLT_EXCEPTION_STACKTRACE: &str = "kafka_dlt-exception-stacktrace";

/// The prefix of every header Rebound adds of its own.
pub const PREFIX: &str = "rebound-";
pub const FAILURE_CLASS: &str = "rebound-failure-class";
pub const FIRST_FAILED_AT: &str = "rebound-first-failed-at";
pub const FAILED_AT: &str = "rebound-failed-at";
pub const REDRIVE_ID: &str = "rebound-redrive-id";
pub const REDRIVE_COUNT: &str = "rebound-redrive-count";
pub const REDRIVEN_AT: &str = "rebound-redriven-at";
pub const REDRIVEN_BY: &str = "rebound-redriven-by";
pub const REDRIVEN_FROM: &str = "rebound-redriven-from";
pub const DISCARD_REASON: &str = "rebound-discard-reason";
pub const DISCARDED_BY: &str = "rebound-discarded-by";
pub const DISCARDED_AT: &str = "rebound-discarded-at";
pub const DEAD_LETTER: &str = "rebound-dead-letter";
/// On a copy that left its payload behind because the target refused it (too large): the size,
/// the refusal, and where the original record is.
pub const PAYLOAD_OMITTED: &str = "rebound-payload-omitted";
/// On a DLT copy written early because a retry topic refused the record: the refusal.
pub const RETRY_REFUSED: &str = "rebound-retry-refused";

/// Headers that describe one trip through a chain; a redrive removes them to start afresh.
pub const CHAIN_HEADERS: &[&str] = &[
    ATTEMPTS,
    BACKOFF_TIMESTAMP,
    ORIGINAL_TIMESTAMP_RETRY,
    ORIGINAL_TOPIC,
    ORIGINAL_PARTITION,
    ORIGINAL_OFFSET,
    ORIGINAL_TIMESTAMP,
    ORIGINAL_TIMESTAMP_TYPE,
    ORIGINAL_CONSUMER_GROUP,
    EXCEPTION_FQCN,
    EXCEPTION_CAUSE_FQCN,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    DLT_ORIGINAL_TOPIC,
    DLT_ORIGINAL_PARTITION,
    DLT_ORIGINAL_OFFSET,
    DLT_ORIGINAL_TIMESTAMP,
    DLT_ORIGINAL_TIMESTAMP_TYPE,
    DLT_ORIGINAL_CONSUMER_GROUP,
    DLT_EXCEPTION_FQCN,
    DLT_EXCEPTION_CAUSE_FQCN,
    DLT_EXCEPTION_MESSAGE,
    DLT_EXCEPTION_STACKTRACE,
    FAILURE_CLASS,
    FIRST_FAILED_AT,
    FAILED_AT,
    RETRY_REFUSED,
];

/// One record header. Kafka allows a key more than once and a null value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Bytes>,
}

/// The ordered headers of a record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The last value of `key`, as Kafka's `Headers.lastHeader` (what Spring reads).
    pub fn last(&self, key: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .rev()
            .find(|h| h.key == key)
            .and_then(|h| h.value.as_deref())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|h| h.key == key)
    }

    /// Adds a header, keeping any earlier one of the same key.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<Bytes>) {
        self.0.push(Header {
            key: key.into(),
            value: Some(value.into()),
        });
    }

    pub fn push_null(&mut self, key: impl Into<String>) {
        self.0.push(Header {
            key: key.into(),
            value: None,
        });
    }

    /// Replaces every header of `key` with one new value.
    pub fn set(&mut self, key: &str, value: impl Into<Bytes>) {
        self.remove(key);
        self.push(key, value);
    }

    pub fn remove(&mut self, key: &str) {
        self.0.retain(|h| h.key != key);
    }

    /// The last value of `key` as UTF-8 text (lossy), if present.
    pub fn text(&self, key: &str) -> Option<String> {
        self.last(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// The first of `keys` present, as text: used to read both Spring header families.
    pub fn text_any(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.text(k))
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<T: IntoIterator<Item = Header>>(iter: T) -> Self {
        Headers(iter.into_iter().collect())
    }
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("header {key} is missing")]
    Missing { key: &'static str },
    #[error("header {key} has {len} bytes, expected {expected}")]
    BadLength {
        key: &'static str,
        len: usize,
        expected: &'static str,
    },
    #[error("header {key} holds {value}, which is out of range")]
    OutOfRange { key: &'static str, value: i64 },
}

/// Encodes an int as Java's `ByteBuffer.putInt`: 4 bytes big-endian.
pub fn encode_i32(value: i32) -> Bytes {
    Bytes::copy_from_slice(&value.to_be_bytes())
}

/// Encodes a long as Java's `ByteBuffer.putLong`: 8 bytes big-endian.
pub fn encode_i64(value: i64) -> Bytes {
    Bytes::copy_from_slice(&value.to_be_bytes())
}

/// Encodes a long as Java's `BigInteger.valueOf(v).toByteArray()`: the shortest big-endian two's
/// complement form that keeps the sign (1.7e12 ms takes 6 bytes).
pub fn encode_big_integer(value: i64) -> Bytes {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    Bytes::copy_from_slice(&bytes[start..])
}

/// Decodes 1 to 8 bytes of big-endian two's complement (`BigInteger` or a plain long).
pub fn decode_big_integer(key: &'static str, bytes: &[u8]) -> Result<i64, HeaderError> {
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(HeaderError::BadLength {
            key,
            len: bytes.len(),
            expected: "1 to 8",
        });
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0x00 };
    let mut full = [fill; 8];
    full[8 - bytes.len()..].copy_from_slice(bytes);
    Ok(i64::from_be_bytes(full))
}

/// Decodes an int written by `ByteBuffer.putInt` (4 bytes) or a single byte (Spring reads both).
pub fn decode_attempts(bytes: &[u8]) -> Result<u32, HeaderError> {
    let value = match bytes.len() {
        1 => bytes[0] as i8 as i64,
        4 => i32::from_be_bytes(bytes.try_into().expect("4 bytes")) as i64,
        len => {
            return Err(HeaderError::BadLength {
                key: ATTEMPTS,
                len,
                expected: "1 or 4",
            })
        }
    };
    if value < 1 {
        return Err(HeaderError::OutOfRange {
            key: ATTEMPTS,
            value,
        });
    }
    Ok(value as u32)
}

pub fn decode_i32(key: &'static str, bytes: &[u8]) -> Result<i32, HeaderError> {
    let array: [u8; 4] = bytes.try_into().map_err(|_| HeaderError::BadLength {
        key,
        len: bytes.len(),
        expected: "4",
    })?;
    Ok(i32::from_be_bytes(array))
}

pub fn decode_i64(key: &'static str, bytes: &[u8]) -> Result<i64, HeaderError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| HeaderError::BadLength {
        key,
        len: bytes.len(),
        expected: "8",
    })?;
    Ok(i64::from_be_bytes(array))
}

/// Where a record first came from, from either Spring header family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub topic: String,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub timestamp: Option<i64>,
    pub consumer_group: Option<String>,
}

impl Provenance {
    /// Reads `kafka_original-*`, falling back to `kafka_dlt-original-*`. `None` without a topic.
    pub fn read(headers: &Headers) -> Option<Provenance> {
        let topic = headers.text_any(&[ORIGINAL_TOPIC, DLT_ORIGINAL_TOPIC])?;
        let int = |a: &'static str, b: &'static str| {
            headers
                .last(a)
                .map(|v| decode_i32(a, v))
                .or_else(|| headers.last(b).map(|v| decode_i32(b, v)))
                .and_then(Result::ok)
        };
        let long = |a: &'static str, b: &'static str| {
            headers
                .last(a)
                .map(|v| decode_i64(a, v))
                .or_else(|| headers.last(b).map(|v| decode_i64(b, v)))
                .and_then(Result::ok)
        };
        Some(Provenance {
            topic,
            partition: int(ORIGINAL_PARTITION, DLT_ORIGINAL_PARTITION),
            offset: long(ORIGINAL_OFFSET, DLT_ORIGINAL_OFFSET),
            timestamp: long(ORIGINAL_TIMESTAMP, DLT_ORIGINAL_TIMESTAMP),
            consumer_group: headers
                .text_any(&[ORIGINAL_CONSUMER_GROUP, DLT_ORIGINAL_CONSUMER_GROUP]),
        })
    }
}

/// The latest failure recorded on a record, from either Spring header family.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailureInfo {
    pub fqcn: Option<String>,
    pub cause_fqcn: Option<String>,
    pub message: Option<String>,
    pub stacktrace: Option<String>,
    pub class: Option<String>,
}

impl FailureInfo {
    pub fn read(headers: &Headers) -> FailureInfo {
        FailureInfo {
            fqcn: headers.text_any(&[EXCEPTION_FQCN, DLT_EXCEPTION_FQCN]),
            cause_fqcn: headers.text_any(&[EXCEPTION_CAUSE_FQCN, DLT_EXCEPTION_CAUSE_FQCN]),
            message: headers.text_any(&[EXCEPTION_MESSAGE, DLT_EXCEPTION_MESSAGE]),
            stacktrace: headers.text_any(&[EXCEPTION_STACKTRACE, DLT_EXCEPTION_STACKTRACE]),
            class: headers.text(FAILURE_CLASS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_integer_matches_java_golden_bytes() {
        // BigInteger.valueOf(1764320000000L).toByteArray() == [0x01, 0x9A, 0xC9, 0xAA, 0xB8, 0x00]
        assert_eq!(
            &encode_big_integer(1_764_320_000_000)[..],
            &[0x01, 0x9a, 0xc9, 0xaa, 0xb8, 0x00]
        );
        assert_eq!(&encode_big_integer(0)[..], &[0x00]);
        assert_eq!(&encode_big_integer(127)[..], &[0x7f]);
        assert_eq!(&encode_big_integer(128)[..], &[0x00, 0x80]);
        assert_eq!(&encode_big_integer(-1)[..], &[0xff]);
        assert_eq!(&encode_big_integer(-129)[..], &[0xff, 0x7f]);
        assert_eq!(encode_big_integer(i64::MAX).len(), 8);
    }

    #[test]
    fn big_integer_round_trips() {
        for v in [
            0,
            1,
            -1,
            127,
            128,
            -128,
            -129,
            1_764_320_000_000,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(
                decode_big_integer(BACKOFF_TIMESTAMP, &encode_big_integer(v)).unwrap(),
                v
            );
        }
        // An 8-byte long (another writer) reads the same.
        let long = 1_764_320_000_000i64.to_be_bytes();
        assert_eq!(
            decode_big_integer(BACKOFF_TIMESTAMP, &long).unwrap(),
            1_764_320_000_000
        );
        assert!(decode_big_integer(BACKOFF_TIMESTAMP, &[]).is_err());
        assert!(decode_big_integer(BACKOFF_TIMESTAMP, &[0; 9]).is_err());
    }

    #[test]
    fn attempts_golden_bytes() {
        assert_eq!(&encode_i32(2)[..], &[0, 0, 0, 2]);
        assert_eq!(decode_attempts(&[0, 0, 0, 5]).unwrap(), 5);
        assert_eq!(decode_attempts(&[3]).unwrap(), 3);
        assert_eq!(
            decode_attempts(&[0x7f, 0xff, 0xff, 0xff]).unwrap(),
            i32::MAX as u32
        );
        assert!(decode_attempts(&[0, 0, 0, 0]).is_err());
        assert!(decode_attempts(&[0xff, 0xff, 0xff, 0xfe]).is_err());
        assert!(decode_attempts(&[0, 2]).is_err());
        assert!(decode_attempts(&[]).is_err());
    }

    #[test]
    fn provenance_reads_both_families() {
        let mut spring_chain = Headers::new();
        spring_chain.push(ORIGINAL_TOPIC, "email.send");
        spring_chain.push(ORIGINAL_PARTITION, encode_i32(3));
        spring_chain.push(ORIGINAL_OFFSET, encode_i64(42));
        let p = Provenance::read(&spring_chain).unwrap();
        assert_eq!(
            (p.topic.as_str(), p.partition, p.offset),
            ("email.send", Some(3), Some(42))
        );

        let mut plain = Headers::new();
        plain.push(DLT_ORIGINAL_TOPIC, "orders");
        plain.push(DLT_ORIGINAL_PARTITION, encode_i32(0));
        plain.push(DLT_ORIGINAL_OFFSET, encode_i64(7));
        plain.push(DLT_ORIGINAL_CONSUMER_GROUP, "g");
        let p = Provenance::read(&plain).unwrap();
        assert_eq!(
            (p.topic.as_str(), p.offset, p.consumer_group.as_deref()),
            ("orders", Some(7), Some("g"))
        );

        assert!(Provenance::read(&Headers::new()).is_none());
    }

    #[test]
    fn corrupt_provenance_fields_read_as_absent() {
        let mut h = Headers::new();
        h.push(ORIGINAL_TOPIC, "t");
        h.push(ORIGINAL_PARTITION, Bytes::from_static(&[1, 2]));
        h.push(ORIGINAL_OFFSET, Bytes::from_static(b"garbage!!"));
        let p = Provenance::read(&h).unwrap();
        assert_eq!((p.partition, p.offset), (None, None));
    }

    #[test]
    fn last_header_wins_like_kafka() {
        let mut h = Headers::new();
        h.push(EXCEPTION_MESSAGE, "first");
        h.push(EXCEPTION_MESSAGE, "second");
        assert_eq!(h.text(EXCEPTION_MESSAGE).as_deref(), Some("second"));
        h.set(EXCEPTION_MESSAGE, "only");
        assert_eq!(h.len(), 1);
    }
}
