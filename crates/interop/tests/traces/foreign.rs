//! (c) What each side does with trace headers it did not write: a record arrives with a valid
//! `traceparent`, a `tracestate`, a `baggage` and a `b3` naming another span; what is on its
//! first retry copy, Spring's and Rebound's. The figures of INTEROP.md's trace context table.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rebound::headers::Headers;
use rebound::trace::traceparent::{TraceParent, TRACEPARENT, TRACESTATE};
use testkit::{produce, producer, read_all, wait_until};

use crate::support::{count_named, print_trace_headers};

/// One side's first retry copy of the probe, as far as trace headers go.
pub(crate) struct Copied {
    /// The copy's headers.
    pub headers: Headers,
    /// The trace id the probe's `traceparent` named.
    pub trace_id: String,
    /// The span id the probe's `traceparent` named.
    pub parent_id: String,
    /// The probe's `b3` (the same trace, another span).
    pub b3: String,
}

/// Sends the probe (key `probe`, an e-mail that fails) to `main` and returns its copy on `retry`
/// once the side running that chain wrote it.
pub(crate) async fn probe(who: &str, main: &str, retry: &str, payload: &str) -> Copied {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let trace_id = format!("{nanos:032x}");
    let parent_id = format!("{:016x}", nanos as u64 ^ 0x5a5a);
    let b3_span = format!("{:016x}", nanos as u64 ^ 0xb3b3);
    let mut headers = Headers::new();
    headers.push(
        TRACEPARENT,
        format!("00-{trace_id}-{parent_id}-01").into_bytes(),
    );
    headers.push(TRACESTATE, b"rojo=00f067aa0ba902b7".to_vec());
    headers.push("baggage", b"probe.id=42".to_vec());
    let b3 = format!("{trace_id}-{b3_span}-1");
    headers.push("b3", b3.clone().into_bytes());
    let producer = producer();
    produce(
        &producer,
        main,
        None,
        Some("probe"),
        payload.as_bytes(),
        &headers,
    )
    .await;
    let mut copy = None;
    wait_until(
        Duration::from_secs(60),
        &format!("{who}'s retry copy of the probe"),
        || {
            copy = read_all(retry)
                .into_iter()
                .find(|r| r.key_text().as_deref() == Some("probe"));
            std::future::ready(copy.is_some())
        },
    )
    .await;
    let headers = copy.unwrap().headers().clone();
    print_trace_headers(
        &format!("{who}'s copy of a record with foreign trace headers"),
        &headers,
    );
    Copied {
        headers,
        trace_id,
        parent_id,
        b3,
    }
}

impl Copied {
    /// How many headers named `name` the copy has.
    pub(crate) fn count(&self, name: &str) -> usize {
        count_named(&self.headers, name)
    }

    /// The copy's one `traceparent`: in the probe's trace, naming a span other than the probe's
    /// parent (the side's own span for the failed delivery, or its send span).
    pub(crate) fn assert_continues_the_trace(&self, who: &str) {
        assert_eq!(self.count(TRACEPARENT), 1, "{who}: {:?}", self.headers);
        let copy = TraceParent::read(&self.headers).unwrap();
        assert_eq!(copy.trace_id_hex(), self.trace_id, "{who}");
        assert_ne!(copy.parent_id_hex(), self.parent_id, "{who}");
    }

    /// The headers neither side writes are copied once, as they came: `tracestate` (Rebound
    /// writes it back beside its `traceparent`, Spring leaves it in place), `baggage`, and `b3`,
    /// which so goes on naming the probe's span while `traceparent` names the side's own.
    pub(crate) fn assert_copies_the_others(&self, who: &str) {
        for (name, value) in [
            (TRACESTATE, "rojo=00f067aa0ba902b7"),
            ("baggage", "probe.id=42"),
            ("b3", self.b3.as_str()),
        ] {
            assert_eq!(self.count(name), 1, "{who}: {name} in {:?}", self.headers);
            assert_eq!(self.value(name).as_deref(), Some(value), "{who}: {name}");
        }
    }

    /// The value of the copy's `name` header, if it has one.
    pub(crate) fn value(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|h| h.key == name).and_then(|h| {
            h.value
                .as_deref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
    }
}
