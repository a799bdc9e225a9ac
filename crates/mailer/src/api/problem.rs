//! Every refusal of the API as one RFC 9457 `application/problem+json` document.
//!
//! The checks themselves are axum's and tower-http's: the `Json` extractor (content type, JSON
//! syntax), `RequestBodyLimitLayer` (size) and the whole-body deadline (`body.rs`). What
//! they refuse with, and the API's own refusals (validation, rate limit, Kafka down, unknown id),
//! become a [`Problem`] here and nowhere else, so every 4xx and 5xx has the same shape.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::MAX_REQUEST_BYTES;
use crate::message::FieldError;

/// An RFC 9457 problem: status, title, detail, the fields at fault, and how long to wait before
/// trying again when that is known.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<&'static str>,
}

impl Problem {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 413: the body is over [`MAX_REQUEST_BYTES`] (declared or sent).
    pub fn too_large() -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            format!("the request is larger than {MAX_REQUEST_BYTES} bytes"),
        )
    }

    /// 408: the whole body did not arrive within `wait` (slow loris).
    pub fn too_slow(wait: Duration) -> Problem {
        Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "Request body too slow",
            format!(
                "the whole body did not arrive within {}",
                humantime::format_duration(wait)
            ),
        )
    }

    /// 400: the body could not be read (the connection broke while it came).
    pub fn unreadable(error: &(dyn std::error::Error + 'static)) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "Unreadable request", cause(error))
    }

    /// 429 with `Retry-After: 1`: `client` made more than `rate` requests per second.
    pub fn too_many(rate: f64, client: std::net::IpAddr) -> Problem {
        Problem {
            retry_after: Some("1"),
            ..Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                format!("more than {rate} requests per second from {client}; slow down"),
            )
        }
    }

    /// 503 with `Retry-After: 5`: Kafka did not acknowledge the e-mail, so nothing was sent.
    pub fn queue_unavailable() -> Problem {
        Problem {
            retry_after: Some("5"),
            ..Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Queue unavailable",
                "the e-mail could not be queued (Kafka did not acknowledge it); nothing was sent, try again",
            )
        }
    }

    /// 404: no e-mail has id `id` (yet).
    pub fn unknown_email(id: &str) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "Unknown e-mail",
            format!("no e-mail with id {id}"),
        )
    }

    /// What the `Json` extractor refused.
    pub fn from_json_rejection(rejection: JsonRejection) -> Problem {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                "send the request as Content-Type: application/json",
            ),
            JsonRejection::JsonSyntaxError(e) => Problem::new(
                StatusCode::BAD_REQUEST,
                "Malformed JSON",
                format!("the body is not valid JSON: {}", cause(&e)),
            ),
            // A body over the limit never gets here: `body::whole_within` read it first and
            // answered 413.
            // `Json<Value>` takes any JSON, so a data error cannot happen today; a typed body would
            // make it a field error.
            JsonRejection::JsonDataError(e) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid e-mail request",
                cause(&e),
            ),
            other => Problem::new(
                StatusCode::BAD_REQUEST,
                "Unreadable request",
                other.body_text(),
            ),
        }
    }

    /// The bare answers of the layers, which carry no problem document (tower-http's limit layer
    /// answers a declared `Content-Length` over the limit with `413` and plain text), become one;
    /// any other response passes unchanged. For `axum::middleware::map_response`.
    pub async fn from_layers(response: Response) -> Response {
        let is_problem = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
        if !is_problem && response.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Problem::too_large().into_response();
        }
        response
    }
}

/// The content type of every problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// 422 naming every bad field, in the order [`crate::message::validate`] found them.
impl From<Vec<FieldError>> for Problem {
    fn from(errors: Vec<FieldError>) -> Problem {
        let detail = errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.reason))
            .collect::<Vec<_>>()
            .join("; ");
        Problem {
            errors,
            ..Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid e-mail request",
                detail,
            )
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
        }
        response
    }
}

/// The innermost error's text (serde's `expected value at line 1 column 8`), without axum's
/// prefix.
fn cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(source) = inner.source() {
        inner = source;
    }
    inner.to_string()
}
