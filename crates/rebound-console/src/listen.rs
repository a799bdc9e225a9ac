//! Loopback unless tokens are configured. A console listening on every interface without
//! authentication is how Kafka UIs were exploited (CVE-2023-52251, CVE-2024-32030), so a
//! non-loopback address without tokens is refused at start. Without tokens, a page served on
//! loopback can still be reached by a hostile web page through DNS rebinding (its own name
//! resolving to 127.0.0.1), so every request must then name a loopback host in `Host`.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::tokens::Tokens;
use crate::error::ConsoleError;
use crate::AppState;

/// Refuses `addr` when it is not loopback and no tokens are configured.
pub fn check_listen(addr: SocketAddr, tokens: &Tokens) -> Result<(), ConsoleError> {
    if addr.ip().is_loopback() || !tokens.is_empty() {
        Ok(())
    } else {
        Err(ConsoleError::NonLoopbackWithoutTokens { addr })
    }
}

/// Whether a `Host` header names this machine's loopback: `localhost`, `127.0.0.1` or `[::1]`,
/// with any port or none.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // `[::1]` or `[::1]:8686`
        Some(rest) => match rest.split_once(']') {
            Some((inside, after)) if after.is_empty() || is_port(after) => {
                return inside == "::1";
            }
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(&format!(":{port}")) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1"
}

fn is_port(text: &str) -> bool {
    text.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Middleware: without tokens, a request whose `Host` is not a loopback name is refused (DNS
/// rebinding). With tokens, sign-in protects the console and any host name is served.
pub(crate) async fn check_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.settings.tokens.is_empty() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        if !host.is_some_and(is_loopback_host) {
            return (
                StatusCode::MISDIRECTED_REQUEST,
                "This console serves only http://127.0.0.1, http://localhost and http://[::1] \
                 while no tokens are configured (a foreign Host header is how DNS rebinding \
                 reaches a local console). Configure tokens to serve other names.\n",
            )
                .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_told_from_others() {
        let cases = [
            ("localhost", true),
            ("localhost:8686", true),
            ("LOCALHOST:1", true),
            ("127.0.0.1", true),
            ("127.0.0.1:8686", true),
            ("[::1]", true),
            ("[::1]:8686", true),
            ("evil.example", false),
            ("evil.example:8686", false),
            ("localhost.evil.example", false),
            ("127.0.0.1.nip.io", false),
            ("127.0.0.2", false),
            ("[::2]:8686", false),
            ("[::1]x", false),
            ("localhost:", false),
            ("localhost:86a6", false),
            ("", false),
        ];
        for (host, loopback) in cases {
            assert_eq!(is_loopback_host(host), loopback, "{host:?}");
        }
    }

    #[test]
    fn a_public_address_needs_tokens() {
        let public: SocketAddr = "0.0.0.0:8686".parse().unwrap();
        let error = check_listen(public, &Tokens::default()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("0.0.0.0:8686"), "{message}");
        assert!(message.contains("--tokens-file"), "{message}");
        assert!(message.contains("REBOUND_CONSOLE_TOKENS"), "{message}");
        let tokens = Tokens::parse("viewer:0123456789abcdef0123", "test").unwrap();
        assert!(check_listen(public, &tokens).is_ok());
        assert!(check_listen("127.0.0.1:1".parse().unwrap(), &Tokens::default()).is_ok());
        assert!(check_listen("[::1]:1".parse().unwrap(), &Tokens::default()).is_ok());
    }
}
