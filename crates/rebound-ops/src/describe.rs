//! A dead letter's bytes as a person reads them, the same in every face (`rebound dlt show`, the
//! web console): known binary headers decoded, other values as text when they are UTF-8 and hex
//! otherwise, payloads as pretty JSON, text or a hex dump, instants in RFC 3339.
//!
//! The text is not escaped: it is the producer's bytes, and each face escapes it for its medium
//! (the command for a terminal, the console's templates for HTML); JSON faces carry it as it is.

use rebound::headers::{self as h};
use rebound::EpochMillis;

/// An instant as RFC 3339 to the second (UTC), `-` when absent or not after the epoch.
pub fn format_time(at: Option<EpochMillis>) -> String {
    match at {
        Some(at) if at.as_i64() > 0 => {
            humantime::format_rfc3339_seconds(at.to_system_time()).to_string()
        }
        _ => "-".into(),
    }
}

/// A header's value: decoded when Rebound knows the header ([`h::decode_known`]), text when it is
/// UTF-8, `0x…` hex otherwise, `(null)` without a value.
pub fn header_text(key: &str, value: Option<&[u8]>) -> String {
    let Some(bytes) = value else {
        return "(null)".into();
    };
    let decoded = h::decode_known(key, bytes).map(|value| match value {
        h::Decoded::Attempt(attempt) => attempt.to_string(),
        h::Decoded::Time(at) => format!("{at} ({})", format_time(Some(at))),
        h::Decoded::Partition(partition) => partition.to_string(),
        h::Decoded::Offset(offset) => offset.to_string(),
        other => format!("{other:?}"),
    });
    decoded.unwrap_or_else(|| match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => format!("0x{}", hex(bytes)),
    })
}

/// How a payload is best shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadKind {
    /// No payload at all.
    Null,
    /// It parses as JSON: shown pretty-printed.
    Json,
    /// UTF-8 without control characters (other than whitespace).
    Text,
    /// Anything else: a hex dump, 16 bytes a line.
    Hex,
}

/// A payload as text, and which form that text is: pretty JSON, the text itself, or a hex dump.
pub fn payload(payload: Option<&[u8]>) -> (PayloadKind, String) {
    let Some(bytes) = payload else {
        return (PayloadKind::Null, "(null)".into());
    };
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        return (
            PayloadKind::Json,
            serde_json::to_string_pretty(&value).unwrap_or_default(),
        );
    }
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| !t.chars().any(|c| c.is_control() && !c.is_whitespace()));
    match text {
        Some(text) => (PayloadKind::Text, text.to_string()),
        None => (
            PayloadKind::Hex,
            bytes
                .chunks(16)
                .enumerate()
                .map(|(i, chunk)| format!("{:08x}  {}", i * 16, hex(chunk)))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    }
}

/// [`payload`]'s text alone.
pub fn payload_text(bytes: Option<&[u8]>) -> String {
    payload(bytes).1
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_show_as_json_text_or_hex() {
        let cases: &[(Option<&[u8]>, PayloadKind, &str)] = &[
            (None, PayloadKind::Null, "(null)"),
            (
                Some(r#"{"subject":"제목"}"#.as_bytes()),
                PayloadKind::Json,
                "{\n  \"subject\": \"제목\"\n}",
            ),
            (Some("내용 <b>".as_bytes()), PayloadKind::Text, "내용 <b>"),
            (Some(&[0, 1, 0xff]), PayloadKind::Hex, "00000000  0001ff"),
        ];
        for (bytes, kind, text) in cases {
            assert_eq!(payload(*bytes), (*kind, text.to_string()), "{bytes:?}");
        }
    }

    #[test]
    fn headers_decode_known_binary_values_and_show_the_rest() {
        assert_eq!(header_text(h::ATTEMPTS, Some(&h::encode_i32(3))), "3");
        assert_eq!(header_text("trace", Some("제목".as_bytes())), "제목");
        assert_eq!(header_text("bin", Some(&[0xff, 0])), "0xff00");
        assert_eq!(header_text("none", None), "(null)");
    }
}
