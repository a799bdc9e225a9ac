//! Scenario 7: `POST /emails` of the mailer API under load from this process (a minimal HTTP/1.1
//! keep-alive client, so no extra dependency), compared with the same number of bare producer
//! sends from Rust with the API's producer settings.
//!
//! Skipped, with a message, when the `mailer` binary is not there.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rebound::RELIABLE_PRODUCER;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::kit;
use crate::report::{quantile, thousands, Table};
use crate::Ctx;

const OPEN_LOOP_RATE: f64 = 1000.0;
const CONNECTIONS: usize = 32;

pub fn mailer_binary(ctx: &Ctx) -> Option<PathBuf> {
    if let Some(path) = &ctx.mailer_bin {
        return Some(path.clone());
    }
    let beside = std::env::current_exe().ok()?.parent()?.join("mailer");
    beside.exists().then_some(beside)
}

fn body(i: u64) -> String {
    format!(
        r#"{{"from":"bench@example.com","to":"user{i}@example.com","subject":"Benchmark {i}","body":"Hello from rebound-bench, message {i}."}}"#
    )
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    async fn open(port: u16) -> Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        Ok(Conn {
            reader: BufReader::new(r),
            writer: w,
        })
    }

    /// Sends a request and returns the response's status code.
    async fn request(&mut self, method: &str, path: &str, body: &str) -> Result<u16> {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.reader.read_line(&mut line).await? == 0 {
                bail!("connection closed in the headers");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse()?;
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    bail!("chunked responses are not supported by this client");
                }
            }
        }
        let mut rest = vec![0u8; length];
        self.reader.read_exact(&mut rest).await?;
        Ok(status)
    }
}

struct Api {
    child: Child,
    port: u16,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_api(ctx: &Ctx, bin: &PathBuf, topic: &str, status: &str) -> Result<Api> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut cmd = Command::new(bin);
    cmd.arg("api")
        .arg("--brokers")
        .arg(ctx.kafka.brokers())
        .args(["--topic", topic, "--status-topic", status])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        // All the load comes from one address: the per-client limit (100/s by default) would
        // measure the limiter, not the API. 0 turns it off.
        .arg("--rate-limit")
        .arg("0");
    for p in &ctx.properties {
        cmd.arg("-X").arg(p);
    }
    cmd.env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd
        .spawn()
        .with_context(|| format!("could not start {}", bin.display()))?;
    let mut api = Api { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = api.child.try_wait()? {
            bail!("mailer api exited ({status})");
        }
        if let Ok(mut conn) = Conn::open(port).await {
            if conn.request("GET", "/healthz", "").await.ok() == Some(200) {
                return Ok(api);
            }
        }
        if Instant::now() > deadline {
            bail!("mailer api did not answer /healthz within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Latencies (ms) and errors of an open-loop run: request `i` is due at `start + i / rate`, and
/// its latency counts from then (so queueing behind slow requests is not hidden).
#[derive(Default)]
struct Outcome {
    latencies: Vec<f64>,
    errors: usize,
    done: usize,
    secs: f64,
}

impl Outcome {
    fn summary(&mut self) -> (f64, f64) {
        self.latencies.sort_by(f64::total_cmp);
        (
            quantile(&self.latencies, 0.5),
            quantile(&self.latencies, 0.99),
        )
    }
}

/// Open loop over HTTP: `CONNECTIONS` keep-alive connections take due requests from a queue.
async fn http_open_loop(port: u16, rate: f64, secs: u64) -> Result<Outcome> {
    let total = (rate * secs as f64) as u64;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut conn = Conn::open(port).await?;
        let (rx, outcome) = (rx.clone(), outcome.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some((i, due)) = next else { break };
                let status = conn.request("POST", "/emails", &body(i)).await;
                let latency = due.elapsed().as_secs_f64() * 1000.0;
                let mut o = outcome.lock().expect("outcome");
                match status {
                    Ok(202) => o.latencies.push(latency),
                    Ok(_) => o.errors += 1,
                    Err(_) => {
                        o.errors += 1;
                        break;
                    }
                }
            }
        }));
    }
    let start = Instant::now();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        tx.send((i, due))?;
    }
    drop(tx);
    for w in workers {
        w.await?;
    }
    let mut o = std::mem::take(&mut *outcome.lock().expect("outcome"));
    o.secs = start.elapsed().as_secs_f64();
    o.done = o.latencies.len();
    Ok(o)
}

/// Closed loop over HTTP: `CONNECTIONS` connections send back to back for `secs`.
async fn http_closed_loop(port: u16, secs: u64) -> Result<Outcome> {
    let stop = Instant::now() + Duration::from_secs(secs);
    let mut workers = Vec::new();
    let start = Instant::now();
    for c in 0..CONNECTIONS as u64 {
        let mut conn = Conn::open(port).await?;
        workers.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut i) = (0usize, 0usize, c * 10_000_000);
            while Instant::now() < stop {
                i += 1;
                match conn.request("POST", "/emails", &body(i)).await {
                    Ok(202) => ok += 1,
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (ok, errors)
        }));
    }
    let mut o = Outcome::default();
    for w in workers {
        let (ok, errors) = w.await?;
        o.done += ok;
        o.errors += errors;
    }
    o.secs = start.elapsed().as_secs_f64();
    Ok(o)
}

/// The API's producer settings (see `mailer::api::run`).
fn api_producer(ctx: &Ctx) -> Result<FutureProducer> {
    Ok(ctx
        .kafka
        .client_config(
            &[
                RELIABLE_PRODUCER,
                &[("linger.ms", "2"), ("message.timeout.ms", "5000")],
            ]
            .concat(),
        )
        .create()?)
}

async fn send_one(producer: &FutureProducer, topic: &str, i: u64) -> bool {
    let key = format!("user{i}@example.com");
    let payload = body(i);
    producer
        .send(
            FutureRecord::to(topic).key(&key).payload(&payload),
            Timeout::After(Duration::from_secs(5)),
        )
        .await
        .is_ok()
}

async fn producer_open_loop(
    producer: &Arc<FutureProducer>,
    topic: &str,
    rate: f64,
    secs: u64,
) -> Result<Outcome> {
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let total = (rate * secs as f64) as u64;
    let start = Instant::now();
    let mut sends = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (producer, outcome, topic) = (producer.clone(), outcome.clone(), topic.to_string());
        sends.push(tokio::spawn(async move {
            let ok = send_one(&producer, &topic, i).await;
            let latency = due.elapsed().as_secs_f64() * 1000.0;
            let mut o = outcome.lock().expect("outcome");
            if ok {
                o.latencies.push(latency);
            } else {
                o.errors += 1;
            }
        }));
    }
    for s in sends {
        s.await?;
    }
    let mut o = std::mem::take(&mut *outcome.lock().expect("outcome"));
    o.secs = start.elapsed().as_secs_f64();
    o.done = o.latencies.len();
    Ok(o)
}

async fn producer_closed_loop(
    producer: &Arc<FutureProducer>,
    topic: &str,
    secs: u64,
) -> Result<Outcome> {
    let stop = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut workers = Vec::new();
    for c in 0..CONNECTIONS as u64 {
        let (producer, topic) = (producer.clone(), topic.to_string());
        workers.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut i) = (0usize, 0usize, c * 10_000_000);
            while Instant::now() < stop {
                i += 1;
                if send_one(&producer, &topic, i).await {
                    ok += 1;
                } else {
                    errors += 1;
                }
            }
            (ok, errors)
        }));
    }
    let mut o = Outcome::default();
    for w in workers {
        let (ok, errors) = w.await?;
        o.done += ok;
        o.errors += errors;
    }
    o.secs = start.elapsed().as_secs_f64();
    Ok(o)
}

pub async fn api(ctx: &Ctx) -> Result<()> {
    let Some(bin) = mailer_binary(ctx) else {
        println!(
            "**skipped**: the mailer API binary was not found beside this binary. Build it with \
             `cargo build --release --locked -p mailer` (or pass `--mailer-bin <path>`) and run \
             `cargo xtask bench --scenario api`.\n"
        );
        ctx.target(
            "7. API",
            "report req/s and p50/p99 at 1k req/s",
            "skipped (no mailer binary)".into(),
            None,
        );
        return Ok(());
    };
    let topic = kit::unique("api");
    let status = format!("{topic}.status");
    let bare = kit::unique("api-bare");
    kit::create_topics(&ctx.kafka, &[&topic, &bare], ctx.partitions).await?;
    let secs = if ctx.quick { 3 } else { ctx.api_seconds };
    let server = start_api(ctx, &bin, &topic, &status).await?;
    // Warm-up of both sides: connections, metadata, producer ids.
    let _ = http_open_loop(server.port, 200.0, 1).await?;
    let producer = Arc::new(api_producer(ctx)?);
    let _ = producer_open_loop(&producer, &bare, 200.0, 1).await?;

    let mut table = Table::new(&[
        "contender",
        "max req/s (32 in flight)",
        "p50 ms at 1k/s",
        "p99 ms at 1k/s",
        "errors",
    ]);
    for run in 1..=ctx.repeat {
        let mut open = http_open_loop(server.port, OPEN_LOOP_RATE, secs).await?;
        let closed = http_closed_loop(server.port, secs).await?;
        let (p50, p99) = open.summary();
        table.row(vec![
            format!("`POST /emails` (mailer api), run {run}"),
            thousands(closed.done as f64 / closed.secs),
            format!("{p50:.1}"),
            format!("{p99:.1}"),
            format!("{} + {}", open.errors, closed.errors),
        ]);
        eprintln!(
            "  run {run}: api {:.0} req/s, p50 {p50:.1} ms, p99 {p99:.1} ms at 1k/s",
            closed.done as f64 / closed.secs
        );
        let mut open = producer_open_loop(&producer, &bare, OPEN_LOOP_RATE, secs).await?;
        let closed = producer_closed_loop(&producer, &bare, secs).await?;
        let (p50, p99) = open.summary();
        table.row(vec![
            format!("bare FutureProducer sends (API's settings), run {run}"),
            thousands(closed.done as f64 / closed.secs),
            format!("{p50:.1}"),
            format!("{p99:.1}"),
            format!("{} + {}", open.errors, closed.errors),
        ]);
        eprintln!(
            "  run {run}: producer {:.0} sends/s, p50 {p50:.1} ms, p99 {p99:.1} ms at 1k/s",
            closed.done as f64 / closed.secs
        );
    }
    drop(server);
    println!(
        "The mailer API on loopback, loaded from this process over {CONNECTIONS} keep-alive \
         connections: an open loop at {OPEN_LOOP_RATE} req/s for {secs} s (latency from each \
         request's due time to its 202), then a closed loop ({CONNECTIONS} in flight) for {secs} s. \
         The same against bare producer sends with the API's settings (idempotent, acks=all, \
         linger 2 ms).\n"
    );
    table.print();
    ctx.target(
        "7. API",
        "report req/s and p50/p99 at 1k req/s",
        "see the table".into(),
        None,
    );
    ctx.cleanup(&[topic, status, bare]).await;
    Ok(())
}
