//! A span exporter to Zipkin's v2 JSON API (`POST /api/v2/spans`).
//!
//! Ours rather than `opentelemetry-zipkin` 0.33: that crate no longer writes the local endpoint's
//! `serviceName` (every span shows as an unnamed service, which defeats "where did it happen"),
//! and it brings reqwest 0.13 beside the workspace's 0.12. The batch processor calls the exporter
//! on a thread of its own, so it posts with reqwest's blocking client.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use serde_json::{json, Map};

/// Sends finished spans to one Zipkin, as one service.
#[derive(Debug)]
pub struct ZipkinExporter {
    /// `http://host:port/api/v2/spans`.
    endpoint: String,
    service: String,
    /// Made on the first export, on the batch processor's thread: a blocking client must not be
    /// made or dropped on an async runtime's thread, and the exporter is built on one.
    client: OnceLock<reqwest::blocking::Client>,
}

impl ZipkinExporter {
    /// An exporter to the Zipkin at `url` (`http://host:port`, a trailing slash allowed).
    pub fn new(url: &str, service: &str) -> anyhow::Result<ZipkinExporter> {
        let authority = url
            .trim_end_matches('/')
            .strip_prefix("http://")
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| {
                anyhow::anyhow!("the Zipkin URL must be http://host:port, not {url:?}")
            })?;
        Ok(ZipkinExporter {
            endpoint: format!("http://{authority}/api/v2/spans"),
            service: service.to_string(),
            client: OnceLock::new(),
        })
    }

    fn post(&self, body: Vec<u8>) -> Result<(), String> {
        let client = self.client.get_or_init(|| {
            reqwest::blocking::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client with the default TLS settings")
        });
        let response = client
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .map_err(|e| format!("{}: {e}", self.endpoint))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(format!("Zipkin answered {status}")),
        }
    }
}

impl SpanExporter for ZipkinExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans: Vec<_> = batch.iter().map(|s| to_zipkin(s, &self.service)).collect();
        let body = serde_json::to_vec(&spans).expect("spans serialize");
        self.post(body).map_err(|e| {
            OTelSdkError::InternalFailure(format!("could not send spans to Zipkin: {e}"))
        })
    }
}

/// One span in Zipkin's v2 model. Links (which Zipkin lacks) become the tag
/// `links`: `traceId/spanId`, comma-separated.
pub fn to_zipkin(span: &SpanData, service: &str) -> serde_json::Value {
    let micros = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as u64
    };
    let mut tags: BTreeMap<String, String> = span
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), text(&kv.value)))
        .collect();
    if let Status::Error { description } = &span.status {
        tags.insert("error".into(), description.to_string());
    }
    if !span.links.links.is_empty() {
        let links: Vec<String> = span
            .links
            .links
            .iter()
            .map(|l| format!("{}/{}", l.span_context.trace_id(), l.span_context.span_id()))
            .collect();
        tags.insert("links".into(), links.join(","));
    }
    let mut out = Map::new();
    out.insert(
        "traceId".into(),
        span.span_context.trace_id().to_string().into(),
    );
    out.insert("id".into(), span.span_context.span_id().to_string().into());
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        out.insert("parentId".into(), span.parent_span_id.to_string().into());
    }
    let kind = match span.span_kind {
        SpanKind::Server => Some("SERVER"),
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
        SpanKind::Internal => None,
    };
    if let Some(kind) = kind {
        out.insert("kind".into(), kind.into());
    }
    out.insert("name".into(), span.name.to_string().into());
    out.insert("timestamp".into(), micros(span.start_time).into());
    let duration = micros(span.end_time).saturating_sub(micros(span.start_time));
    out.insert("duration".into(), duration.max(1).into());
    out.insert("localEndpoint".into(), json!({ "serviceName": service }));
    out.insert("tags".into(), json!(tags));
    serde_json::Value::Object(out)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry::trace::{Link, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry::{InstrumentationScope, KeyValue};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    fn context(trace: u128, span: u64) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        )
    }

    #[test]
    fn a_span_becomes_zipkins_v2_json_with_its_service_tags_and_links() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let span = SpanData {
            span_context: context(0x4bf92f3577b34da6a3ce929d0e0e4736, 0xb7),
            parent_span_id: SpanId::from(0xa1),
            parent_span_is_remote: true,
            span_kind: SpanKind::Consumer,
            name: "process email.send".into(),
            start_time: start,
            end_time: start + Duration::from_micros(1500),
            attributes: vec![
                KeyValue::new("rebound.attempt", 2),
                KeyValue::new("messaging.kafka.message.key", "제목"),
            ],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: {
                let mut links = SpanLinks::default();
                links.links.push(Link::with_context(context(0xabc, 0xdef)));
                links
            },
            status: Status::error("451"),
            instrumentation_scope: InstrumentationScope::builder("rebound").build(),
        };
        let json = to_zipkin(&span, "mailer-worker");
        assert_eq!(json["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(json["id"], "00000000000000b7");
        assert_eq!(json["parentId"], "00000000000000a1");
        assert_eq!(json["kind"], "CONSUMER");
        assert_eq!(json["timestamp"], 1_800_000_000_000_000u64);
        assert_eq!(json["duration"], 1500);
        assert_eq!(json["localEndpoint"]["serviceName"], "mailer-worker");
        assert_eq!(json["tags"]["rebound.attempt"], "2");
        assert_eq!(json["tags"]["messaging.kafka.message.key"], "제목");
        assert_eq!(json["tags"]["error"], "451");
        assert_eq!(
            json["tags"]["links"],
            "00000000000000000000000000000abc/0000000000000def"
        );
        let root = SpanData {
            parent_span_id: SpanId::INVALID,
            span_kind: SpanKind::Internal,
            links: SpanLinks::default(),
            ..span
        };
        let json = to_zipkin(&root, "mailer-api");
        assert!(json.get("parentId").is_none() && json.get("kind").is_none());
    }

    #[test]
    fn only_a_plain_http_url_is_taken() {
        assert!(ZipkinExporter::new("http://127.0.0.1:9411/", "s").is_ok());
        for bad in [
            "https://zipkin:9411",
            "127.0.0.1:9411",
            "http://",
            "http://h:1/api",
        ] {
            assert!(ZipkinExporter::new(bad, "s").is_err(), "{bad}");
        }
    }
}
