//! The share-group dialect: what the broker writes to a share group's dead-letter queue when a
//! record is rejected or its delivery count runs out (KIP-1191, Kafka 4.4 with `share.version=2`;
//! kafka-server 4.4.0's `ShareGroupDLQStateManager`, read from its records: `tests/golden/
//! share-group/`). Values are UTF-8, numbers in decimal.
//!
//! Unless the group sets `errors.deadletterqueue.copy.record.enable=true`, the DLQ record is only
//! a pointer: no key, no value, the source record's place in these headers. The DLQ topic is
//! created with `LogAppendTime`, so the record's timestamp is when it died.

use rebound::headers::{FailureInfo, Headers, Provenance};

use super::decimal::TextReader;
use super::{Dialect, DialectView, Owner};

/// The source record's topic.
pub const TOPIC: &str = "__dlq.errors.topic";
/// Its partition (decimal).
pub const PARTITION: &str = "__dlq.errors.partition";
/// Its offset (decimal).
pub const OFFSET: &str = "__dlq.errors.offset";
/// The share group that gave up on it.
pub const GROUP: &str = "__dlq.errors.group";
/// How many times it was delivered (decimal).
pub const DELIVERY_COUNT: &str = "__dlq.errors.delivery.count";
/// Why, when the broker says (absent from some records).
pub const MESSAGE: &str = "__dlq.errors.message";

/// Every header of the dialect.
pub const SHARE_GROUP_HEADERS: &[&str] =
    &[TOPIC, PARTITION, OFFSET, GROUP, DELIVERY_COUNT, MESSAGE];

pub(super) fn read(headers: &Headers) -> DialectView {
    let mut r = TextReader::new(headers);
    r.expect(&[TOPIC]);
    let group = r.text(GROUP);
    let origin = r.origin(TOPIC, PARTITION, OFFSET).map(|origin| Provenance {
        consumer_group: group.clone(),
        ..origin
    });
    let attempts = r.number::<u32>(DELIVERY_COUNT);
    let failure = FailureInfo {
        message: r.text(MESSAGE),
        ..FailureInfo::default()
    };
    DialectView {
        dialect: Dialect::ShareGroup,
        origin,
        failure,
        attempts,
        died_at: None,
        owner: group.map(|name| Owner::Group { name }),
        warnings: r.warnings,
    }
}
