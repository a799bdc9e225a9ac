//! The decoded value of a binary header, for a person to read (`rebound dlt show`, a console).

use crate::time::EpochMillis;

use super::codec::{decode_attempts, decode_big_integer, decode_i32, decode_i64};
use super::names::*;

/// What a binary header Rebound knows decodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decoded {
    /// An attempt number (`retry_topic-attempts`).
    Attempt(u32),
    /// An instant: a due time, an original timestamp.
    Time(EpochMillis),
    /// A partition number.
    Partition(i32),
    /// An offset.
    Offset(i64),
}

/// Decodes `value` when `key` is one of the binary headers Rebound knows; `None` for other keys
/// (show them as text) and for values that do not decode (show their bytes).
///
/// ```
/// use rebound::headers::{decode_known, encode_i32, Decoded, ATTEMPTS};
/// assert_eq!(decode_known(ATTEMPTS, &encode_i32(3)), Some(Decoded::Attempt(3)));
/// assert_eq!(decode_known("traceparent", b"00-abc"), None);
/// ```
pub fn decode_known(key: &str, value: &[u8]) -> Option<Decoded> {
    match key {
        ATTEMPTS => decode_attempts(value).ok().map(Decoded::Attempt),
        BACKOFF_TIMESTAMP => decode_big_integer(BACKOFF_TIMESTAMP, value)
            .ok()
            .map(|ms| Decoded::Time(EpochMillis::new(ms))),
        ORIGINAL_TIMESTAMP_RETRY => decode_big_integer(ORIGINAL_TIMESTAMP_RETRY, value)
            .ok()
            .map(|ms| Decoded::Time(EpochMillis::new(ms))),
        ORIGINAL_PARTITION | DLT_ORIGINAL_PARTITION => decode_i32(ORIGINAL_PARTITION, value)
            .ok()
            .map(Decoded::Partition),
        ORIGINAL_OFFSET | DLT_ORIGINAL_OFFSET => {
            decode_i64(ORIGINAL_OFFSET, value).ok().map(Decoded::Offset)
        }
        ORIGINAL_TIMESTAMP | DLT_ORIGINAL_TIMESTAMP => decode_i64(ORIGINAL_TIMESTAMP, value)
            .ok()
            .map(|ms| Decoded::Time(EpochMillis::new(ms))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::codec::{encode_big_integer, encode_i32, encode_i64};

    #[test]
    fn known_binary_headers_decode_and_the_rest_do_not() {
        let t = 1_764_320_000_000;
        let cases: &[(&str, Vec<u8>, Option<Decoded>)] = &[
            (ATTEMPTS, encode_i32(2).to_vec(), Some(Decoded::Attempt(2))),
            (ATTEMPTS, vec![0, 2], None),
            (
                BACKOFF_TIMESTAMP,
                encode_big_integer(t).to_vec(),
                Some(Decoded::Time(EpochMillis::new(t))),
            ),
            (
                ORIGINAL_TIMESTAMP_RETRY,
                encode_big_integer(t).to_vec(),
                Some(Decoded::Time(EpochMillis::new(t))),
            ),
            (
                ORIGINAL_TIMESTAMP,
                encode_i64(t).to_vec(),
                Some(Decoded::Time(EpochMillis::new(t))),
            ),
            (
                DLT_ORIGINAL_PARTITION,
                encode_i32(3).to_vec(),
                Some(Decoded::Partition(3)),
            ),
            (
                ORIGINAL_OFFSET,
                encode_i64(42).to_vec(),
                Some(Decoded::Offset(42)),
            ),
            (ORIGINAL_OFFSET, b"garbage".to_vec(), None),
            (EXCEPTION_MESSAGE, b"text".to_vec(), None),
        ];
        for (key, value, expected) in cases {
            assert_eq!(decode_known(key, value), *expected, "{key}");
        }
    }
}
