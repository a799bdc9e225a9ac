//! `mailer webhook-sink`: stands in for Slack's incoming webhook in the demo and tests. Prints
//! every message it receives and appends it to a file. It can play "Slack is down": it answers
//! `503` while a marker file exists, and `500` to its first `--fail-first` requests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::io::AsyncWriteExt;

/// The stand-in's settings (`mailer webhook-sink`'s flags).
pub struct WebhookSink {
    /// Where to listen for HTTP (`--listen`, default `127.0.0.1:9099`); any path takes a POST.
    pub listen: SocketAddr,
    /// The file each received body is appended to, one line per request; `None` only prints it.
    pub out: Option<PathBuf>,
    /// How many of the first requests get `500` (`--fail-first`, default 0).
    pub fail_first: usize,
    /// While this file exists, every request gets `503`, as when Slack is down.
    pub down_while: Option<PathBuf>,
}

struct Sink {
    config: WebhookSink,
    seen: AtomicUsize,
    lock: tokio::sync::Mutex<()>,
}

impl WebhookSink {
    /// Listens on `listen` and answers webhook posts until the process ends.
    pub async fn run(self) -> anyhow::Result<()> {
        let listen = self.listen;
        let sink = Arc::new(Sink {
            config: self,
            seen: AtomicUsize::new(0),
            lock: tokio::sync::Mutex::new(()),
        });
        let app = Router::new().fallback(post(receive)).with_state(sink);
        let listener = tokio::net::TcpListener::bind(listen).await?;
        println!("webhook-sink listening on {}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    }
}

async fn receive(State(sink): State<Arc<Sink>>, body: Bytes) -> (StatusCode, &'static str) {
    let n = sink.seen.fetch_add(1, Ordering::SeqCst);
    if sink.config.down_while.as_ref().is_some_and(|p| p.exists()) {
        println!("webhook-sink: down (marker file present), answering 503");
        return (StatusCode::SERVICE_UNAVAILABLE, "down");
    }
    if n < sink.config.fail_first {
        println!(
            "webhook-sink: failing request {} of the first {}",
            n + 1,
            sink.config.fail_first
        );
        return (StatusCode::INTERNAL_SERVER_ERROR, "failing on purpose");
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let shown = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(String::from))
        .unwrap_or_else(|| text.clone());
    println!("slack: {}", shown.replace('\n', "\n       "));
    if let Some(path) = &sink.config.out {
        let _guard = sink.lock.lock().await;
        if let Ok(mut file) = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
        {
            let line = text.replace('\n', " ");
            let _ = file.write_all(format!("{line}\n").as_bytes()).await;
        }
    }
    (StatusCode::OK, "ok")
}
