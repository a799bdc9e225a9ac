//! Reading consumed messages out of librdkafka: the one place that does, with the unsafe block
//! that never panics on a corrupt header.
//!
//! A batch of one partition's messages is copied into one buffer (keys, payloads and header
//! values), and each record's bytes are slices of it. The polling thread allocated two or more
//! blocks per record, which the partition tasks freed on other threads, and glibc's allocator
//! serialises exactly that (a block goes back to the arena of the thread that allocated it,
//! under that arena's lock): the threads slept on the lock more than they worked. One block per
//! batch leaves nothing to contend for. The price: a batch's buffer lives as long as its last
//! record, and the records of one partition's batch are taken, waited for and finished together.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rdkafka::message::{BorrowedMessage, Message};

use super::Record;
use crate::headers::Header;
use crate::time::EpochMillis;

/// A record whose bytes are still ranges of the batch's buffer.
struct Draft {
    partition: i32,
    offset: i64,
    timestamp: Option<EpochMillis>,
    key: Option<Range<usize>>,
    payload: Option<Range<usize>>,
    /// The headers with their values still to fill in: the value of the `n`th is the batch's
    /// `header_values[values_from + n]`.
    headers: Vec<Header>,
    values_from: usize,
}

/// The records of `messages` (one topic's, in the order given), their bytes in one buffer.
pub(crate) fn records_of(messages: &[BorrowedMessage<'_>], topic: Arc<str>) -> Vec<Record> {
    // Room for these messages only: a poll round's room for 256 more would be kept alive by each
    // record made here (`Record::from_message`: 70 KB per dead letter a listing keeps).
    let mut batch = Batch {
        rounds: 1,
        ..Batch::default()
    };
    messages.iter().for_each(|message| batch.push(message));
    batch.into_records(topic)
}

/// Room made at once in a batch for its messages' places.
const DRAFTS_AT_ONCE: usize = 64;

/// One partition's messages of a poll round, copied out of librdkafka as they are polled, made
/// records when the round hands them out.
pub(crate) struct Batch {
    buffer: BytesMut,
    /// How many messages like the one that finds the buffer full it makes room for.
    rounds: usize,
    drafts: Vec<Draft>,
    /// Every header value of the batch, one list for all (not one per record to free later).
    header_values: Vec<Option<Range<usize>>>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            buffer: BytesMut::new(),
            rounds: 256,
            drafts: Vec::new(),
            header_values: Vec::new(),
        }
    }
}

impl Batch {
    /// Copies `message` into the batch.
    pub(crate) fn push(&mut self, message: &BorrowedMessage<'_>) {
        if self.buffer.capacity() - self.buffer.len() < message.key_len() + message.payload_len() {
            // Room for a round's worth of such messages at once, not a reallocation per message.
            let room = (message.key_len() + message.payload_len() + 64) * self.rounds;
            self.buffer.reserve(room);
        }
        if self.drafts.is_empty() {
            // The same for the messages' places: a list grown by doubling reallocated a round's
            // batch six times (4 % of the polling thread on the happy path). Not a round's worth:
            // a paused partition's task holds its small batches whole (the memory scenario).
            self.drafts.reserve(self.rounds.min(DRAFTS_AT_ONCE));
        }
        let buffer = &mut self.buffer;
        let values_from = self.header_values.len();
        self.drafts.push(Draft {
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message.timestamp().to_millis().map(EpochMillis::new),
            key: message.key().map(|key| copy(buffer, key)),
            payload: message.payload().map(|payload| copy(buffer, payload)),
            headers: read_headers(message, buffer, &mut self.header_values),
            values_from,
        });
    }

    /// The batch, its buffer frozen, to be made records one at a time by whoever takes them.
    pub(crate) fn seal(self, topic: Arc<str>) -> Delivery {
        Delivery {
            topic,
            buffer: self.buffer.freeze(),
            drafts: self.drafts.into(),
            header_values: self.header_values,
        }
    }

    /// The batch's records, in the order pushed, the topic's name shared by all.
    pub(crate) fn into_records(self, topic: Arc<str>) -> Vec<Record> {
        self.seal(topic).collect()
    }
}

/// One partition's records of a poll round, handed to the partition's task, which makes each a
/// [`Record`] as it takes it: the polling thread only copies bytes, and the per-record work of
/// building records runs on the tasks' threads, beside the handlers, not on the one thread that
/// feeds them all.
pub(crate) struct Delivery {
    topic: Arc<str>,
    buffer: Bytes,
    drafts: VecDeque<Draft>,
    header_values: Vec<Option<Range<usize>>>,
}

impl Delivery {
    /// Records not taken yet.
    pub(crate) fn len(&self) -> usize {
        self.drafts.len()
    }

    /// The offset of the last record, if any is left.
    pub(crate) fn last_offset(&self) -> Option<i64> {
        self.drafts.back().map(|draft| draft.offset)
    }

    /// Drops the records at or below `offset` (fetched again after a resume: handed out before).
    pub(crate) fn skip_through(&mut self, offset: i64) {
        self.drafts.retain(|draft| draft.offset > offset);
    }

    /// Each record's offset and key, without making the records.
    pub(crate) fn keys(&self) -> impl Iterator<Item = (i64, Option<Bytes>)> + '_ {
        self.drafts.iter().map(|draft| {
            let key = draft.key.clone().map(|range| self.buffer.slice(range));
            (draft.offset, key)
        })
    }
}

impl Iterator for Delivery {
    type Item = Record;

    /// The next record, made now.
    fn next(&mut self) -> Option<Record> {
        let draft = self.drafts.pop_front()?;
        let slice = |range: Range<usize>| self.buffer.slice(range);
        let mut headers = draft.headers;
        let values = &self.header_values[draft.values_from..];
        for (header, value) in headers.iter_mut().zip(values) {
            header.value = value.clone().map(slice);
        }
        let headers = headers.into_iter().collect();
        let mut record =
            Record::new(self.topic.clone(), draft.partition, draft.offset).with_headers(headers);
        record.key = draft.key.map(slice);
        record.payload = draft.payload.map(slice);
        record.timestamp = draft.timestamp;
        Some(record)
    }
}

/// Appends `bytes` to the batch's buffer; returns where they are.
fn copy(buffer: &mut BytesMut, bytes: &[u8]) -> Range<usize> {
    let start = buffer.len();
    buffer.extend_from_slice(bytes);
    start..buffer.len()
}

/// The headers of a message, read through librdkafka directly: rdkafka's own iterator unwraps
/// each key as UTF-8 and panics on a key that is not, and a corrupt header must never crash a
/// consumer. Such a key is kept, lossily decoded. Values are copied into the batch's buffer and
/// their places appended to `values`, one per header returned (the headers' values left empty).
fn read_headers(
    message: &BorrowedMessage<'_>,
    buffer: &mut BytesMut,
    values: &mut Vec<Option<Range<usize>>>,
) -> Vec<Header> {
    use rdkafka::bindings as rd;
    let mut native: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
    // SAFETY: `message.ptr()` is a live message for the duration of the borrow; librdkafka owns
    // the headers and the pointers it hands out stay valid while the message lives; every
    // pointer is checked before use and the bytes are copied out at once.
    unsafe {
        if rd::rd_kafka_message_headers(message.ptr(), &mut native)
            != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            || native.is_null()
        {
            return Vec::new();
        }
        let count = rd::rd_kafka_header_cnt(native);
        let mut headers = Vec::with_capacity(count);
        for idx in 0..count {
            let mut name: *const std::os::raw::c_char = std::ptr::null();
            let mut value: *const std::os::raw::c_void = std::ptr::null();
            let mut size = 0usize;
            let err = rd::rd_kafka_header_get_all(native, idx, &mut name, &mut value, &mut size);
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
                continue;
            }
            // A valid key (all of them, in practice) is checked by `from_utf8`, several times
            // faster than the lossy decoder's chunk walk, which showed in the polling thread's
            // profile on records carrying Spring's fifteen headers.
            let name = std::ffi::CStr::from_ptr(name).to_bytes();
            let key = match std::str::from_utf8(name) {
                Ok(key) => key.to_owned(),
                Err(_) => String::from_utf8_lossy(name).into_owned(),
            };
            values.push(
                (!value.is_null())
                    .then(|| copy(buffer, std::slice::from_raw_parts(value as *const u8, size))),
            );
            headers.push(Header { key, value: None });
        }
        headers
    }
}
