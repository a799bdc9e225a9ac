//! The header names: Spring Kafka's, byte for byte, and Rebound's own under [`PREFIX`].

/// The attempt number of the next delivery (4-byte big-endian int; 1 byte also read).
pub const ATTEMPTS: &str = "retry_topic-attempts";
/// When the next delivery is due (epoch ms, `BigInteger.toByteArray()`).
pub const BACKOFF_TIMESTAMP: &str = "retry_topic-backoff-timestamp";
/// The first record's timestamp, which a chain's overall timeout counts from (same encoding).
pub const ORIGINAL_TIMESTAMP_RETRY: &str = "retry_topic-original-timestamp";

/// The topic the record was first consumed from (UTF-8).
pub const ORIGINAL_TOPIC: &str = "kafka_original-topic";
/// Its partition there (4-byte big-endian).
pub const ORIGINAL_PARTITION: &str = "kafka_original-partition";
/// Its offset there (8-byte big-endian).
pub const ORIGINAL_OFFSET: &str = "kafka_original-offset";
/// Its timestamp (8-byte big-endian epoch ms).
pub const ORIGINAL_TIMESTAMP: &str = "kafka_original-timestamp";
/// Its timestamp's type: `CreateTime` (Java's `TimestampType.toString()`).
pub const ORIGINAL_TIMESTAMP_TYPE: &str = "kafka_original-timestamp-type";
/// The failing group under the name older Rebound wrote; read, no longer written.
pub const ORIGINAL_CONSUMER_GROUP: &str = "kafka_original-consumer-group";
/// The failure's type (Spring: the exception's class name; Rebound: the Rust type).
pub const EXCEPTION_FQCN: &str = "kafka_exception-fqcn";
/// The failure's class with framework wrappers taken off (Spring: `findRootCause`, the listener's
/// own exception class; Rebound: the handler's error type, as in [`EXCEPTION_FQCN`]).
pub const EXCEPTION_CAUSE_FQCN: &str = "kafka_exception-cause-fqcn";
/// The failure's message (UTF-8).
pub const EXCEPTION_MESSAGE: &str = "kafka_exception-message";
/// The failure and its causes, one per line (Spring: the Java stack trace).
pub const EXCEPTION_STACKTRACE: &str = "kafka_exception-stacktrace";

/// Provenance as Spring's plain dead-letter publisher writes it: the topic.
pub const DLT_ORIGINAL_TOPIC: &str = "kafka_dlt-original-topic";
/// Provenance as Spring's plain dead-letter publisher writes it: the partition.
pub const DLT_ORIGINAL_PARTITION: &str = "kafka_dlt-original-partition";
/// Provenance as Spring's plain dead-letter publisher writes it: the offset.
pub const DLT_ORIGINAL_OFFSET: &str = "kafka_dlt-original-offset";
/// Provenance as Spring's plain dead-letter publisher writes it: the timestamp.
pub const DLT_ORIGINAL_TIMESTAMP: &str = "kafka_dlt-original-timestamp";
/// Provenance as Spring's plain dead-letter publisher writes it: the timestamp type.
pub const DLT_ORIGINAL_TIMESTAMP_TYPE: &str = "kafka_dlt-original-timestamp-type";
/// The group that failed the record: written by Spring 3.x in a retry chain too, and by Rebound.
pub const DLT_ORIGINAL_CONSUMER_GROUP: &str = "kafka_dlt-original-consumer-group";
/// Spring's plain dead-letter publisher: the exception's class.
pub const DLT_EXCEPTION_FQCN: &str = "kafka_dlt-exception-fqcn";
/// Spring's plain dead-letter publisher: the cause's class.
pub const DLT_EXCEPTION_CAUSE_FQCN: &str = "kafka_dlt-exception-cause-fqcn";
/// Spring's plain dead-letter publisher: the exception's message.
pub const DLT_EXCEPTION_MESSAGE: &str = "kafka_dlt-exception-message";
/// Spring's plain dead-letter publisher: the stack trace.
pub const DLT_EXCEPTION_STACKTRACE: &str = "kafka_dlt-exception-stacktrace";

/// The prefix of every header Rebound adds of its own.
pub const PREFIX: &str = "rebound-";
/// `transient`, `permanent` or `undecodable`.
pub const FAILURE_CLASS: &str = "rebound-failure-class";
/// When the record first failed (decimal epoch ms).
pub const FIRST_FAILED_AT: &str = "rebound-first-failed-at";
/// When it failed last (decimal epoch ms).
pub const FAILED_AT: &str = "rebound-failed-at";
/// The redrive run that sent the record back.
pub const REDRIVE_ID: &str = "rebound-redrive-id";
/// How many times the record was redriven, this time included.
pub const REDRIVE_COUNT: &str = "rebound-redrive-count";
/// When it was redriven (decimal epoch ms).
pub const REDRIVEN_AT: &str = "rebound-redriven-at";
/// Who redrove it (`user@host` or a console user).
pub const REDRIVEN_BY: &str = "rebound-redriven-by";
/// The dead letter it was redriven from: `<dlt>-<p>@<o>`, or `<dlt>.archive-<p>@<o>` for an
/// archived copy.
pub const REDRIVEN_FROM: &str = "rebound-redriven-from";
/// On an archive copy: why the dead letter was discarded.
pub const DISCARD_REASON: &str = "rebound-discard-reason";
/// On an archive copy: who discarded it.
pub const DISCARDED_BY: &str = "rebound-discarded-by";
/// On an archive copy: when (decimal epoch ms).
pub const DISCARDED_AT: &str = "rebound-discarded-at";
/// On an archive copy: the dead letter it copies, `<dlt>-<p>@<o>`.
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

/// Headers an operator's actions add (a redrive, an archive copy); a redrive removes them too, so
/// that the copy carries only the latest redrive's stamp.
pub const OPERATOR_HEADERS: &[&str] = &[
    REDRIVE_ID,
    REDRIVE_COUNT,
    REDRIVEN_AT,
    REDRIVEN_BY,
    REDRIVEN_FROM,
    DISCARD_REASON,
    DISCARDED_BY,
    DISCARDED_AT,
    DEAD_LETTER,
];
