//! `mailer api`: the producer service.
//!
//! `POST /emails` validates before anything enters Kafka and answers `202 Accepted` only after the
//! broker acknowledged the message (`acks=all`); if Kafka is down or slow it answers `503` with
//! `Retry-After`, never a false `202`. `GET /emails/{id}` tells what really happened.
//!
//! The request checks are axum's and tower-http's, stacked on the route in the order they run:
//! the trace and the requests counter (`emails.rs`, `observe`), the per-client rate limit
//! ([`limit`], 429 before the body is read), tower-http's `RequestBodyLimitLayer` (413), the
//! whole body within its deadline (`body.rs`, 408 for a slow body), then axum's `Json` extractor (415,
//! 400) and [`crate::message::validate`] (422). Every refusal is one [`problem::Problem`], an
//! RFC 9457 `application/problem+json` document.

mod body;
mod emails;
pub mod limit;
pub mod problem;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use rdkafka::producer::FutureProducer;
use rebound::{KafkaConfig, RELIABLE_PRODUCER};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::map_request_body::MapRequestBodyLayer;

pub use limit::RateLimiter;
pub use problem::Problem;

use crate::message::MAX_BODY_BYTES;
use crate::metrics::Metrics;
use crate::status::{StatusPublisher, StatusStore};

/// The largest request body accepted: the body limit plus room for the other fields.
pub const MAX_REQUEST_BYTES: usize = MAX_BODY_BYTES + 16 * 1024;

/// What the handlers share; [`run`] builds it from the settings, a test builds its own.
pub struct AppState {
    /// Publishes e-mails; with `acks=all`, a 202 means the broker has the e-mail.
    pub producer: FutureProducer,
    /// The topic e-mails are published to.
    pub topic: String,
    /// What happened to each e-mail, for `GET /emails/{id}` and idempotency keys.
    pub status: Arc<StatusStore>,
    /// Publishes the `queued` event of each accepted e-mail.
    pub publisher: StatusPublisher,
    /// Requests by HTTP status, for `GET /metrics`.
    pub metrics: Arc<Metrics>,
    /// How long to wait for the broker's acknowledgement before answering 503.
    pub send_timeout: Duration,
    /// How long the whole request body may take to arrive before the answer is 408.
    pub body_timeout: Duration,
    /// Requests per second per client address, when limited.
    pub limiter: Option<RateLimiter>,
}

/// The API's routes: `POST /emails`, `GET /emails/{id}`, `GET /healthz` and `GET /metrics`.
pub fn router(state: Arc<AppState>) -> Router {
    // Outermost first. The timeout is the whole body's, not the request's: a whole-request
    // timeout would also cut the broker's acknowledgement short, which must end in a 202 or a
    // 503, never a 408 for an e-mail Kafka may already have; and not only between the body's
    // parts (tower-http's `RequestBodyTimeoutLayer`), which a client sending a byte every few
    // seconds never trips.
    let checks = ServiceBuilder::new()
        .layer(middleware::from_fn(emails::observe))
        .layer(middleware::map_response(Problem::from_layers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit::per_client,
        ))
        // One limit, tower-http's: axum's own 2 MB default would only be a second, looser one.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(MAX_REQUEST_BYTES))
        // The limited body as axum's own again, for the middleware after it.
        .layer(MapRequestBodyLayer::new(axum::body::Body::new))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            body::whole_within,
        ));
    Router::new()
        .route("/emails", post(emails::create_email).layer(checks))
        .route("/emails/{id}", get(emails::email_status))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> String {
    state.metrics.render()
}

/// Runs the API until shutdown.
pub async fn run(
    kafka: KafkaConfig,
    topic: String,
    status_topic: String,
    listen: SocketAddr,
    send_timeout: Duration,
    rate_limit: Option<f64>,
) -> anyhow::Result<()> {
    // Listen first: the API answers (503 if need be) even while Kafka is slow or down.
    let listener = tokio::net::TcpListener::bind(listen).await?;
    {
        let (kafka, topics) = (kafka.clone(), [topic.clone(), status_topic.clone()]);
        tokio::spawn(async move {
            for (name, partitions) in [(&topics[0], 1), (&topics[1], 3)] {
                if let Err(e) = rebound::admin::create_topics(&kafka, &[name], partitions, -1).await
                {
                    tracing::warn!(topic = %name, error = %e, "could not create the topic now");
                }
            }
        });
    }
    // Rebound's reliable settings, but a shorter linger (a person waits for the answer) and the
    // API's own send timeout: it answers 503 when Kafka has not acknowledged by then.
    let send_timeout_ms = send_timeout.as_millis().to_string();
    let producer: FutureProducer = kafka
        .client_config(
            &[
                RELIABLE_PRODUCER,
                &[
                    ("linger.ms", "2"),
                    ("message.timeout.ms", send_timeout_ms.as_str()),
                ],
            ]
            .concat(),
        )
        .create()?;
    let status = Arc::new(StatusStore::default());
    // The `queued` events go through the e-mails' producer: a second one brought its own
    // librdkafka threads and connection for nothing (the rate is the same either way, BENCHMARKS
    // 7b). They fail after the send timeout, as the e-mails do, and are logged.
    let publisher = StatusPublisher::sharing(producer.clone(), &status_topic);
    let stop = Arc::new(AtomicBool::new(false));
    status.follow(kafka.clone(), status_topic, stop.clone());
    let metrics = Arc::new(Metrics::default());
    metrics::describe_counter!(
        "mailer_api_requests_total",
        "POST /emails answers by HTTP status.",
    );
    let state = Arc::new(AppState {
        producer,
        topic,
        status,
        publisher: publisher.clone(),
        metrics,
        send_timeout,
        body_timeout: Duration::from_secs(10),
        limiter: rate_limit.map(|rate| RateLimiter::new(rate, rate * 2.0)),
    });
    tracing::info!(%listen, "api listening");
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(rebound::shutdown_signal())
    .await?;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    // The `queued` events of the last requests may still be in the producer's queue: deliver
    // them before the producer is dropped (which discards what it still holds).
    let flushed =
        tokio::task::spawn_blocking(move || publisher.flush(Duration::from_secs(10))).await?;
    if let Err(e) = flushed {
        tracing::warn!(error = %e, "status events still queued at shutdown were not delivered");
    }
    Ok(())
}
