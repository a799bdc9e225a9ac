//! The scenario's e-mail consumer: `email.send` with four retries (1 s, 2 s, 4 s, 8 s) and the
//! dead-letter topic `email.send.dlt`, the same topic names and headers Spring Kafka's
//! `@RetryableTopic(attempts = "5", backoff = @Backoff(delay = 1000, multiplier = 2.0),
//! dltTopicSuffix = ".dlt")` gives.
//!
//! ```text
//! cargo xtask broker start
//! cargo run -p rebound --example retrying_consumer
//! # in another terminal: a message that fails every time, then one that succeeds
//! echo '{"from":"a@naver.com","to":"fail@naver.com","subject":"제목","body":"내용"}' | kcat -P -b 127.0.0.1:9092 -t email.send
//! ```

use std::time::Duration;

use rebound::{Backoff, Failure, KafkaConfig, Record, RetryPolicy, RetryingConsumer};

/// The scenario's message, as its Java producer writes it.
#[derive(Debug, serde::Deserialize)]
struct EmailMessage {
    to: String,
    subject: String,
}

#[tokio::main]
async fn main() -> Result<(), rebound::Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let policy = RetryPolicy::new(5) // five deliveries in all: the first and four retries
        .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
        .dlt_suffix(".dlt");
    RetryingConsumer::builder(KafkaConfig::from_env(), "email.send", "email-send-group")
        .policy(policy)
        .handler(|record: Record| async move {
            // A payload that is not the expected JSON is undecodable: straight to the DLT.
            let email: EmailMessage = record.json()?;
            if email.to == "fail@naver.com" {
                // Transient: retried through the retry topics, then dead-lettered.
                return Err(Failure::msg("잘못된 이메일 주소로 인해 발송 실패"));
            }
            tracing::info!(to = %email.to, subject = %email.subject, attempt = record.attempt(), "sent");
            Ok(())
        })
        .build()?
        .run(rebound::shutdown_signal())
        .await
}
