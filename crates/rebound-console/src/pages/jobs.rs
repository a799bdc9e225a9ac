//! `/jobs/{id}`: an action's progress while it runs (the page reloads itself every two seconds,
//! no JavaScript needed), then its result for every dead letter. `POST /jobs/{id}/cancel` stops
//! a redrive between records: what was sent is recorded, the rest released in the ledger.

use std::sync::atomic::Ordering;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use super::actions::redrive_text;
use super::problem::Problem;
use super::{render, time, Layout};
use crate::auth::guard::Caller;
use crate::jobs::{Job, Outcome};
use crate::AppState;

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    layout: Layout,
    id: String,
    kind: &'static str,
    dlt: String,
    by: String,
    started: String,
    command: String,
    running: bool,
    done: usize,
    total: usize,
    can_act: bool,
    summary: String,
    error: Option<String>,
    outcomes: Vec<(String, String)>,
    more: usize,
}

/// Results listed on a job's page.
const LISTED: usize = 1_000;

fn job(state: &AppState, id: &str) -> Result<std::sync::Arc<Job>, Problem> {
    state.jobs.get(id).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "No such job",
            "The console keeps recent jobs only (and none across restarts); the ledger has \
             every action.",
        )
    })
}

pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let job = job(&state, &id)?;
    let outcome = job.outcome();
    let (summary, error, outcomes): (String, Option<String>, Vec<(String, String)>) = match &outcome
    {
        None => (String::new(), None, Vec::new()),
        Some(Outcome::Redrive(report)) => (
            format!(
                "Sent {}, skipped {}{}.",
                report.sent(),
                report.skipped(),
                if report.interrupted {
                    " (stopped before the end)"
                } else {
                    ""
                }
            ),
            None,
            report
                .outcomes
                .iter()
                .map(|(p, o)| (p.to_string(), redrive_text(o)))
                .collect(),
        ),
        Some(Outcome::Discard(report)) => (
            format!(
                "Discarded {} into {}.archive, skipped {}.",
                report.archived.len(),
                job.dlt,
                report.skipped.len()
            ),
            None,
            report
                .archived
                .iter()
                .map(|(p, copy)| {
                    let copy = copy.map_or("-".into(), |c| c.to_string());
                    (
                        p.to_string(),
                        format!("archived at {}.archive-{copy}", job.dlt),
                    )
                })
                .chain(
                    report
                        .skipped
                        .iter()
                        .map(|(p, why)| (p.to_string(), format!("skipped: {why}"))),
                )
                .collect(),
        ),
        Some(Outcome::Failed(error)) => ("Failed.".into(), Some(error.clone()), Vec::new()),
    };
    // A redrive of a hundred thousand lists the first thousand; the ledger has every one.
    let more = outcomes.len().saturating_sub(LISTED);
    let outcomes: Vec<(String, String)> = outcomes.into_iter().take(LISTED).collect();
    let mut layout = Layout::new(
        &state,
        &caller,
        format!("{} {}", job.kind.as_str(), job.dlt),
    );
    if outcome.is_none() {
        layout.refresh = Some(2);
    }
    Ok(render(&JobPage {
        layout,
        id: job.id.clone(),
        kind: job.kind.as_str(),
        dlt: job.dlt.clone(),
        by: job.by.clone(),
        started: time(Some(job.started)),
        command: job.command.clone(),
        running: outcome.is_none(),
        done: job.done.load(Ordering::Relaxed),
        total: job.total.load(Ordering::Relaxed),
        can_act: caller.can_act(),
        summary,
        error,
        outcomes,
        more,
    }))
}

pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let job = job(&state, &id)?;
    job.cancel.cancel();
    Ok(Redirect::to(&format!("/jobs/{}", job.id)).into_response())
}
