//! Where headers are written in order: a [`Headers`] list, or librdkafka's own list for a record
//! about to be produced.
//!
//! A copy's headers used to be built as a [`Headers`] list (a `String` and a `Bytes` per header,
//! the source's cloned first) and then copied into librdkafka's list: a profile of the one-hop
//! scenario put half of the tokio workers' time in the allocator, most of it for those lists. A
//! hop now writes its headers once, straight into the list the producer sends
//! ([`HopStamp::write`](super::HopStamp)); the same writer fills a [`Headers`] for everyone else.

use bytes::Bytes;
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};

use super::Headers;

/// Takes headers one at a time, in order: a repeated key is kept, `None` is a null value.
pub(crate) trait HeaderSink {
    /// Appends one header.
    fn add(&mut self, key: &str, value: Option<&[u8]>);
}

impl HeaderSink for Headers {
    fn add(&mut self, key: &str, value: Option<&[u8]>) {
        match value {
            Some(value) => self.push(key, Bytes::copy_from_slice(value)),
            None => self.push_null(key),
        }
    }
}

/// librdkafka's header list of a record to produce, written in place (librdkafka copies each
/// name and value into its own list as it is added).
pub(crate) struct KafkaHeaders(Option<OwnedHeaders>);

impl KafkaHeaders {
    /// An empty list with room for `capacity` headers.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        KafkaHeaders(Some(OwnedHeaders::new_with_capacity(capacity)))
    }

    /// The list, for the record to produce.
    pub(crate) fn into_inner(self) -> OwnedHeaders {
        self.0.expect("a KafkaHeaders always holds its list")
    }
}

impl HeaderSink for KafkaHeaders {
    fn add(&mut self, key: &str, value: Option<&[u8]>) {
        // rdkafka's `insert` takes the list by value and gives it back; the `Option` is only the
        // hand-over, never empty outside this call.
        let list = self.0.take().expect("a KafkaHeaders always holds its list");
        self.0 = Some(list.insert(KafkaHeader { key, value }));
    }
}
