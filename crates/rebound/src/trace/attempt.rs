//! The attempt span with the `opentelemetry` feature: a `CONSUMER` span of OpenTelemetry's
//! global tracer, child of the record's `traceparent`, with the messaging attributes of the
//! semantic conventions (v1.44) and Rebound's own (`rebound.*`).
//!
//! The span is the parent of whatever the handler traces (it runs inside [`AttemptSpan::in_scope`])
//! and of the next attempt: the copy a failed attempt writes carries this span's id as its one
//! `traceparent`, so the next attempt, on a retry topic or the DLT, is its child.

use std::future::Future;
use std::str::FromStr;

use futures::future::Either;
use opentelemetry::context::FutureExt;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{
    Span, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _,
};
use opentelemetry::{global, KeyValue};

use super::traceparent::{self, CopyParent, TraceParent};
use super::Outcome;
use crate::consumer::Context;
use crate::failure::{Failure, FailureClass};
use crate::headers::{Headers, RetryState};
use crate::naming::Stage;
use crate::record::Record;
use crate::time::EpochMillis;

/// The instrumentation scope the spans are reported under.
const SCOPE: &str = "rebound";

/// The tracer the attempt spans come from: the global tracer provider's, looked up once when the
/// consumer starts, or none when the process has no OpenTelemetry SDK.
///
/// Without an SDK the global tracer is a no-op, yet making a span through it still costs a lookup
/// under a lock, two boxes and a context swap per poll of the handler: a third of a no-op
/// handler's time. Knowing once that no SDK is there, an attempt costs nothing, as without the
/// feature. The price: a provider installed after the consumer started is not seen (install it
/// first, as OpenTelemetry asks of every library).
pub(crate) struct Tracer(Option<BoxedTracer>);

impl Tracer {
    /// The global tracer, if an SDK is behind it.
    pub(crate) fn global() -> Self {
        let tracer = global::tracer(SCOPE);
        Tracer(sdk_behind(&tracer).then_some(tracer))
    }
}

/// Whether `tracer` is an SDK's rather than OpenTelemetry's no-op one: what a library asks once
/// so that, with no SDK installed, it makes no spans at all (the no-op tracer's spans still cost
/// a lock, boxes and a context swap each). Asked with a parent that is not sampled: an SDK gives
/// the probe a span id of its own (and its parent-based sampler drops it, so nothing is
/// exported), the no-op tracer hands back the parent's.
///
/// ```
/// use opentelemetry::trace::noop::NoopTracer;
///
/// assert!(!rebound::trace::sdk_behind(&NoopTracer::new()));
/// ```
pub fn sdk_behind(tracer: &impl opentelemetry::trace::Tracer) -> bool {
    let parent_id = SpanId::from_bytes(*b"rebound!");
    let parent = SpanContext::new(
        TraceId::from_bytes(*b"rebound tracing?"),
        parent_id,
        TraceFlags::default(),
        true,
        TraceState::default(),
    );
    let parent = opentelemetry::Context::new().with_remote_span_context(parent);
    let probe = tracer.start_with_context("rebound.probe", &parent);
    probe.span_context().span_id() != parent_id
}

/// One delivery attempt's span; ended by [`AttemptSpan::end`] (or when dropped, if stopped).
pub(crate) struct AttemptSpan {
    /// The span inside its context: what the handler runs under and what a copy names. `None`
    /// without an SDK: nothing to record, and a copy keeps the record's headers as they were.
    cx: Option<opentelemetry::Context>,
}

impl AttemptSpan {
    /// Starts the span of `record`'s attempt, child of its `traceparent` when it has a valid one
    /// (a new trace otherwise).
    pub(crate) fn start(context: &Context, record: &Record) -> Self {
        let Some(tracer) = &context.tracer.0 else {
            return AttemptSpan { cx: None };
        };
        let parent = parent_context(record.headers());
        let mut span = tracer
            .span_builder(format!("process {}", record.topic()))
            .with_kind(SpanKind::Consumer)
            .start_with_context(tracer, &parent);
        // For a span not sampled nothing is recorded: the attributes, a dozen allocations, are
        // built only for a span that keeps them.
        if span.is_recording() {
            span.set_attributes(attributes(context, record));
        }
        AttemptSpan {
            cx: Some(parent.with_span(span)),
        }
    }

    /// Runs `future` (the handler) with this span as the current context, so its own spans are
    /// children of the attempt.
    pub(crate) fn in_scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        match &self.cx {
            Some(cx) => Either::Left(future.with_context(cx.clone())),
            None => Either::Right(future),
        }
    }

    /// Makes this span the current context until the guard is dropped: for the handler's first
    /// poll, made before any future of Rebound's wraps it.
    pub(crate) fn enter(&self) -> Option<opentelemetry::ContextGuard> {
        self.cx.as_ref().map(|cx| cx.clone().attach())
    }

    /// Marks the attempt failed: error status, the failure and its class.
    pub(crate) fn failed(&self, failure: &Failure, class: FailureClass) {
        let Some(cx) = &self.cx else { return };
        let span = cx.span();
        if !span.is_recording() {
            return;
        }
        span.set_attribute(KeyValue::new("rebound.failure.class", class.to_string()));
        span.set_status(Status::error(failure.to_string()));
    }

    /// The `traceparent` a copy of the record carries: this span, so the next attempt is its
    /// child. `None` without an SDK, or when there is no valid span: the copy keeps the record's
    /// own headers as they were.
    pub(crate) fn copy_parent(&self) -> Option<CopyParent> {
        let cx = self.cx.as_ref()?;
        let span = cx.span();
        let context = span.span_context();
        if !context.is_valid() {
            return None;
        }
        Some(CopyParent {
            parent: TraceParent {
                trace_id: context.trace_id().to_bytes(),
                parent_id: context.span_id().to_bytes(),
                flags: context.trace_flags().to_u8(),
            },
            state: context.trace_state().header(),
        })
    }

    /// Ends the span with its outcome and, for a copy, the topic it went to.
    pub(crate) fn end(self, outcome: Outcome, next_topic: Option<&str>) {
        let Some(cx) = &self.cx else { return };
        let span = cx.span();
        span.set_attribute(KeyValue::new("rebound.outcome", outcome.as_str()));
        if let Some(topic) = next_topic.filter(|_| span.is_recording()) {
            span.set_attribute(KeyValue::new("rebound.next_topic", topic.to_string()));
        }
        span.end();
    }
}

/// The messaging conventions' attributes and Rebound's, for `record`'s attempt.
fn attributes(context: &Context, record: &Record) -> Vec<KeyValue> {
    let settings = &context.settings;
    let stage = settings.chain.stage_of(record.topic());
    let mut attributes = vec![
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.type", "process"),
        KeyValue::new("messaging.operation.name", "process"),
        KeyValue::new("messaging.destination.name", record.topic().to_string()),
        KeyValue::new(
            "messaging.destination.partition.id",
            record.partition().to_string(),
        ),
        KeyValue::new("messaging.kafka.offset", record.offset()),
        KeyValue::new("messaging.consumer.group.name", settings.group.clone()),
        KeyValue::new("rebound.attempt", i64::from(record.attempt())),
        KeyValue::new("rebound.stage", stage_name(stage.as_ref())),
    ];
    if let Some(key) = record.key() {
        let key = String::from_utf8_lossy(key).into_owned();
        attributes.push(KeyValue::new("messaging.kafka.message.key", key));
    }
    if let Some(Ok(due)) = RetryState::read(record.headers()).due {
        // Positive: late by that much; negative: started early (a clock apart).
        let lateness = EpochMillis::now().as_i64() - due.as_i64();
        attributes.push(KeyValue::new("rebound.lateness_ms", lateness));
    }
    attributes
}

/// The remote parent named by the record's headers, or an empty context (a new trace).
fn parent_context(headers: &Headers) -> opentelemetry::Context {
    let Some(parent) = TraceParent::read(headers) else {
        return opentelemetry::Context::new();
    };
    let state = traceparent::read_tracestate(headers)
        .and_then(|s| TraceState::from_str(&s).ok())
        .unwrap_or_default();
    let remote = SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.parent_id),
        TraceFlags::new(parent.flags),
        true,
        state,
    );
    opentelemetry::Context::new().with_remote_span_context(remote)
}

fn stage_name(stage: Option<&Stage<'_>>) -> &'static str {
    match stage {
        Some(Stage::Main) | None => "main",
        Some(Stage::Retry(_)) => "retry",
        Some(Stage::Dlt) => "dlt",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use opentelemetry::trace::noop::NoopTracer;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanProcessor};

    use super::sdk_behind;

    /// Counts the spans handed to the exporter's side.
    #[derive(Debug)]
    struct Ended(Arc<AtomicUsize>);

    impl SpanProcessor for Ended {
        fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
        fn on_end(&self, _: SpanData) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: std::time::Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    #[test]
    fn the_probe_tells_an_sdk_from_the_no_op_tracer_and_exports_nothing() {
        assert!(!sdk_behind(&NoopTracer::new()));

        let ended = Arc::new(AtomicUsize::new(0));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(Ended(ended.clone()))
            .build();
        let tracer = provider.tracer("rebound");
        assert!(sdk_behind(&tracer));
        // A span the same tracer records does reach the processor: the count can move.
        drop(opentelemetry::trace::Tracer::start(&tracer, "recorded"));
        assert_eq!(
            ended.load(Ordering::SeqCst),
            1,
            "only the recorded span, not the probe"
        );
    }
}
