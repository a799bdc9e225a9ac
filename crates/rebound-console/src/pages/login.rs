//! `/login` and `/logout`. A token is typed once and traded for a session cookie; the token
//! never comes back in a page, a log line or a redirect. Refused tokens are answered slowly, one
//! at a time, so guessing is slow even for a short token. Without tokens configured there is
//! nothing to sign in to (the console is loopback only) and the page says so.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::session::{clearing_cookie, session_id};
use crate::AppState;

use super::render;

/// How long a refused sign-in waits before its answer, one refusal at a time: two guesses a
/// second at most, however many connections try.
const REFUSAL_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    tokens_configured: bool,
    next: String,
    message: Option<String>,
}

/// Where to go after signing in: a path on this console only (`/…`, not `//host` or `/\host`,
/// which browsers read as another site).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path.to_string()
        }
        _ => "/".into(),
    }
}

fn field(text: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(text)
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

pub(crate) async fn form(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let next = field(raw.as_deref().unwrap_or("").as_bytes(), "next");
    render(&LoginPage {
        tokens_configured: !state.settings.tokens.is_empty(),
        next: local_path(next.as_deref()),
        message: None,
    })
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let next = local_path(field(&body, "next").as_deref());
    if state.settings.tokens.is_empty() {
        return Redirect::to(&next).into_response();
    }
    let token = field(&body, "token").unwrap_or_default();
    match state.settings.tokens.check(token.trim()) {
        Some((role, name)) => {
            tracing::info!(%name, role = role.as_str(), "signed in");
            let id = state.sessions.create(role, name);
            // Behind a TLS proxy the cookie is marked Secure. The header only ever adds
            // protection, so trusting it costs nothing.
            let https = headers
                .get("x-forwarded-proto")
                .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
            (
                [(header::SET_COOKIE, state.sessions.cookie(&id, https))],
                Redirect::to(&next),
            )
                .into_response()
        }
        None => {
            tracing::warn!("a sign-in with an unknown token was refused");
            // Guessing is slowed for everyone at once: refusals wait their turn, then pause.
            let _turn = state.refused_sign_ins.lock().await;
            tokio::time::sleep(REFUSAL_PAUSE).await;
            (
                StatusCode::UNAUTHORIZED,
                render(&LoginPage {
                    tokens_configured: true,
                    next,
                    message: Some("That token is not valid here.".into()),
                }),
            )
                .into_response()
        }
    }
}

pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        state.sessions.remove(&id);
    }
    (
        [(header::SET_COOKIE, clearing_cookie())],
        Redirect::to("/login"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        let cases = [
            (Some("/dlt/a.dlt?key=x"), "/dlt/a.dlt?key=x"),
            (Some("//evil.example/"), "/"),
            (Some("/\\evil.example/"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("javascript:alert(1)"), "/"),
            (Some("/ok\r\nSet-Cookie: x"), "/"),
            (None, "/"),
        ];
        for (next, expected) in cases {
            assert_eq!(local_path(next), expected, "{next:?}");
        }
    }
}
