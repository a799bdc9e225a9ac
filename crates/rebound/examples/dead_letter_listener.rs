//! The scenario's dead-letter worker: reads `email.send.dlt` in its own group, logs each dead
//! letter with where it came from and why it died, and raises an alert. The hook is called again
//! (1 s doubling, at most a minute) until it succeeds, so a dead letter is never dropped because
//! the alerting was down; its offset is committed only then.
//!
//! ```text
//! cargo run -p rebound --example dead_letter_listener
//! ```

use rebound::headers::{FailureInfo, Provenance, RetryState};
use rebound::{KafkaConfig, Record, RetryingConsumer};

#[tokio::main]
async fn main() -> Result<(), rebound::Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    RetryingConsumer::dead_letters(KafkaConfig::from_env(), "email.send.dlt", "email-dlt-group")
        .handler(|record: Record| async move {
            let origin = Provenance::read(record.headers());
            let failure = FailureInfo::read(record.headers());
            // The attempt a next delivery would have: deliveries + 1, as Spring writes it.
            let next_attempt = RetryState::read(record.headers())
                .attempt
                .and_then(Result::ok);
            tracing::warn!(
                dead_letter = %record.coordinates(),
                origin = origin.map(|o| o.topic).unwrap_or_default(),
                error = failure.message.as_deref().unwrap_or("(no failure headers)"),
                next_attempt,
                payload = record.text().unwrap_or("(not UTF-8)"),
                "dead letter: alerting on-call"
            );
            // A real worker posts to Slack here; returning an error retries this hook.
            Ok(())
        })
        .build()?
        .run(rebound::shutdown_signal())
        .await
}
