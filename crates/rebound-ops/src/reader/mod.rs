//! Reading topics without joining a consumer group: partition counts, watermarks, a whole topic
//! as it is now, or a live follow.
//!
//! librdkafka's consumer calls block the calling thread (metadata requests, polls, up to seconds
//! on a slow cluster). The async functions here run them on Tokio's blocking pool, so an
//! operation awaited on a runtime never stalls its workers (a web console serving other requests,
//! the CLI's Ctrl-C handler). [`blocking`] has the same reads for callers that are threads
//! themselves.

pub mod blocking;

use rebound::{KafkaConfig, Record};

use crate::error::Error;

pub use blocking::follow;

/// Partition count of `topic`, `None` when it does not exist.
pub async fn partitions(kafka: &KafkaConfig, topic: &str) -> Result<Option<i32>, Error> {
    let (kafka, topic) = (kafka.clone(), topic.to_string());
    unblock(move || blocking::partitions(&kafka, &topic)).await
}

/// `(partition, low, high)`: the watermarks of every partition of `topic` (empty when it does not
/// exist).
pub async fn watermarks(kafka: &KafkaConfig, topic: &str) -> Result<Vec<(i32, i64, i64)>, Error> {
    let (kafka, topic) = (kafka.clone(), topic.to_string());
    unblock(move || blocking::watermarks(&kafka, &topic)).await
}

/// Every record in `topic` now, in partition then offset order. Records written while reading
/// are left for the next read.
pub async fn read_to_end(kafka: &KafkaConfig, topic: &str) -> Result<Vec<Record>, Error> {
    let (kafka, topic) = (kafka.clone(), topic.to_string());
    unblock(move || blocking::read_to_end(&kafka, &topic)).await
}

/// Runs `read` on Tokio's blocking pool. A panic there is the caller's panic; a read the runtime
/// cancelled (it is shutting down) is [`Error::Interrupted`].
pub(crate) async fn unblock<T, F>(read: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    match tokio::task::spawn_blocking(read).await {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => Err(Error::Interrupted(e.to_string())),
        },
    }
}
