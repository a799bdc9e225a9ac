//! The request body, whole within the API's body timeout. A client that sends its body slowly
//! (slow loris: a byte now and then, each within any per-read timeout) gets `408` instead of
//! holding a task; the deadline is the whole body's, not the request's, so the broker's
//! acknowledgement that follows is never cut short (it ends in a `202` or a `503`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::LengthLimitError;

use super::problem::Problem;
use super::AppState;

/// Middleware: reads the whole body within `body_timeout` (inside the body limit, which ends a
/// body over it with an error), then hands it on as one piece to the `Json` extractor.
pub(super) async fn whole_within(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    // The body limit is `RequestBodyLimitLayer`'s, outside this one: no second limit here.
    let read = axum::body::to_bytes(body, usize::MAX);
    match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) if over_the_limit(&e) => Problem::too_large().into_response(),
        Ok(Err(e)) => Problem::unreadable(&e).into_response(),
        Err(_) => Problem::too_slow(state.body_timeout).into_response(),
    }
}

/// Whether a body error is the body limit's.
fn over_the_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<LengthLimitError>() {
            return true;
        }
        next = e.source();
    }
    false
}
