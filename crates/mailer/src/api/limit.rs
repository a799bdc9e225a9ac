//! The per-client rate limit: a token bucket per client address, checked before the body is read.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::problem::Problem;
use super::AppState;

/// A token bucket per client address: `rate` requests per second, bursts up to `burst`.
pub struct RateLimiter {
    /// Tokens a client gets back per second: its sustained requests per second.
    pub rate: f64,
    /// The most tokens a client holds: the requests it may make at once after a quiet spell.
    pub burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
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
    pub fn allow(&self, client: IpAddr) -> bool {
        let now = Instant::now();
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

/// Middleware: `429` with `Retry-After` for a client over its rate, before its body is read. A
/// request without a client address (served without `into_make_service_with_connect_info`, as
/// in tests) is not limited.
pub(super) async fn per_client(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    request: Request,
    next: Next,
) -> Response {
    if let (Some(limiter), Some(Extension(ConnectInfo(client)))) = (&state.limiter, client) {
        if !limiter.allow(client.ip()) {
            return Problem::too_many(limiter.rate, client.ip()).into_response();
        }
    }
    next.run(request).await
}
