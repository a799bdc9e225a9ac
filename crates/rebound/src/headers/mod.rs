//! The record headers a retry chain reads and writes: Spring Kafka's names and byte encodings, plus
//! Rebound's own under the `rebound-` prefix. This module is the one place that knows header
//! names and bytes; the rest of the workspace reads and writes them through its typed views:
//!
//! - every header name, and which ones a chain trip or an operator adds ([`ATTEMPTS`],
//!   [`CHAIN_HEADERS`], …: one path each, `rebound::headers::ATTEMPTS`; `names.rs` keeps them);
//! - [`codec`]: Java's encodings of the numbers (`ByteBuffer.putInt/putLong`, `BigInteger`);
//! - [`Provenance`] and [`FailureInfo`]: where a record first came from, and its latest failure;
//! - [`RetryState`] and [`HopStamp`]: the retry state a record carries, and what a hop writes
//!   (into a [`Headers`] list, or straight into librdkafka's for a copy to produce);
//! - [`RedriveStamp`], [`DiscardStamp`], [`DeadLetterMarks`]: what operators' actions write and read;
//! - [`slim`], [`without_payload`], [`mark_retry_refused`]: smaller copies for a target that refuses;
//! - [`decode_known`]: the decoded value of a binary header, for people to read.
//!
//! | header | encoding |
//! |---|---|
//! | `retry_topic-attempts` | 4-byte big-endian int: the attempt number of the next delivery (on a DLT copy, deliveries + 1); 1 byte (unsigned) also read; 1 to 32767 read, as spring-kafka 4.0.6 |
//! | `retry_topic-backoff-timestamp` | epoch ms, Java `BigInteger.toByteArray()` (minimal two's complement): when the next delivery is due (on a DLT copy, the failure time); 1–8 bytes read, any other length ignored (spring-kafka 4.0.7) |
//! | `retry_topic-original-timestamp` | same encoding: the first record's timestamp; 1–8 bytes read and carried on as they are, any other length ignored for the record's timestamp (4.0.7) |
//! | `kafka_original-topic` / `-partition` / `-offset` / `-timestamp` / `-timestamp-type` | UTF-8 / 4-byte BE / 8-byte BE / 8-byte BE / UTF-8 (`CreateTime`, Java's `TimestampType.toString()`), first hop kept |
//! | `kafka_exception-fqcn` / `-cause-fqcn` / `-message` / `-stacktrace` | UTF-8, latest failure only; both class names are the handler's error type (Spring: the exception's class and its `findRootCause` class) |
//! | `kafka_dlt-original-consumer-group` | UTF-8: the group that failed the record, under the name Spring 3.x writes in a retry chain too (`kafka_original-consumer-group`, which older Rebound wrote, is also read) |
//! | `kafka_dlt-original-*`, `kafka_dlt-exception-*` | read as well: Spring's plain dead-letter publisher writes these |
//! | `rebound-failure-class` | UTF-8: `transient`, `permanent` or `undecodable` |
//! | `rebound-first-failed-at`, `rebound-failed-at` | UTF-8 decimal epoch ms |
//! | `rebound-redrive-id`, `-redrive-count`, `-redriven-at`, `-redriven-by`, `-redriven-from` | UTF-8: written by a redrive (`-from` is `<dlt>-<p>@<o>`, or `<dlt>.archive-<p>@<o>` for a copy redriven from the archive) |
//! | `rebound-discard-reason`, `-discarded-by`, `-discarded-at`, `rebound-dead-letter` | UTF-8: on an archive copy |
//! | `rebound-retry-refused` | UTF-8: on a DLT copy whose retry topic refused the record (too large) |
//! | `rebound-payload-omitted` | UTF-8: on a DLT copy too large to carry its payload: size, refusal, where the original is |
//!
//! The three `retry_topic-*` headers are appended on every hop, the DLT's included, as Spring
//! does; readers take the last value (Kafka's `lastHeader`).
//!
//! Reading never fails hard: a header that is missing or malformed reads as absent (or as an
//! error value), and the caller decides the fallback (and logs a warning).

use bytes::Bytes;

pub mod codec;
mod describe;
mod hop_stamp;
// Private: its names are re-exported here, so each has one public path (`headers::ATTEMPTS`).
pub(crate) mod names;
mod provenance;
mod retry_state;
mod shapes;
mod sink;
mod stamps;

pub use codec::*;
pub use describe::{decode_known, Decoded};
pub use hop_stamp::{HopStamp, NextDelivery};
pub use names::*;
pub use provenance::{FailureInfo, Provenance};
pub use retry_state::RetryState;
pub use shapes::{mark_retry_refused, slim, without_payload};
pub(crate) use sink::{HeaderSink, KafkaHeaders};
pub use stamps::{DeadLetterMarks, DiscardMarks, DiscardStamp, RedriveStamp};

/// One record header. Kafka allows a key more than once and a null value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Its name (a key that was not UTF-8 on the wire is decoded lossily).
    pub key: String,
    /// Its value; `None` for a null header.
    pub value: Option<Bytes>,
}

/// The ordered headers of a record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// No headers.
    pub const fn new() -> Self {
        Headers(Vec::new())
    }

    /// The headers in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// How many headers (a repeated key counts each time).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
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

    /// Whether any header has this key.
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

    /// Adds a header with a null value.
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

    /// Removes every header of `key`.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|h| h.key != key);
    }

    /// The last value of `key` as UTF-8 text (lossy), if present.
    pub fn text(&self, key: &str) -> Option<String> {
        self.last(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// The headers as librdkafka takes them for a record to produce: in order, repeated keys and
    /// null values kept.
    pub fn to_kafka(&self) -> rdkafka::message::OwnedHeaders {
        let mut list = KafkaHeaders::with_capacity(self.0.len());
        self.0
            .iter()
            .for_each(|header| list.add(&header.key, header.value.as_deref()));
        list.into_inner()
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
    fn decimals_encoded_on_the_stack_read_as_to_string() {
        // (The big integers' bytes are the golden ones above: `encode_big_integer` is them.)
        for v in [0, 1, -1, 127, 1_764_320_000_000, i64::MAX, i64::MIN] {
            assert_eq!(
                codec::Encoded::decimal(v).as_bytes(),
                v.to_string().as_bytes()
            );
        }
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
        // As spring-kafka 4.0.6 reads them: one byte unsigned, four bytes big-endian, 1 to
        // 32767 (`Short.MAX_VALUE`); anything else is no attempt number (`None`), which the
        // consumer replaces with the first attempt the record's topic delivers.
        let cases: &[(&[u8], Option<u32>)] = &[
            (&[0, 0, 0, 2], Some(2)),
            (&[0, 0, 0, 5], Some(5)),
            (&[3], Some(3)),
            (&[0x80], Some(128)), // spring-kafka 3.3.10 read -128
            (&[0xff], Some(255)), // and -1
            (&[0, 0, 0x7f, 0xff], Some(MAX_ATTEMPT)),
            (&[0, 0, 0x80, 0x00], None), // 32768: over the cap
            (&[0x7f, 0xff, 0xff, 0xff], None),
            (&[0, 0, 0, 0], None),
            (&[0], None),
            (&[0xff, 0xff, 0xff, 0xfe], None),
            (&[0x80, 0, 0, 0], None), // i32::MIN
            (&[0, 2], None),
            (&[], None),
            (&[0, 0, 0, 0, 0, 0, 0, 3], None),
            (b"three", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(decode_attempts(bytes).ok(), *expected, "{bytes:02x?}");
        }
        assert!(matches!(
            decode_attempts(&[0, 0, 0x80, 0]),
            Err(HeaderError::OutOfRange { value: 32768, .. })
        ));
    }

    #[test]
    fn timestamps_of_a_length_spring_ignores_do_not_decode() {
        // spring-kafka 4.0.7 ignores a `retry_topic-backoff-timestamp` or
        // `retry_topic-original-timestamp` of no bytes or more than 8, and uses the record's
        // timestamp; 3.3.10 threw on no bytes and kept the low 64 bits of more than 8.
        let t = 1_764_320_000_000;
        let cases: &[(&[u8], Option<i64>)] = &[
            (&[0x01, 0x9a, 0xc9, 0xaa, 0xb8, 0x00], Some(t)), // BigInteger, 6 bytes
            (&[0, 0, 0x01, 0x9a, 0xc9, 0xaa, 0xb8, 0x00], Some(t)), // a long, 8 bytes
            (&[0x7f], Some(127)),
            (&[0xff], Some(-1)),
            // Any 8 bytes are a long: text, or i64::MAX (both absurd, more than a day ahead).
            (b"zzzzzzzz", Some(0x7a7a_7a7a_7a7a_7a7a)),
            (
                &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                Some(i64::MAX),
            ),
            (&[], None),
            (&[0, 0, 0, 0x01, 0x9a, 0xc9, 0xaa, 0xb8, 0x00], None), // 9 bytes
            (&[0; 16], None),
        ];
        for key in [BACKOFF_TIMESTAMP, ORIGINAL_TIMESTAMP_RETRY] {
            for (bytes, expected) in cases {
                assert_eq!(
                    decode_big_integer(key, bytes).ok(),
                    *expected,
                    "{key} {bytes:02x?}"
                );
            }
        }
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
