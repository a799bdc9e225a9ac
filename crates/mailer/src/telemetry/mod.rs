//! Traces of the mailer's services: OpenTelemetry's SDK, exporting to Zipkin when a Zipkin URL
//! is configured (`--zipkin-url`, `REBOUND_ZIPKIN_URL`, `zipkin_url`), and the API's request span.
//!
//! The library's attempt spans (`rebound` with its `opentelemetry` feature) go to the global
//! tracer this installs; without a URL nothing is installed and they are OpenTelemetry's no-ops.

mod zipkin;

pub use zipkin::{to_zipkin, ZipkinExporter};

use std::time::Duration;

use opentelemetry::trace::{
    SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceState, Tracer,
};
use opentelemetry::{global, Context, KeyValue};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use rebound::trace::traceparent::TraceParent;

/// The installed tracer provider; dropping it sends the spans still buffered (at shutdown).
#[must_use = "dropping it stops the export"]
pub struct Tracing(Option<SdkTracerProvider>);

impl Drop for Tracing {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            if let Err(e) = provider.shutdown() {
                tracing::warn!(error = %e, "could not send the last spans to Zipkin");
            }
        }
    }
}

/// Exports `service`'s spans to the Zipkin at `zipkin_url` (`http://host:port`), if given.
pub fn install(service: &str, zipkin_url: Option<&str>) -> anyhow::Result<Tracing> {
    let Some(url) = zipkin_url else {
        return Ok(Tracing(None));
    };
    let exporter = ZipkinExporter::new(url, service)?;
    // Sent every half second: an on-call person (and the demo) looks right after the e-mail died.
    let config = BatchConfigBuilder::default()
        .with_scheduled_delay(Duration::from_millis(500))
        .build();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(config)
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            Resource::builder_empty()
                .with_service_name(service.to_string())
                .build(),
        )
        .build();
    global::set_tracer_provider(provider.clone());
    tracing::info!(%url, %service, "exporting spans to Zipkin");
    Ok(Tracing(Some(provider)))
}

/// The span of one API request: a child of the caller's `traceparent`, else a trace's root. A
/// clone names the same span (the middleware that ends it hands one to the handler).
#[derive(Clone)]
pub struct RequestSpan(Context);

impl RequestSpan {
    /// Starts `name` (`POST /emails`) under the caller's `traceparent` header, if valid.
    pub fn start(name: &'static str, caller: Option<&str>) -> RequestSpan {
        let parent = match caller.and_then(TraceParent::parse) {
            Some(p) => Context::new().with_remote_span_context(SpanContext::new(
                opentelemetry::trace::TraceId::from_bytes(p.trace_id),
                opentelemetry::trace::SpanId::from_bytes(p.parent_id),
                TraceFlags::new(p.flags),
                true,
                TraceState::default(),
            )),
            None => Context::new(),
        };
        let tracer = global::tracer("mailer");
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.route", "/emails"),
            ])
            .start_with_context(&tracer, &parent);
        RequestSpan(parent.with_span(span))
    }

    /// The `traceparent` naming this span, for the record it produces (`None` without a tracer
    /// and without a caller's trace).
    pub fn traceparent(&self) -> Option<String> {
        let span = self.0.span();
        let context = span.span_context();
        context.is_valid().then(|| {
            TraceParent {
                trace_id: context.trace_id().to_bytes(),
                parent_id: context.span_id().to_bytes(),
                flags: context.trace_flags().to_u8(),
            }
            .to_string()
        })
    }

    /// Adds an attribute.
    pub fn set(&self, attribute: KeyValue) {
        self.0.span().set_attribute(attribute);
    }

    /// Ends the span with the response's status.
    pub fn end(self, status: u16) {
        let span = self.0.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            span.set_status(Status::error(format!("answered {status}")));
        }
        span.end();
    }
}

/// The trace id named by an API answer's `traceresponse` header.
pub fn trace_id_of(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let value = headers.get("traceresponse")?.to_str().ok()?;
    TraceParent::parse(value).map(|t| t.trace_id_hex())
}

/// The demo's last lines: each dead e-mail's trace in Zipkin's UI, once its dead-letter span
/// (the story's last) has reached Zipkin (or after 15 s, said so).
pub async fn print_traces(http: &reqwest::Client, zipkin: &str, dead: &[(&str, &str)]) {
    let zipkin = zipkin.trim_end_matches('/');
    println!(
        "\nThe dead e-mails' traces in Zipkin (API → every attempt → DLT worker, one trace each):"
    );
    for (what, trace_id) in dead {
        let api = format!("{zipkin}/api/v2/trace/{trace_id}");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let complete = loop {
            let spans: Vec<serde_json::Value> = match http.get(&api).send().await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            let last = spans
                .iter()
                .any(|s| s["tags"]["rebound.outcome"] == "dead_letter_handled");
            if last || std::time::Instant::now() > deadline {
                break last;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let note = if complete { "" } else { " (not complete yet)" };
        println!("  {what:<28} {zipkin}/zipkin/traces/{trace_id}{note}");
    }
}
