//! Test support for Rebound's integration tests and benchmarks, all against a real broker
//! (`KAFKA_BROKERS`, default `127.0.0.1:9092`; `cargo xtask broker start` starts one). Without a
//! broker there, a test fails at once with one line saying so ([`kafka`]).
//!
//! The one home of what the tests (and the benchmark) need around the code under test: which
//! broker ([`broker`]), unique names ([`names`]), topic creation that waits for leaders
//! ([`topics`]), producing ([`mod@produce`]), reading ([`read`]), consumer groups: their
//! offsets, live members and assignment as the broker sees it ([`group`]), waiting on a
//! condition and saying what was seen when it times out ([`wait`]), services run as processes
//! ([`process`]), a network path to cut and heal ([`proxy`]), a consumer running until stopped
//! ([`running`]), the calls a handler got ([`recorder`]), redriving or discarding dead letters
//! and what a redriven copy may not carry ([`operator`]), the test workers' rules and journal
//! ([`fate`], [`journal`]; the workers are this crate's binaries) and the audit of their runs
//! ([`audit`]). With the `browser` feature, a real headless Chromium for the web console's
//! end-to-end tests (`browser`).
//!
//! Every test names its own topics and groups with [`unique`], so tests run in parallel on one
//! broker without seeing each other's records. The free functions below are shorthands on the
//! shared broker; a test with a [`PrivateBroker`] uses a [`Cluster`] of it instead.

pub mod audit;
pub mod broker;
#[cfg(feature = "browser")]
pub mod browser;
pub mod fate;
pub mod group;
pub mod journal;
pub mod names;
pub mod operator;
pub mod process;
pub mod produce;
pub mod proxy;
pub mod read;
pub mod recorder;
pub mod running;
pub mod spring_build;
pub mod topics;
pub mod wait;
pub mod zipkin;

pub use broker::{kafka, Cluster, PrivateBroker};
pub use fate::Fate;
pub use names::unique;
pub use operator::{assert_no_header_prefixed, discard_selected, redrive_all, redrive_selected};
pub use produce::{deliver, produce, produce_at};
pub use proxy::Proxy;
pub use read::text;
pub use recorder::{Call, Recorder};
pub use running::RunningConsumer;
pub use spring_build::SpringBuild;
pub use wait::{wait_for, wait_until};

use rdkafka::producer::FutureProducer;
use rebound::Record;

/// Installs a tracing subscriber once (tests' output shows the runtime's log lines).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rdkafka=warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Creates `name` without topic-level settings, and waits until it can be used.
pub async fn create_topic(name: &str, partitions: i32) {
    Cluster::default().create_topic(name, partitions).await
}

/// Creates `name` with topic-level settings (e.g. `max.message.bytes`).
pub async fn create_topic_with(name: &str, partitions: i32, config: &[(&str, &str)]) {
    Cluster::default()
        .create_topic_with(name, partitions, config)
        .await
}

/// Partitions of `topic` once every one has a leader; `None` before (or when it does not exist).
pub fn partition_count(topic: &str) -> Option<usize> {
    Cluster::default().partition_count(topic)
}

/// An idempotent producer with `acks=all` and a short linger, on the shared broker.
pub fn producer() -> FutureProducer {
    Cluster::default().producer()
}

/// Every record now in `topic`, read from the beginning up to the high watermark.
pub fn read_all(topic: &str) -> Vec<Record> {
    Cluster::default().read_all(topic)
}

/// Number of records in `topic` (sum of watermark spans).
pub fn count(topic: &str) -> i64 {
    Cluster::default().count(topic)
}

/// A test's size from the environment variable `name` (a whole number), `default` when it is
/// unset or not a number: the heavy tests (chaos, network fault) read theirs so.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}
