//! The smaller copies a forwarder falls back to when a target refuses a copy for its size: the
//! header side of [`CopyShape`](crate::consumer) (which shape to try is the consumer's decision;
//! what each shape keeps is decided here).

use crate::coordinates::Coordinates;
use crate::record::Record;

use super::names::*;
use super::provenance::Provenance;
use super::Headers;

/// How much of the failure's message a slim copy keeps.
const SLIM_MESSAGE_BYTES: usize = 1024;

/// `headers` without the failure's stack trace and with its message cut to 1 KiB.
pub fn slim(mut headers: Headers) -> Headers {
    headers.remove(EXCEPTION_STACKTRACE);
    if let Some(message) = headers.text(EXCEPTION_MESSAGE) {
        headers.set(EXCEPTION_MESSAGE, cut(&message, SLIM_MESSAGE_BYTES));
    }
    headers
}

/// Only the chain's own headers of `headers` (Spring's and Rebound's), and a note that the
/// payload of `record` was left behind because of `refusal`, naming where the original is (it
/// stays in the main topic for its retention time).
pub fn without_payload(headers: Headers, record: &Record, refusal: &str) -> Headers {
    let mut headers: Headers = headers
        .iter()
        .filter(|x| CHAIN_HEADERS.contains(&x.key.as_str()) || x.key.starts_with(PREFIX))
        .cloned()
        .collect();
    let size = record.payload().map_or(0, <[u8]>::len);
    let original = Provenance::read(&headers)
        .as_ref()
        .map(Provenance::coordinates)
        .filter(Coordinates::is_complete)
        .map_or_else(|| record.coordinates(), |first| first.to_string());
    headers.set(
        PAYLOAD_OMITTED,
        format!("{size} bytes not copied ({refusal}); the original is {original}"),
    );
    headers
}

/// Marks a DLT copy written early because a retry topic refused the record: `why` says how.
pub fn mark_retry_refused(headers: &mut Headers, why: &str) {
    headers.set(RETRY_REFUSED, why.to_string());
}

/// `text` cut to at most `max` bytes on a character boundary, marked when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("제목", 6), "제목");
        assert_eq!(cut("제목", 4), "제…");
        assert_eq!(cut("abc", 2), "ab…");
    }

    #[test]
    fn slim_drops_the_trace_and_cuts_the_message() {
        let mut headers = Headers::new();
        headers.push(EXCEPTION_STACKTRACE, "trace");
        headers.push(EXCEPTION_MESSAGE, "내".repeat(1000));
        headers.push("traceparent", "00-abc");
        let slim = slim(headers);
        assert!(!slim.contains(EXCEPTION_STACKTRACE));
        assert!(slim.text(EXCEPTION_MESSAGE).unwrap().len() <= SLIM_MESSAGE_BYTES + 3);
        assert!(slim.contains("traceparent"));
    }

    #[test]
    fn a_copy_without_payload_names_the_original() {
        let mut headers = Headers::new();
        headers.push(ORIGINAL_TOPIC, "email.send");
        headers.push(ORIGINAL_PARTITION, crate::headers::encode_i32(3));
        headers.push(ORIGINAL_OFFSET, crate::headers::encode_i64(9));
        headers.push("traceparent", "00-abc");
        let record = Record::new("email.send-retry-1000", 3, 40).with_payload(vec![b'x'; 10]);
        let copy = without_payload(headers, &record, "t.dlt refused it: too large");
        assert!(!copy.contains("traceparent"), "foreign headers go");
        assert_eq!(
            copy.text(PAYLOAD_OMITTED).unwrap(),
            "10 bytes not copied (t.dlt refused it: too large); the original is email.send-3@9"
        );
    }
}
