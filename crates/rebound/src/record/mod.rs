//! The record a handler receives: an owned copy of a Kafka message plus where it is in its chain,
//! and the one conversion from a consumed librdkafka message (the header reader that never
//! panics on a corrupt header lives here).

mod read;

pub(crate) use read::{Batch, Delivery};

use std::sync::Arc;

use bytes::Bytes;
use rdkafka::message::{BorrowedMessage, Message};
use serde::de::DeserializeOwned;

use crate::coordinates::Coordinates;
use crate::failure::Failure;
use crate::headers::Headers;
use crate::time::EpochMillis;

/// One Kafka record, owned, cheap to clone (payload, key and headers are reference-counted).
///
/// ```
/// use rebound::{headers::Headers, Record};
///
/// let record = Record::new("email.send", 0, 17)
///     .with_key("fail@naver.com")
///     .with_payload(r#"{"to":"fail@naver.com","subject":"제목"}"#);
/// assert_eq!(record.coordinates(), "email.send-0@17");
/// assert_eq!(record.key(), Some(&b"fail@naver.com"[..]));
/// assert_eq!(record.attempt(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Record {
    /// Shared by every record of a partition: the runtime hands out one allocation per partition.
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    key: Option<Bytes>,
    payload: Option<Bytes>,
    timestamp: Option<EpochMillis>,
    /// Shared: the engine clones a record for each handler call, and a retried record carries
    /// a dozen headers (`None` when there are none, so a record without allocates nothing).
    headers: Option<Arc<Headers>>,
    attempt: u32,
}

/// What [`Record::headers`] gives for a record without any.
static NO_HEADERS: Headers = Headers::new();

impl Record {
    /// A record at `topic-partition@offset` with no key, payload, timestamp or headers, on its
    /// first delivery. The `with_*` methods fill it in (tests and tools build records this way).
    pub fn new(topic: impl Into<Arc<str>>, partition: i32, offset: i64) -> Self {
        Record {
            topic: topic.into(),
            partition,
            offset,
            key: None,
            payload: None,
            timestamp: None,
            headers: None,
            attempt: 1,
        }
    }

    /// The same record with this key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The same record with this payload.
    pub fn with_payload(mut self, payload: impl Into<Bytes>) -> Self {
        self.payload = Some(payload.into());
        self
    }

    /// The same record with this timestamp.
    pub fn with_timestamp(mut self, timestamp: EpochMillis) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// The same record with these headers.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = (!headers.is_empty()).then(|| Arc::new(headers));
        self
    }

    /// The same record as delivery number `attempt` (the runtime sets it from the chain).
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Copies a consumed message out of librdkafka's buffers.
    pub fn from_message(message: &BorrowedMessage<'_>) -> Record {
        let topic = Arc::from(message.topic());
        read::records_of(std::slice::from_ref(message), topic)
            .pop()
            .expect("one record per message")
    }

    /// The topic the record was read from.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Its partition in [`topic`](Self::topic).
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Its offset in the partition.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The key's bytes, if it has a key.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The key as the runtime orders records by it (a cheap reference-counted copy).
    pub(crate) fn order_key(&self) -> Option<Bytes> {
        self.key.clone()
    }

    /// The payload's bytes; `None` for a tombstone.
    pub fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }

    /// The record's timestamp, when the broker gave one.
    pub fn timestamp(&self) -> Option<EpochMillis> {
        self.timestamp
    }

    /// Its headers, in order (a key may repeat).
    pub fn headers(&self) -> &Headers {
        self.headers.as_deref().unwrap_or(&NO_HEADERS)
    }

    /// Which delivery this is: 1 on the main topic, 2 on the first retry topic, and so on.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// `topic-partition@offset`, the way Spring names a record in its logs ([`Coordinates`]).
    pub fn coordinates(&self) -> String {
        Coordinates::new(&self.topic, self.partition, self.offset).to_string()
    }

    /// The payload as UTF-8 text. A missing payload or invalid UTF-8 is an undecodable failure,
    /// which goes straight to the dead-letter topic.
    pub fn text(&self) -> Result<&str, Failure> {
        let payload = self
            .payload
            .as_deref()
            .ok_or_else(|| Failure::undecodable(DecodeError::NoPayload))?;
        std::str::from_utf8(payload).map_err(|e| Failure::undecodable(DecodeError::Utf8(e)))
    }

    /// The payload decoded from JSON. Failing to decode is an undecodable failure.
    ///
    /// ```
    /// # use rebound::Record;
    /// #[derive(serde::Deserialize)]
    /// struct Email { to: String }
    /// let record = Record::new("t", 0, 0).with_payload(r#"{"to":"a@b.c"}"#);
    /// let email: Email = record.json()?;
    /// assert_eq!(email.to, "a@b.c");
    /// # Ok::<(), rebound::Failure>(())
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        let payload = self
            .payload
            .as_deref()
            .ok_or_else(|| Failure::undecodable(DecodeError::NoPayload))?;
        serde_json::from_slice(payload).map_err(|e| Failure::undecodable(DecodeError::Json(e)))
    }

    /// The key as text (invalid UTF-8 replaced), if it has a key.
    pub fn key_text(&self) -> Option<String> {
        self.key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
    }
}

/// Why a payload could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A tombstone: the record has no payload at all.
    #[error("the record has no payload")]
    NoPayload,
    /// [`Record::text`] found bytes that are not UTF-8.
    #[error("the payload is not valid UTF-8: {0}")]
    Utf8(#[source] std::str::Utf8Error),
    /// [`Record::json`] could not decode the payload as the type asked for.
    #[error("the payload is not the expected JSON: {0}")]
    Json(#[source] serde_json::Error),
}
