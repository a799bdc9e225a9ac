//! Kafka Connect's dialect: what a sink connector's dead-letter queue reporter writes with
//! `errors.deadletterqueue.context.headers.enable=true` (connect-runtime 4.4.0, read from its
//! records: `tests/golden/connect/`). Every value is UTF-8 text, numbers in decimal.
//!
//! The DLQ record keeps the failed record's key, value, headers and timestamp: its timestamp is
//! when the source record was written, not when it died, and the headers say nothing of when.

use rebound::headers::{FailureInfo, Headers};

use super::decimal::TextReader;
use super::{Dialect, DialectView, Owner};

/// The topic the failed record was consumed from.
pub const TOPIC: &str = "__connect.errors.topic";
/// Its partition there (decimal).
pub const PARTITION: &str = "__connect.errors.partition";
/// Its offset there (decimal).
pub const OFFSET: &str = "__connect.errors.offset";
/// The connector's name.
pub const CONNECTOR: &str = "__connect.errors.connector.name";
/// The task's number (decimal).
pub const TASK: &str = "__connect.errors.task.id";
/// The stage that failed: `KEY_CONVERTER`, `VALUE_CONVERTER`, `TRANSFORMATION`, `TASK_PUT`, …
pub const STAGE: &str = "__connect.errors.stage";
/// The class that failed at that stage (the converter, transform or task).
pub const CLASS: &str = "__connect.errors.class.name";
/// The exception's class.
pub const EXCEPTION_CLASS: &str = "__connect.errors.exception.class.name";
/// The exception's message.
pub const EXCEPTION_MESSAGE: &str = "__connect.errors.exception.message";
/// The exception's stack trace.
pub const EXCEPTION_STACKTRACE: &str = "__connect.errors.exception.stacktrace";

/// Every header of the dialect.
pub const CONNECT_HEADERS: &[&str] = &[
    TOPIC,
    PARTITION,
    OFFSET,
    CONNECTOR,
    TASK,
    STAGE,
    CLASS,
    EXCEPTION_CLASS,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
];

pub(super) fn read(headers: &Headers) -> DialectView {
    let mut r = TextReader::new(headers);
    r.expect(&[TOPIC]);
    let origin = r.origin(TOPIC, PARTITION, OFFSET);
    let owner = r.text(CONNECTOR).map(|name| Owner::Connector {
        name,
        task: r.text(TASK),
        stage: r.text(STAGE),
    });
    let failure = FailureInfo {
        fqcn: r.text(EXCEPTION_CLASS),
        // Not the root cause: the class of the converter, transform or task that failed.
        cause_fqcn: r.text(CLASS),
        message: r.text(EXCEPTION_MESSAGE),
        stacktrace: r.text(EXCEPTION_STACKTRACE),
        class: None,
    };
    DialectView {
        dialect: Dialect::Connect,
        origin,
        failure,
        attempts: None,
        died_at: None,
        owner,
        warnings: r.warnings,
    }
}
