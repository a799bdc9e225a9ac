//! Deciding which failures are worth retrying: a handler may say so itself
//! (`Failure::permanent`), or return any error with `?` and let a [`Classifier`] decide by error
//! type, the way Spring's `DefaultErrorHandler` treats its "not retryable" exceptions.
//!
//! ```text
//! cargo run -p rebound --example classify_errors
//! ```

use std::time::Duration;

use rebound::{Backoff, Classifier, Failure, KafkaConfig, Record, RetryPolicy, RetryingConsumer};

/// An SMTP 5xx answer: the mailbox does not exist, retrying cannot help.
#[derive(Debug, thiserror::Error)]
#[error("550 mailbox {0} unavailable")]
struct MailboxUnavailable(String);

/// An SMTP 4xx answer: try later.
#[derive(Debug, thiserror::Error)]
#[error("451 mailbox {0} busy")]
struct MailboxBusy(String);

async fn send(to: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    match to {
        "nobody@naver.com" => Err(MailboxUnavailable(to.into()).into()),
        "busy@naver.com" => Err(MailboxBusy(to.into()).into()),
        _ => Ok(()),
    }
}

#[tokio::main]
async fn main() -> Result<(), rebound::Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let classifier = Classifier::new().permanent_on::<MailboxUnavailable>();
    RetryingConsumer::builder(KafkaConfig::from_env(), "email.send", "email-send-group")
        .policy(
            RetryPolicy::new(5)
                .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
                .dlt_suffix(".dlt"),
        )
        .classifier(classifier)
        .handler(|record: Record| async move {
            let to = record.key_text().unwrap_or_default();
            if to.is_empty() {
                // Said explicitly: a message without a recipient can never be sent.
                return Err(Failure::permanent("the record has no recipient key"));
            }
            // Any error converts with `?`; the classifier sends MailboxUnavailable straight to
            // the DLT and retries everything else (MailboxBusy included).
            send(&to).await.map_err(Failure::unclassified)?;
            Ok(())
        })
        .build()?
        .run(rebound::shutdown_signal())
        .await
}
