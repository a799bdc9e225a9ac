//! W3C trace context in Kafka headers (`traceparent`, `tracestate`), as Spring Boot's Micrometer
//! Tracing and OpenTelemetry's Kafka instrumentations write them: parsed and written by hand so
//! the rules (which header wins, what a copy carries) are plain functions, tested without a
//! tracer.
//!
//! The rules: a header that does not parse is ignored (never an error: it is someone else's
//! bytes); of several `traceparent` headers the last valid one wins (Spring before 3.3.4 appended
//! one per hop, #3816, and the last is the newest); a copy gets exactly one `traceparent`, every
//! earlier one removed ([`replace`]).

use crate::headers::{HeaderSink, Headers};

/// The header naming the span a record was produced under.
pub const TRACEPARENT: &str = "traceparent";
/// The vendors' trace state that travels with it.
pub const TRACESTATE: &str = "tracestate";

/// One parsed `traceparent`: `00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace the record belongs to (never all zeros).
    pub trace_id: [u8; 16],
    /// The span that produced the record (never all zeros).
    pub parent_id: [u8; 8],
    /// Trace flags; bit 0 is "sampled".
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` value, or `None` for anything the W3C rules reject: wrong length,
    /// upper-case or non-hex digits, version `ff`, all-zero ids. A future version (`01`…`fe`) is
    /// read by its first four fields, as the specification asks.
    pub fn parse(text: &str) -> Option<TraceParent> {
        let text = text.trim();
        let mut parts = text.split('-');
        let version = parts.next()?;
        let (trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?);
        let version = hex::<1>(version)?[0];
        if version == 0xff || (version == 0 && (parts.next().is_some() || text.len() != 55)) {
            return None;
        }
        let parsed = TraceParent {
            trace_id: hex::<16>(trace)?,
            parent_id: hex::<8>(parent)?,
            flags: hex::<1>(flags)?[0],
        };
        let valid = parsed.trace_id != [0; 16] && parsed.parent_id != [0; 8];
        valid.then_some(parsed)
    }

    /// The last valid `traceparent` of `headers`, if any.
    pub fn read(headers: &Headers) -> Option<TraceParent> {
        let values: Vec<_> = headers
            .iter()
            .filter(|h| h.key == TRACEPARENT)
            .filter_map(|h| h.value.as_deref())
            .collect();
        values
            .iter()
            .rev()
            .find_map(|v| std::str::from_utf8(v).ok().and_then(TraceParent::parse))
    }

    /// Whether the trace is sampled (flag bit 0).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id as 32 lower-case hex digits (Zipkin's `/api/v2/trace/{id}`).
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }

    /// The parent span id as 16 lower-case hex digits.
    pub fn parent_id_hex(&self) -> String {
        to_hex(&self.parent_id)
    }
}

impl std::fmt::Display for TraceParent {
    /// Version 00, whatever version was read: we write what we speak.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            to_hex(&self.trace_id),
            to_hex(&self.parent_id),
            self.flags
        )
    }
}

/// The `tracestate` of `headers` (the last one, as for `traceparent`), if any is valid UTF-8.
pub fn read_tracestate(headers: &Headers) -> Option<String> {
    headers
        .last(TRACESTATE)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::to_string)
}

/// Gives a copy exactly one `traceparent` (and `tracestate` when there is one): every earlier
/// header of either name is removed first, so a copy of a copy never accumulates them.
pub fn replace(headers: &mut Headers, parent: &TraceParent, tracestate: Option<&str>) {
    for key in REPLACED {
        headers.remove(key);
    }
    write(headers, parent, tracestate);
}

/// The headers [`replace`] removes before it writes: a copy written straight into librdkafka's
/// list leaves these out of the source's headers, then [`write`]s them.
pub(crate) const REPLACED: [&str; 2] = [TRACEPARENT, TRACESTATE];

/// Appends `traceparent` (and `tracestate` when there is one) to `sink`.
pub(crate) fn write(sink: &mut impl HeaderSink, parent: &TraceParent, tracestate: Option<&str>) {
    sink.add(TRACEPARENT, Some(parent.to_string().as_bytes()));
    if let Some(state) = tracestate.filter(|s| !s.is_empty()) {
        sink.add(TRACESTATE, Some(state.as_bytes()));
    }
}

/// The trace context a copy carries (the failed attempt's span), as [`replace`] and
/// [`write`] put it on the copy.
pub(crate) struct CopyParent {
    pub(crate) parent: TraceParent,
    pub(crate) state: String,
}

impl CopyParent {
    /// The headers this replaces on a copy (every earlier `traceparent` and `tracestate`).
    pub(crate) const REPLACED: [&'static str; 2] = REPLACED;

    /// Gives `headers` exactly this `traceparent` (see [`replace`]).
    pub(crate) fn replace_in(&self, headers: &mut Headers) {
        replace(headers, &self.parent, Some(&self.state));
    }

    /// Appends the copy's `traceparent` (and `tracestate`) to `sink`, whose source headers left
    /// out [`REPLACED`](Self::REPLACED).
    pub(crate) fn write(&self, sink: &mut impl HeaderSink) {
        write(sink, &self.parent, Some(&self.state));
    }
}

fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let nibble = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None, // upper case is invalid in version 00
    };
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specification_example_round_trips() {
        let parsed = TraceParent::parse(SPEC).unwrap();
        assert_eq!(parsed.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.parent_id_hex(), "00f067aa0ba902b7");
        assert!(parsed.sampled());
        assert_eq!(parsed.to_string(), SPEC);
    }

    #[test]
    fn garbage_is_ignored_not_an_error() {
        for bad in [
            "",
            "garbage",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
        let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes";
        assert!(TraceParent::parse(future).is_some());
    }

    #[test]
    fn the_last_valid_header_wins_and_bad_bytes_are_skipped() {
        let mut headers = Headers::new();
        headers.push(TRACEPARENT, SPEC);
        headers.push(
            TRACEPARENT,
            "00-11111111111111111111111111111111-2222222222222222-00",
        );
        headers.push(TRACEPARENT, vec![0xff, 0xfe, 0x00]);
        headers.push_null(TRACEPARENT);
        let read = TraceParent::read(&headers).unwrap();
        assert_eq!(read.parent_id_hex(), "2222222222222222");
        assert!(!read.sampled());
        assert_eq!(TraceParent::read(&Headers::new()), None);
    }

    #[test]
    fn a_copy_carries_exactly_one_traceparent() {
        let mut headers = Headers::new();
        headers.push("kafka_dlt-original-topic", "email.send");
        headers.push(TRACEPARENT, SPEC);
        headers.push(TRACEPARENT, SPEC); // Spring before 3.3.4 accumulated them
        headers.push(TRACESTATE, "rojo=00f067aa0ba902b7");
        let child = TraceParent {
            parent_id: [7; 8],
            ..TraceParent::parse(SPEC).unwrap()
        };
        for _ in 0..3 {
            replace(&mut headers, &child, Some("rojo=0707070707070707"));
        }
        let count = |headers: &Headers, key| headers.iter().filter(|h| h.key == key).count();
        assert_eq!(count(&headers, TRACEPARENT), 1);
        assert_eq!(count(&headers, TRACESTATE), 1);
        assert_eq!(TraceParent::read(&headers), Some(child));
        assert_eq!(read_tracestate(&headers).unwrap(), "rojo=0707070707070707");
        assert_eq!(count(&headers, "kafka_dlt-original-topic"), 1);
        replace(&mut headers, &child, None);
        assert_eq!(count(&headers, TRACESTATE), 0);
    }
}
