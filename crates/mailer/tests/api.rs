//! The producer API in process: the validation table (bad requests never reach Kafka) and the
//! answer when Kafka is down (503, never 202).

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use futures::StreamExt;
use mailer::api::MAX_REQUEST_BYTES;
use rebound::KafkaConfig;
use tower::ServiceExt;

mod support;

fn app(kafka: KafkaConfig, topic: &str) -> axum::Router {
    support::app(kafka, topic, Duration::from_millis(500), 5.0)
}

async fn post(
    app: &axum::Router,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let mut request = Request::post("/emails");
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    let response = app
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap_or_default(),
    )
}

/// Name, content type, body, expected status, the field the problem must name.
type Case<B> = (
    &'static str,
    Option<&'static str>,
    B,
    StatusCode,
    Option<&'static str>,
);

fn valid() -> serde_json::Value {
    serde_json::json!({"from":"sender@naver.com","to":"member@naver.com","subject":"제목","body":"내용"})
}

fn with(field: &str, value: serde_json::Value) -> String {
    let mut v = valid();
    v[field] = value;
    v.to_string()
}

fn without(field: &str) -> String {
    let mut v = valid();
    v.as_object_mut().unwrap().remove(field);
    v.to_string()
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_field_and_the_reason() {
    let topic = testkit::unique("validation");
    // Nothing may reach Kafka: the topic is never created, and a broker-less address would do.
    let app = app(testkit::kafka(), &topic);
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let json = Some("application/json");
    let cases: Vec<Case<String>> = vec![
        (
            "missing to",
            json,
            without("to"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("to"),
        ),
        (
            "missing from",
            json,
            without("from"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("from"),
        ),
        (
            "missing subject",
            json,
            without("subject"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("subject"),
        ),
        (
            "missing body",
            json,
            without("body"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("body"),
        ),
        (
            "to not an address",
            json,
            with("to", "not-an-address".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("to"),
        ),
        (
            "from without domain",
            json,
            with("from", "sender@".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("from"),
        ),
        (
            "to is a number",
            json,
            with("to", 42.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("to"),
        ),
        (
            "CRLF in subject",
            json,
            with("subject", "제목\r\nBcc: victim@naver.com".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("subject"),
        ),
        (
            "CRLF in to",
            json,
            with("to", "a@naver.com\r\nBcc: victim@naver.com".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("to"),
        ),
        (
            "LF in from",
            json,
            with("from", "a@naver.com\nX: y".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("from"),
        ),
        (
            "empty subject",
            json,
            with("subject", "  ".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("subject"),
        ),
        (
            "empty body",
            json,
            with("body", "".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("body"),
        ),
        (
            "subject too long",
            json,
            with("subject", "가".repeat(1000).into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("subject"),
        ),
        (
            "body too long",
            json,
            with("body", "x".repeat(130 * 1024).into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("body"),
        ),
        (
            "address too long",
            json,
            with("to", format!("{}@naver.com", "a".repeat(300)).into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("to"),
        ),
        (
            "bad cc",
            json,
            with("cc", serde_json::json!(["ok@naver.com", "bad"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("cc[1]"),
        ),
        (
            "cc not a list",
            json,
            with("cc", "a@naver.com".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("cc"),
        ),
        (
            "bad reply_to",
            json,
            with("reply_to", "nope".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("reply_to"),
        ),
        (
            "unknown field",
            json,
            with("bcc", "x@naver.com".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("bcc"),
        ),
        (
            "empty idempotency key",
            json,
            with("idempotency_key", "".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency_key"),
        ),
        (
            "not an object",
            json,
            "[1,2,3]".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("(body)"),
        ),
        (
            "malformed JSON",
            json,
            "{\"to\": ".into(),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "deeply nested JSON",
            json,
            deep,
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "wrong content type",
            Some("text/plain"),
            valid().to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            "no content type",
            None,
            valid().to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            "10 MB body",
            json,
            "x".repeat(10 * 1024 * 1024),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
    ];
    assert!(cases.len() >= 15);
    let mut cases: Vec<Case<Vec<u8>>> = cases
        .into_iter()
        .map(|(n, c, b, s, f)| (n, c, b.into_bytes(), s, f))
        .collect();
    let mut invalid_utf8 = valid().to_string().into_bytes();
    let at = invalid_utf8.iter().position(|b| *b == b'm').unwrap();
    invalid_utf8[at] = 0xff;
    cases.push((
        "invalid UTF-8",
        json,
        invalid_utf8,
        StatusCode::BAD_REQUEST,
        None,
    ));
    for (name, content_type, body, expected, field) in cases {
        let (status, ct, problem) = post(&app, content_type, body).await;
        assert_eq!(status, expected, "{name}: {problem}");
        assert_eq!(ct.as_deref(), Some("application/problem+json"), "{name}");
        assert_eq!(problem["status"], expected.as_u16(), "{name}");
        if let Some(field) = field {
            let named: Vec<&str> = problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect();
            assert!(
                named.contains(&field),
                "{name}: expected field {field} in {named:?}"
            );
            assert!(problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| !e["reason"].as_str().unwrap().is_empty()));
        }
    }
    assert_eq!(
        testkit::partition_count(&topic),
        None,
        "nothing was published"
    );
    const { assert!(MAX_REQUEST_BYTES < 10 * 1024 * 1024) };
}

#[tokio::test]
async fn kafka_down_means_503_never_202() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = app(KafkaConfig::new(format!("127.0.0.1:{port}")), "email.send");
    let (status, _, problem) = post(&app, Some("application/json"), valid().to_string()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("nothing was sent"));
}

/// A request from a given client address, as `into_make_service_with_connect_info` provides it.
fn from_client(ip: [u8; 4], body: Body) -> Request<Body> {
    let mut request = Request::post("/emails")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            ip, 4242,
        ))));
    request
}

#[tokio::test]
async fn a_flood_from_one_client_gets_429_and_others_are_unaffected() {
    // Refused before anything is sent: no broker is asked, so none need answer.
    let app = app(KafkaConfig::from_env(), &testkit::unique("flood"));
    let invalid = || Body::from(without("to"));
    let mut statuses = Vec::new();
    for _ in 0..50 {
        let response = app
            .clone()
            .oneshot(from_client([10, 0, 0, 1], invalid()))
            .await
            .unwrap();
        statuses.push(response.status());
    }
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        limited >= 40,
        "a burst of 5 then 5/s: {limited} of 50 refused"
    );
    let other = app
        .clone()
        .oneshot(from_client([10, 0, 0, 2], invalid()))
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "another client is not limited"
    );
}

#[tokio::test]
async fn a_slow_body_gets_408() {
    // Timed out before anything is sent: no broker is asked, so none need answer.
    let app = app(KafkaConfig::from_env(), &testkit::unique("slow"));
    // A body that sends one byte and then nothing (slow loris).
    let stream = futures::stream::once(async {
        Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"{"))
    })
    .chain(futures::stream::pending());
    let request = from_client([10, 0, 0, 3], Body::from_stream(stream));
    let started = std::time::Instant::now();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(5));
}
