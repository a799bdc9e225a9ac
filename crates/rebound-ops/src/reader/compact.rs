//! A read record made compact: its key, payload and header values moved into one buffer of
//! their own size, its topic name shared by every record of the read.
//!
//! `Record::from_message` used to copy one message as if it were the first of a poll round, into
//! a buffer with room for 256 such messages (about 70 KB for a dead letter of 200 bytes and a
//! dozen headers), and the record kept that whole buffer alive: 40,000 dead letters held 2.8 GB
//! of address space, and freeing each buffer consolidated the allocator's free lists, a third of
//! a redrive's copy phase (BENCHMARKS.md, 5c). `rebound` now gives such a record room for its own
//! message only (plus 64 bytes for its headers, grown as needed); what is left here is the exact
//! size and one topic name for all, and this copy may go once measured without it.

use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use rebound::headers::{Header, Headers};
use rebound::Record;

/// `record` with its bytes in one buffer of their size, its topic the shared `topic`.
pub(crate) fn compact(record: &Record, topic: &Arc<str>) -> Record {
    let headers = record.headers();
    let size = record.key().map_or(0, <[u8]>::len)
        + record.payload().map_or(0, <[u8]>::len)
        + headers
            .iter()
            .map(|h| h.value.as_ref().map_or(0, Bytes::len))
            .sum::<usize>();
    let mut buffer = BytesMut::with_capacity(size);
    let key = record.key().map(|k| put(&mut buffer, k));
    let payload = record.payload().map(|p| put(&mut buffer, p));
    let values: Vec<Option<Range<usize>>> = headers
        .iter()
        .map(|h| h.value.as_deref().map(|v| put(&mut buffer, v)))
        .collect();
    let bytes = buffer.freeze();
    let headers: Headers = headers
        .iter()
        .zip(values)
        .map(|(h, value)| Header {
            key: h.key.clone(),
            value: value.map(|range| bytes.slice(range)),
        })
        .collect();
    let mut compact = Record::new(topic.clone(), record.partition(), record.offset())
        .with_headers(headers)
        .with_attempt(record.attempt());
    if let Some(range) = key {
        compact = compact.with_key(bytes.slice(range));
    }
    if let Some(range) = payload {
        compact = compact.with_payload(bytes.slice(range));
    }
    if let Some(timestamp) = record.timestamp() {
        compact = compact.with_timestamp(timestamp);
    }
    compact
}

/// Appends `bytes` to `buffer`; returns where they are.
fn put(buffer: &mut BytesMut, bytes: &[u8]) -> Range<usize> {
    let start = buffer.len();
    buffer.extend_from_slice(bytes);
    start..buffer.len()
}

#[cfg(test)]
mod tests {
    use rebound::EpochMillis;

    use super::*;

    #[test]
    fn a_compact_record_says_what_the_record_says() {
        let mut headers = Headers::new();
        headers.push("kafka_dlt-exception-message", "451 mailbox busy");
        headers.push_null("a-null-header");
        headers.push("kafka_dlt-exception-message", "a repeated key");
        let record = Record::new("email.send.dlt", 3, 17)
            .with_key("fail@naver.com")
            .with_payload(r#"{"to":"fail@naver.com","subject":"제목"}"#)
            .with_timestamp(EpochMillis::new(1_700_000_000_000))
            .with_headers(headers);
        let copy = compact(&record, &Arc::from("email.send.dlt"));
        assert_eq!(copy.coordinates(), record.coordinates());
        assert_eq!(copy.key(), record.key());
        assert_eq!(copy.payload(), record.payload());
        assert_eq!(copy.timestamp(), record.timestamp());
        assert_eq!(copy.attempt(), record.attempt());
        assert_eq!(copy.headers(), record.headers());
    }

    #[test]
    fn a_record_without_key_payload_or_headers_stays_empty() {
        let record = Record::new("t.dlt", 0, 0);
        let copy = compact(&record, &Arc::from("t.dlt"));
        assert_eq!(copy.key(), None);
        assert_eq!(copy.payload(), None);
        assert!(copy.headers().is_empty());
        assert_eq!(copy.timestamp(), None);
    }
}
