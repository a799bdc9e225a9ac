//! A job's progress as server-sent events, for its page (`live.js`): `progress` with the sentence
//! the page shows, whenever the job moves, and `finished` once it ends (the page then reloads to
//! show the result per dead letter). The sentence is made of counts only.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};

use super::jobs::{job, progress_text};
use super::problem::Problem;
use crate::jobs::Job;
use crate::AppState;

/// `GET /jobs/{id}/events`.
pub(crate) async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let job = job(&state, &id)?;
    Ok(Sse::new(events(job))
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Where the event stream is.
enum Step {
    First,
    Next,
    Ended,
}

/// At most this many progress events a second: a redrive acknowledging thousands of records a
/// second changes its counts far faster than anyone reads them.
const EVERY: Duration = Duration::from_millis(250);

fn events(job: Arc<Job>) -> impl Stream<Item = Result<Event, Infallible>> {
    let changes = job.changes();
    // The first event says where the job is now; then one per change (the changes between two
    // events folded into one), the last `finished`.
    stream::unfold(
        (job, changes, Step::First),
        |(job, mut changes, step)| async move {
            match step {
                Step::Ended => return None,
                Step::First => {}
                Step::Next => {
                    tokio::time::sleep(EVERY).await;
                    // A closed channel cannot happen while `job` is held; end quietly if it does.
                    changes.changed().await.ok()?;
                }
            }
            if job.outcome().is_some() {
                let event = Event::default().event("finished").data("reload");
                return Some((Ok(event), (job, changes, Step::Ended)));
            }
            let event = Event::default()
                .event("progress")
                .data(progress_text(job.kind, &job.latest()));
            Some((Ok(event), (job, changes, Step::Next)))
        },
    )
}
