//! # Rebound: retry topics, dead letters and redrive for Kafka consumers
//!
//! Rust has no equivalent of Spring Kafka's `@RetryableTopic`. Rebound wraps an async record
//! handler and gives it
//!
//! - in-place (blocking) retries for short faults,
//! - non-blocking retries through retry topics with growing delays (`email.send-retry-1000`, …),
//! - a dead-letter topic for records that run out of attempts or can never succeed, DLTs of their
//!   own for chosen failures ([`DltRoute`]), and Spring's DLT strategies ([`DltStrategy`]),
//! - at-least-once delivery: a source offset is committed only after the record was handled or
//!   its copy was acknowledged (`acks=all`) by the next topic.
//!
//! Topic names and headers are Spring Kafka's, byte for byte, so Rust and Java workers can share
//! one chain and Spring's tools can read Rebound's dead letters (and the other way round).
//!
//! The pipeline: a [`RetryPolicy`] → its topic names ([`naming`]) → the headers of each hop
//! ([`headers`]) → the [`RetryingConsumer`] runtime. [`ProcessingOrder`] lets a partition's records
//! run at once, in key order if need be. ARCHITECTURE.md in the repository draws the data path.
//! [`metrics`] names what the runtime counts (handled, failed, retried, dead-lettered, lag, …) for
//! a service that installs a `metrics` recorder.
//!
//! ```no_run
//! use std::time::Duration;
//! use rebound::{Backoff, Failure, KafkaConfig, Record, RetryPolicy, RetryingConsumer};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), rebound::Error> {
//!     let policy = RetryPolicy::new(5)                      // 5 deliveries in all
//!         .backoff(Backoff::exponential(Duration::from_secs(1), 2.0)) // 1 s, 2 s, 4 s, 8 s
//!         .dlt_suffix(".dlt");                              // email.send.dlt
//!     RetryingConsumer::builder(KafkaConfig::from_env(), "email.send", "email-send-group")
//!         .policy(policy)
//!         .handler(|record: Record| async move {
//!             let text = record.text()?;
//!             if text.contains("fail@naver.com") {
//!                 return Err(Failure::msg("invalid e-mail address"));
//!             }
//!             Ok(())
//!         })
//!         .build()?
//!         .run(async { tokio::signal::ctrl_c().await.ok(); })
//!         .await
//! }
//! ```

// One path per type: the modules whose types the crate root re-exports are private; `admin`,
// `headers`, `metrics` and `naming` are namespaces of their own (`rebound::naming::TopicChain`).
pub mod admin;
mod config;
mod consumer;
mod coordinates;
mod error;
mod failure;
pub mod headers;
pub mod metrics;
pub mod naming;
mod policy;
mod record;
mod time;
pub mod trace;

pub use config::{ConfigError, KafkaConfig, BROKERS_ENV, RELIABLE_PRODUCER};
pub use consumer::{
    Event, Handler, ProcessingOrder, RetryingConsumer, RetryingConsumerBuilder, Stages,
    DEFAULT_MAX_IN_FLIGHT,
};
pub use coordinates::Coordinates;
pub use error::Error;
pub use failure::{Classifier, Failure, FailureClass, Message, UnknownFailureClass};
pub use policy::{
    Backoff, BlockingRetries, DltRoute, DltStrategy, DltSuffix, RetryPolicy, TopicReuse,
    TopicSuffixing,
};
pub use record::{DecodeError, Record};
pub use time::EpochMillis;

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM: the usual `shutdown` future for
/// [`RetryingConsumer::run`] in a service.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
