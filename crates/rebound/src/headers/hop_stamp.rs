//! What a hop writes on the copy of a failed record ([`HopStamp`]): Spring's provenance,
//! exception and `retry_topic-*` headers, and Rebound's failure class and times.

use crate::failure::{Failure, FailureClass};
use crate::record::Record;
use crate::time::EpochMillis;

use super::codec::{decode_big_integer, Encoded};
use super::names::*;
use super::sink::HeaderSink;
use super::Headers;

/// The headers a hop writes anew, every earlier value of them dropped (Spring keeps only the
/// latest failure's).
const REPLACED: [&str; 6] = [
    EXCEPTION_FQCN,
    EXCEPTION_CAUSE_FQCN,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    FAILURE_CLASS,
    FAILED_AT,
];

/// Where the copy of a failed record goes, as its headers say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextDelivery {
    /// To a retry topic, as delivery `attempt`, not before `due`.
    Retry {
        /// The attempt number the copy will be delivered as.
        attempt: u32,
        /// When it is due.
        due: EpochMillis,
    },
    /// To the dead-letter topic.
    DeadLetter,
}

/// What a hop writes on the copy of a failed record.
#[derive(Debug)]
pub struct HopStamp<'a> {
    /// The failure the record failed with on this delivery.
    pub failure: &'a Failure,
    /// How the failure was classified.
    pub class: FailureClass,
    /// The consumer group that failed the record.
    pub group: &'a str,
    /// When it failed.
    pub failed_at: EpochMillis,
    /// Where the copy goes.
    pub next: NextDelivery,
}

impl HopStamp<'_> {
    /// The headers of the copy of `record`: the source's own headers, the provenance of the first
    /// hop (kept as it was), the latest failure (replacing an earlier one), and the retry state of
    /// the next delivery.
    pub fn headers_for(&self, record: &Record) -> Headers {
        let mut headers = Headers::new();
        self.write(record, &[], &mut headers);
        headers
    }

    /// Writes the headers of the copy of `record` into `sink`, in order (what
    /// [`headers_for`](Self::headers_for) returns): the source's headers but the failure's and
    /// `also_replaced` (which the caller writes after these, e.g. the copy's `traceparent`), then
    /// the first hop's provenance, the failure, and the next delivery's retry state.
    pub(crate) fn write(
        &self,
        record: &Record,
        also_replaced: &[&str],
        sink: &mut impl HeaderSink,
    ) {
        let source = record.headers();
        for header in source.iter() {
            let key = header.key.as_str();
            if !REPLACED.contains(&key) && !also_replaced.contains(&key) {
                sink.add(key, header.value.as_deref());
            }
        }
        if !source.contains(ORIGINAL_TOPIC) {
            sink.add(ORIGINAL_TOPIC, Some(record.topic().as_bytes()));
            // `ByteBuffer.putInt` / `putLong`: big-endian, as `encode_i32` / `encode_i64`.
            sink.add(ORIGINAL_PARTITION, Some(&record.partition().to_be_bytes()));
            sink.add(ORIGINAL_OFFSET, Some(&record.offset().to_be_bytes()));
            if let Some(ts) = record.timestamp() {
                sink.add(ORIGINAL_TIMESTAMP, Some(&ts.as_i64().to_be_bytes()));
                // Java's `TimestampType.toString()`, which Spring writes and `forName` reads back.
                sink.add(ORIGINAL_TIMESTAMP_TYPE, Some(b"CreateTime"));
            }
        }
        // Spring 3.x writes the failing group under the `kafka_dlt-` name in a retry chain too;
        // either name already there (a record from an older Rebound) is kept.
        if !source.contains(DLT_ORIGINAL_CONSUMER_GROUP)
            && !source.contains(ORIGINAL_CONSUMER_GROUP)
        {
            sink.add(DLT_ORIGINAL_CONSUMER_GROUP, Some(self.group.as_bytes()));
        }
        let failure = self.failure;
        sink.add(EXCEPTION_FQCN, Some(failure.type_name().as_bytes()));
        // Spring writes the class of `ErrorHandlingUtils.findRootCause(e)`: the listener's own
        // exception once its framework wrappers (`ListenerExecutionFailedException`,
        // `TimestampedException`) are taken off, always present. A handler's failure has no
        // wrapper, so its own type is that class (INTEROP.md D10; a message was written here).
        sink.add(EXCEPTION_CAUSE_FQCN, Some(failure.type_name().as_bytes()));
        sink.add(EXCEPTION_MESSAGE, Some(failure.to_string().as_bytes()));
        sink.add(EXCEPTION_STACKTRACE, Some(failure.chain_text().as_bytes()));
        sink.add(FAILURE_CLASS, Some(self.class.as_str().as_bytes()));
        let failed_at = Encoded::decimal(self.failed_at.as_i64());
        if !source.contains(FIRST_FAILED_AT) {
            sink.add(FIRST_FAILED_AT, Some(failed_at.as_bytes()));
        }
        sink.add(FAILED_AT, Some(failed_at.as_bytes()));
        // As Spring does (spring-kafka 3.3 and 4.0, measured in INTEROP.md, D3 and D4): the three
        // retry headers are appended on every hop, the DLT's included, and readers take the
        // last. A DLT copy carries the attempt a next delivery would have (deliveries + 1), due
        // at the failure, so `rebound dlt` and Spring's tools count the same deliveries.
        let (attempt, due) = match self.next {
            NextDelivery::Retry { attempt, due } => (attempt, due),
            NextDelivery::DeadLetter => (record.attempt().saturating_add(1), self.failed_at),
        };
        let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
        let computed = Encoded::big_integer(record.timestamp().unwrap_or(self.failed_at).as_i64());
        let original = original_timestamp(source).unwrap_or(computed.as_bytes());
        sink.add(ORIGINAL_TIMESTAMP_RETRY, Some(original));
        sink.add(ATTEMPTS, Some(&attempt.to_be_bytes()));
        sink.add(
            BACKOFF_TIMESTAMP,
            Some(Encoded::big_integer(due.as_i64()).as_bytes()),
        );
    }
}

/// The next hop's `retry_topic-original-timestamp` when the source carries one, as Spring's
/// `getOriginalTimestampHeaderBytes`: the last value as it is when it reads (1 to 8 bytes, so a
/// writer's 8-byte long stays 8 bytes). Without one, the caller encodes the record's timestamp
/// as a `BigInteger` (else the failure's time, for a record without a timestamp).
fn original_timestamp(source: &Headers) -> Option<&[u8]> {
    source
        .last(ORIGINAL_TIMESTAMP_RETRY)
        .filter(|bytes| decode_big_integer(ORIGINAL_TIMESTAMP_RETRY, bytes).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Message;
    use crate::headers::RetryState;

    fn record() -> Record {
        let mut headers = Headers::new();
        headers.push("traceparent", "00-abc");
        Record::new("email.send", 2, 7)
            .with_payload("{}")
            .with_timestamp(EpochMillis::new(1_764_320_000_000))
            .with_headers(headers)
    }

    fn stamp(failure: &Failure, next: NextDelivery, failed_at: i64) -> HopStamp<'_> {
        HopStamp {
            failure,
            class: FailureClass::Transient,
            group: "email-send-group",
            failed_at: EpochMillis::new(failed_at),
            next,
        }
    }

    #[test]
    fn first_hop_writes_spring_headers() {
        let failure = Failure::transient(Message("잘못된 이메일 주소로 인해 발송 실패".into()));
        let next = NextDelivery::Retry {
            attempt: 2,
            due: EpochMillis::new(1_764_320_002_000),
        };
        let headers = stamp(&failure, next, 1_764_320_001_000).headers_for(&record());
        assert_eq!(headers.last("traceparent"), Some(&b"00-abc"[..]));
        assert_eq!(headers.last(ATTEMPTS), Some(&[0, 0, 0, 2][..]));
        assert_eq!(headers.last(ORIGINAL_TOPIC), Some(&b"email.send"[..]));
        assert_eq!(headers.last(ORIGINAL_PARTITION), Some(&[0, 0, 0, 2][..]));
        assert_eq!(
            headers.last(ORIGINAL_OFFSET),
            Some(&[0, 0, 0, 0, 0, 0, 0, 7][..])
        );
        let state = RetryState::read(&headers);
        assert_eq!(state.due, Some(Ok(EpochMillis::new(1_764_320_002_000))));
        assert_eq!(state.attempt, Some(Ok(2)));
        assert_eq!(
            state.original_timestamp,
            Some(EpochMillis::new(1_764_320_000_000))
        );
        assert_eq!(headers.last(BACKOFF_TIMESTAMP).unwrap().len(), 6);
        assert_eq!(
            headers.text(EXCEPTION_MESSAGE).unwrap(),
            "잘못된 이메일 주소로 인해 발송 실패"
        );
        assert_eq!(headers.text(ORIGINAL_TIMESTAMP_TYPE).unwrap(), "CreateTime");
        // The name Spring 3.x writes (measured against spring-kafka 3.3, INTEROP.md D1).
        assert_eq!(
            headers.text(DLT_ORIGINAL_CONSUMER_GROUP).as_deref(),
            Some("email-send-group")
        );
        assert!(!headers.contains(ORIGINAL_CONSUMER_GROUP));
    }

    #[test]
    fn later_hops_keep_provenance_and_replace_the_failure() {
        let first = Failure::msg("first");
        let next = NextDelivery::Retry {
            attempt: 2,
            due: EpochMillis::new(20),
        };
        let second_record = Record::new("t-retry-1000", 2, 99)
            .with_payload("{}")
            .with_headers(stamp(&first, next, 10).headers_for(&record()))
            .with_attempt(2);
        let second = Failure::msg("second");
        let headers = stamp(&second, NextDelivery::DeadLetter, 10).headers_for(&second_record);
        assert_eq!(headers.text(ORIGINAL_TOPIC).unwrap(), "email.send");
        assert_eq!(
            headers.last(ORIGINAL_OFFSET),
            Some(&[0, 0, 0, 0, 0, 0, 0, 7][..])
        );
        assert_eq!(headers.text(EXCEPTION_MESSAGE).unwrap(), "second");
        assert_eq!(
            headers
                .iter()
                .filter(|x| x.key == EXCEPTION_MESSAGE)
                .count(),
            1
        );
        // Spring's DLT copy: the attempt a next delivery would have (2 deliveries: 3), due at
        // the failure, appended after the first hop's values.
        assert_eq!(headers.last(ATTEMPTS), Some(&[0, 0, 0, 3][..]));
        assert_eq!(
            headers.iter().filter(|x| x.key == ATTEMPTS).count(),
            2,
            "one per hop"
        );
        assert_eq!(
            RetryState::read(&headers).due,
            Some(Ok(EpochMillis::new(10)))
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("no such mailbox")]
    struct NoMailbox;

    #[derive(Debug, thiserror::Error)]
    #[error("send failed")]
    struct SendFailed(#[source] NoMailbox);

    #[test]
    fn the_cause_class_names_a_type_never_a_message() {
        // Spring writes the listener's exception class there (`java.lang.RuntimeException`), with
        // or without causes of its own; Rebound the handler's error type (INTEROP.md D10).
        let next = NextDelivery::DeadLetter;
        let cases: &[(Failure, &[u8])] = &[
            (Failure::msg("busy"), b"rebound::failure::Message"),
            (
                Failure::permanent("no such mailbox"),
                b"rebound::failure::Message",
            ),
            (
                Failure::transient(SendFailed(NoMailbox)),
                b"rebound::headers::hop_stamp::tests::SendFailed",
            ),
            (
                SendFailed(NoMailbox).into(),
                b"rebound::headers::hop_stamp::tests::SendFailed",
            ),
        ];
        for (failure, class) in cases {
            let headers = stamp(failure, next, 10).headers_for(&record());
            assert_eq!(
                headers.last(EXCEPTION_CAUSE_FQCN),
                Some(*class),
                "{failure:?}"
            );
            assert_eq!(headers.last(EXCEPTION_FQCN), Some(*class), "{failure:?}");
            let written = headers
                .iter()
                .filter(|h| h.key == EXCEPTION_CAUSE_FQCN)
                .count();
            assert_eq!(written, 1, "replaced, not appended");
        }
        // A hop after Spring's keeps one cause class, the latest failure's.
        let mut spring = Headers::new();
        spring.push(EXCEPTION_CAUSE_FQCN, "java.lang.RuntimeException");
        let from_spring = record().with_headers(spring);
        let headers = stamp(&cases[2].0, next, 10).headers_for(&from_spring);
        assert_eq!(
            headers.text(EXCEPTION_CAUSE_FQCN).as_deref(),
            Some("rebound::headers::hop_stamp::tests::SendFailed")
        );
        assert_eq!(
            headers
                .iter()
                .filter(|h| h.key == EXCEPTION_CAUSE_FQCN)
                .count(),
            1
        );
        // The chain of messages stays in the stack trace.
        assert_eq!(
            headers.text(EXCEPTION_STACKTRACE).as_deref(),
            Some("send failed\nCaused by: no such mailbox")
        );
    }

    #[test]
    fn the_original_timestamp_is_kept_as_spring_4_0_7_keeps_it() {
        // The record's own timestamp: 1_764_320_000_000 ms, as a BigInteger.
        let own: &[u8] = &[0x01, 0x9a, 0xc9, 0xaa, 0xb8, 0x00];
        let earlier: &[u8] = &[0x01, 0x9a, 0xc9, 0xaa, 0xb4, 0x18]; // 1000 ms before
        let long: &[u8] = &[0, 0, 0x01, 0x9a, 0xc9, 0xaa, 0xb4, 0x18];
        let nine: &[u8] = &[0, 0, 0, 0x01, 0x9a, 0xc9, 0xaa, 0xb4, 0x18];
        // (the values of `retry_topic-original-timestamp` on the record, None for a null value;
        // the bytes the next hop appends)
        type Case<'a> = (&'a [Option<&'a [u8]>], &'a [u8]);
        let cases: &[Case] = &[
            (&[], own),
            (&[Some(earlier)], earlier),
            (&[Some(long)], long), // kept as it is, 8 bytes
            (&[Some(&[])], own),   // ignored: the record's timestamp
            (&[Some(nine)], own),
            (&[None], own),
            (&[Some(earlier), Some(&[])], own), // only the last value counts
            (&[Some(&[]), Some(earlier)], earlier),
        ];
        let failure = Failure::msg("busy");
        for (values, written) in cases {
            let mut headers = Headers::new();
            for value in *values {
                match value {
                    Some(bytes) => headers.push(ORIGINAL_TIMESTAMP_RETRY, bytes.to_vec()),
                    None => headers.push_null(ORIGINAL_TIMESTAMP_RETRY),
                }
            }
            let on = record().with_headers(headers);
            for next in [
                NextDelivery::DeadLetter,
                NextDelivery::Retry {
                    attempt: 2,
                    due: EpochMillis::new(5),
                },
            ] {
                let out = stamp(&failure, next, 1).headers_for(&on);
                assert_eq!(
                    out.last(ORIGINAL_TIMESTAMP_RETRY),
                    Some(*written),
                    "{values:02x?}"
                );
                assert_eq!(
                    out.iter()
                        .filter(|h| h.key == ORIGINAL_TIMESTAMP_RETRY)
                        .count(),
                    values.len() + 1,
                    "appended"
                );
            }
        }
        // A record without a timestamp (and no header): the failure's time.
        let bare = Record::new("t", 0, 0);
        let out = stamp(&failure, NextDelivery::DeadLetter, 127).headers_for(&bare);
        assert_eq!(out.last(ORIGINAL_TIMESTAMP_RETRY), Some(&[0x7f][..]));
    }

    #[test]
    fn a_dlt_copy_at_the_attempt_cap_says_one_more() {
        // Attempt 32767 (Spring's cap, read from a header) failing: deliveries + 1, as Spring
        // writes it on the DLT copy, although no attempt past the cap is ever read back.
        let capped = record().with_attempt(crate::headers::MAX_ATTEMPT);
        let failure = Failure::msg("busy");
        let headers = stamp(&failure, NextDelivery::DeadLetter, 10).headers_for(&capped);
        assert_eq!(
            headers.last(ATTEMPTS),
            Some(&32768i32.to_be_bytes()[..]),
            "deliveries + 1 on the DLT copy, as Spring writes it"
        );
    }

    /// The headers as librdkafka's list holds them, in order.
    fn listed(list: &rdkafka::message::OwnedHeaders) -> Vec<(String, Option<Vec<u8>>)> {
        use rdkafka::message::Headers as _;
        list.iter()
            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
            .collect()
    }

    fn as_list(headers: &Headers) -> Vec<(String, Option<Vec<u8>>)> {
        headers
            .iter()
            .map(|h| (h.key.clone(), h.value.as_deref().map(<[u8]>::to_vec)))
            .collect()
    }

    #[test]
    fn written_into_librdkafkas_list_as_into_a_headers_list() {
        // A second hop's record: provenance and a failure already there, a repeated key and a
        // null value among the source's own headers.
        let first = Failure::msg("first");
        let mut source = stamp(&first, NextDelivery::DeadLetter, 10).headers_for(&record());
        source.push("x-tenant", "a");
        source.push_null("x-empty");
        source.push("x-tenant", "b");
        let again = record().with_attempt(2).with_headers(source);
        let second = Failure::msg("제목 실패");
        for (record, next) in [
            (
                record(),
                NextDelivery::Retry {
                    attempt: 2,
                    due: EpochMillis::new(99),
                },
            ),
            (again, NextDelivery::DeadLetter),
        ] {
            let stamp = stamp(&second, next, 1_764_320_009_000);
            let mut list = crate::headers::KafkaHeaders::with_capacity(2);
            stamp.write(&record, &[], &mut list);
            assert_eq!(
                listed(&list.into_inner()),
                as_list(&stamp.headers_for(&record))
            );
        }
    }

    #[test]
    fn headers_the_caller_replaces_are_left_out_of_the_source() {
        let failure = Failure::msg("x");
        let stamp = stamp(&failure, NextDelivery::DeadLetter, 10);
        let mut out = Headers::new();
        stamp.write(&record(), &["traceparent"], &mut out);
        assert!(!out.contains("traceparent"), "the caller writes it after");
        assert!(stamp.headers_for(&record()).contains("traceparent"));
    }
}
