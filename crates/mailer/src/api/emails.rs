//! `POST /emails` and `GET /emails/{id}`: the handlers, the body extractor, and the middleware
//! that traces and counts every answer of `POST /emails`.

use std::sync::Arc;

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use serde_json::json;

use super::problem::Problem;
use super::AppState;
use crate::message::{validate, EmailMessage, ValidRequest, ID_HEADER};
use crate::status::{State as MailState, StatusEvent};
use crate::telemetry::RequestSpan;

/// A `POST /emails` body that passed every check: within the size and time limits (the layers),
/// JSON (axum's `Json`), and a valid e-mail request ([`validate`]). Any refusal is a [`Problem`].
pub(super) struct NewEmail(ValidRequest);

impl FromRequest<Arc<AppState>> for NewEmail {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<NewEmail, Problem> {
        let Json(json) = Json::<serde_json::Value>::from_request(request, state)
            .await
            .map_err(Problem::from_json_rejection)?;
        Ok(NewEmail(validate(&json)?))
    }
}

/// Middleware around `POST /emails`: the request's span (a child of the caller's `traceparent`),
/// the `traceresponse` header and the requests counter, for every answer, the layers' refusals
/// (429, 413) included. The handler finds the span in the request's extensions.
pub(super) async fn observe(mut request: Request, next: Next) -> Response {
    let caller = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    let span = RequestSpan::start("POST /emails", caller);
    let traceparent = span.traceparent();
    request.extensions_mut().insert(span.clone());
    let mut response = next.run(request).await;
    if let Some(value) = traceparent.and_then(|t| HeaderValue::from_str(&t).ok()) {
        // W3C Trace Context level 2: the caller learns the trace its e-mail is in.
        response.headers_mut().insert("traceresponse", value);
    }
    span.end(response.status().as_u16());
    let status = response.status().as_u16().to_string();
    metrics::counter!("mailer_api_requests_total", "status" => status).increment(1);
    response
}

/// `POST /emails`: `202` once the broker has the e-mail, `503` when it did not acknowledge it.
pub(super) async fn create_email(
    State(state): State<Arc<AppState>>,
    Extension(span): Extension<RequestSpan>,
    NewEmail(request): NewEmail,
) -> Result<Response, Problem> {
    if let Some(existing) = request
        .idempotency_key
        .as_deref()
        .and_then(|k| state.status.id_for_key(k))
    {
        return Ok(accepted(&existing));
    }
    let id = new_id();
    // The id goes in a header: the JSON stays the scenario's four fields, which a Java consumer
    // with a strict ObjectMapper reads (INTEROP.md, D8).
    let message = EmailMessage {
        id: String::new(),
        from: request.from,
        to: request.to,
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
    let traceparent = span.traceparent();
    if let Some(traceparent) = &traceparent {
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
    if let Err((e, _)) = state
        .producer
        .send(record, Timeout::After(state.send_timeout))
        .await
    {
        tracing::warn!(error = %e, "could not publish an e-mail; answering 503");
        return Err(Problem::queue_unavailable());
    }
    let mut event = StatusEvent::new(&id, MailState::Queued);
    event.to = Some(message.to.clone());
    event.idempotency_key = request.idempotency_key;
    // The broker has the e-mail: the answer waits for nothing more. The `queued` event is in
    // this API's view now and in the producer's queue; its delivery is logged if it fails.
    state.publisher.publish_in_background(&event);
    state.status.apply(event);
    tracing::info!(%id, to = %message.to, subject = %message.subject, "queued");
    Ok(accepted(&id))
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

/// `GET /emails/{id}`: what happened to the e-mail so far.
pub(super) async fn email_status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Problem> {
    let event = state
        .status
        .get(&id)
        .ok_or_else(|| Problem::unknown_email(&id))?;
    Ok(Json(status_body(&event)))
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

fn new_id() -> String {
    format!(
        "{:012x}{:08x}",
        rebound::EpochMillis::now().as_i64(),
        rand::random::<u32>()
    )
}
