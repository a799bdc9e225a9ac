//! Kafka Streams' dialect: what the dead-letter queue record of a KIP-1034 exception handler
//! carries (`errors.dead.letter.queue.topic.name`, kafka-streams 4.4.0's `ExceptionHandlerUtils`,
//! read from its records: `tests/golden/streams/`). Values are UTF-8, numbers in decimal. The
//! application id is not among them: `rebound topics` learns it from the DLQ's configured name.

use rebound::headers::{FailureInfo, Headers};

use super::decimal::TextReader;
use super::{Dialect, DialectView};

/// The exception's class.
pub const EXCEPTION: &str = "__streams.errors.exception";
/// Its message.
pub const MESSAGE: &str = "__streams.errors.message";
/// Its stack trace.
pub const STACKTRACE: &str = "__streams.errors.stacktrace";
/// The topic of the record being processed.
pub const TOPIC: &str = "__streams.errors.topic";
/// Its partition (decimal).
pub const PARTITION: &str = "__streams.errors.partition";
/// Its offset (decimal).
pub const OFFSET: &str = "__streams.errors.offset";

/// Every header of the dialect.
pub const STREAMS_HEADERS: &[&str] = &[EXCEPTION, MESSAGE, STACKTRACE, TOPIC, PARTITION, OFFSET];

pub(super) fn read(headers: &Headers) -> DialectView {
    let mut r = TextReader::new(headers);
    r.expect(&[EXCEPTION]);
    let origin = r.origin(TOPIC, PARTITION, OFFSET);
    let failure = FailureInfo {
        fqcn: r.text(EXCEPTION),
        message: r.text(MESSAGE),
        stacktrace: r.text(STACKTRACE),
        ..FailureInfo::default()
    };
    DialectView {
        dialect: Dialect::Streams,
        origin,
        failure,
        attempts: None,
        died_at: None,
        owner: None,
        warnings: r.warnings,
    }
}
