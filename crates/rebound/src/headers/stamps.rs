//! What operators' actions write on the copies they make ([`RedriveStamp`], [`DiscardStamp`]) and
//! what a dead letter's headers say about its past ([`DeadLetterMarks`]).

use crate::time::EpochMillis;

use super::codec::{decode_attempts, decode_big_integer};
use super::names::*;
use super::Headers;

/// The stamp of a redrive on the copy it sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveStamp<'a> {
    /// The redrive run.
    pub run: &'a str,
    /// How many times the dead letter was redriven, this time included.
    pub count: u32,
    /// When.
    pub at: EpochMillis,
    /// Who.
    pub by: &'a str,
    /// The dead letter: `<dlt>-<p>@<o>`.
    pub from: &'a str,
}

impl RedriveStamp<'_> {
    /// The copy's headers: the dead letter's own, without any chain trip or earlier operator
    /// stamp (the record starts its chain afresh), plus this stamp.
    pub fn headers_for(&self, dead_letter: &Headers) -> Headers {
        let mut headers = dead_letter.clone();
        for key in CHAIN_HEADERS.iter().chain(OPERATOR_HEADERS) {
            headers.remove(key);
        }
        headers.push(REDRIVE_ID, self.run.to_string());
        headers.push(REDRIVE_COUNT, self.count.to_string());
        headers.push(REDRIVEN_AT, self.at.to_string());
        headers.push(REDRIVEN_BY, self.by.to_string());
        headers.push(REDRIVEN_FROM, self.from.to_string());
        headers
    }
}

/// The stamp of a discard on the archive copy it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscardStamp<'a> {
    /// Why it was discarded (required).
    pub reason: &'a str,
    /// Who.
    pub by: &'a str,
    /// When.
    pub at: EpochMillis,
    /// The dead letter: `<dlt>-<p>@<o>`.
    pub dead_letter: &'a str,
}

impl DiscardStamp<'_> {
    /// The archive copy's headers: the dead letter's own, everything kept, plus this stamp.
    pub fn headers_for(&self, dead_letter: &Headers) -> Headers {
        let mut headers = dead_letter.clone();
        headers.set(DISCARD_REASON, self.reason.to_string());
        headers.set(DISCARDED_BY, self.by.to_string());
        headers.set(DISCARDED_AT, self.at.to_string());
        headers.set(DEAD_LETTER, self.dead_letter.to_string());
        headers
    }
}

/// What an archive copy's headers say about its discard: the [`DiscardStamp`] read back. Every
/// field is `None` on a record no discard wrote (or whose stamp was damaged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscardMarks {
    /// Why it was discarded.
    pub reason: Option<String>,
    /// Who discarded it.
    pub by: Option<String>,
    /// When.
    pub at: Option<EpochMillis>,
    /// The dead letter it copies: `<dlt>-<p>@<o>`.
    pub dead_letter: Option<String>,
}

impl DiscardMarks {
    /// Reads the discard stamp of an archive copy's headers.
    pub fn read(headers: &Headers) -> DiscardMarks {
        DiscardMarks {
            reason: headers.text(DISCARD_REASON),
            by: headers.text(DISCARDED_BY),
            at: headers.text(DISCARDED_AT).and_then(|t| t.parse().ok()),
            dead_letter: headers.text(DEAD_LETTER),
        }
    }
}

/// What a dead letter's headers say about its past, beyond its provenance and failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterMarks {
    /// Deliveries made before it died, when the headers say.
    pub deliveries: Option<u32>,
    /// When it first failed.
    pub first_failed_at: Option<EpochMillis>,
    /// How many times it was redriven before (the stamp of the copy it came from).
    pub redrive_count: u32,
    /// Why its payload is missing, when a DLT refused the full copy.
    pub payload_omitted: Option<String>,
    /// Why it went to the DLT without its retries, when a retry topic refused it.
    pub retry_refused: Option<String>,
}

impl DeadLetterMarks {
    /// Reads the marks of a dead letter's headers.
    pub fn read(headers: &Headers) -> DeadLetterMarks {
        // A DLT copy with a back-off timestamp (Spring's, and Rebound's since it writes Spring's
        // bytes) carries the attempt a next delivery would have: deliveries + 1. Without one
        // (Rebound's copies before that), the number is the deliveries. A back-off timestamp
        // Spring would ignore (no bytes, more than 8) counts as none.
        let stamped = headers
            .last(BACKOFF_TIMESTAMP)
            .is_some_and(|v| decode_big_integer(BACKOFF_TIMESTAMP, v).is_ok());
        let deliveries = headers
            .last(ATTEMPTS)
            .and_then(|v| decode_attempts(v).ok())
            .map(|a| match stamped {
                true => a.saturating_sub(1).max(1),
                false => a,
            });
        DeadLetterMarks {
            deliveries,
            first_failed_at: headers.text(FIRST_FAILED_AT).and_then(|t| t.parse().ok()),
            redrive_count: headers
                .text(REDRIVE_COUNT)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            payload_omitted: headers.text(PAYLOAD_OMITTED),
            retry_refused: headers.text(RETRY_REFUSED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::codec::{encode_big_integer, encode_i32};

    #[test]
    fn a_redrive_starts_the_chain_afresh_and_keeps_the_rest() {
        let mut dead = Headers::new();
        dead.push("traceparent", "00-abc");
        dead.push(ATTEMPTS, encode_i32(5));
        dead.push(EXCEPTION_MESSAGE, "잘못된 이메일 주소로 인해 발송 실패");
        dead.push(REDRIVE_COUNT, "1");
        dead.push(DISCARD_REASON, "old");
        let stamp = RedriveStamp {
            run: "r1",
            count: 2,
            at: EpochMillis::new(5),
            by: "oncall@host",
            from: "email.send.dlt-0@3",
        };
        let copy = stamp.headers_for(&dead);
        let keys: Vec<&str> = copy.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "traceparent",
                REDRIVE_ID,
                REDRIVE_COUNT,
                REDRIVEN_AT,
                REDRIVEN_BY,
                REDRIVEN_FROM
            ]
        );
        assert_eq!(copy.text(REDRIVE_COUNT).as_deref(), Some("2"));
    }

    #[test]
    fn a_discard_keeps_everything_and_says_why() {
        let mut dead = Headers::new();
        dead.push(EXCEPTION_MESSAGE, "boom");
        let stamp = DiscardStamp {
            reason: "탈퇴한 사용자",
            by: "oncall",
            at: EpochMillis::new(7),
            dead_letter: "t.dlt-0@1",
        };
        let copy = stamp.headers_for(&dead);
        assert_eq!(copy.text(EXCEPTION_MESSAGE).as_deref(), Some("boom"));
        assert_eq!(copy.text(DISCARD_REASON).as_deref(), Some("탈퇴한 사용자"));
        assert_eq!(copy.text(DISCARDED_AT).as_deref(), Some("7"));
        // Read back as written; a record no discard wrote says nothing.
        assert_eq!(
            DiscardMarks::read(&copy),
            DiscardMarks {
                reason: Some("탈퇴한 사용자".into()),
                by: Some("oncall".into()),
                at: Some(EpochMillis::new(7)),
                dead_letter: Some("t.dlt-0@1".into()),
            }
        );
        assert_eq!(DiscardMarks::read(&dead), DiscardMarks::default());
    }

    #[test]
    fn deliveries_count_spring_and_older_rebound_copies_alike() {
        type Case<'a> = (&'a [(&'a str, &'a [u8])], Option<u32>);
        let cases: &[Case] = &[
            // Spring's (and Rebound's) DLT copy: deliveries + 1, with a back-off timestamp.
            (
                &[(ATTEMPTS, &[0, 0, 0, 6]), (BACKOFF_TIMESTAMP, &[1])],
                Some(5),
            ),
            // Rebound before it wrote Spring's bytes: the deliveries, no timestamp.
            (&[(ATTEMPTS, &[0, 0, 0, 5])], Some(5)),
            (
                &[(ATTEMPTS, &[0, 0, 0, 1]), (BACKOFF_TIMESTAMP, &[1])],
                Some(1),
            ),
            (&[(ATTEMPTS, &[0, 2])], None),
            (&[], None),
            // A back-off timestamp Spring 4.0.7 ignores is none.
            (
                &[(ATTEMPTS, &[0, 0, 0, 5]), (BACKOFF_TIMESTAMP, &[])],
                Some(5),
            ),
            (
                &[(ATTEMPTS, &[0, 0, 0, 5]), (BACKOFF_TIMESTAMP, &[0; 9])],
                Some(5),
            ),
            // One byte, unsigned (spring-kafka 4.0.6); over 32767, none.
            (&[(ATTEMPTS, &[0xc8]), (BACKOFF_TIMESTAMP, &[1])], Some(199)),
            (&[(ATTEMPTS, &[0x7f, 0xff, 0xff, 0xff])], None),
        ];
        for (headers, expected) in cases {
            let mut h = Headers::new();
            for (key, value) in *headers {
                h.push(*key, bytes::Bytes::copy_from_slice(value));
            }
            assert_eq!(
                DeadLetterMarks::read(&h).deliveries,
                *expected,
                "{headers:?}"
            );
        }
        let mut h = Headers::new();
        h.push(FIRST_FAILED_AT, "1764320000000");
        h.push(REDRIVE_COUNT, "2");
        h.push(BACKOFF_TIMESTAMP, encode_big_integer(1));
        let marks = DeadLetterMarks::read(&h);
        assert_eq!(
            marks.first_failed_at,
            Some(EpochMillis::new(1_764_320_000_000))
        );
        assert_eq!(marks.redrive_count, 2);
    }
}
