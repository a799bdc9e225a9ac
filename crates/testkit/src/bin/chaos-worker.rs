//! The chaos test's worker process (`tests/chaos.rs`): consumes a chain whose payloads are JSON
//! `{"id": N}` and decides each record's fate from its id alone ([`testkit::Fate::of`]): fail
//! transiently on attempts `1..=fail_times`, fail permanently, or succeed.
//!
//! Every successful handling appends one line to the journal, shared by several processes
//! ([`testkit::journal`]).

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rebound::{Backoff, KafkaConfig, ProcessingOrder, Record, RetryPolicy, RetryingConsumer};
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
    /// Static group membership (`group.instance.id`), also the worker's name in the journal.
    #[arg(long)]
    instance_id: String,
    #[arg(long, default_value_t = 4)]
    attempts: u32,
    #[arg(long, default_value_t = 50)]
    delay_ms: u64,
    #[arg(long, default_value_t = 2.0)]
    multiplier: f64,
    #[arg(long, default_value = ".dlt")]
    dlt_suffix: String,
    #[arg(long)]
    journal: std::path::PathBuf,
    #[arg(short = 'X')]
    property: Vec<String>,
    /// `partition` (one record at a time per partition), `key` or `unordered`.
    #[arg(long, default_value = "partition")]
    order: String,
    /// Records in their handler at once in `key` and `unordered` order.
    #[arg(long, default_value_t = 32)]
    max_in_flight: usize,
}

#[derive(serde::Deserialize)]
struct Job {
    id: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,rebound=info".into()),
        )
        .init();
    let args = Args::parse();
    let kafka = KafkaConfig::new(&args.brokers)
        .property("session.timeout.ms", "10000")
        .properties_from_args(&args.property)?;
    let journal = Arc::new(Journal::open(&args.journal, &args.instance_id)?);
    let policy = RetryPolicy::new(args.attempts)
        .backoff(Backoff::exponential(
            Duration::from_millis(args.delay_ms),
            args.multiplier,
        ))
        .dlt_suffix(&args.dlt_suffix);
    let order = match args.order.as_str() {
        "partition" => ProcessingOrder::Partition,
        "key" => ProcessingOrder::Key,
        "unordered" => ProcessingOrder::Unordered,
        other => anyhow::bail!("unknown --order {other} (partition, key, unordered)"),
    };
    RetryingConsumer::builder(kafka, &args.topic, &args.group)
        .instance_id(&args.instance_id)
        .policy(policy)
        .processing_order(order)
        .max_in_flight(args.max_in_flight)
        .shutdown_grace(Duration::from_secs(2))
        .handler(move |record: Record| {
            let journal = journal.clone();
            async move {
                let job: Job = record.json()?;
                Fate::of(job.id).judge(job.id, record.attempt())?;
                journal.handled(job.id, &record)?;
                Ok(())
            }
        })
        .build()?
        .run(rebound::shutdown_signal())
        .await?;
    Ok(())
}
