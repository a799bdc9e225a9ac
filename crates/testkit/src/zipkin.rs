//! The tests' Zipkin: the project's `zipkin-server` (started on first use, like the broker, on
//! `REBOUND_ZIPKIN_PORT` or 9411) and its HTTP API, read as Zipkin's own UI reads it.

use std::sync::OnceLock;

use test_broker::zipkin as server;

/// The Zipkin's base URL, starting it (blocking, once per process) if nothing answers yet.
pub fn url() -> String {
    static STARTED: OnceLock<u16> = OnceLock::new();
    let port = *STARTED.get_or_init(|| {
        let port = server::configured_port().expect("REBOUND_ZIPKIN_PORT");
        server::start(port).expect("could not start Zipkin for the test");
        port
    });
    server::url(port)
}

/// The spans of trace `id` (32 hex digits) as `/api/v2/trace/{id}` returns them; empty while
/// Zipkin has none of it.
pub fn trace(id: &str) -> Vec<serde_json::Value> {
    let port = server::configured_port().expect("REBOUND_ZIPKIN_PORT");
    match server::get(port, &format!("/api/v2/trace/{id}")) {
        Some((200, body)) => serde_json::from_str(&body).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A span's tag, if it has it.
pub fn tag<'a>(span: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    span["tags"][key].as_str()
}
