//! What the console's tests share: a console on the test broker, requests as a browser sends
//! them, sign-in, seeded dead letters, and the headers every response must carry.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use rebound::headers::{self as h, Headers};
use rebound_console::{Console, Settings, Tokens};
use testkit::*;
use tower::ServiceExt;

pub const HOST: &str = "127.0.0.1:8686";
pub const VIEWER: &str = "viewer-token-0123456789abcdef";
pub const OPERATOR: &str = "operator-token-0123456789abcdef";
pub const ADMIN: &str = "admin-token-0123456789abcdef";
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Panics unless the page's markup holds each of `texts`, naming the first it lacks.
    pub fn assert_shows(&self, texts: &[&str]) {
        for text in texts {
            assert!(self.body.contains(text), "{text:?} is not in {}", self.body);
        }
    }
}

/// The tokens of the role tests: one per role.
pub fn tokens() -> Tokens {
    Tokens::parse(
        &format!("viewer:{VIEWER}\noperator:olga:{OPERATOR}\nadmin:{ADMIN}"),
        "test tokens",
    )
    .unwrap()
}

/// A console on the test broker.
pub fn console(tokens: Tokens, read_only: bool) -> Console {
    let settings = Settings {
        tokens,
        read_only,
        local_operator: "tester@console".into(),
        ..Settings::default()
    };
    Console::new(kafka(), settings).unwrap()
}

/// A request as a browser on the console's own page sends it. `extra` headers are added (or
/// replace); a header given as "" is removed.
pub async fn send(
    router: &Router,
    method: &str,
    path: &str,
    body: &str,
    session: Option<&str>,
    extra: &[(&str, &str)],
) -> Page {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST);
    if method != "GET" {
        request = request
            .header("sec-fetch-site", "same-origin")
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    if let Some(session) = session {
        request = request.header(header::COOKIE, format!("rebound_session={session}"));
    }
    let mut request = request.body(Body::from(body.to_string())).unwrap();
    for (name, value) in extra {
        let name: header::HeaderName = name.parse().unwrap();
        if value.is_empty() {
            request.headers_mut().remove(&name);
        } else {
            request.headers_mut().insert(name, value.parse().unwrap());
        }
    }
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let page = Page {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    assert_security_headers(path, &page);
    page
}

pub async fn get(router: &Router, path: &str, session: Option<&str>) -> Page {
    send(router, "GET", path, "", session, &[]).await
}

pub async fn post(router: &Router, path: &str, body: &str, session: Option<&str>) -> Page {
    send(router, "POST", path, body, session, &[]).await
}

/// Every response carries the CSP and the other headers; everything but the assets is never
/// cached.
pub fn assert_security_headers(path: &str, page: &Page) {
    let header = |name: &str| {
        page.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{path}: no {name} header ({})", page.status))
            .to_string()
    };
    assert_eq!(header("content-security-policy"), CSP, "{path}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
    if !path.starts_with("/assets/") {
        assert_eq!(header("cache-control"), "no-store", "{path}");
    }
}

/// Signs in with `token`; the session id from the cookie.
pub async fn sign_in(router: &Router, token: &str) -> String {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .append_pair("next", "/")
        .finish();
    let page = post(router, "/login", &body, None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let cookie = page
        .headers
        .get(header::SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains(token), "the cookie is not the token");
    cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("rebound_session="))
        .expect("rebound_session=")
        .to_string()
}

/// A dead letter to seed.
pub struct Seed<'a> {
    pub key: &'a str,
    pub error: &'a str,
    pub payload: &'a [u8],
    pub extra_headers: Vec<(&'a str, &'a str)>,
    pub origin: &'a str,
}

/// A main topic and its DLT (one partition each), with `seeds` dead-lettered from the main.
pub async fn chain(prefix: &str, seeds: &[Seed<'_>]) -> (String, String) {
    let main = unique(prefix);
    let dlt = format!("{main}.dlt");
    create_topic(&main, 1).await;
    create_topic(&dlt, 1).await;
    for seed in seeds {
        dead_letter(&dlt, seed).await;
    }
    (main, dlt)
}

/// Writes one dead letter into `dlt`; its position.
pub async fn dead_letter(dlt: &str, seed: &Seed<'_>) -> (i32, i64) {
    let mut headers = Headers::new();
    headers.push(h::ORIGINAL_TOPIC, seed.origin.to_string());
    headers.push(h::ORIGINAL_PARTITION, h::encode_i32(0));
    headers.push(h::ORIGINAL_OFFSET, h::encode_i64(0));
    headers.push(h::EXCEPTION_MESSAGE, seed.error.to_string());
    headers.push(h::ATTEMPTS, h::encode_i32(3));
    for (name, value) in &seed.extra_headers {
        headers.push(name.to_string(), value.to_string());
    }
    produce(
        &producer(),
        dlt,
        Some(0),
        Some(seed.key),
        seed.payload,
        &headers,
    )
    .await
}

/// Waits until the DLT page (as `session`) contains `text`.
pub async fn wait_for_page(router: &Router, path: &str, session: Option<&str>, text: &str) {
    wait_until(
        Duration::from_secs(30),
        &format!("{path} to show {text}"),
        || async {
            let page = get(router, path, session).await;
            page.status == StatusCode::OK && page.body.contains(text)
        },
    )
    .await;
}
