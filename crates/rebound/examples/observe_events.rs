//! Counting what the runtime does, for metrics: every record handled, failed, forwarded to a
//! retry topic or dead-lettered is an [`Event`]. This example keeps counters and prints them
//! every ten seconds; a service exports them to Prometheus the same way (see the mailer).
//!
//! ```text
//! cargo run -p rebound --example observe_events
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rebound::{Event, Failure, KafkaConfig, Record, RetryingConsumer};

#[derive(Default)]
struct Counters {
    handled: AtomicU64,
    failed: AtomicU64,
    forwarded: AtomicU64,
    dead_lettered: AtomicU64,
}

#[tokio::main]
async fn main() -> Result<(), rebound::Error> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let counters = Arc::new(Counters::default());
    let seen = counters.clone();
    let consumer = RetryingConsumer::builder(KafkaConfig::from_env(), "orders", "orders-group")
        // Runs on the partition's task: keep it quick.
        .on_event(move |event| {
            let counter = match event {
                Event::Handled { .. } => &seen.handled,
                Event::Failed { .. } => &seen.failed,
                Event::Forwarded { .. } => &seen.forwarded,
                Event::DeadLettered { .. } => &seen.dead_lettered,
                _ => return,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .handler(|record: Record| async move {
            // Every tenth order fails on its first delivery and succeeds on its retry.
            if record.attempt() == 1 && record.offset() % 10 == 0 {
                return Err(Failure::msg("payment service busy"));
            }
            Ok(())
        })
        .build()?;
    let report = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            println!(
                "handled {} failed {} forwarded {} dead-lettered {}",
                counters.handled.load(Ordering::Relaxed),
                counters.failed.load(Ordering::Relaxed),
                counters.forwarded.load(Ordering::Relaxed),
                counters.dead_lettered.load(Ordering::Relaxed),
            );
        }
    });
    let result = consumer.run(rebound::shutdown_signal()).await;
    report.abort();
    result
}
