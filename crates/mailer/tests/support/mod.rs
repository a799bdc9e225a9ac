//! The API in process, as the API's tests build it: a producer that gives up after 2 s (and
//! carries the status events too, as the API's does), a status
//! store of its own, `body_timeout` for a request's body and `rate` requests per second (bursts
//! as large) per client.

use std::sync::Arc;
use std::time::Duration;

use mailer::api::{router, AppState, RateLimiter};
use mailer::metrics::Metrics;
use mailer::status::{StatusPublisher, StatusStore};
use rebound::{KafkaConfig, RELIABLE_PRODUCER};

pub(crate) fn app(
    kafka: KafkaConfig,
    topic: &str,
    body_timeout: Duration,
    rate: f64,
) -> axum::Router {
    let producer: rdkafka::producer::FutureProducer = kafka
        .client_config(&[RELIABLE_PRODUCER, &[("message.timeout.ms", "2000")]].concat())
        .create()
        .unwrap();
    // As the API runs: its status events through the e-mails' producer.
    let publisher = StatusPublisher::sharing(producer.clone(), &format!("{topic}.status"));
    router(Arc::new(AppState {
        producer,
        topic: topic.into(),
        status: Arc::new(StatusStore::default()),
        publisher,
        metrics: Arc::new(Metrics::default()),
        send_timeout: Duration::from_secs(2),
        body_timeout,
        limiter: Some(RateLimiter::new(rate, rate)),
    }))
}
