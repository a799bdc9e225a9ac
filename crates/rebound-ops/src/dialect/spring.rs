//! Spring Kafka's and Rebound's dialect. Its header table lives in `rebound::headers` (the chain
//! writes these headers too); this reads it into the common view, with warnings for what the
//! lenient readers there skip.

use super::{Dialect, DialectView, Owner};
use rebound::headers::{self as h, DeadLetterMarks, FailureInfo, Headers, Provenance};

/// Whether `key` is one of the failure or provenance headers Spring or Rebound's chain writes (an
/// operator's redrive or discard stamp is not: it says nothing of a failure).
pub(super) fn is_spring_header(key: &str) -> bool {
    key.starts_with("kafka_original-")
        || key.starts_with("kafka_dlt-")
        || key.starts_with("kafka_exception-")
        || key.starts_with("retry_topic-")
        || [
            h::FAILURE_CLASS,
            h::FIRST_FAILED_AT,
            h::FAILED_AT,
            h::PAYLOAD_OMITTED,
            h::RETRY_REFUSED,
        ]
        .contains(&key)
}

pub(super) fn read(headers: &Headers) -> DialectView {
    let marks = DeadLetterMarks::read(headers);
    let origin = Provenance::read(headers);
    let mut warnings = Vec::new();
    for key in [h::ORIGINAL_PARTITION, h::DLT_ORIGINAL_PARTITION] {
        if let Some(v) = headers.last(key) {
            if h::decode_i32(key, v).is_err() {
                warnings.push(format!(
                    "header {key} is not a 4-byte int ({} bytes)",
                    v.len()
                ));
            }
        }
    }
    for key in [h::ORIGINAL_OFFSET, h::DLT_ORIGINAL_OFFSET] {
        if let Some(v) = headers.last(key) {
            if h::decode_i64(key, v).is_err() {
                warnings.push(format!(
                    "header {key} is not an 8-byte long ({} bytes)",
                    v.len()
                ));
            }
        }
    }
    if headers.last(h::ATTEMPTS).is_some() && marks.deliveries.is_none() {
        warnings.push(format!(
            "header {} is out of range or malformed",
            h::ATTEMPTS
        ));
    }
    DialectView {
        dialect: Dialect::Spring,
        owner: origin
            .as_ref()
            .and_then(|o| o.consumer_group.clone())
            .map(|name| Owner::Group { name }),
        origin,
        failure: FailureInfo::read(headers),
        attempts: marks.deliveries,
        // The DLT record's timestamp, as before dialects: Rebound's and Spring's DLT copies are
        // written when the record dies.
        died_at: None,
        warnings,
    }
}
