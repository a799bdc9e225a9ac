//! A DLT's changes as server-sent events, for the pages that show them in place (`live.js`):
//! `status` (`p@o redriven`) when the ledger changes a dead letter's handling status, `added`
//! (`p@o`) for a new dead letter, `lagged` when this page fell too far behind to be told every
//! change. Only positions and status words go out: nothing a dead letter's writer chose.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use super::index_of;
use super::problem::Problem;
use crate::index::Live;
use crate::AppState;

/// `GET /dlt/{topic}/live`.
pub(crate) async fn stream(
    State(state): State<AppState>,
    Path(topic): Path<String>,
) -> Result<Response, Problem> {
    let index = index_of(&state, &topic).await?;
    Ok(Sse::new(events(index.subscribe()))
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn events(changes: Receiver<Live>) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(changes, |mut changes| async move {
        let event = match changes.recv().await {
            Ok(Live::Added(position)) => Event::default().event("added").data(position.to_string()),
            Ok(Live::Status(position, status)) => Event::default()
                .event("status")
                .data(format!("{position} {}", status.as_str())),
            Err(RecvError::Lagged(_)) => Event::default().event("lagged").data("reload"),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), changes))
    })
}
