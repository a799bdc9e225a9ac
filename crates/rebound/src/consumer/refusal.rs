//! What a refused copy leads to, with no I/O: whether the refusal is for good, which smaller copy
//! to try, and when a retry's refusal sends the record to the DLT at once.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::route::Hop;
use crate::headers::{self, Headers};
use crate::record::Record;

/// Whether the broker (or the producer, before sending) refused the copy for what it is, so
/// that sending the same bytes again can never succeed: too large, or an invalid record. Every
/// other error (broker down, leader moving, topic not there yet) is worth waiting out.
pub(super) fn refused_for_good(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}

/// How much of a failed record its copy carries. A record that fitted in its source topic can
/// still be refused as a copy: the failure headers make it larger, and the target topic may
/// allow less. Rather than stall the partition on a copy that will never be accepted, the
/// forwarder steps down until the copy fits (the steps are only taken on such a refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CopyShape {
    /// Payload and every header.
    Full,
    /// Payload and headers, with the failure's stack trace dropped and its message cut short.
    Slim,
    /// No payload, and only the chain's headers: the copy points at the original record, which
    /// stays in the main topic (for its retention time), and says why the payload is missing.
    WithoutPayload,
}

impl CopyShape {
    pub(super) fn keeps_payload(self) -> bool {
        self != CopyShape::WithoutPayload
    }

    /// The next, smaller shape to try, if any.
    fn smaller(self) -> Option<CopyShape> {
        match self {
            CopyShape::Full => Some(CopyShape::Slim),
            CopyShape::Slim => Some(CopyShape::WithoutPayload),
            CopyShape::WithoutPayload => None,
        }
    }

    /// Cuts `headers` (the hop's full headers) down to this shape. `refusal` says why.
    pub(super) fn apply(self, headers: Headers, record: &Record, refusal: &str) -> Headers {
        match self {
            CopyShape::Full => headers,
            CopyShape::Slim => headers::slim(headers),
            CopyShape::WithoutPayload => {
                headers::without_payload(headers::slim(headers), record, refusal)
            }
        }
    }
}

/// What the refusal of a copy leads to: the forwarder's pure decision.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum AfterRefusal {
    /// A retry topic refused: the record can never be retried; to the DLT at once.
    ToDeadLetters(String),
    /// A retry topic refused and there is no DLT: the record is dropped.
    Drop,
    /// The DLT refused: try a smaller copy.
    Shrink(CopyShape),
    /// Even the smallest copy was refused: keep trying, loudly (nothing is committed).
    KeepTrying,
}

pub(super) fn after_refusal(hop: &Hop, dlt: Option<&str>, shape: CopyShape) -> AfterRefusal {
    match (hop, dlt, shape.smaller()) {
        (Hop::Retry { .. }, Some(dlt), _) => AfterRefusal::ToDeadLetters(dlt.to_string()),
        (Hop::Retry { .. }, None, _) => AfterRefusal::Drop,
        (Hop::DeadLetter { .. }, _, Some(smaller)) => AfterRefusal::Shrink(smaller),
        (Hop::DeadLetter { .. }, _, None) => AfterRefusal::KeepTrying,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::time::EpochMillis;

    fn retry() -> Hop {
        Hop::Retry {
            topic: "t-retry".into(),
            attempt: 2,
            due: EpochMillis::new(0),
            delay: Duration::ZERO,
        }
    }

    fn dlt() -> Hop {
        Hop::DeadLetter {
            topic: "t-dlt".into(),
        }
    }

    #[test]
    fn what_a_refusal_leads_to() {
        use AfterRefusal::*;
        use CopyShape::*;
        let cases = [
            (retry(), Some("t-dlt"), Full, ToDeadLetters("t-dlt".into())),
            (retry(), None, Full, Drop),
            (dlt(), Some("t-dlt"), Full, Shrink(Slim)),
            (dlt(), Some("t-dlt"), Slim, Shrink(WithoutPayload)),
            (dlt(), Some("t-dlt"), WithoutPayload, KeepTrying),
        ];
        for (hop, dlt, shape, expected) in cases {
            assert_eq!(
                after_refusal(&hop, dlt, shape),
                expected,
                "{hop:?} {shape:?}"
            );
        }
    }

    #[test]
    fn only_refusals_of_the_bytes_themselves_are_for_good() {
        let production = |code| KafkaError::MessageProduction(code);
        assert!(refused_for_good(&production(
            RDKafkaErrorCode::MessageSizeTooLarge
        )));
        assert!(refused_for_good(&production(
            RDKafkaErrorCode::InvalidRecord
        )));
        assert!(!refused_for_good(&production(
            RDKafkaErrorCode::NotLeaderForPartition
        )));
        assert!(!refused_for_good(&production(
            RDKafkaErrorCode::MessageTimedOut
        )));
    }

    #[test]
    fn shapes_step_down_and_drop_the_payload_last() {
        let mut headers = Headers::new();
        headers.push("traceparent", "00-abc");
        let record = Record::new("t", 0, 5).with_payload("x");
        assert_eq!(CopyShape::Full.apply(headers.clone(), &record, ""), headers);
        assert!(CopyShape::Slim.keeps_payload());
        let bare = CopyShape::WithoutPayload.apply(headers, &record, "too large");
        assert!(!CopyShape::WithoutPayload.keeps_payload());
        assert!(bare.contains(crate::headers::PAYLOAD_OMITTED));
        assert!(!bare.contains("traceparent"));
    }
}
