//! Read views over a record's headers: where it first came from, and its latest failure, from
//! either of Spring's header families.

use crate::coordinates::Coordinates;
use crate::failure::FailureClass;
use crate::time::EpochMillis;

use super::codec::{decode_i32, decode_i64};
use super::names::*;
use super::Headers;

/// Where a record first came from, from either Spring header family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The topic the record was first consumed from.
    pub topic: String,
    /// Its partition there, when the header is readable.
    pub partition: Option<i32>,
    /// Its offset there, when the header is readable.
    pub offset: Option<i64>,
    /// Its timestamp, when the header is readable.
    pub timestamp: Option<EpochMillis>,
    /// The consumer group that failed it.
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
            timestamp: long(ORIGINAL_TIMESTAMP, DLT_ORIGINAL_TIMESTAMP).map(EpochMillis::new),
            consumer_group: headers
                .text_any(&[ORIGINAL_CONSUMER_GROUP, DLT_ORIGINAL_CONSUMER_GROUP]),
        })
    }

    /// Where the record first was: `topic-partition@offset`, `?` for a part the headers do not
    /// give.
    pub fn coordinates(&self) -> Coordinates<'_> {
        Coordinates {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
        }
    }
}

/// The latest failure recorded on a record, from either Spring header family.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailureInfo {
    /// The failure's type (Spring: the exception class).
    pub fqcn: Option<String>,
    /// The type of its deepest cause.
    pub cause_fqcn: Option<String>,
    /// Its message.
    pub message: Option<String>,
    /// The failure and its causes (Spring: the stack trace).
    pub stacktrace: Option<String>,
    /// How Rebound routed it; `None` from a writer that does not say (Spring) or a value this
    /// version does not know.
    pub class: Option<FailureClass>,
}

impl FailureInfo {
    /// Reads `kafka_exception-*`, falling back to `kafka_dlt-exception-*`; absent fields are `None`.
    pub fn read(headers: &Headers) -> FailureInfo {
        FailureInfo {
            fqcn: headers.text_any(&[EXCEPTION_FQCN, DLT_EXCEPTION_FQCN]),
            cause_fqcn: headers.text_any(&[EXCEPTION_CAUSE_FQCN, DLT_EXCEPTION_CAUSE_FQCN]),
            message: headers.text_any(&[EXCEPTION_MESSAGE, DLT_EXCEPTION_MESSAGE]),
            stacktrace: headers.text_any(&[EXCEPTION_STACKTRACE, DLT_EXCEPTION_STACKTRACE]),
            class: headers
                .text(FAILURE_CLASS)
                .and_then(|text| text.parse().ok()),
        }
    }
}
