//! A worker process for tests that kill workers: consumes a chain with a rule-driven handler and
//! appends one line per successfully handled record to a journal file.
//!
//! Payloads are JSON `{"id": N, "fail_times": K, "permanent": bool}`: the handler fails
//! transiently on attempts 1..=K, permanently when `permanent`, and succeeds otherwise.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rebound::{Backoff, KafkaConfig, Record, RetryPolicy, RetryingConsumer};
use testkit::journal::Journal;
use testkit::Fate;

#[derive(Parser)]
struct Args {
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    group: String,
    /// The worker's name in the journal.
    #[arg(long)]
    name: String,
    /// Static group membership (`group.instance.id`); without it the worker joins dynamically
    /// and leaves the group on SIGTERM.
    #[arg(long)]
    instance_id: Option<String>,
    #[arg(long, default_value_t = 4)]
    attempts: u32,
    #[arg(long, default_value_t = 200)]
    delay_ms: u64,
    #[arg(long, default_value_t = 2.0)]
    multiplier: f64,
    /// Time each successful handling takes.
    #[arg(long, default_value_t = 0)]
    work_ms: u64,
    #[arg(long)]
    journal: std::path::PathBuf,
    #[arg(short = 'X')]
    property: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Job {
    id: u64,
    #[serde(default)]
    fail_times: u32,
    #[serde(default)]
    permanent: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let kafka = KafkaConfig::new(&args.brokers)
        .property("session.timeout.ms", "10000")
        .properties_from_args(&args.property)?;
    let journal = Arc::new(Journal::open(&args.journal, &args.name)?);
    let work = Duration::from_millis(args.work_ms);
    let policy = RetryPolicy::new(args.attempts)
        .backoff(Backoff::exponential(
            Duration::from_millis(args.delay_ms),
            args.multiplier,
        ))
        .dlt_suffix(".dlt");
    let mut builder = RetryingConsumer::builder(kafka, &args.topic, &args.group);
    if let Some(id) = &args.instance_id {
        builder = builder.instance_id(id);
    }
    builder
        .policy(policy)
        .shutdown_grace(Duration::from_secs(2))
        .handler(move |record: Record| {
            let journal = journal.clone();
            async move {
                let job: Job = record.json()?;
                let fate = Fate {
                    fail_times: job.fail_times,
                    permanent: job.permanent,
                };
                fate.judge(job.id, record.attempt())?;
                tokio::time::sleep(work).await;
                journal.handled(job.id, &record)?;
                Ok(())
            }
        })
        .build()?
        .run(rebound::shutdown_signal())
        .await?;
    Ok(())
}
