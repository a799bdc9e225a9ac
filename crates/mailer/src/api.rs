//! `mailer api`: the producer service.
//!
//! `POST /emails` validates before anything enters Kafka and answers `202 Accepted` only after the
//! broker acknowledged the message (`acks=all`); if Kafka is down or slow it answers `503` with
//! `Retry-After`, never a false `202`. `GET /emails/{id}` tells what really happened.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rebound::{KafkaConfig, RELIABLE_PRODUCER};
use serde_json::json;

use crate::message::{validate, EmailMessage, FieldError, ID_HEADER, MAX_BODY_BYTES};
use crate::metrics::Metrics;
use crate::status::{State as MailState, StatusEvent, StatusPublisher, StatusStore};
use crate::telemetry::RequestSpan;

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
    /// How long a client may take to send its request body.
    pub body_timeout: Duration,
    /// Requests per second per client address, when limited.
    pub limiter: Option<RateLimiter>,
}

/// A token bucket per client address: `rate` requests per second, bursts up to `burst`.
pub struct RateLimiter {
    /// Tokens a client gets back per second: its sustained requests per second.
    pub rate: f64,
    /// The most tokens a client holds: the requests it may make at once after a quiet spell.
    pub burst: f64,
    buckets:
        std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (f64, std::time::Instant)>>,
}

impl RateLimiter {
    /// A limiter with no clients yet; each starts with a full bucket.
    pub fn new(rate: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            rate,
            burst,
            buckets: Default::default(),
        }
    }

    /// Whether `client` may make a request now; if so, it spends one token.
    pub fn allow(&self, client: std::net::IpAddr) -> bool {
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().expect("lock");
        // Forget idle clients so the map cannot grow without bound.
        if buckets.len() > 10_000 {
            buckets.retain(|_, (_, seen)| now.duration_since(*seen).as_secs() < 60);
        }
        let (tokens, last) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The API's routes: `POST /emails`, `GET /emails/{id}`, `GET /healthz` and `GET /metrics`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/emails", post(create_email))
        .route("/emails/{id}", get(email_status))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// An RFC 9457 problem document.
fn problem(
    status: StatusCode,
    title: &str,
    detail: impl Into<String>,
    errors: &[FieldError],
) -> Response {
    let mut body = json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail.into(),
    });
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

async fn create_email(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let caller = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    let span = RequestSpan::start("POST /emails", caller);
    let traceparent = span.traceparent();
    let mut response = accept(&state, request, traceparent.as_deref(), &span).await;
    if let Some(value) = traceparent.and_then(|t| HeaderValue::from_str(&t).ok()) {
        // W3C Trace Context level 2: the caller learns the trace its e-mail is in.
        response.headers_mut().insert("traceresponse", value);
    }
    span.end(response.status().as_u16());
    let status = response.status().as_u16().to_string();
    metrics::counter!("mailer_api_requests_total", "status" => status).increment(1);
    response
}

async fn accept(
    state: &AppState,
    request: Request,
    traceparent: Option<&str>,
    span: &RequestSpan,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    if let (Some(limiter), Some(client)) = (&state.limiter, client) {
        if !limiter.allow(client) {
            let mut response = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                format!(
                    "more than {} requests per second from {client}; slow down",
                    limiter.rate
                ),
                &[],
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
    }
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "send the request as Content-Type: application/json",
            &[],
        );
    }
    let too_large = || {
        problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            format!("the request is larger than {MAX_REQUEST_BYTES} bytes"),
            &[],
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES) {
        return too_large();
    }
    // A client that sends its body slowly (slow loris) gets a 408 instead of holding a task.
    let body = match tokio::time::timeout(
        state.body_timeout,
        axum::body::to_bytes(body, MAX_REQUEST_BYTES),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(e)) if e.to_string().contains("length limit") => return too_large(),
        Ok(Err(e)) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Unreadable request",
                e.to_string(),
                &[],
            )
        }
        Err(_) => {
            return problem(
                StatusCode::REQUEST_TIMEOUT,
                "Request body too slow",
                format!(
                    "the body did not arrive within {} s",
                    state.body_timeout.as_secs()
                ),
                &[],
            )
        }
    };
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(json) => json,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Malformed JSON",
                format!("the body is not valid JSON: {e}"),
                &[],
            )
        }
    };
    let request = match validate(&json) {
        Ok(request) => request,
        Err(errors) => {
            let detail = errors
                .iter()
                .map(|e| format!("{} {}", e.field, e.reason))
                .collect::<Vec<_>>()
                .join("; ");
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid e-mail request",
                detail,
                &errors,
            );
        }
    };
    if let Some(existing) = request
        .idempotency_key
        .as_deref()
        .and_then(|k| state.status.id_for_key(k))
    {
        return accepted(&existing);
    }
    let id = new_id();
    // The id goes in a header: the JSON stays the scenario's four fields, which a Java consumer
    // with a strict ObjectMapper reads (INTEROP.md, D8).
    let message = EmailMessage {
        id: String::new(),
        from: request.from,
        to: request.to.clone(),
        subject: request.subject,
        body: request.body,
        cc: request.cc,
        reply_to: request.reply_to,
    };
    let payload = serde_json::to_vec(&message).expect("messages serialize");
    let mut headers = OwnedHeaders::new().insert(Header {
        key: ID_HEADER,
        value: Some(id.as_bytes()),
    });
    span.set(opentelemetry::KeyValue::new("mailer.email_id", id.clone()));
    if let Some(traceparent) = traceparent {
        // The request span is the parent of the e-mail's first attempt: one trace per e-mail.
        headers = headers.insert(Header {
            key: "traceparent",
            value: Some(traceparent.as_bytes()),
        });
    }
    let record = FutureRecord::to(&state.topic)
        .key(&message.to)
        .payload(&payload)
        .headers(headers);
    match state
        .producer
        .send(record, Timeout::After(state.send_timeout))
        .await
    {
        Ok(_) => {}
        Err((e, _)) => {
            tracing::warn!(error = %e, "could not publish an e-mail; answering 503");
            let mut response = problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Queue unavailable",
                "the e-mail could not be queued (Kafka did not acknowledge it); nothing was sent, try again",
                &[],
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return response;
        }
    }
    let mut event = StatusEvent::new(&id, MailState::Queued);
    event.to = Some(message.to.clone());
    event.idempotency_key = request.idempotency_key;
    state.status.apply(event.clone());
    state.publisher.publish(&event).await;
    tracing::info!(%id, to = %message.to, subject = %message.subject, "queued");
    accepted(&id)
}

fn accepted(id: &str) -> Response {
    let location = format!("/emails/{id}");
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "status": "queued", "location": location})),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

async fn email_status(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.status.get(&id) {
        Some(event) => Json(status_body(&event)).into_response(),
        None => problem(
            StatusCode::NOT_FOUND,
            "Unknown e-mail",
            format!("no e-mail with id {id}"),
            &[],
        ),
    }
}

fn status_body(event: &StatusEvent) -> serde_json::Value {
    let mut body = json!({"id": event.id, "status": event.state, "updated_at": event.at});
    if let Some(to) = &event.to {
        body["to"] = json!(to);
    }
    match event.state {
        MailState::Retrying => {
            body["attempt"] = json!(event.attempt.map(|a| a + 1));
            body["max_attempts"] = json!(event.max_attempts);
            body["next_attempt_at"] = json!(event.next_attempt_at);
            body["last_error"] = json!(event.reason);
        }
        MailState::Dead => body["reason"] = json!(event.reason),
        MailState::Sent => body["attempts"] = json!(event.attempt),
        MailState::Queued => {}
    }
    body
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    state.metrics.render()
}

fn new_id() -> String {
    format!(
        "{:012x}{:08x}",
        rebound::EpochMillis::now().as_i64(),
        rand::random::<u32>()
    )
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
    let publisher = StatusPublisher::without_topic_creation(&kafka, &status_topic)?;
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
        publisher,
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
    Ok(())
}
