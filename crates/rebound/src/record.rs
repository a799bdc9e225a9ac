//! The record a handler receives: an owned copy of a Kafka message plus where it is in its chain.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::failure::Failure;
use crate::headers::Headers;

/// One Kafka record, owned, cheap to clone (payload and key are reference-counted).
#[derive(Debug, Clone)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Bytes>,
    pub payload: Option<Bytes>,
    /// The record's timestamp in epoch milliseconds, when the broker gave one.
    pub timestamp: Option<i64>,
    pub headers: Headers,
    /// Which delivery this is: 1 on the main topic, 2 on the first retry topic, and so on.
    pub attempt: u32,
}

impl Record {
    /// `topic-partition@offset`, the way Spring names a record in its logs.
    pub fn coordinates(&self) -> String {
        format!("{}-{}@{}", self.topic, self.partition, self.offset)
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
    /// # use rebound::{Record, headers::Headers};
    /// #[derive(serde::Deserialize)]
    /// struct Email { to: String }
    /// # let record = Record { topic: "t".into(), partition: 0, offset: 0, key: None,
    /// #     payload: Some(r#"{"to":"a@b.c"}"#.into()), timestamp: None, headers: Headers::new(), attempt: 1 };
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

    pub fn key_text(&self) -> Option<String> {
        self.key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
    }
}

/// Why a payload could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the record has no payload")]
    NoPayload,
    #[error("the payload is not valid UTF-8: {0}")]
    Utf8(#[source] std::str::Utf8Error),
    #[error("the payload is not the expected JSON: {0}")]
    Json(#[source] serde_json::Error),
}
