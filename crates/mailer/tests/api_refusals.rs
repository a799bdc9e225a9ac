//! The API's refusals that come from its layers and middleware rather than from the handler: a
//! declared `Content-Length` over the limit (tower-http's limit layer answers before the body is
//! read), a stalled body, a body that trickles in, a flood, each as a problem document with its headers, traced and counted.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use mailer::api::MAX_REQUEST_BYTES;
use rebound::KafkaConfig;
use tower::ServiceExt;

mod support;

/// The API with a 300 ms body timeout and 2 requests per second per client; its broker is never
/// asked (every request here is refused before a send).
fn app() -> axum::Router {
    let topic = testkit::unique("refusals");
    support::app(
        KafkaConfig::from_env(),
        &topic,
        Duration::from_millis(300),
        2.0,
    )
}

/// A `POST /emails` of JSON from `client`, as `into_make_service_with_connect_info` names it.
fn post(client: [u8; 4]) -> axum::http::request::Builder {
    let mut request = Request::post("/emails").header(header::CONTENT_TYPE, "application/json");
    request
        .extensions_mut()
        .unwrap()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            client, 4242,
        ))));
    request
}

/// The status, the headers that matter here, and the problem document.
async fn problem(response: Response) -> (StatusCode, Option<String>, serde_json::Value) {
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
        serde_json::from_slice(&bytes).unwrap(),
    )
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_a_413_problem_before_the_body_is_read() {
    let app = app();
    // The body never comes: only the declared length can have answered.
    let request = post([10, 1, 0, 1])
        .header(header::CONTENT_LENGTH, (10 * 1024 * 1024).to_string())
        .body(Body::from_stream(futures::stream::pending::<
            Result<axum::body::Bytes, std::io::Error>,
        >()))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), app.oneshot(request))
        .await
        .expect("answered without reading the body")
        .unwrap();
    let (status, content_type, problem) = problem(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(problem["status"], 413);
    assert_eq!(problem["title"], "Request too large");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&MAX_REQUEST_BYTES.to_string()),
        "{problem}"
    );
}

#[tokio::test]
async fn a_stalled_body_is_a_408_problem_that_says_how_long_was_waited() {
    let app = app();
    let stream = futures::stream::once(async {
        Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"{\"to\":"))
    })
    .chain(futures::stream::pending());
    let request = post([10, 1, 0, 2]).body(Body::from_stream(stream)).unwrap();
    let started = std::time::Instant::now();
    let (status, content_type, problem) = problem(app.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{problem}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(problem["title"], "Request body too slow");
    assert!(
        problem["detail"].as_str().unwrap().contains("300ms"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_body_that_trickles_in_is_a_408_though_no_part_of_it_stalls() {
    // Slow loris done patiently: a byte every 100 ms never stalls for 300 ms, yet the whole body
    // takes 3 s; the deadline is the whole body's.
    let app = app();
    let bytes = br#"{"to":"member@naver.com","subject":"x","body":"y","from":"a@b.c"}"#;
    let stream = futures::stream::iter(bytes.iter().copied()).then(|byte| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![byte]))
    });
    let request = post([10, 1, 0, 4]).body(Body::from_stream(stream)).unwrap();
    let started = std::time::Instant::now();
    let (status, _, problem) = problem(app.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{problem}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("300ms"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_flood_is_a_429_problem_with_retry_after_and_the_answers_are_traced() {
    let app = app();
    let invalid = || Body::from(r#"{"to":"member@naver.com"}"#);
    let mut refused = None;
    for _ in 0..10 {
        let request = post([10, 1, 0, 3])
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .body(invalid())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert!(
            response.headers().contains_key("traceresponse"),
            "every answer names its trace, the middleware's refusals too"
        );
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let response = refused.expect("a burst of 2 then 2/s: refused within 10 requests");
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    let (_, content_type, problem) = problem(response).await;
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(problem["status"], 429);
    assert!(
        problem["detail"].as_str().unwrap().contains("10.1.0.3"),
        "{problem}"
    );
}
