//! Scenario 9: the e-mail worker against an SMTP server that answers each message after 50 ms.
//!
//! The same e-mails go to the same server (`mailer smtp-sink --answer-delay-ms 50`) twice: sent
//! by a hand-written lettre client with a pool of `C` connections and `C` sends in flight (the
//! baseline: what SMTP allows), and delivered by `mailer worker --max-in-flight C` from a topic
//! with 1 or 8 partitions. Both are timed the same way, by the server: from the first message it
//! accepted to the last.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::stream::{self, StreamExt};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailer::message::EmailMessage;
use testkit::process::{free_port, temp_dir, Process};

use crate::kit;
use crate::report::{ratio, runs, thousands, Table};
use crate::Ctx;

/// How long the server takes to accept each message.
const ANSWER_DELAY_MS: u64 = 50;
/// E-mails in flight (and SMTP connections) on both sides: the mailer's default.
const CONNECTIONS: usize = 16;
/// Recipients the e-mails are spread over (the record key).
const RECIPIENTS: u64 = 1_000;

fn email(i: u64) -> EmailMessage {
    let json = format!(
        r#"{{"from":"bench@naver.com","to":"member{}@naver.com","subject":"제목 {i}","body":"내용 {i}"}}"#,
        i % RECIPIENTS
    );
    serde_json::from_str(&json).expect("a valid e-mail")
}

/// The SMTP server, and the file it appends each accepted message to.
struct Sink {
    process: Process,
    port: u16,
    out: PathBuf,
}

impl Sink {
    async fn start(ctx: &Ctx, bin: &Path, dir: &Path) -> Result<Sink> {
        let port = free_port();
        let out = dir.join(format!("sink-{port}.jsonl"));
        let mut command = Command::new(bin);
        command.args([
            "smtp-sink",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--out",
            &out.to_string_lossy(),
            "--answer-delay-ms",
            &ANSWER_DELAY_MS.to_string(),
        ]);
        let process =
            Process::spawn_on(&ctx.kafka, &dir.join("sink.log"), "smtp-sink", &mut command);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("the SMTP sink did not listen on {port} within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Sink { process, port, out })
    }

    fn accepted(&self) -> usize {
        std::fs::read(&self.out).map_or(0, |bytes| bytes.iter().filter(|b| **b == b'\n').count())
    }

    /// Waits until `n` more messages than `before` were accepted; messages per second from the
    /// first to the last.
    async fn rate(&self, before: usize, n: usize) -> Result<f64> {
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut first = None;
        loop {
            let done = self.accepted() - before;
            if done >= 1 && first.is_none() {
                first = Some(Instant::now());
            }
            if done >= n {
                let span = first.expect("seen").elapsed().as_secs_f64();
                return Ok((n - 1) as f64 / span.max(1e-6));
            }
            if Instant::now() > deadline {
                bail!("only {done} of {n} e-mails reached the SMTP server within 300 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The baseline: lettre with a pool of `CONNECTIONS`, `CONNECTIONS` sends in flight.
async fn lettre_client(sink: &Sink, n: u64) -> Result<f64> {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.port)
        .pool_config(PoolConfig::new().max_size(CONNECTIONS as u32))
        .build();
    let transport = Arc::new(transport);
    let before = sink.accepted();
    let sends = stream::iter(0..n)
        .map(|i| {
            let transport = transport.clone();
            async move {
                let message =
                    mailer::worker::build_message(&email(i)).map_err(|e| anyhow::anyhow!("{e}"))?;
                transport.send(message).await.context("lettre send")
            }
        })
        .buffer_unordered(CONNECTIONS)
        .collect::<Vec<_>>();
    let (sent, rate) = tokio::join!(sends, sink.rate(before, n as usize));
    for result in sent {
        result?;
    }
    rate
}

/// Rebound: `mailer worker` on a topic of `partitions` partitions holding the same e-mails.
async fn mailer_worker(
    ctx: &Ctx,
    bin: &Path,
    dir: &Path,
    sink: &Sink,
    n: u64,
    partitions: i32,
) -> Result<f64> {
    let topic = kit::unique("smtp");
    kit::create_topics(&ctx.kafka, &[&topic], partitions).await?;
    kit::fill(&ctx.kafka, &topic, n, |i| {
        let email = email(i);
        kit::Spec {
            partition: (i % partitions as u64) as i32,
            key: email.to.clone(),
            payload: serde_json::to_vec(&email).expect("JSON"),
            headers: None,
        }
    })
    .await?;
    let before = sink.accepted();
    let mut command = Command::new(bin);
    command.args([
        "worker",
        "--topic",
        &topic,
        "--status-topic",
        &format!("{topic}.status"),
        "--group",
        &kit::unique("smtp-group"),
        "--smtp-port",
        &sink.port.to_string(),
        "--max-in-flight",
        &CONNECTIONS.to_string(),
    ]);
    let mut worker = Process::spawn_on(&ctx.kafka, &dir.join("worker.log"), "worker", &mut command);
    let rate = sink.rate(before, n as usize).await;
    worker.kill();
    ctx.cleanup(&[topic.clone(), format!("{topic}.status")])
        .await;
    rate
}

/// Scenario 9.
pub async fn smtp(ctx: &Ctx) -> Result<()> {
    let Some(bin) = crate::api::mailer_binary(ctx) else {
        println!(
            "**skipped**: no mailer binary beside this one (`cargo xtask bench` builds it).\n"
        );
        ctx.target(
            "9. e-mail over SMTP",
            "≥ 0.8 × lettre",
            "skipped (no mailer binary)".into(),
            None,
        );
        return Ok(());
    };
    let n: u64 = if ctx.quick { 400 } else { 2_000 };
    let dir = temp_dir("bench-smtp");
    let mut sink = Sink::start(ctx, &bin, &dir).await?;
    let mut table = Table::new(&["sender", "median e-mails/s", "runs", "mailer/lettre"]);
    let mut baseline = Vec::new();
    for _ in 0..ctx.repeat {
        baseline.push(lettre_client(&sink, n).await?);
    }
    let base = crate::report::median(&baseline);
    table.row(vec![
        format!("lettre, pool of {CONNECTIONS}, {CONNECTIONS} sends in flight"),
        thousands(base),
        runs(&baseline, thousands),
        String::new(),
    ]);
    let mut verdicts = Vec::new();
    for partitions in [1, 8] {
        let mut rates = Vec::new();
        for _ in 0..ctx.repeat {
            rates.push(mailer_worker(ctx, &bin, &dir, &sink, n, partitions).await?);
        }
        let median = crate::report::median(&rates);
        let r = median / base;
        eprintln!("  mailer worker, {partitions} partition(s): {median:.0}/s ({r:.2} of lettre)");
        table.row(vec![
            format!("mailer worker, Key order, --max-in-flight {CONNECTIONS}, {partitions} partition(s)"),
            thousands(median),
            runs(&rates, thousands),
            ratio(r),
        ]);
        verdicts.push((partitions, median, r));
    }
    sink.process.kill();
    println!(
        "{n} e-mails to {RECIPIENTS} recipients; the SMTP server answers each after {ANSWER_DELAY_MS} ms \
         (bound with {CONNECTIONS} connections: {:.0}/s). E-mails per second from the first the server \
         accepted to the last.",
        CONNECTIONS as f64 * 1000.0 / ANSWER_DELAY_MS as f64
    );
    println!();
    table.print();
    for (partitions, median, r) in verdicts {
        ctx.target(
            &format!("9. mailer over SMTP, {partitions} partition(s)"),
            "≥ 0.8 × lettre with as many connections",
            format!("{r:.2} ({median:.0} vs {base:.0} e-mails/s)"),
            Some(r >= 0.8),
        );
    }
    Ok(())
}
