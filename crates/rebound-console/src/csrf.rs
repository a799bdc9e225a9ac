//! Cross-site request refusal for every state change. A page on another site can make a
//! browser send a form to the console; the cookie is `SameSite=Strict`, but without tokens
//! there is no cookie to withhold, so the request itself must show it came from the console's
//! own pages. For any method other than GET, HEAD and OPTIONS, in this order:
//!
//! 1. `Sec-Fetch-Site` (Fetch Metadata, sent by every current browser) present: it must be
//!    `same-origin` (or `none`: typed by the person, not caused by a page).
//! 2. Else `Origin` present: its host and port must be the request's `Host`.
//! 3. Neither: refused. A browser old enough to send neither is not supported for actions; a
//!    script wanting to act uses the `rebound dlt` command, not the console.

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::pages::problem::Problem;

/// Why a state-changing request is refused, or `None` when it came from the console's pages.
pub(crate) fn refusal(method: &Method, headers: &HeaderMap) -> Option<&'static str> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str() {
            Ok("same-origin" | "none") => None,
            _ => Some("the browser says this request comes from another site (Sec-Fetch-Site)"),
        };
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = text(header::HOST);
        let origin_host = origin.to_str().ok().and_then(|o| {
            o.strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
        });
        return match (origin_host, host) {
            (Some(origin), Some(host)) if origin.eq_ignore_ascii_case(host) => None,
            _ => Some("its Origin is not this console's address"),
        };
    }
    Some(
        "it carries neither Sec-Fetch-Site nor Origin, so it cannot be told from a forged \
         cross-site request",
    )
}

/// Middleware: refuses cross-site state changes with 403 and the reason.
pub(crate) async fn check(request: Request, next: Next) -> Response {
    if let Some(why) = refusal(request.method(), request.headers()) {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "Cross-site request refused",
            format!(
                "Refused: {why}. Actions are accepted only from the console's own pages; \
                 reload the page and submit it again."
            ),
        )
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn state_changes_must_show_they_come_from_here() {
        let host = ("host", "127.0.0.1:8686");
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[host, ("sec-fetch-site", "same-origin")], true),
            (&[host, ("sec-fetch-site", "none")], true),
            (&[host, ("sec-fetch-site", "cross-site")], false),
            (&[host, ("sec-fetch-site", "same-site")], false),
            // Fetch Metadata wins over a matching Origin.
            (
                &[
                    host,
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "http://127.0.0.1:8686"),
                ],
                false,
            ),
            (&[host, ("origin", "http://127.0.0.1:8686")], true),
            (&[host, ("origin", "https://127.0.0.1:8686")], true),
            (&[host, ("origin", "http://evil.example")], false),
            (&[host, ("origin", "http://127.0.0.1:9999")], false),
            (&[host, ("origin", "null")], false),
            (&[("origin", "http://127.0.0.1:8686")], false),
            (&[host], false),
        ];
        for (pairs, allowed) in cases {
            assert_eq!(
                refusal(&Method::POST, &headers(pairs)).is_none(),
                *allowed,
                "{pairs:?}"
            );
        }
        assert!(refusal(&Method::GET, &headers(&[("sec-fetch-site", "cross-site")])).is_none());
        assert!(refusal(&Method::DELETE, &headers(&[host])).is_some());
    }
}
