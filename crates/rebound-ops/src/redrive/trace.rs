//! The redrive's span (feature `opentelemetry`): one `PRODUCER` span per redriven copy, a new
//! trace *linked* to the dead letter's last span (an operator's action is not part of the
//! e-mail's failed story, but points at it), whose id becomes the copy's one `traceparent`, so the
//! redriven record's attempts continue the redrive's trace.
//!
//! Zipkin shows no links: the span also carries the dead letter's trace id as the tag
//! `rebound.dead_letter.trace_id`. Without the feature nothing changes: the copy keeps the dead
//! letter's `traceparent`, and its attempts join the dead letter's trace.

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
};
use opentelemetry::{global, Context, KeyValue};
use rebound::headers::Headers;
use rebound::trace::traceparent::{self, TraceParent};

/// The redrive's span, ended when dropped (after the copy is acknowledged or refused).
pub(super) struct RedriveSpan(Context);

impl Drop for RedriveSpan {
    fn drop(&mut self) {
        self.0.span().end();
    }
}

/// The global tracer, looked up once per run, if an SDK is behind it. Without an SDK the no-op
/// tracer's span is invalid and the copy keeps the dead letter's `traceparent`, yet making it
/// cost a tenth of a copy's time on the sending task (a lock, boxes, a name and five attributes
/// formatted: BENCHMARKS.md, 5c); knowing once that there is none, a copy makes no span.
pub(super) struct RunTracer(Option<BoxedTracer>);

impl RunTracer {
    pub(super) fn global() -> RunTracer {
        let tracer = global::tracer("rebound-ops");
        RunTracer(rebound::trace::sdk_behind(&tracer).then_some(tracer))
    }
}

/// Starts the span of redriving the dead letter at `from` (whose headers are `dead_letter`) to
/// `target` in run `run`, and gives the copy's `headers` its one `traceparent`.
pub(super) fn start(
    tracer: &RunTracer,
    dead_letter: &Headers,
    from: &str,
    target: &str,
    run: &str,
    headers: &mut Headers,
) -> Option<RedriveSpan> {
    let tracer = tracer.0.as_ref()?;
    let mut attributes = vec![
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.type", "send"),
        KeyValue::new("messaging.destination.name", target.to_string()),
        KeyValue::new("rebound.redrive.run", run.to_string()),
        KeyValue::new("rebound.redrive.from", from.to_string()),
    ];
    let mut links = Vec::new();
    if let Some(parent) = TraceParent::read(dead_letter) {
        attributes.push(KeyValue::new(
            "rebound.dead_letter.trace_id",
            parent.trace_id_hex(),
        ));
        links.push(Link::with_context(SpanContext::new(
            TraceId::from_bytes(parent.trace_id),
            SpanId::from_bytes(parent.parent_id),
            TraceFlags::new(parent.flags),
            true,
            TraceState::default(),
        )));
    }
    let span = tracer
        .span_builder(format!("redrive {target}"))
        .with_kind(SpanKind::Producer)
        .with_attributes(attributes)
        .with_links(links)
        .start_with_context(tracer, &Context::new());
    let cx = Context::new().with_span(span);
    let context = cx.span().span_context().clone();
    if context.is_valid() {
        let copy = TraceParent {
            trace_id: context.trace_id().to_bytes(),
            parent_id: context.span_id().to_bytes(),
            flags: context.trace_flags().to_u8(),
        };
        traceparent::replace(headers, &copy, None);
    }
    Some(RedriveSpan(cx))
}
