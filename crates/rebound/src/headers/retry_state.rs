//! The retry state a record carries from hop to hop, as read: Spring's three `retry_topic-*`
//! headers (what a hop writes is [`super::HopStamp`]'s).

use crate::time::EpochMillis;

use super::codec::{decode_attempts, decode_big_integer, HeaderError};
use super::names::*;
use super::Headers;

/// The retry state on a record, as the last value of each header (Kafka's `lastHeader`).
///
/// Read as spring-kafka 4.0.7 reads it: only the last value of each header counts (an earlier
/// value is never a fallback), a null value is no header, and a timestamp of no bytes or more
/// than 8 is no timestamp (the record's own timestamp stands in for the original one, and the
/// record is due at once); attempts as [`decode_attempts`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryState {
    /// The delivery this is (`retry_topic-attempts`); `None` when absent.
    pub attempt: Option<Result<u32, HeaderError>>,
    /// When this delivery is due (`retry_topic-backoff-timestamp`); `None` when absent.
    pub due: Option<Result<EpochMillis, HeaderError>>,
    /// The first record's timestamp (`retry_topic-original-timestamp`), when readable.
    pub original_timestamp: Option<EpochMillis>,
}

impl RetryState {
    /// Reads the three `retry_topic-*` headers. Corrupt values are kept as errors for the caller
    /// to report (a timestamp's error means "ignored"); nothing here panics.
    pub fn read(headers: &Headers) -> RetryState {
        RetryState {
            attempt: headers.last(ATTEMPTS).map(decode_attempts),
            due: headers
                .last(BACKOFF_TIMESTAMP)
                .map(|b| decode_big_integer(BACKOFF_TIMESTAMP, b).map(EpochMillis::new)),
            original_timestamp: headers
                .last(ORIGINAL_TIMESTAMP_RETRY)
                .and_then(|b| decode_big_integer(ORIGINAL_TIMESTAMP_RETRY, b).ok())
                .map(EpochMillis::new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::encode_big_integer;

    #[test]
    fn the_last_due_time_counts_and_a_null_one_is_none() {
        let mut headers = Headers::new();
        headers.push(BACKOFF_TIMESTAMP, encode_big_integer(3_600_000));
        headers.push(BACKOFF_TIMESTAMP, encode_big_integer(10));
        let due = RetryState::read(&headers).due;
        assert_eq!(due, Some(Ok(EpochMillis::new(10))), "the last header wins");
        headers.push_null(BACKOFF_TIMESTAMP);
        assert_eq!(RetryState::read(&headers).due, None, "a null value is none");
    }

    #[test]
    fn corrupt_retry_state_reads_as_errors_not_panics() {
        let mut headers = Headers::new();
        headers.push(ATTEMPTS, bytes::Bytes::from_static(&[0, 2]));
        headers.push(BACKOFF_TIMESTAMP, bytes::Bytes::from_static(&[0; 9]));
        let state = RetryState::read(&headers);
        assert!(matches!(state.attempt, Some(Err(_))));
        assert!(matches!(state.due, Some(Err(_))));
        assert_eq!(RetryState::read(&Headers::new()).attempt, None);
    }
}
