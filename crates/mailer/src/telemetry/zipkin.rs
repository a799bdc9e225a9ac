//! A span exporter to Zipkin's v2 JSON API (`POST /api/v2/spans`), over plain HTTP/1.1 written
//! by hand.
//!
//! Ours rather than `opentelemetry-zipkin` 0.33: that crate no longer writes the local endpoint's
//! `serviceName` (every span shows as an unnamed service, which defeats "where did it happen"),
//! and it brings reqwest 0.13 beside the workspace's 0.12. Zipkin here is a local plain-HTTP
//! collector, so a blocking socket on the batch processor's own thread is all it takes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use serde_json::{json, Map};

/// Sends finished spans to one Zipkin, as one service.
#[derive(Debug)]
pub struct ZipkinExporter {
    /// `host:port` of the collector.
    authority: String,
    service: String,
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
            authority: authority.to_string(),
            service: service.to_string(),
        })
    }

    fn post(&self, body: &[u8]) -> Result<(), String> {
        let address = self
            .authority
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or("no address")?;
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))
            .map_err(|e| format!("{address}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let head = format!(
            "POST /api/v2/spans HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.authority,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
            .map_err(|e| e.to_string())?;
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).map_err(|e| e.to_string())?;
        match &status[9..12] {
            b"202" | b"200" => Ok(()),
            other => Err(format!(
                "Zipkin answered {}",
                String::from_utf8_lossy(other)
            )),
        }
    }
}

impl SpanExporter for ZipkinExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans: Vec<_> = batch.iter().map(|s| to_zipkin(s, &self.service)).collect();
        let body = serde_json::to_vec(&spans).expect("spans serialize");
        self.post(&body).map_err(|e| {
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
