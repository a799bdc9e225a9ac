//! Java's byte encodings of the numbers Spring's headers carry, and their decoding (which
//! accepts what any well-meaning writer produces and refuses the rest without panicking).

use bytes::Bytes;

use super::names::ATTEMPTS;

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The header is not there.
    #[error("header {key} is missing")]
    Missing {
        /// The header's name.
        key: &'static str,
    },
    /// The header has a length its encoding cannot have.
    #[error("header {key} has {len} bytes, expected {expected}")]
    BadLength {
        /// The header's name.
        key: &'static str,
        /// The length found.
        len: usize,
        /// The lengths the encoding allows.
        expected: &'static str,
    },
    /// The header decodes to a value that makes no sense (an attempt number below 1, or above
    /// [`MAX_ATTEMPT`]).
    #[error("header {key} holds {value}, which is out of range")]
    OutOfRange {
        /// The header's name.
        key: &'static str,
        /// The value decoded.
        value: i64,
    },
}

/// Encodes an int as Java's `ByteBuffer.putInt`: 4 bytes big-endian.
pub fn encode_i32(value: i32) -> Bytes {
    Bytes::copy_from_slice(&value.to_be_bytes())
}

/// Encodes a long as Java's `ByteBuffer.putLong`: 8 bytes big-endian.
pub fn encode_i64(value: i64) -> Bytes {
    Bytes::copy_from_slice(&value.to_be_bytes())
}

/// Encodes a long as Java's `BigInteger.valueOf(v).toByteArray()`: the shortest big-endian two's
/// complement form that keeps the sign (1.7e12 ms takes 6 bytes).
pub fn encode_big_integer(value: i64) -> Bytes {
    Bytes::copy_from_slice(Encoded::big_integer(value).as_bytes())
}

/// A number's header bytes on the stack, for a copy whose headers go straight into librdkafka's
/// list: a hop writes a dozen of them per copy, and an allocation each was a measurable share of
/// a retry's cost. The `encode_*` functions are these bytes as [`Bytes`].
#[derive(Clone, Copy)]
pub(crate) struct Encoded {
    bytes: [u8; 20],
    len: u8,
}

impl Encoded {
    /// Java's `BigInteger.valueOf(v).toByteArray()` (see [`encode_big_integer`]).
    pub(crate) fn big_integer(value: i64) -> Encoded {
        let bytes = value.to_be_bytes();
        let mut start = 0;
        while start < 7 {
            let (b, next) = (bytes[start], bytes[start + 1]);
            let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
            if !redundant {
                break;
            }
            start += 1;
        }
        Encoded::of(&bytes[start..])
    }

    /// The value in decimal UTF-8 (Rebound's `rebound-*-at` times, as `i64::to_string`).
    pub(crate) fn decimal(value: i64) -> Encoded {
        use std::io::Write;
        let mut encoded = Encoded {
            bytes: [0; 20],
            len: 0,
        };
        let mut rest = &mut encoded.bytes[..];
        // 20 bytes hold every i64 ("-9223372036854775808"), so this cannot fail.
        let _ = write!(rest, "{value}");
        encoded.len = (20 - rest.len()) as u8;
        encoded
    }

    fn of(slice: &[u8]) -> Encoded {
        let mut encoded = Encoded {
            bytes: [0; 20],
            len: slice.len() as u8,
        };
        encoded.bytes[..slice.len()].copy_from_slice(slice);
        encoded
    }

    /// The encoded bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The highest attempt number read (Spring's `ATTEMPTS_HARD_CAP`, `Short.MAX_VALUE`, since
/// spring-kafka 4.0.6 and 3.3.16); a larger value reads as out of range.
pub const MAX_ATTEMPT: u32 = i16::MAX as u32;

/// Decodes 1 to 8 bytes of big-endian two's complement (`BigInteger` or a plain long).
///
/// A timestamp header of any other length (none, or more than 8 bytes) is an error, which every
/// reader takes as "no header": spring-kafka 4.0.7 (and 3.3.x after 3.3.16, 4.1.1) ignores such
/// a `retry_topic-backoff-timestamp` or `retry_topic-original-timestamp` and uses the record's
/// timestamp, where earlier versions threw (no bytes) or kept the low 64 bits (more than 8).
pub fn decode_big_integer(key: &'static str, bytes: &[u8]) -> Result<i64, HeaderError> {
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(HeaderError::BadLength {
            key,
            len: bytes.len(),
            expected: "1 to 8",
        });
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0x00 };
    let mut full = [fill; 8];
    full[8 - bytes.len()..].copy_from_slice(bytes);
    Ok(i64::from_be_bytes(full))
}

/// Decodes an int written by `ByteBuffer.putInt` (4 bytes) or a single byte (Spring reads both),
/// as spring-kafka 4.0.6 does: the single byte unsigned, and a value outside 1 to
/// [`MAX_ATTEMPT`] out of range (Spring then takes attempt 1; Rebound's consumer the first
/// attempt the record's topic delivers).
pub fn decode_attempts(bytes: &[u8]) -> Result<u32, HeaderError> {
    let value = match bytes.len() {
        1 => bytes[0] as i64,
        4 => i32::from_be_bytes(bytes.try_into().expect("4 bytes")) as i64,
        len => {
            return Err(HeaderError::BadLength {
                key: ATTEMPTS,
                len,
                expected: "1 or 4",
            })
        }
    };
    if value < 1 || value > MAX_ATTEMPT as i64 {
        return Err(HeaderError::OutOfRange {
            key: ATTEMPTS,
            value,
        });
    }
    Ok(value as u32)
}

/// Decodes an int written by `ByteBuffer.putInt` (exactly 4 bytes).
pub fn decode_i32(key: &'static str, bytes: &[u8]) -> Result<i32, HeaderError> {
    let array: [u8; 4] = bytes.try_into().map_err(|_| HeaderError::BadLength {
        key,
        len: bytes.len(),
        expected: "4",
    })?;
    Ok(i32::from_be_bytes(array))
}

/// Decodes a long written by `ByteBuffer.putLong` (exactly 8 bytes).
pub fn decode_i64(key: &'static str, bytes: &[u8]) -> Result<i64, HeaderError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| HeaderError::BadLength {
        key,
        len: bytes.len(),
        expected: "8",
    })?;
    Ok(i64::from_be_bytes(array))
}
